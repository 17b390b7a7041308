# ---
# jupyter:
#   dctkd:
#     families:
#     - kstudy
#     outputs:
#       figures:
#       - layout_gains
#       tables:
#       - layout_design
#       - layout_room
#       - layout_budget
#       - layout_interaction
#       - layout_claims
#       - layout_gap_closed
#       - layout_interaction_gap_closed
#       - layout_models
#       - layout_attention
#       - layout_attention_claims
#     title: 'Multi-attention: does DCT help more where the layout decides?'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Multi-attention: does DCT help more where the layout decides?
#
# The paper's thesis is not that the DCT loss wins everywhere: matching a 2-D frequency
# transform of the activation maps should transfer the *global arrangement* of a teacher's
# attention, which matters where a class is defined by how several objects relate. AT
# matches where attention sits, pixel by pixel. So DCT's advantage over AT should be larger
# where the class is an arrangement of objects than where it is a set of objects.
#
# Two kinds of synthetic scenes at the same k, image size, distractors and student budget:
# under **presence** a class is a set of k object kinds anywhere in the image; under
# **layout** classes share their kinds and differ in how the objects are arranged (a row, a
# column, a diagonal, an L, ...), so the kinds alone do not name the class. For each rule,
# teachers pre-trained on a separate pool of scenes and fine-tuned on the training images,
# and students trained on the same images: alone, AT, DCT (the published V1 and the exact
# DCT-II), KD and DCT + KD, one teacher per seed.
#
# **The primary endpoint** is the interaction (DCT − AT)_layout − (DCT − AT)_presence of
# test Top-1 (val-selected checkpoints), over seeds, with its 95 % interval and verdict
# against a margin (`claims`: supported, contradicted, equivalent inside ±margin, or
# unresolved). Each seed is one replicate of the whole pipeline under each rule (its own
# teacher and students), so seeds are independent and the interval is over them.
#
# An earlier design of this study varied only the number k of objects a class needs, under
# the presence rule, and saturated: its AT and DCT students reached their teachers at every
# k, so no difference could show. The k axis stays (`families.kstudy.ks` of the profile), now
# under the design rule below: a task counts only if its student alone and its AT student sit
# clearly below the teacher on validation data.
#
# The study is the `layout` profile (`make figures PROFILE=layout`,
# [its report](../../layout/index.html)); the default `quick` profile leaves it out.

# %% tags=["parameters"]
profile = "layout"  # smoke | layout | paper, or the path of a profile YAML
results = None  # output folder (None: results/<profile> in the project)
data = None  # folder with one sub-folder per real dataset (None: $DCTKD_DATA)
overrides = []  # profile overrides, as given to `dctkd figures --set`
workers = 1  # training processes for runs this notebook still has to train
n_samples = 150  # first test images of each rule analysed for the overlap
q = 0.2  # share of pixels in the top-q regions compared by IoU

# %%
# %matplotlib inline
import pandas as pd
from IPython.display import display

from dctkd.analysis import kstudy
from dctkd.report import Report, claims, figures, study
from dctkd.report import layout_study as L

R = Report("13_layout_study", profile, results, data, overrides, workers)
P = R.profile
print(P.description)

# %% [markdown]
# ### The task under each rule
# From the scenes each rule generates (`scenes.task_facts`): the classes each kind set
# defines, the kinds and distractors, and two measured ceilings, a random forest on the
# kinds an image holds (their counts) alone and one that also sees where the defining
# objects are. Under presence the kinds name the class; under layout they name only its kind
# set, and the positions are needed.

# %%
cells = R.cells("kstudy")
runs = R.ensure(cells)
design = L.per_rule(study.kstudy_design, cells)
R.table(
    design,
    "layout_design",
    "Per rule and k: classes, how their sets are made, the classes each kind set defines, "
    "defining and distractor kinds, distractors per image, the objects each kind set needs, "
    "the best accuracy (%) from one and from k − 1 of a class's objects, the test accuracy "
    "(%) of a random forest on the kind counts alone and on the defining objects' kinds and "
    "cells, and how the runs train (teacher epochs; student images and epochs).",
)
for _, r in design.iterrows():
    print(f"{r['rule']}, k = {r['k']}: kinds-only ceiling {r['kinds-only ceiling (%)']:.1f} %, "
          f"kinds+positions ceiling {r['kinds+positions ceiling (%)']:.1f} %")
