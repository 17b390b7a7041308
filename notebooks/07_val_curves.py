# ---
# jupyter:
#   dctkd:
#     families:
#     - curves
#     outputs:
#       figures:
#       - val_curves
#       tables:
#       - val_curves_summary
#     title: Validation curves per method
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Validation curves per method
#
# Validation Top-1 per epoch for one teacher→student pair: methods alone as solid
# lines, with the KD term dashed, DCT in green as in the original figure. The validation split
# is held out from the training data (the original selected and plotted on the test split).

# %% tags=["parameters"]
profile = "quick"  # smoke | quick | paper, or the path of a profile YAML
results = None  # output folder (None: results/<profile> in the project)
data = None  # folder with one sub-folder per real dataset (None: $DCTKD_DATA)
overrides = []  # profile overrides, as given to `dctkd figures --set`
workers = 1  # training processes for runs this notebook still has to train

# %%
# %matplotlib inline
from dctkd.report import Report, figures, tables

R = Report("07_val_curves", profile, results, data, overrides, workers)
P = R.profile
print(P.description)

# %%
cells = R.cells("curves")
runs = R.ensure(cells)
curves = tables.histories(cells, runs)
note = tables.diverged_note(tables.collect(cells, runs))
f = P.family("curves")
fig = figures.curves_plot(curves, y="val_top1", max_x=f.get("max_epoch"))
R.figure(
    fig,
    "val_curves",
    f"{P.title(f['dataset'])}: validation Top-1 per epoch for each method "
    "(dashed: with the KD term); bands are ± std over seeds." + note,
)
summary = tables.final_val_table(curves)
R.table(
    summary,
    "val_curves_summary",
    "Best and last-epoch validation Top-1 (%) of each curve, and the epoch of the best "
    "(mean ± std over seeds)." + note,
)
summary
