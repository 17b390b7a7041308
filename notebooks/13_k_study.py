# ---
# jupyter:
#   dctkd:
#     families:
#     - kstudy
#     outputs:
#       figures:
#       - kstudy_gains
#       - kstudy_accuracy
#       tables:
#       - kstudy_claims
#       - kstudy_hardest
#       - kstudy_trend
#       - kstudy_gains
#       - kstudy_models
#     title: 'Multi- vs single-attention: the gain of DCT against k'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Multi- vs single-attention: the gain of DCT against k
#
# Does the DCT loss help more when a scene class needs **several objects**? Synthetic scenes
# whose classes are sets of k object kinds in which **every object is needed**: no k − 1 of a
# class's objects name it (each (k − 1)-subset of its set lies in another class's set too),
# checked below from the class sets themselves. The defining kinds come from one vocabulary
# and the distractors from one pool, in the same number, at every k (where the combinatorics
# allow; the design table says where they do not). For each k: teachers of several seeds,
# and the student alone, AT, KD and DCT students, each paired with one teacher. Everything
# below is read from the run files: Top-1 of the val-selected checkpoint, the overlap of each
# student's activation maps with its own teacher's (notebook 10's measures, averaged over
# levels and teacher-correct test images). Intervals are 95 % Student-t intervals over
# **teachers** (the students of one teacher averaged first), and the trend in k is fitted on
# the per-k estimates: each k is one point.
#
# The study is the `kstudy` profile (`make figures PROFILE=kstudy`,
# [its report](../../kstudy/index.html)); the default `quick` profile leaves it out: its
# teachers alone, several per k, cost more than the default's time budget on a CPU.

# %% tags=["parameters"]
profile = "kstudy"  # smoke | kstudy | paper, or the path of a profile YAML
results = None  # output folder (None: results/<profile> in the project)
data = None  # folder with one sub-folder per real dataset (None: $DCTKD_DATA)
overrides = []  # profile overrides, as given to `dctkd figures --set`
workers = 1  # training processes for runs this notebook still has to train
n_samples = 150  # first test images of each k analysed for the overlap (cost: k x seeds)
q = 0.2  # share of pixels in the top-q regions compared by IoU
tolerance = 2.0  # the budget check: a run passes when twice its epochs gain at most this

# %%
# %matplotlib inline
import pandas as pd
from IPython.display import display

from dctkd.analysis import kstudy
from dctkd.report import Report, claims, figures, study

R = Report("13_k_study", profile, results, data, overrides, workers)
P = R.profile
print(P.description)

# %% [markdown]
# ### The task at each k
# Per k, from the class sets the generator made: how many kinds define classes, the
# distractor kinds and how many distractors an image holds, the objects each class needs
# (fewest and most over classes: both should equal k), the best accuracy of a classifier
# shown one, or k − 1, of a class's objects, and two measured ceilings: a random forest on
# the kinds an image holds (their counts) alone, and one that also sees where the defining
# objects are (`scenes.task_facts`). Here a class is its kinds, so the first is near 100 %.

# %%
cells = R.cells("kstudy")
runs = R.ensure(cells)
design = study.kstudy_design(cells)
R.table(
    design,
    "kstudy_design",
    "Per k: classes, how their sets are made, the rule and the classes each kind set "
    "defines, defining kinds in use, distractor kinds and "
    "distractors per image, the objects each class needs (fewest, most), the best "
    "accuracy (%) from one and from k − 1 of a class's objects, the test accuracy (%) of a "
    "random forest on the kind counts alone and on the defining objects' kinds and cells, "
    "and how its runs train (teacher epochs; student training images and epochs).",
)
needed_ok = (design["objects needed (fewest)"] == design["k"]).all()
print(f"objects needed = k at every k: {bool(needed_ok)}")
for col in ("defining kinds", "distractor kinds", "distractors", "teacher epochs",
            "student images", "student epochs"):
    values = dict(zip(design["k"], design[col], strict=True))
    if len(set(values.values())) > 1:
        print(f"differs across k: {col} {values}")
differ = study.kstudy_epochs_note(design)  # named in every caption that compares methods
design

# %%
accuracy = study.kstudy_accuracy(cells, runs)
overlap = study.kstudy_overlap(cells, runs, n_samples, q=q)
frame = accuracy.merge(overlap, on=["k", "method", "seed", "teacher_seed"], how="left")
ceiling = study.ceilings(cells)
models_table = study.kstudy_models_table(frame)
R.table(
    models_table,
    "kstudy_models",
    f"Per k: Top-1 (%) of each model (val-selected checkpoint) and the overlap of each "
    f"student's activation maps with its teacher's (first {n_samples} test images, "
    "teacher-correct ones, mean over levels; Teacher: its own mass on the objects), "
    "mean ± std over seeds (teachers: over teacher seeds).",
)
models_table

# %% [markdown]
# ### Difficulty and gains per k
# A gain that grows with k means something only if the difficulty does not move with it:
# per k, the teachers' Top-1, the student alone's and the gap between them, beside the
# paired Top-1 differences of DCT against AT, KD and the student alone.

# %%
present = set(accuracy["method"])
comparisons = [("DCT", b) for b in ("AT", "KD", "Baseline") if b in present]
by_k = claims.kstudy_claims(accuracy, ceiling, comparisons)
R.table(
    by_k,
    "kstudy_claims",
    "Per k: Top-1 (%) of the teachers and of the student alone, the gap between each teacher "
    "and the students alone paired with it, the one-object ceiling, and DCT's Top-1 "
    "differences (points) against AT, KD and the student alone, paired by seed; 95 % "
    "intervals over teachers." + differ,
)
display(by_k)
hardest = study.kstudy_hardest(cells, runs)
R.table(
    hardest,
    "kstudy_hardest",
    "Per k: the teachers' and the students alone's Top-1 averaged over classes and their "
    "three least accurate test classes (accuracy %, mean over seeds): where a k's difficulty "
    "sits.",
)
display(hardest)
gap = kstudy.gap_closed(accuracy)
gap_table = claims.kstudy_estimates(gap, "fraction", ["method"])
R.table(
    gap_table,
    "kstudy_gap_closed",
    "Per k and method: the share of the teacher − student-alone gap the method closes, "
    "(method − alone) / (teacher − alone) per teacher, mean over teachers with its 95 % "
    "interval: 0 is the student alone, 1 the teacher." + differ,
)
gap_table

