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

from dctkd.report import Report, claims, figures, tables

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
        + tables.diverged_note(df[df["dataset"] == ds])
        + tables.crd_note(df[df["dataset"] == ds]),
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
        + tables.diverged_note(df[df["dataset"] == ds])
        + tables.crd_note(df[df["dataset"] == ds]),
    )

# %% [markdown]
# ### What the numbers say (computed from the runs)
# The paper's claims — DCT against AT and against the student alone, DCT + KD against KD — as
# differences paired by seed (each seed shares the student's initialisation, data order and
# training subset), with a 95 % Student-t interval over seeds. A verdict is drawn only where
# the interval excludes zero. The second table sets every method against the student alone.

# %%
for ds in datasets:
    for pair, part in df[df["dataset"] == ds].groupby("pair", sort=False):
        note = f"{P.title(ds)}, {pair}"
        slug = f"{ds}_{part['teacher'].iloc[0]}_{part['student'].iloc[0]}"
        found = claims.claims_table(part)
        R.table(
            found,
            f"main_{slug}_claims",
            f"{note}: the paper's claims as Top-1 differences (points) of the val-selected "
            "checkpoints, paired by seed, with 95 % Student-t intervals over seeds."
            + tables.diverged_note(part),
        )
        display(Markdown(f"#### {note}"))
        display(found)
        print("\n".join(claims.sentences(found)))
        versus = claims.against(part, "Baseline")
        R.table(
            versus,
            f"main_{slug}_vs_baseline",
            f"{note}: every method against the student alone, Top-1 differences (points) "
            "paired by seed with 95 % intervals." + tables.diverged_note(part),
        )
        display(versus)
