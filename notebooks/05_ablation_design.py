# ---
# jupyter:
#   dctkd:
#     families:
#     - design
#     outputs:
#       figures:
#       - design_ablation
#       tables:
#       - design_ablation_claims
#       - design_ablation
#     title: Design ablations of the DCT term
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Design ablations of the DCT term
#
# Three choices of the method, each varied alone with the rest at the published
# setting: the **transform** (V1 `|Re FFT2|` as published, V2 signed `Re FFT2`, the exact
# DCT-II, and AT's spatial maps as the no-transform reference), **PRED_GUIDE** (distil only the
# samples the teacher classifies correctly) and **which levels** are distilled.

# %% tags=["parameters"]
profile = "full"  # smoke | quick | full | paper, or the path of a profile YAML
results = None  # output folder (None: results/<profile> in the project)
data = None  # folder with one sub-folder per real dataset (None: $DCTKD_DATA)
overrides = []  # profile overrides, as given to `dctkd figures --set`
workers = 1  # training processes for runs this notebook still has to train

# %%
# %matplotlib inline
from dctkd.report import Report, claims, figures, grid, tables

R = Report("05_ablation_design", profile, results, data, overrides, workers)
P = R.profile
print(P.description)

# %%
cells = R.cells("design")
runs = R.ensure(cells)
df = tables.collect(cells, runs)
groups = grid.DESIGN_GROUPS
table = tables.design_table(df, groups)
f = P.family("design")
R.table(
    table,
    "design_ablation",
    f"{P.title(f['dataset'])}: test accuracy (%) of the DCT student when one design "
    "choice changes (val-selected checkpoint, mean ± std over seeds); Δ is against the "
    "first (published) setting of each group." + tables.seed_note(df) + tables.diverged_note(df),
)
table

# %%
fig = figures.design_plot(df, groups)
R.figure(
    fig,
    "design_ablation",
    "Top-1 (%) per design setting, mean ± std over seeds; dotted: the student alone.",
)

# %% [markdown]
# ### What the numbers say
# Each setting against the published one of its group (the first), and the published DCT
# against the student alone, paired by seed with 95 % intervals.

# %%
comparisons = []
labelled = df.copy()
for group in groups:
    rows = labelled["param"] == group
    if not rows.any():
        continue
    labelled.loc[rows, "label"] = [f"{group}: {v}" for v in labelled.loc[rows, "value"]]
    values = list(dict.fromkeys(labelled.loc[rows, "value"]))
    comparisons += [(f"{group}: {v}", f"{group}: {values[0]}") for v in values[1:]]
first = next(g for g in groups if (df["param"] == g).any())
default = f"{first}: {next(iter(dict.fromkeys(df[df['param'] == first]['value'])))}"
comparisons.append((default, "Baseline"))
found = claims.claims_table(labelled, comparisons)
R.table(
    found,
    "design_ablation_claims",
    f"{P.title(f['dataset'])}: each design setting against the published one of its group, "
    "and the published DCT student against the student alone; Top-1 differences (points) "
    "paired by seed with 95 % intervals." + tables.diverged_note(df),
)
print("\n".join(claims.sentences(found)))
found