# %%
gains = kstudy.kstudy_gains(frame, against=[b for _, b in comparisons])
table = study.kstudy_table(gains, ceiling)
R.table(
    table,
    "kstudy_gains",
    "Gain of the DCT student over AT, KD and the student alone per k (per seed, paired by "
    "seed; mean ± std over seeds): Top-1 in points, overlap measures in their own units, "
    "beside the one-object ceiling of each k." + differ,
)
fig = figures.k_study_plot(gains, panel="quantity")
R.figure(
    fig,
    "kstudy_gains",
    "Gain of DCT over AT, KD and the student alone against the number k of objects each "
    "class needs, mean ± std over seeds (Top-1 in points; overlap with the teacher's "
    "activation maps averaged over levels)." + differ,
)
fig = figures.k_study_plot(
    kstudy.accuracy_vs_k(frame, ceiling),
    y="Top-1 (%)",
    hue="series",
    palette={"one-object ceiling": "#d62728"},
)
fig.set_size_inches(5.4, 3.0)
fig.axes[-1].legend(fontsize="small", frameon=False, bbox_to_anchor=(1.02, 1), loc="upper left")
fig.tight_layout()
R.figure(
    fig,
    "kstudy_accuracy",
    "Top-1 (%) of each model against k, mean ± std over seeds, and the one-object "
    "ceiling: the best accuracy from a single class-defining object.",
)
table

# %% [markdown]
# ### Attention per k
# Each student's overlap with its own teacher, per k and method (mean over teachers, 95 %
# interval), and DCT's paired differences in each measure against AT, KD and the student
# alone.

# %%
measures = [m for m in ("ssim", "pearson", "iou", "mass_on_objects") if m in frame.columns]
students = frame[frame["method"] != "Teacher"].melt(
    ["k", "method", "seed", "teacher_seed"], measures, "measure", "value")
overlap_table = claims.kstudy_estimates(students, "value", ["measure", "method"], digits=3)
R.table(
    overlap_table,
    "kstudy_overlap",
    "Per k, overlap measure and student: the overlap of its activation maps with its own "
    "teacher's, mean over teachers with its 95 % interval." + differ,
)
att = gains[gains["quantity"] != "Top-1 (%)"]
display(claims.kstudy_estimates(att, "gain", ["quantity", "comparison"], digits=3))
overlap_table

# %% [markdown]
# ### The trend in k
# The slope of each per-k estimate against k (points, or units, per extra object needed),
# fitted on one point per k, with its 95 % interval; the verdict is read from that interval
# only: "grows with k" or "shrinks with k" when it excludes 0, "unresolved" when it holds 0.

# %%
per_k = kstudy.by_k(gains, "gain", ["comparison", "quantity"])
trend = claims.kstudy_trend(per_k, ["comparison", "quantity"])
per_k_gap = kstudy.by_k(gap, "fraction", ["method"])
trend_gap = claims.kstudy_trend(per_k_gap, ["method"]).rename(columns={"method": "comparison"})
trend = pd.concat([trend, trend_gap.assign(quantity="gap closed")[trend.columns]],
                  ignore_index=True)
R.table(
    trend,
    "kstudy_trend",
    "Slope against k of each per-k estimate (DCT's paired gains; each method's share of the "
    "gap closed), fitted on one point per k, with its 95 % interval and the verdict it "
    "supports." + differ,
)
for _, r in trend[trend["quantity"].isin(["Top-1 (%)", "gap closed"])].iterrows():
    print(f"{r['comparison']} [{r['quantity']}]: {r['slope per k']:+.3f} per extra object, "
          f"95% interval {r['95% interval'] or 'none'} over {r['ks']} ks → {r['verdict']}")
trend

# %% [markdown]
# ### Converged and within budget
# Seed 0's runs (students and their teacher) re-trained with twice the epochs, the schedule
# stretched: a run has reached its plateau when the longer one gains at most `tolerance`
# points. Then the study's training time, summed from its run files.

# %%
budget = kstudy.budget_check(study.kstudy_budget(cells, runs), tolerance)
R.table(
    budget.round(2),
    "kstudy_budget",
    f"The budget check: Top-1 (%) of each run at its own epochs and re-trained with more "
    f"(schedule stretched), the gain, and whether it is at most {tolerance:g} points"
    + ("" if len(budget) else "; this build runs none, so no run of it is shown converged")
    + ".",
)
if budget.empty:
    print(f"This build (profile {P.name!r}, overrides {overrides}) runs no budget check: its "
          "numbers are provisional. The kstudy profile as written checks seed 0 of every k "
          "and method (make figures PROFILE=kstudy NB=13).")
else:
    print(f"{int(budget['passes'].sum())} of {len(budget)} runs pass the budget check "
          f"(gain ≤ {tolerance:g} points); largest gain {budget['gain'].max():+.2f}.")
seconds = sum(r.metrics().get("train_seconds") or 0 for r in runs.values())
print(f"Training time of the study's {len(runs)} runs, from their run files: "
      f"{seconds / 60:.1f} min on one worker, about {seconds / 120:.1f} min on two.")
budget
