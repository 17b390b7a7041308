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
#       - val_curves_plateau
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
from dctkd.report import Report, claims, figures, tables

R = Report("07_val_curves", profile, results, data, overrides, workers)
P = R.profile
print(P.description)

# %%
cells = R.cells("curves")
runs = R.ensure(cells)
curves = tables.histories(cells, runs)
collected = tables.collect(cells, runs)
note = tables.diverged_note(collected) + tables.crd_note(collected)
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

# %% [markdown]
# ## Did every run reach its plateau?
# A comparison reads what methods teach only if their students stopped learning: over the last
# fifth of the epochs the seed-mean validation curve should move by about a point or less,
# and the best epoch should not be pinned to the last one.

# %%
plateau = claims.plateau_table(cells, runs)
R.table(
    plateau,
    "val_curves_plateau",
    "Plateau evidence per method: change and range (points) of the seed-mean validation "
    "Top-1 over the last fifth of the epochs, mean epoch of the best validation Top-1, and "
    "how many seeds peaked at their last epoch." + note,
)
plateau

# %% [markdown]
# ## Methods below the student alone: their loss terms
# Where a method ends below the student trained alone, the weighted terms of its objective
# over training show why: a term that stays far below the cross-entropy hardly acts, one that
# dominates it pulls the student away from the labels.

# %%
df = collected
base = df[df["label"] == "Baseline"]["top1"].mean()
means = df[df["label"] != "Teacher"].groupby("label")["top1"].mean()
below = [label for label, v in means.items() if v < base and label != "Baseline"]
print(f"student alone: {base:.2f}; below it: {', '.join(below) or 'none'}")
if below:
    frames = {
        label: [runs[c.run_id].history() for c in cells if c.label == label] for label in below
    }
    R.figure(
        figures.loss_terms_plot(frames),
        "val_curves_loss_terms",
        "Weighted loss terms per epoch (mean over seeds, log scale) of the methods whose "
        "Top-1 ends below the student trained alone." + note,
    )
