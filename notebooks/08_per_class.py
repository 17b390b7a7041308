# ---
# jupyter:
#   dctkd:
#     families:
#     - per_class
#     outputs:
#       figures:
#       - per_class_*
#       - confusion_*
#       - per_class_gain
#       tables:
#       - per_class
#     title: Per-class accuracy and confusion matrices
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Per-class accuracy and confusion matrices
#
# Where the distilled students gain: test accuracy per class for the teacher, the
# student alone and the distilled students, their confusion matrices (row-normalised), and
# the per-class change of the DCT student over the student alone.

# %% tags=["parameters"]
profile = "quick"  # smoke | quick | paper, or the path of a profile YAML
results = None  # output folder (None: results/<profile> in the project)
data = None  # folder with one sub-folder per real dataset (None: $DCTKD_DATA)
overrides = []  # profile overrides, as given to `dctkd figures --set`
workers = 1  # training processes for runs this notebook still has to train

# %%
# %matplotlib inline
from dctkd.report import Report, figures, tables

R = Report("08_per_class", profile, results, data, overrides, workers)
P = R.profile
print(P.description)

# %%
cells = R.cells("per_class")
runs = R.ensure(cells)
f = P.family("per_class")
table = tables.per_class_table(cells, runs)
R.table(
    table,
    "per_class",
    f"{P.title(f['dataset'])}: test accuracy (%) per class of each model (val-selected "
    "checkpoint, one seed); the last row is the mean class accuracy."
    + tables.diverged_note(tables.collect(cells, runs)),
)
table

# %%
classes = table[table["class"] != ""]["name"].astype(str).tolist()
for cell in cells:
    slug = "teacher" if cell.label == "Teacher" else cell.cfg.method.name.replace("+", "_")
    run = runs[cell.run_id]
    acc = tables.per_class(run)["accuracy"].to_numpy()
    R.figure(
        figures.per_class_plot(acc, classes),
        f"per_class_{slug}",
        f"Per-class test accuracy of {cell.cfg.model} ({cell.label}); dashed: the mean.",
    )
    R.figure(
        figures.confusion_plot(tables.confusion(run), classes),
        f"confusion_{slug}",
        f"Row-normalised test confusion matrix of {cell.cfg.model} ({cell.label}).",
    )

# %%
labels = [c.label for c in cells]
if "DCT" in labels and "Baseline" in labels:
    R.figure(
        figures.per_class_delta(table, "DCT", "Baseline"),
        "per_class_gain",
        "Per-class test accuracy of the DCT student minus the student alone (points).",
    )
