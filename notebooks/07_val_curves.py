# ---
# jupyter:
#   dctkd:
#     families:
#     - curves
#     - budget
#     outputs:
#       figures:
#       - val_curves
#       - budget_curve
#       tables:
#       - val_curves_summary
#       - budget_test
#       - budget_curve
#       - budget_ranking
#     title: Convergence by budget, and validation curves
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Convergence by budget, and validation curves
#
# A comparison reads what methods teach only if their students stopped learning. A flat end of
# the curve proves nothing: the last LR drops leave every curve flat, whatever the student still
# had to learn. The test here is more budget: every row of the main table, the teacher included,
# is trained again with twice its epochs (every LR milestone moved in proportion), over the
# seeds the profile names; a row whose mean gain is at most two points either way has
# converged, one that gains more has not, and one that *loses* more than two points is past
# its plateau: it was compared at a budget longer training would have cost it
# (docs/protocol.md#convergence). Where the profile asks for it, the headline methods are also
# trained at a quarter and half of the budget: accuracy against budget shows how fast each
# method learns and where it ends, two rankings that can differ.
#
# Below, validation Top-1 per epoch for one teacher→student pair: methods alone as solid lines,
# with the KD term dashed. The validation split is held out from the training data (the original
# selected and plotted on the test split).

# %% tags=["parameters"]
profile = "quick"  # smoke | quick | paper, or the path of a profile YAML
results = None  # output folder (None: results/<profile> in the project)
data = None  # folder with one sub-folder per real dataset (None: $DCTKD_DATA)
overrides = []  # profile overrides, as given to `dctkd figures --set`
workers = 1  # training processes for runs this notebook still has to train

# %%
# %matplotlib inline
from IPython.display import display

from dctkd.report import Report, budget, figures, tables

R = Report("07_val_curves", profile, results, data, overrides, workers)
P = R.profile
print(P.description)

# %%
budget_cells = R.cells("budget")
budget_runs = R.ensure(budget_cells)
scaled = tables.collect(budget_cells, budget_runs)
order = tables.label_order(P.main_methods()) + list(P.family("main").get("controls") or {})
check = P.family("budget").get("check", 2.0)
test = budget.convergence_table(scaled, check, order=order)
R.table(
    test,
    "budget_test",
    f"The budget test: test Top-1 (%) of each row of the main table at its budget (1×) and "
    f"re-trained with {check:g}× the epochs, milestones stretched (seeds: as listed); the "
    f"gain, with its 95 % interval where ≥ 2 seeds ran both, and the verdict (converged: the "
    f"mean gain within ±{budget.THRESHOLD:g} points; past its plateau: a loss of more). "
    f"Students at {check:g}× distil from the same teacher."
    + tables.diverged_note(scaled),
)
test

# %%
curve = budget.budget_curve_table(scaled, order=order)
if curve.empty:
    print("This profile trains no method at a quarter or half of its budget "
          "(the `budget` family's `factors`): no accuracy-against-budget curve.")

# %%
if not curve.empty:
    R.table(
        curve,
        "budget_curve",
        "Accuracy against budget: test Top-1 (%) of the headline methods at each multiple of "
        "the main table's epochs (schedule stretched), mean ± std over the seeds run there."
        + tables.diverged_note(scaled),
    )
    teacher_top1 = scaled[(scaled["label"] == "Teacher")
                          & (scaled["value"] == 1.0)]["top1"].mean()
    R.figure(
        figures.budget_plot(budget.budget_points(scaled), teacher=teacher_top1),
        "budget_curve",
        "Accuracy against budget: test Top-1 (%) of each headline method at ¼ … 2× the main "
        "table's epochs (log-2 axis; error bars ± std over seeds where more than one ran); the "
        "dotted line is the teacher." + tables.diverged_note(scaled),
    )
    ranking = budget.ordering(scaled, list(curve["method"]))
    R.table(
        ranking,
        "budget_ranking",
        "The headline methods ranked by mean test Top-1 at the main budget and at the largest: "
        "a ranking at a small budget ranks how fast methods learn, not what they teach.",
    )
    display(curve)
    display(ranking)

# %% [markdown]
# ## Validation curves

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
