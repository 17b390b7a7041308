# ---
# jupyter:
#   dctkd:
#     families:
#     - main
#     outputs:
#       figures:
#       - main_*_top1
#       tables:
#       - main_*
#     title: 'Main results: every method alone and + KD'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Main results: every method alone and + KD
#
# For each dataset and teacher→student pair: the teacher, the student alone, each
# distillation method alone and with the logit KD term added (`+ KD`: β = 0.1, δ = 1, T = 4),
# Top-1 / Top-5 / mean class accuracy of the checkpoint selected on a held-out validation split
# and of the last epoch, mean ± std over seeds. Under the `paper` profile the published Top-1
# (June 2021 README) stands beside each reproduced value.

# %% tags=["parameters"]
profile = "quick"  # smoke | quick | paper, or the path of a profile YAML
results = None  # output folder (None: results/<profile> in the project)
data = None  # folder with one sub-folder per real dataset (None: $DCTKD_DATA)
overrides = []  # profile overrides, as given to `dctkd figures --set`
workers = 1  # training processes for runs this notebook still has to train

# %%
# %matplotlib inline
from IPython.display import Markdown, display

from dctkd.report import Report, figures, tables

R = Report("03_main_results", profile, results, data, overrides, workers)
P = R.profile
print(P.description)

# %%
cells = R.cells("main")
runs = R.ensure(cells)
df = tables.collect(cells, runs)
order = tables.label_order(P.main_methods())
datasets = list(dict.fromkeys(df["dataset"]))

# %%
for ds in datasets:
    published = P.published(ds)
    table = tables.main_table(df, ds, order, published=published)
    R.table(
        table,
        f"main_{ds}",
        f"{P.title(ds)}: test accuracy (%) per method and teacher→student pair, "
        "val-selected checkpoint and last epoch, mean ± std over seeds"
        + ("; the published Top-1 of the original README beside it." if published else ".")
        + tables.diverged_note(df[df["dataset"] == ds]),
    )
    display(Markdown(f"### {P.title(ds)}"))
    display(table)

# %%
for ds in datasets:
    fig = figures.method_bars(df[df["dataset"] == ds], order, "top1", title=P.title(ds))
    R.figure(
        fig,
        f"main_{ds}_top1",
        f"{P.title(ds)}: Top-1 (%) of the val-selected checkpoint per method, mean ± std "
        "over seeds; hatched bars add the KD term, the dashed line is the teacher."
        + tables.diverged_note(df[df["dataset"] == ds]),
    )

# %% [markdown]
# ### What the numbers say (computed from the runs)

# %%
for ds in datasets:
    sub = df[(df["dataset"] == ds) & (df["label"] != "Teacher")]
    means = sub.groupby(["pair", "label"])["top1"].mean().unstack(0)
    for pair in means.columns:
        col = means[pair].dropna().sort_values(ascending=False)
        base = col.get("Baseline", float("nan"))
        alone = col[[x for x in col.index if "KD" not in x and x != "Baseline"]]
        dct, at = col.get("DCT", float("nan")), col.get("AT", float("nan"))
        print(
            f"{P.title(ds)}, {pair}: best overall {col.index[0]} ({col.iloc[0]:.2f}); "
            f"best method alone {alone.index[0]} ({alone.iloc[0]:.2f}); "
            f"baseline {base:.2f}; DCT {dct:.2f} vs AT {at:.2f}"
        )