design

# %% [markdown]
# ### Room to see a difference, and convergence
# The design rule, read on validation accuracy (never test): under each rule the teacher,
# the student alone and the AT student, and whether both students sit at least `L.ROOM`
# points below the teacher. Then the budget check: the runs of the checked seeds (teachers
# included) re-trained at twice the epochs, milestones stretched; a row has converged when
# the gain, paired by seed, is within the budget test's threshold either way.

# %%
accuracy = L.per_rule(study.kstudy_accuracy, cells, runs)
room = L.room(accuracy)
R.table(
    room,
    "layout_room",
    f"Per rule and k: mean val Top-1 (%) of the teachers, the students alone and the AT "
    f"students, how far each student sits below the teacher, and whether both sit at least "
    f"{L.ROOM:g} points below it (the design rule).",
)
display(room)
convergence = L.convergence(L.per_rule(study.kstudy_budget, cells, runs))
R.table(
    convergence,
    "layout_budget",
    "The budget check per rule and k: test Top-1 (%) at each run's budget and at twice its "
    "epochs (schedule stretched), the gain paired by seed with its 95 % interval, and the "
    "verdict (converged, not converged, past its plateau)."
    + ("" if len(convergence) else " This build runs none: no run of it is shown converged."),
)
print(convergence["verdict"].value_counts().to_dict() if len(convergence) else
      f"Profile {P.name!r} with overrides {overrides} runs no budget check: its numbers are "
      "provisional.")
convergence

# %% [markdown]
# ### The primary endpoint: the interaction
# Per seed, DCT − AT under layout minus DCT − AT under presence (test Top-1, points), its
# mean, 95 % interval and verdict; the same for the other comparisons, exploratory.

# %%
frame = accuracy.copy()
present = set(frame["method"])
comparisons = [(a, b) for a, b in (("DCT", "AT"), ("DCT", "KD"), ("DCT (DCT-II)", "AT"),
                                   ("DCT + KD", "KD"), ("DCT", "Baseline"))
               if a in present and b in present]
gains = pd.concat([L.by_rule(frame, kstudy.kstudy_gains, ("top1",), method=a, against=[b])
                   for a, b in comparisons], ignore_index=True)
interaction = L.interaction_claims(gains, [f"{a} − {b}" for a, b in comparisons],
                                   margin=P.margin)
R.table(
    interaction,
    "layout_interaction",
    "The interaction: per comparison, its paired Top-1 gain (points) under layout minus under "
    "presence, per seed (each seed one teacher and its students under each rule), the mean, "
    "95 % interval, the tests against 0 and against ±margin, and the verdict; the DCT − AT "
    "row is the primary endpoint (Holm over its ks), the others exploratory.",
)
for line in claims.sentences(interaction):
    print(line)
interaction

# %% [markdown]
# ### Per rule
# Each comparison paired by seed under each rule, and the share of the teacher − student
# alone gap each method closes, (method − alone) / (teacher − alone) per teacher.

# %%
per_rule = L.rule_claims(frame, comparisons, margin=P.margin)
R.table(
    per_rule,
    "layout_claims",
    "Per rule and k: each comparison of test Top-1 (points), paired by seed, with its 95 % "
    "interval and verdict against ±margin (exploratory).",
)
display(per_rule)
gap = L.by_rule(frame, kstudy.gap_closed)
gap_table = L.by_rule(gap, claims.kstudy_estimates, "fraction", ["method"])
R.table(
    gap_table,
    "layout_gap_closed",
    "Per rule, k and method: the share of the teacher − student-alone gap the method closes, "
    "(method − alone) / (teacher − alone) per teacher, mean with its 95 % interval over "
    "teachers: 0 is the student alone, 1 the teacher.",
)
# The same interaction on the share of the gap closed: a rule whose student alone sits
# further below its teacher leaves more points to gain, and the share divides that out.
shares = gap.rename(columns={"teacher_seed": "seed"})
share_gains = pd.concat([L.by_rule(shares, kstudy.kstudy_gains, ("fraction",), method=a,
                                   against=[b]) for a, b in comparisons if b != "Baseline"],
                        ignore_index=True)
