"""Tables of the notebooks, built from run files only (`final.json`, `metrics.csv`, per-class).

`collect` joins each labelled cell with its run's test metrics; the other functions reduce
that frame to the paper's tables (mean ± std over seeds), with the published Top-1 beside the
reproduced value where the paper has one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from importlib import resources

import numpy as np
import pandas as pd

from dctkd.losses import TEACHER_LABEL as TEACHER
from dctkd.losses import label as method_label
from dctkd.losses.catalogue import name_of

from .grid import Cell

BASELINE = method_label("none")

METRICS = ("top1", "top5", "mca")
METRIC_NAMES = {"top1": "Top-1", "top5": "Top-5", "mca": "MCA"}
SELECTIONS = {"best": "val-selected", "last": "last epoch"}


def published_results() -> pd.DataFrame:
    """The published Top-1 tables: `dataset, teacher, student, method, metric, value, source`.

    `method` is the catalogue name (`teacher`, `none`, `dct+kd`, ...).
    """
    with resources.files("dctkd.report").joinpath("paper/results.csv").open() as fh:
        return pd.read_csv(fh)


def published_alpha() -> pd.DataFrame:
    """docs/experiments.md#alpha-ablation: `alpha` (the baseline row has alpha `baseline`), `top1`,
    `top5`, `mca`."""
    with resources.files("dctkd.report").joinpath("paper/alpha_ablation.csv").open() as fh:
        return pd.read_csv(fh, dtype={"alpha": str})


def collect(cells: Iterable[Cell], runs: Mapping) -> pd.DataFrame:
    """One row per cell: its labels plus the run's test metrics.

    `top1`/`top5`/`mca` are the val-selected checkpoint's, `*_last` the last epoch's,
    `val_top1` its val accuracy (what chose it); all in percent. `runs` maps run ids to
    `Run`s (what `Report.ensure` returns).
    """
    rows = []
    for cell in cells:
        final = runs[cell.run_id].metrics()
        row = cell.row()
        for which, suffix in (("best", ""), ("last", "_last")):
            for m in METRICS:
                row[m + suffix] = float(final[which][m])
        row["val_top1"] = final.get("best_val_top1")
        row["best_epoch"] = final.get("best_epoch")
        row["train_seconds"] = final.get("train_seconds")
        row["diverged_epoch"] = final.get("diverged_epoch")
        row["num_train"] = final.get("num_train")
        row["epochs"] = cell.cfg.optim.epochs
        rows.append(row)
    return pd.DataFrame(rows)


def diverged_note(df: pd.DataFrame) -> str:
    """A caption sentence naming the runs whose loss became non-finite, or `""` if none.

    A run that diverged after its first epoch stops there and reports its best checkpoint
    before the divergence; one that diverged in epoch 1 has no usable checkpoint and no
    numbers (blank cells). Either way its numbers say nothing about the method; the tables
    keep the rows, and this note tells the two cases apart.
    """
    if "diverged_epoch" not in df.columns:
        return ""
    runs = df.drop_duplicates("run_id")
    bad = runs[runs["diverged_epoch"].notna()]
    if bad.empty:
        return ""
    first = bad["diverged_epoch"] == 1
    if "best_epoch" in bad.columns:
        first = first | (bad["best_epoch"] == 0)

    def counts(part: pd.DataFrame) -> str:
        return ", ".join(f"{label} ({len(g)} of {int((runs['label'] == label).sum())})"
                         for label, g in part.groupby("label", sort=False))

    sentences = []
    if (~first).any():
        sentences.append(f" Training diverged (non-finite loss) for {counts(bad[~first])} runs; "
                         "they report the best checkpoint before the divergence, not a result "
                         "of the method.")
    if first.any():
        sentences.append(f" Training diverged in epoch 1 for {counts(bad[first])} runs, which "
                         "have no usable checkpoint and are left blank.")
    return "".join(sentences)


def crd_note(df: pd.DataFrame, nce_k: int | None = None) -> str:
    """A caption sentence when CRD rows drew fewer than `nce_k` negatives, or `""` if none.

    CRD caps its K negatives at N - 1 for a training split of N samples
    (docs/deviations.md#crd-k-cap), so on MIT67 (and any small split) its rows are not
    the 16,384-negative setting of the original; the caption says which K each split gave.
    `nce_k` defaults to the CRD options' default; `num_train` comes from `collect`.
    """
    if "num_train" not in df.columns or df.empty:
        return ""
    if nce_k is None:
        from dctkd.losses import method as catalogue_entry

        nce_k = int(catalogue_entry("crd").options().nce_k)
    runs = df.drop_duplicates("run_id")
    crd = runs[runs["method"].astype(str).str.split("+").str[0] == "crd"]
    capped = sorted({int(n) - 1 for n in crd["num_train"].dropna() if int(n) - 1 < nce_k})
    if not capped:
        return ""
    ks = ", ".join(f"{k:,}" for k in capped)
    return (f" CRD drew K = N − 1 = {ks} negatives per sample instead of {nce_k:,}: the "
            "training split holds fewer samples (docs/deviations.md#crd-k-cap).")


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


# What a student's row names anyway (its method, seed, teacher) or never changes its result.
_NOT_A_SETTING = ("method.name", "seed", "teacher", "data.holdout_seed", "optim.eval_batch_size")


def settings_note(cells: Iterable[Cell], reference: str = BASELINE) -> str:
    """A caption sentence naming, per row, every run setting in which its runs differ from
    the `reference` row's (the student alone) — LR, batch, epochs, a weight, an option —
    so that no comparison hides a setting of its own. `""` when no row differs."""
    from dctkd.config import identity

    cells = [c for c in cells if c.label != TEACHER]
    ref = next((c for c in cells if c.label == reference), None)
    if ref is None:
        return ""
    base = _flat(identity(ref.cfg))
    found: dict[str, list[str]] = {}
    for cell in cells:
        if cell.label == reference and cell.cfg.optim == ref.cfg.optim:
            continue
        mine = _flat(identity(cell.cfg))
        diffs = [f"{k} {_text(mine.get(k))}" + (f" (vs {_text(base[k])})" if base.get(k)
                                                 is not None else "") for k in sorted(
            set(mine) | set(base)) if not k.startswith(_NOT_A_SETTING)
            and mine.get(k) != base.get(k) and mine.get(k) not in (None, {}, [])]
        if diffs:
            found.setdefault("; ".join(diffs), []).append(cell.label)
    if not found:
        return ""
    parts = [f"{', '.join(dict.fromkeys(labels))}: {d}" for d, labels in found.items()]
    who = "student alone" if reference == BASELINE else reference
    return f" Settings that differ from the {who}'s: " + " · ".join(parts) + "."


def _text(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_text(v) for v in value) + "]"
    return str(value).lower() if isinstance(value, bool) else str(value)


def seed_note(df: pd.DataFrame) -> str:
    """A caption sentence when every setting ran with one seed, so no spread is shown."""
    runs = df[df["label"] != TEACHER].drop_duplicates("run_id")
    if runs.empty or runs["seed"].nunique() > 1:
        return ""
    return (" One seed per setting: a difference of a few points may be seed noise (the main "
            "table gives the spread over seeds).")


def mean_std(values: Sequence[float], digits: int = 2) -> str:
    """`"87.53 ± 2.31"` over seeds; a single value is shown alone, no value as empty."""
    v = np.asarray([x for x in values if x is not None and not np.isnan(x)], dtype=float)
    if len(v) == 0:
        return ""
    if len(v) == 1:
        return f"{v[0]:.{digits}f}"
    return f"{v.mean():.{digits}f} ± {v.std(ddof=1):.{digits}f}"


def _ordered(labels: Iterable[str], order: Sequence[str]) -> list[str]:
    labels = list(dict.fromkeys(labels))
    return [x for x in order if x in labels] + [x for x in labels if x not in order]


def label_order(methods: Sequence[str]) -> list[str]:
    """Table rows: Teacher, then the profile's methods in its order (`Profile.main_methods`)."""
    return [TEACHER, *(method_label(m) for m in methods)]


def main_table(df: pd.DataFrame, dataset: str, order: Sequence[str],
               metrics: Sequence[str] = METRICS, selections: Sequence[str] = ("best", "last"),
               published: str | None = None) -> pd.DataFrame:
    """docs/experiments.md#main-tables for one dataset: a row per method, per pair a column per
    metric.

    Cells are `mean ± std` over seeds. With `published` (the dataset's name in
    `results.csv`) a `published Top-1` column follows each pair's columns.
    """
    part = df[df["dataset"] == dataset]
    table = pd.DataFrame({"method": _ordered(part["label"], order)})
    pub = published_results() if published else None
    for pair, sub in part.groupby("pair", sort=False):
        teacher, student = sub["teacher"].iloc[0], sub["student"].iloc[0]
        multi_pair = part["pair"].nunique() > 1
        for which in selections:
            for m in metrics:
                col = m if which == "best" else f"{m}_last"
                name = f"{METRIC_NAMES[m]} ({SELECTIONS[which]})"
                values = sub.groupby("label")[col].apply(list)
                table[f"{pair}: {name}" if multi_pair else name] = [
                    mean_std(values.get(label, [])) for label in table["method"]]
        if pub is not None:
            sel = pub[(pub.dataset == published) & (pub.teacher == teacher)
                      & (pub.student == student) & (pub.metric == "top1")]
            lookup = dict(zip(sel["method"], sel["value"], strict=True))
            col = f"{pair}: published Top-1" if multi_pair else "published Top-1"
            table[col] = [_num(lookup.get(name_of(label))) for label in table["method"]]
    seeds = part[part["label"] != TEACHER].groupby("label")["seed"].nunique()
    table.insert(1, "seeds", [int(seeds.get(x, 1)) for x in table["method"]])
    return table


def models_table(df: pd.DataFrame, datasets: Mapping[str, str | None] | None = None
                 ) -> pd.DataFrame:
    """Teachers and students alone: a row per dataset and model, metrics `mean ± std`.

    `datasets` maps a dataset key to its name in `results.csv`; those rows get the published
    Top-1 (a teacher shared by two pairs may carry two published values).
    """
    pub = published_results() if datasets else None
    rows = []
    part = df.drop_duplicates("run_id")
    for (ds, label, model), sub in part.groupby(["dataset", "label", "model"], sort=False):
        row = {"dataset": ds, "role": "teacher" if label == TEACHER else "student alone",
               "model": model, "pretrained": sub["pretrained"].iloc[0] or "",
               "seeds": len(sub)}
        for which, suffix in (("best", ""), ("last", "_last")):
            for m in METRICS:
                row[f"{METRIC_NAMES[m]} ({SELECTIONS[which]})"] = mean_std(sub[m + suffix])
        name = (datasets or {}).get(ds)
        if pub is not None and name:
            key = "teacher" if label == TEACHER else "student"
            sel = pub[(pub.dataset == name) & (pub[key] == model) & (pub.method == name_of(label))]
            row["published Top-1"] = " / ".join(_num(v) for v in dict.fromkeys(sel["value"]))
        rows.append(row)
    return pd.DataFrame(rows)


def _num(x) -> str:
    return "" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{float(x):.2f}"


def alpha_table(df: pd.DataFrame, published: bool = False) -> pd.DataFrame:
    """docs/experiments.md#alpha-ablation: a row per alpha (and the baseline), metrics `mean ±
    std`, published beside."""
    rows = []
    base = df[df["label"] == BASELINE]
    sweep = df[df["param"] == "alpha"]
    pub = published_alpha().set_index("alpha") if published else None
    entries = [("baseline", base)] + [(a, sweep[sweep["value"] == a])
                                      for a in sorted(sweep["value"].unique())]
    for alpha, sub in entries:
        row = {"alpha": alpha if alpha == "baseline" else f"{alpha:g}", "seeds": len(sub)}
        for m in METRICS:
            row[METRIC_NAMES[m]] = mean_std(sub[m])
            if pub is not None:
                key = row["alpha"]
                row[f"published {METRIC_NAMES[m]}"] = _num(
                    pub[m].get(key) if key in pub.index else None)
        rows.append(row)
    return pd.DataFrame(rows)


def alpha_frame(df: pd.DataFrame) -> pd.DataFrame:
    """The alpha sweep as `plots.alpha_plot` wants it: `alpha` and one column per metric."""
    sweep = df[df["param"] == "alpha"].rename(columns={"value": "alpha"})
    return sweep.assign(alpha=sweep["alpha"].astype(float))[["alpha", "seed", *METRICS]]


def published_alpha_frame() -> pd.DataFrame:
    pub = published_alpha()
    pub = pub[pub["alpha"] != "baseline"]
    return pub.assign(alpha=pub["alpha"].astype(float))[["alpha", *METRICS]]


def reference(df: pd.DataFrame, label: str = BASELINE) -> dict[str, float]:
    """Mean of each metric over the seeds of the `label` rows (a horizontal reference line)."""
    sub = df[df["label"] == label]
    return {m: float(sub[m].mean()) for m in METRICS} if len(sub) else {}


def design_table(df: pd.DataFrame, groups: Sequence[str]) -> pd.DataFrame:
    """A row per ablated setting: metrics `mean ± std` and the Top-1 change vs the default."""
    rows = []
    for group in groups:
        part = df[df["param"] == group]
        if part.empty:
            continue
        values = list(dict.fromkeys(part["value"]))
        default = part[part["value"] == values[0]]["top1"].mean()
        for value in values:
            sub = part[part["value"] == value]
            row = {"ablation": group, "setting": value, "method": sub["label"].iloc[0],
                   "seeds": len(sub)}
            for m in METRICS:
                row[METRIC_NAMES[m]] = mean_std(sub[m])
            row["Δ Top-1 vs default"] = f"{sub['top1'].mean() - default:+.2f}"
            rows.append(row)
    base = df[df["label"] == BASELINE]
    if len(base):
        row = {"ablation": "reference", "setting": "no distillation", "method": BASELINE,
               "seeds": len(base), **{METRIC_NAMES[m]: mean_std(base[m]) for m in METRICS},
               "Δ Top-1 vs default": ""}
        rows.append(row)
    return pd.DataFrame(rows)


def sensitivity_frame(df: pd.DataFrame, alphas: Mapping[str, float]) -> pd.DataFrame:
    """F.5 rows: method, change p (%), the alpha trained with, and each seed's metrics."""
    part = df[df["param"] == "change"].copy()
    part["change_pct"] = 100.0 * part["value"].astype(float)
    part["alpha"] = [alphas[m] * (1 + p) for m, p in zip(part["method"], part["value"],
                                                        strict=True)]
    return part


def sensitivity_table(part: pd.DataFrame) -> pd.DataFrame:
    """Per method: Top-1 at each change of its alpha (`mean ± std`), and the best change."""
    rows = []
    for label, sub in part.groupby("label", sort=False):
        row = {"method": label}
        means = sub.groupby("change_pct")["top1"].mean()
        for pct, g in sub.groupby("change_pct"):
            row[f"{pct:+.0f}%"] = mean_std(g["top1"])
        row["best change"] = f"{means.idxmax():+.0f}%"
        row["best Top-1"] = f"{means.max():.2f}"
        rows.append(row)
    return pd.DataFrame(rows)


def histories(cells: Iterable[Cell], runs: Mapping, column: str = "val_top1"
              ) -> dict[str, list[pd.DataFrame]]:
    """Per-epoch frames (`metrics.csv`) grouped by method name (`teacher` for the teacher).

    A run without a finished epoch carrying `column` (one that diverged in its first epoch)
    has no curve and is left out; `diverged_note` names it.
    """
    out: dict[str, list[pd.DataFrame]] = {}
    for cell in cells:
        key = "teacher" if cell.label == TEACHER else cell.cfg.method.name
        hist = runs[cell.run_id].history()
        if column in hist.columns and hist[column].notna().any():
            out.setdefault(key, []).append(hist.dropna(subset=[column]))
    return out


def final_val_table(curves: Mapping[str, Sequence[pd.DataFrame]], column: str = "val_top1"
                    ) -> pd.DataFrame:
    """Last-epoch and best validation accuracy of each curve (`mean ± std` over seeds)."""
    rows = []
    for name, frames in curves.items():
        rows.append({
            "method": method_label(name),
            "seeds": len(frames),
            "best val Top-1": mean_std([f[column].max() for f in frames]),
            "epoch of best": mean_std([float(f.loc[f[column].idxmax(), "epoch"])
                                       for f in frames], 1),
            "last val Top-1": mean_std([f[column].iloc[-1] for f in frames]),
        })
    return pd.DataFrame(rows)


def per_class(run, which: str = "best") -> pd.DataFrame:
    """`class, name, support, correct, accuracy` (%) of a run's test split."""
    return pd.read_csv(run.path / f"per_class_{which}.csv")


def confusion(run, which: str = "best") -> np.ndarray:
    """The `(K, K)` test confusion matrix of a run, rows true, columns predicted."""
    return np.atleast_2d(np.loadtxt(run.path / f"confusion_{which}.csv", delimiter=",",
                                    dtype=np.int64))


def per_class_table(cells: Iterable[Cell], runs: Mapping, which: str = "best"
                    ) -> pd.DataFrame:
    """A row per class: its name, support and each model's accuracy (%); MCA as last row."""
    table = None
    for cell in cells:
        pc = per_class(runs[cell.run_id], which)
        if table is None:
            table = pc[["class", "name", "support"]].copy()
        table[cell.label] = pc["accuracy"].to_numpy()
    if table is None:
        return pd.DataFrame()
    mca = {"class": "", "name": "mean (MCA)", "support": int(table["support"].sum())}
    mca.update({c: table[c].mean() for c in table.columns[3:]})
    return pd.concat([table, pd.DataFrame([mca])], ignore_index=True)
