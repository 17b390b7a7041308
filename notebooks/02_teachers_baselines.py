# ---
# jupyter:
#   dctkd:
#     families:
#     - teachers
#     - baselines
#     outputs:
#       figures:
#       - teachers_baselines_curves
#       tables:
#       - teachers_baselines
#     title: Teachers and baselines
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Teachers and baselines
#
# The teachers (ImageNet-pretrained ResNet-50/152 fine-tuned at LR 0.01 under `paper`)
# and the students trained alone (the *baseline* rows). Every distilled student is compared
# with the baseline of its architecture; the teacher bounds what distillation can pass on.

# %% tags=["parameters"]
profile = "quick"  # smoke | quick | paper, or the path of a profile YAML
results = None  # output folder (None: results/<profile> in the project)
data = None  # folder with one sub-folder per real dataset (None: $DCTKD_DATA)
overrides = []  # profile overrides, as given to `dctkd figures --set`
workers = 1  # training processes for runs this notebook still has to train

# %%
# %matplotlib inline
from dctkd.report import Report, figures, tables

R = Report("02_teachers_baselines", profile, results, data, overrides, workers)
P = R.profile
print(P.description)

# %%
cells = R.cells("teachers", "baselines")
runs = R.ensure(cells)
df = tables.collect(cells, runs)
table = tables.models_table(df, {k: P.published(k) for k in P.datasets})
R.table(
    table,
    "teachers_baselines",
    "Test accuracy (%) of each teacher and of each student trained alone, for the "
    "val-selected checkpoint and the last epoch (mean ± std over seeds).",
)
table

# %%
curves = {}
for cell in cells:
    key = f"{cell.dataset}: {cell.cfg.model} ({'teacher' if cell.label == 'Teacher' else 'alone'})"
    curves.setdefault(key, []).append(runs[cell.run_id].history())
fig = figures.curves_plot(curves, y="val_top1")
R.figure(
    fig,
    "teachers_baselines_curves",
    "Validation Top-1 (held-out part of the training split) per epoch of the teachers "
    "and of the students trained alone; bands are ± std over seeds.",
)
