# ---
# jupyter:
#   dctkd:
#     families:
#     - attention
#     outputs:
#       figures:
#       - gradcam
#       - gradcam_overlap
#       tables:
#       - gradcam_overlap
#       - gradcam_overlap_claims
#     title: Grad-CAM of teacher and students
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Grad-CAM of teacher and students
#
# Grad-CAM (the `grad-cam` package) of the **true class** at the last level for the
# teacher, the student alone and the distilled students. Unlike the activation map, Grad-CAM
# weighs each channel by the gradient of the class score, so it shows what the decision rests
# on. The overlap with the teacher's Grad-CAM is measured on **raw** CAMs (before the package's
# per-image display rescaling) with the measures of notebook 10, over the teacher-correct
# samples among the first `n_samples` test images; the figure shows images chosen by the rule
# of notebook 09.

# %% tags=["parameters"]
profile = "quick"  # smoke | quick | paper, or the path of a profile YAML
results = None  # output folder (None: results/<profile> in the project)
data = None  # folder with one sub-folder per real dataset (None: $DCTKD_DATA)
overrides = []  # profile overrides, as given to `dctkd figures --set`
workers = 1  # training processes for runs this notebook still has to train
seed = None  # seed of the students shown in the figure (None: the smallest)
n_images = 4  # images in the figure, chosen by rule
n_samples = 200  # first test images analysed (the cost grows with it and the seeds)
q = 0.2  # share of pixels in the top-q regions compared by IoU

# %%
# %matplotlib inline
import torch

from dctkd import analysis
from dctkd.report import Report, claims, image_figures, study

R = Report("11_gradcam", profile, results, data, overrides, workers)
P = R.profile
print(P.description)

# %%
cells = R.cells("attention")
family = study.load_family(cells, R.ensure(cells), seed)
print(family)
members, teacher_cell = family.members, family.teacher_cell
shown_seed, models = family.seed, family.models

# %%
samples = analysis.first_samples(teacher_cell.cfg, n_samples)
preds = analysis.predictions(models, samples.images)
correct = {k: v == samples.targets.numpy() for k, v in preds.items()}
chosen = analysis.choose_images(correct, n_images)
shown = samples.subset(chosen["position"])
cams = analysis.gradcam_maps(models, shown.images, shown.targets)
fig = image_figures.gradcam_grid(torch.stack([shown.image(j) for j in range(len(shown))]), cams)
R.figure(
    fig,
    "gradcam",
    f"Grad-CAM of the true class at the last level for test images "
    f"{', '.join(str(i) for i in shown.indices)} (rules: "
    f"{', '.join(dict.fromkeys(chosen['rule']))}); students of seed {shown_seed}; each "
    "map min–max scaled for display only.",
)

# %%
frame = analysis.overlap_frame(members, samples, kind="gradcam", q=q)
per_seed = analysis.seed_means(frame)
kept, n_kept = frame["kept"].iloc[0], int(per_seed["n"].iloc[0])
table = study.overlap_table(per_seed)
R.table(
    table,
    "gradcam_overlap",
    f"Overlap of each student's raw Grad-CAM (true class, last level) with the "
    f"teacher's, over the {n_kept} {kept} among the first {len(samples)} test images: "
    "mean ± std over seeds of the per-seed mean (measures as for the activation maps).",
)
measures = [m for m in analysis.MEASURES if m in per_seed.columns]
part = image_figures.plot_frame(per_seed)
fig = image_figures.overlap_plot(part, measures, order=analysis.order_labels(list(part["method"])))
image_figures.mark_chance(fig, per_seed, measures)
R.figure(
    fig,
    "gradcam_overlap",
    "Overlap of each student's raw Grad-CAM with the teacher's (last level), mean ± std "
    "over seeds; in the mass panel the teacher's own share and, dotted, a uniform map's.",
)
table

# %% [markdown]
# ### Is DCT's Grad-CAM closer to the teacher's? Paired by seed
# As for the activation maps (notebook 10): higher is better for every measure, a claim is
# *supported* when the 95 % interval of `DCT − other` over paired seeds lies above 0.

# %%
found = study.overlap_claims(per_seed)
R.table(
    found,
    "gradcam_overlap_claims",
    "DCT against AT, the student alone, KD and ReviewKD (where trained): per measure, the "
    "difference DCT − other of the per-seed mean Grad-CAM overlap with the teacher, its mean "
    "over paired seeds, the 95 % Student-t interval and the verdict.",
)
print("\n".join(claims.metric_sentences(found)))
found