share_interaction = L.interaction_claims(
    share_gains, [f"{a} − {b}" for a, b in comparisons], quantity="fraction", margin=None,
    primary="", digits=3)
R.table(
    share_interaction,
    "layout_interaction_gap_closed",
    "The interaction on the share of the teacher − student-alone gap closed: per comparison, "
    "its paired difference in that share under layout minus under presence, per seed, with "
    "its 95 % interval (exploratory, no equivalence margin).",
)
display(share_interaction)
fig = figures.k_study_plot(gains, x="rule", hue="comparison")
R.figure(fig, "layout_gains",
         "Paired test Top-1 gain (points) of each comparison under each rule, mean ± std "
         "over seeds.")
gap_table

# %% [markdown]
# ### Attention
# Each student's activation maps against its own teacher's (notebook 10's measures: SSIM,
# Pearson, top-q IoU, and the map's mass on the class-defining objects; mean over levels and
# teacher-correct test images), per rule and method with 95 % intervals; then DCT's paired
# differences in each measure, per rule and as an interaction.

# %%
overlap = L.per_rule(study.kstudy_overlap, cells, runs, n_samples, q=q)
frame = accuracy.merge(overlap, on=["rule", "k", "method", "seed", "teacher_seed"], how="left")
models = L.by_rule(frame, study.kstudy_models_table)
R.table(
    models,
    "layout_models",
    f"Per rule, k and model: test Top-1 (%) and the overlap of each student's activation maps "
    f"with its teacher's (first {n_samples} test images, teacher-correct ones, mean over "
    "levels; Teacher: its own mass on the objects), mean ± std over seeds.",
)
display(models)
measures = [m for m in ("ssim", "pearson", "iou", "mass_on_objects") if m in frame.columns]
long = frame[frame["method"] != "Teacher"].melt(
    ["rule", "k", "method", "seed", "teacher_seed"], measures, "measure", "value")
attention = L.by_rule(long, claims.kstudy_estimates, "value", ["measure", "method"], digits=3)
R.table(
    attention,
    "layout_attention",
    "Per rule, k, measure and student: the overlap of its activation maps with its own "
    "teacher's, mean with its 95 % interval over teachers.",
)
display(attention)
att_comparisons = [(a, b) for a, b in comparisons if b != "Baseline"]
att_gains = pd.concat([L.by_rule(frame, kstudy.kstudy_gains, measures, method=a, against=[b])
                       for a, b in att_comparisons], ignore_index=True)
att_rows = []
for m in measures:
    name = kstudy.MEASURE_NAMES[m]
    each = L.rule_claims(frame, att_comparisons, margin=None, value=m, digits=3)
    both = L.interaction_claims(att_gains, [f"{a} − {b}" for a, b in att_comparisons],
                                quantity=name, margin=None, primary="", digits=3)
    att_rows += [each.assign(measure=name),
                 both.assign(rule="layout − presence", measure=name)[["rule", *both.columns,
                                                                      "measure"]]]
att_claims = pd.concat(att_rows, ignore_index=True)
R.table(
    att_claims,
    "layout_attention_claims",
    "Per attention measure (higher: closer to the teacher's maps, or more mass on the "
    "defining objects) and comparison: the paired difference per rule, and its difference "
    "between the rules (layout − presence), per seed, with 95 % intervals (exploratory, no "
    "equivalence margin).",
)
att_claims

# %% [markdown]
# ### What it cost
# The study's training time, summed from its run files.

# %%
seconds = sum(r.metrics().get("train_seconds") or 0 for r in runs.values())
print(f"Training time of the study's {len(runs)} runs, from their run files: "
      f"{seconds / 60:.1f} min on one worker, about {seconds / 120:.1f} min on two.")
