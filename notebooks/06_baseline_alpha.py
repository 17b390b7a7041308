# ---
# jupyter:
#   dctkd:
#     families:
#     - baseline_alpha
#     outputs:
#       figures:
#       - baseline_alpha_curves
#       - baseline_alpha_box
#       tables:
#       - baseline_alpha_claims
#       - baseline_alpha
#     title: Sensitivity of the baselines to their alpha
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Sensitivity of the baselines to their alpha
#
# Were the baselines handicapped by their weights? Each baseline's α is scaled by
# (1 + p) around its published value (p = 0 is the main table's run), as the original's later
# alpha search did; the DCT student at its default α and the student alone are the reference
# lines.

# %% tags=["parameters"]
profile = "full"  # smoke | quick | full | paper, or the path of a profile YAML
results = None  # output folder (None: results/<profile> in the project)
data = None  # folder with one sub-folder per real dataset (None: $DCTKD_DATA)
overrides = []  # profile overrides, as given to `dctkd figures --set`
workers = 1  # training processes for runs this notebook still has to train

# %%
# %matplotlib inline
from dctkd.report import Report, claims, figures, grid, tables

R = Report("06_baseline_alpha", profile, results, data, overrides, workers)
P = R.profile
print(P.description)

# %%
cells = R.cells("baseline_alpha")
runs = R.ensure(cells)
df = tables.collect(cells, runs)
f = P.family("baseline_alpha")
alphas = {m: grid.default_alpha(m) for m in f["methods"]}
part = tables.sensitivity_frame(df, alphas)
table = tables.sensitivity_table(part)
R.table(
    table,
    "baseline_alpha",
    f"{P.title(f['dataset'])}: Top-1 (%) of each baseline when its alpha is changed by the "
    "given percentage of its published value (mean ± std over seeds), and the best change."
    + tables.seed_note(df)
    + tables.diverged_note(df)
    + tables.crd_note(df),
)
table

# %%
refs = {
    "DCT": float(df[df.label == "DCT"]["top1"].mean()),
    "Baseline": float(df[df.label == "Baseline"]["top1"].mean()),
}
R.figure(
    figures.sensitivity_plot(part, refs),
    "baseline_alpha_curves",
    "Top-1 against the change of each baseline's alpha (mean ± std over seeds); dotted: "
    "DCT at its default alpha and the student alone.",
)
R.figure(
    figures.sensitivity_box(part, refs),
    "baseline_alpha_box",
    "Spread of each baseline's Top-1 over the alpha changes tried; crosses: the published "
    "alpha; red line: DCT at its default alpha.",
)

# %% [markdown]
# ### What the numbers say
# Were the baselines handicapped by their published weights? Each change of a baseline's alpha
# against its published alpha, and DCT at its default against each baseline at every alpha
# tried, paired by seed with 95 % intervals.

# %%
changed = claims.relabel(df, "change", "{label} ({value})")
comparisons = []
for label, sub in part.groupby("label", sort=False):
    values = sorted(sub["value"].unique())
    comparisons += [(f"{label} ({v:g})", f"{label} (0)") for v in values if v != 0]
    comparisons += [("DCT", f"{label} ({v:g})") for v in values]
found = claims.claims_table(changed, comparisons)
R.table(
    found,
    "baseline_alpha_claims",
    f"{P.title(f['dataset'])}: each baseline at a changed alpha (relative change in brackets) "
    "against its published alpha, and DCT at its default against each baseline setting; "
    "Top-1 differences (points) paired by seed with 95 % intervals."
    + tables.diverged_note(df)
    + tables.crd_note(df),
)
print("\n".join(claims.sentences(found)))
found
