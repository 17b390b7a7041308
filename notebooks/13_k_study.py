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
# Does the DCT loss help more when a scene class is defined by **several objects**?
# Synthetic scenes in which each class is a set of k object kinds among distractors (k = 1…4
# under `quick`); for each k a teacher, the student alone, AT and DCT students over several
# seeds. For k > 1 no single object identifies the class: the **one-object ceiling** (the best
# accuracy of a classifier shown one class-defining object) falls to 50 % or less, so a good
# network must attend to several places at once. Against k: the gain of DCT over AT and over
# the student alone in Top-1 (val-selected checkpoint, from the run files) and in attention
# overlap with that k's teacher (measures of notebook 10, averaged over levels and
# teacher-correct test images), paired by seed, mean ± std over seeds.

# %% tags=["parameters"]
profile = "quick"  # smoke | quick | paper, or the path of a profile YAML
results = None  # output folder (None: results/<profile> in the project)
data = None  # folder with one sub-folder per real dataset (None: $DCTKD_DATA)
overrides = []  # profile overrides, as given to `dctkd figures --set`
workers = 1  # training processes for runs this notebook still has to train
n_samples = 150  # first test images of each k analysed for the overlap (cost: k x seeds)
q = 0.2  # share of pixels in the top-q regions compared by IoU

# %%
# %matplotlib inline
from IPython.display import display

from dctkd.analysis import kstudy
from dctkd.report import Report, claims, figures, study

R = Report("13_k_study", profile, results, data, overrides, workers)
P = R.profile
print(P.description)

# %%
cells = R.cells("kstudy")
runs = R.ensure(cells)
accuracy = study.kstudy_accuracy(cells, runs)
overlap = study.kstudy_overlap(cells, runs, n_samples, q=q)
frame = accuracy.merge(overlap, on=["k", "method", "seed"], how="left")
ceiling = study.ceilings(cells)
models_table = study.kstudy_models_table(frame)
R.table(
    models_table,
    "kstudy_models",
    f"Per k: Top-1 (%) of each model (val-selected checkpoint) and the overlap of each "
    f"student's activation maps with that k's teacher (first {n_samples} test images, "
    "teacher-correct ones, mean over levels; Teacher: its own mass on the objects), "
    "mean ± std over seeds.",
)
models_table

# %%
gains = kstudy.kstudy_gains(frame)
table = study.kstudy_table(gains, ceiling)
R.table(
    table,
    "kstudy_gains",
    "Gain of the DCT student over AT and over the student alone per k (per seed, paired by "
    "seed; mean ± std over seeds): Top-1 in points, overlap measures in their own units, "
    "beside the one-object ceiling of each k.",
)
fig = figures.k_study_plot(gains, panel="quantity")
R.figure(
    fig,
    "kstudy_gains",
    "Gain of DCT over AT and over the student alone against the number k of "
    "class-defining objects, mean ± std over seeds (Top-1 in points; overlap with the "
    "teacher's activation maps averaged over levels).",
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
# ### What the numbers say
# Per k, the paired Top-1 differences with their 95 % intervals, beside how hard each k's task
# is (its teacher, the student alone, the gap between them): a gain that grows with k means
# something only if the difficulty does not move with it. Then the trend itself: the slope of
# the per-seed gain against k, with its interval.

# %%
by_k = claims.kstudy_claims(accuracy, ceiling)
R.table(
    by_k,
    "kstudy_claims",
    "Per k: the teacher's and the student alone's Top-1 (%), the gap between them and the "
    "one-object ceiling, beside the Top-1 differences (points) of DCT against AT and against "
    "the student alone, paired by seed with 95 % intervals.",
)
display(by_k)
trend = claims.kstudy_trend(gains)
R.table(
    trend,
    "kstudy_trend",
    "Least-squares slope of each paired Top-1 gain against k (points per extra "
    "class-defining object) over every (k, seed), with its 95 % interval.",
)
print(
    "\n".join(
        f"{r['comparison']}: {r['slope per k']:+.3f} points per extra object, 95% interval "
        f"{r['95% interval'] or 'none'} → {r['verdict']}"
        for _, r in trend.iterrows()
    )
)
trend
