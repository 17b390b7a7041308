# ---
# jupyter:
#   dctkd:
#     families:
#     - attention
#     outputs:
#       figures:
#       - attention_overlap
#       tables:
#       - attention_overlap
#       - attention_overlap_claims
#     title: Attention overlap with the teacher per method and level
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Attention overlap with the teacher per method and level
#
# How closely does each student's attention follow its teacher's? For every student
# (each seed) and level, over the first `n_samples` test images **that the teacher classifies
# correctly** (docs/experiments.md#attention-overlap):
# - **SSIM** of the two maps upsampled to 56 px and min–max scaled (the original ran an
#   11 × 11 window on 7 × 7 maps, so it mostly measured its zero padding: docs/deviations.md#ssim);
# - **Pearson** correlation over pixels; **top-q IoU** of the two maps' top-`q` regions;
# - on synthetic scenes, the share of the map's **mass on the class-defining objects**
#   (the generator's masks), beside the teacher's own share and a uniform map's (the objects'
#   area).
#
# Each value is a mean over samples for one seed; tables and plots give mean ± std over seeds.
# The student trained alone never saw the teacher: its overlap is what architecture and data
# give for free, the reference every distilled student is measured against. KD (logits only)
# and ReviewKD (features, no explicit attention) show how much overlap comes from
# distillation in general rather than from matching the maps' spectra.
#
# The paper's claim — the DCT student's attention is closer to the teacher's than AT's and the
# student alone's — is then tested per measure and level as a difference paired by seed, DCT
# against AT, the student alone, KD and ReviewKD, with a 95 % Student-t interval over seeds.

# %% tags=["parameters"]
profile = "quick"  # smoke | quick | paper, or the path of a profile YAML
results = None  # output folder (None: results/<profile> in the project)
data = None  # folder with one sub-folder per real dataset (None: $DCTKD_DATA)
overrides = []  # profile overrides, as given to `dctkd figures --set`
workers = 1  # training processes for runs this notebook still has to train
n_samples = 200  # first test images analysed (the cost grows with it and the seeds)
q = 0.2  # share of pixels in the top-q regions compared by IoU

# %%
# %matplotlib inline
from dctkd import analysis
from dctkd.report import Report, claims, image_figures, study

R = Report("10_attention_overlap", profile, results, data, overrides, workers)
P = R.profile
print(P.description)

# %%
cells = R.cells("attention")
family = study.load_family(cells, R.ensure(cells))
print(family)
members, teacher_cell = family.members, family.teacher_cell

# %%
samples = analysis.first_samples(teacher_cell.cfg, n_samples)
frame = analysis.overlap_frame(members, samples, q=q)
per_seed = analysis.seed_means(frame)
kept, n_kept = frame["kept"].iloc[0], int(per_seed["n"].iloc[0])
print(f"{n_kept} {kept} of the first {len(samples)} test images")
table = study.overlap_table(per_seed)
R.table(
    table,
    "attention_overlap",
    f"Overlap of each student's activation maps with the teacher's, per level, over the "
    f"{n_kept} {kept} among the first {len(samples)} test images: mean ± std over seeds "
    f"of the per-seed mean. SSIM at 56 px, Pearson, IoU of the top-{q:.0%} regions, share "
    "of the map's mass on the class-defining objects (Teacher: its own share; Chance: "
    "the objects' area).",
)
table

# %%
measures = [m for m in analysis.MEASURES if m in per_seed.columns]
shown = image_figures.plot_frame(per_seed)
fig = image_figures.overlap_plot(
    shown, measures, order=analysis.order_labels(list(shown["method"]))
)
image_figures.mark_chance(fig, per_seed, measures)
R.figure(
    fig,
    "attention_overlap",
    "Overlap of each student's activation maps with the teacher's against the level, "
    "mean ± std over seeds (teacher-correct test images); in the mass panel the "
    "teacher's own share and, dotted, a uniform map's.",
)

# %% [markdown]
# ### Is DCT's attention closer to the teacher's? Paired by seed
#
# Every measure is a similarity to the teacher's map (or, for the mass, a share on the
# class-defining objects), so **higher is better**: a claim is *supported* when the 95 %
# interval of `DCT − other` over paired seeds lies above 0, *contradicted* when it lies below,
# *unresolved* when it holds 0, and has *too few seeds* without an interval (one seed).

# %%
found = study.overlap_claims(per_seed)
R.table(
    found,
    "attention_overlap_claims",
    f"DCT against AT, the student alone, KD and ReviewKD: per level and measure, the "
    f"difference DCT − other of the per-seed mean overlap with the teacher (over the {n_kept} "
    f"{kept} among the first {len(samples)} test images), its mean over paired seeds and the "
    "95 % Student-t interval; 'better' is the measure's direction and the verdict reads the "
    "interval in that direction.",
)
found

# %%
claims.verdict_counts(found)

# %%
print("\n".join(claims.metric_sentences(found)))
