# ---
# jupyter:
#   dctkd:
#     families:
#     - main
#     - regime
#     outputs:
#       tables:
#       - regime
#       - regime_budget_test
#       - regime_claims
#     title: Does the ordering hang on the regime?
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Does the ordering hang on the regime?
#
# The main table follows the paper's regime: the teacher knows more than its student from
# pre-training on a separate pool, and both learn from the same images with the same
# augmentation (docs/protocol.md#pre-training). Here the headline methods train again in a
# second regime (the profile's `regime` family: under `full`, a teacher trained from scratch
# on nine times its students' images, students on un-augmented images, so the student alone
# overfits); each row passes the same budget test. If the ordering of the methods is the same
# in both regimes, the conclusions do not hang on where the teacher's knowledge comes from;
# where it differs, the second regime's ordering says what a method does for an overfitting
# student.

# %% tags=["parameters"]
profile = "full"  # a profile that defines the `regime` family
results = None  # output folder (None: results/<profile> in the project)
data = None  # folder with one sub-folder per real dataset (None: $DCTKD_DATA)
overrides = []  # profile overrides, as given to `dctkd figures --set`
workers = 1  # training processes for runs this notebook still has to train

# %%
# %matplotlib inline
import pandas as pd

from dctkd.report import Report, budget, claims, tables

R = Report("14_regime", profile, results, data, overrides, workers)
P = R.profile
print(P.description)

# %%
f = P.family("regime")
regime_cells = R.cells("regime")
scaled = tables.collect(regime_cells, R.ensure(regime_cells))
main_cells = [c for c in R.cells("main") if c.label in set(scaled["label"])]
main = tables.collect(main_cells, R.ensure(main_cells))
here = scaled[scaled["value"] == 1.0].assign(regime=f["title"])
order = tables.label_order(list(dict.fromkeys(["none", *f["methods"]])))
both = {f["title"]: here, "main table": main.assign(regime="main table")}
rows = []
for name, part in both.items():
    t = tables.main_table(part.assign(dataset="scenes"), "scenes", order, metrics=["top1"],
                          selections=["best"])
    rows.append(t.rename(columns={"Top-1 (val-selected)": name}).set_index("method")[[name]])
table = rows[0].join(rows[1]).reset_index()
settings = tables.settings_note([c for c in regime_cells if c.value == 1.0])
R.table(
    table,
    "regime",
    f"Test Top-1 (%) of the headline methods in two regimes: {f['title']} and the main "
    "table's, mean ± std over seeds (val-selected checkpoints)." + settings
    + tables.diverged_note(scaled),
)
table

# %%
check = f.get("check", 2.0)
test = budget.convergence_table(scaled, check, order=order)
R.table(
    test,
    "regime_budget_test",
    f"The budget test in the regime '{f['title']}': Top-1 at its budget and at {check:g}× the "
    f"epochs, milestones stretched; converged when the gain is within ±{budget.THRESHOLD:g} "
    "points, past its plateau when it loses more.",
)
test

# %% [markdown]
# ### The claims in both regimes
# The same accuracy claims as notebook 03, paired by seed, in each regime: a claim that holds
# in one and not the other hangs on the regime.

# %%
found = []
for name, part in both.items():
    got = claims.accuracy_claims(part, margin=P.margin)
    got.insert(0, "regime", name)
    found.append(got)
found = pd.concat(found, ignore_index=True)
R.table(
    found,
    "regime_claims",
    "The paper's accuracy claims in each regime, Top-1 differences (points) paired by seed "
    "with 95 % intervals and verdicts." + settings,
)
found
