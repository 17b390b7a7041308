"""Charts of the result notebooks, drawn from the frames of `report.tables`: method bars,
validation curves, the alpha, design and baseline-alpha ablations, per-class accuracy,
confusion matrices and the k-study, in the house style."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from dctkd.losses import TEACHER_LABEL as TEACHER

from .style import (
    METRIC_DASHES,
    METRIC_LABELS,
    method_color,
    method_label,
    method_name,
    method_style,
    styled,
    theme,
)


def _mean_std(frame: pd.DataFrame, keys: list[str], value: str) -> pd.DataFrame:
    out = frame.groupby(keys, sort=True)[value].agg(["mean", "std", "size"]).reset_index()
    out["std"] = out["std"].fillna(0.0)
    return out


def _numeric_alpha(frame: pd.DataFrame, what: str) -> pd.DataFrame:
    alpha = pd.to_numeric(frame["alpha"], errors="coerce")
    if alpha.isna().any() or (alpha <= 0).any():
        bad = frame["alpha"][alpha.isna() | (alpha <= 0)].unique().tolist()
        raise ValueError(f"alpha_plot needs positive numeric alphas in {what}, got {bad}.")
    return frame.assign(alpha=alpha)


@styled
def alpha_plot(
    runs: pd.DataFrame,
    reference: Mapping[str, float] | None = None,
    published: pd.DataFrame | None = None,
    metrics: Sequence[str] = ("top1", "top5", "mca"),
    method: str = "dct",
) -> Figure:
    """docs/experiments.md#alpha-ablation: accuracy against alpha (log axis), a panel per metric.

    `runs` has an `alpha` column and one column per metric (several rows per alpha are seeds:
    mean ± std). `reference` draws the baseline's value per metric as a horizontal line;
    `published` (same columns) overlays the paper's numbers.
    """
    metrics = [m for m in metrics if m in runs.columns]
    if "alpha" not in runs.columns or not metrics:
        raise ValueError("alpha_plot needs an 'alpha' column and at least one metric column.")
    runs = _numeric_alpha(runs, "runs")
    published = None if published is None else _numeric_alpha(published, "published")
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics), 2.8), squeeze=False)
    colour = method_color(method)
    for ax, metric in zip(axes[0], metrics, strict=True):
        s = _mean_std(runs, ["alpha"], metric)
        ax.plot(
            s["alpha"],
            s["mean"],
            marker="o",
            color=colour,
            label=method_label(method),
            linestyle=METRIC_DASHES.get(metric, "-"),
        )
        ax.fill_between(
            s["alpha"],
            s["mean"] - s["std"],
            s["mean"] + s["std"],
            color=colour,
            alpha=0.2,
            linewidth=0,
        )
        if reference and metric in reference:
            ax.axhline(
                reference[metric], color=method_color("baseline"), linestyle=":", label="baseline"
            )
        if published is not None and metric in published.columns:
            p = published.sort_values("alpha")
            ax.plot(
                p["alpha"],
                p[metric],
                marker="x",
                color="0.45",
                linestyle="--",
                linewidth=0.8,
                label="published",
            )
        ax.set_xscale("log")
        ax.set_xlabel(r"$\alpha$")
        ax.set_ylabel(METRIC_LABELS.get(metric, metric))
    axes[0, -1].legend(fontsize="small", frameon=False, bbox_to_anchor=(1.02, 1), loc="upper left")
    fig.tight_layout()
    return fig


@styled
def curves_plot(
    histories: Mapping[str, pd.DataFrame | Sequence[pd.DataFrame]],
    y: str = "val_top1",
    x: str = "epoch",
    max_x: float | None = None,
    ylabel: str | None = None,
) -> Figure:
    """docs/experiments.md#validation-curves: a validation curve per method (several frames per
    method: mean ± std band)."""
    fig, ax = plt.subplots(figsize=(5.0, 3.4))
    for method, frames in histories.items():
        frames = [frames] if isinstance(frames, pd.DataFrame) else list(frames)
        joined = pd.concat(frames)
        if x not in joined.columns or y not in joined.columns:
            raise ValueError(f"history of {method!r} lacks column {x!r} or {y!r}.")
        if max_x is not None:
            joined = joined[joined[x] <= max_x]
        s = _mean_std(joined, [x], y)
        style = method_style(method)
        ax.plot(s[x], s["mean"], label=method_label(method), linewidth=1.3, **style)
        if len(frames) > 1:
            ax.fill_between(
                s[x],
                s["mean"] - s["std"],
                s["mean"] + s["std"],
                color=style["color"],
                alpha=0.15,
                linewidth=0,
            )
    ax.set_xlabel(x)
    ax.set_ylabel(ylabel or METRIC_LABELS.get(y.removeprefix("val_"), y))
    ax.legend(fontsize="small", frameon=False, bbox_to_anchor=(1.02, 1), loc="upper left")
    fig.tight_layout()
    return fig


@styled
def confusion_plot(
    cm: np.ndarray, class_names: Sequence[str] | None = None, normalize: bool = True
) -> Figure:
    """Confusion matrix `(K, K)` (rows true, columns predicted), row-normalised by default."""
    m = np.asarray(cm, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"confusion matrix must be square (K, K), got shape {m.shape}.")
    if normalize:
        m = m / np.maximum(m.sum(1, keepdims=True), 1)
    k = len(m)
    names = list(class_names) if class_names is not None else [str(i) for i in range(k)]
    side = min(12.0, 2.0 + 0.35 * k)
    fig, ax = plt.subplots(figsize=(side, side * 0.85))
    sns.heatmap(
        m,
        ax=ax,
        cmap="Blues",
        square=True,
        annot=k <= 15,
        fmt=".2f" if normalize else "g",
        xticklabels=names if k <= 40 else False,
        yticklabels=names if k <= 40 else False,
        cbar_kws={"shrink": 0.7},
        annot_kws={"fontsize": 6},
    )
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    fig.tight_layout()
    return fig


@styled
def per_class_plot(
    accuracy: np.ndarray, class_names: Sequence[str] | None = None, ylabel: str = "accuracy (%)"
) -> Figure:
    """Per-class accuracy bars `(K,)` with their mean (the MCA) as a horizontal line."""
    acc = np.asarray(accuracy, dtype=np.float64)
    k = len(acc)
    names = list(class_names) if class_names is not None else [str(i) for i in range(k)]
    fig, ax = plt.subplots(figsize=(min(14.0, 2.0 + 0.3 * k), 2.8))
    ax.bar(range(k), acc, color="#5f7a8c", width=0.8)
    ax.axhline(np.nanmean(acc), color="0.2", linestyle="--", label=f"mean {np.nanmean(acc):.2f}")
    ax.set_xticks(range(k), names if k <= 60 else [""] * k, rotation=90, fontsize="x-small")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize="small", frameon=False)
    fig.tight_layout()
    return fig


def _series_colours(names: Sequence, palette: Mapping[str, str] | None) -> dict:
    cycle = iter(sns.color_palette("dark", len(names)).as_hex())
    out = {}
    for name in names:
        if palette and name in palette:
            out[name] = palette[name]
        elif method_name(str(name)) is not None:
            out[name] = method_color(str(name))
        else:
            out[name] = next(cycle)
    return out


@styled
def k_study_plot(
    frame: pd.DataFrame,
    y: str = "gain",
    x: str = "k",
    hue: str = "comparison",
    panel: str | None = None,
    palette: Mapping[str, str] | None = None,
) -> Figure:
    """Gain against k (number of class-defining objects), mean ± std per `hue` series.

    With `panel`, one subplot per value of that column (e.g. accuracy and overlap gains).
    Series named after a method keep its colour; others take `palette` or a fixed cycle.
    """
    needed = [c for c in (x, y, hue, panel) if c is not None and c not in frame.columns]
    if needed:
        raise ValueError(f"k_study_plot needs columns {needed} in the frame.")
    panels = list(pd.unique(frame[panel])) if panel else [None]
    colours = _series_colours(pd.unique(frame[hue]), palette)
    fig, axes = plt.subplots(1, len(panels), figsize=(3.4 * len(panels), 2.8), squeeze=False)
    for ax, value in zip(axes[0], panels, strict=True):
        part = frame if value is None else frame[frame[panel] == value]
        for series in pd.unique(part[hue]):
            s = _mean_std(part[part[hue] == series], [x], y)
            colour = colours[series]
            ax.errorbar(
                s[x],
                s["mean"],
                yerr=s["std"],
                marker="o",
                capsize=2,
                color=colour,
                label=str(series),
            )
        ax.axhline(0.0, color="0.3", linewidth=0.8)
        ax.set_xticks(sorted(pd.unique(part[x])))
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        if value is not None:
            ax.set_title(str(value))
    axes[0, -1].legend(fontsize="small", frameon=False)
    fig.tight_layout()
    return fig


def method_bars(df: pd.DataFrame, order: Sequence[str], metric: str = "top1",
                title: str | None = None):
    """Mean ± std (over seeds) of `metric` per method, a panel per teacher→student pair.

    Methods with the KD term are hatched; the teacher is a dashed vertical line.
    """
    pairs = list(dict.fromkeys(df["pair"]))
    with plt.rc_context(theme()):
        fig, axes = plt.subplots(1, len(pairs), figsize=(4.2 * len(pairs), 0.3 * len(order) + 1.2),
                                 squeeze=False, sharex=True)
        lows = []
        for ax, pair in zip(axes[0], pairs, strict=True):
            sub = df[df["pair"] == pair]
            stats = sub.groupby("label")[metric].agg(["mean", "std"]).fillna(0.0)
            labels = [x for x in order if x in stats.index and x != TEACHER]
            y = np.arange(len(labels))
            ax.barh(y, stats.loc[labels, "mean"], xerr=stats.loc[labels, "std"],
                    color=[method_color(x) for x in labels], capsize=2,
                    hatch=[("//" if x.endswith("+ KD") or x == "KD" else "") for x in labels],
                    edgecolor="white")
            if TEACHER in stats.index:
                ax.axvline(stats.loc[TEACHER, "mean"], color="0.2", linestyle="--",
                           label="teacher")
                ax.legend(fontsize="small", frameon=False, loc="lower right")
            ax.set_yticks(y, labels)
            ax.invert_yaxis()
            ax.set_xlabel(METRIC_LABELS.get(metric, metric))
            ax.set_title(pair, fontsize="small")
            lows.append(stats.loc[labels, "mean"].min() - stats.loc[labels, "std"].max())
        axes[0, 0].set_xlim(left=max(0.0, min(lows) - 5))
        if title:
            fig.suptitle(title, fontsize="medium")
        fig.tight_layout()
    return fig


def design_plot(df: pd.DataFrame, groups: Sequence[str], metric: str = "top1"):
    """A panel per ablated design choice: bars per setting (mean ± std), baseline dotted."""
    groups = [g for g in groups if (df["param"] == g).any()]
    base = df[df["label"] == "Baseline"][metric]
    with plt.rc_context(theme()):
        fig, axes = plt.subplots(1, len(groups), figsize=(3.2 * len(groups), 2.8),
                                 squeeze=False, sharey=True)
        lows = []
        for ax, group in zip(axes[0], groups, strict=True):
            part = df[df["param"] == group]
            values = list(dict.fromkeys(part["value"]))
            stats = part.groupby("value")[metric].agg(["mean", "std"]).fillna(0.0).loc[values]
            colours = [method_color(part[part["value"] == v]["label"].iloc[0])
                       for v in values]
            ax.bar(range(len(values)), stats["mean"], yerr=stats["std"], color=colours,
                   capsize=2)
            if len(base):
                ax.axhline(base.mean(), color=method_color("none"), linestyle=":",
                           label="baseline")
            ax.set_xticks(range(len(values)), values, rotation=30, ha="right")
            ax.set_title(group.replace("_", " "), fontsize="small")
            lows.append((stats["mean"] - stats["std"]).min())
        if len(base):
            lows.append(base.mean())
        axes[0, 0].set_ylim(bottom=max(0.0, min(lows) - 5))
        axes[0, 0].set_ylabel(METRIC_LABELS.get(metric, metric))
        axes[0, -1].legend(fontsize="small", frameon=False)
        fig.tight_layout()
    return fig


def sensitivity_plot(part: pd.DataFrame, references: Mapping[str, float] | None = None,
                     metric: str = "top1"):
    """docs/experiments.md#baseline-alpha curves: `metric` against the % change of each method's
    alpha (mean ± std).

    `references` draws horizontal lines (e.g. `{"DCT": 47.3, "Baseline": 40.9}`).
    """
    with plt.rc_context(theme()):
        fig, ax = plt.subplots(figsize=(5.0, 3.2))
        for label, sub in part.groupby("label", sort=False):
            stats = sub.groupby("change_pct")[metric].agg(["mean", "std"]).fillna(0.0)
            ax.errorbar(stats.index, stats["mean"], yerr=stats["std"], marker="o", capsize=2,
                        label=label, **method_style(label))
        for label, value in (references or {}).items():
            ax.axhline(value, color=method_color(label), linestyle=":", label=label)
        ax.axvline(0.0, color="0.6", linewidth=0.8)
        ax.set_xlabel("change of alpha (%)")
        ax.set_ylabel(METRIC_LABELS.get(metric, metric))
        ax.legend(fontsize="small", frameon=False, bbox_to_anchor=(1.02, 1), loc="upper left")
        fig.tight_layout()
    return fig


def sensitivity_box(part: pd.DataFrame, references: Mapping[str, float] | None = None,
                    metric: str = "top1"):
    """docs/experiments.md#baseline-alpha box plot: the spread of `metric` over alpha changes per
    method.

    A cross marks the method at its published alpha (change 0); `references` are lines.
    """
    labels = list(dict.fromkeys(part["label"]))
    with plt.rc_context(theme()):
        fig, ax = plt.subplots(figsize=(1.0 + 0.9 * len(labels), 3.2))
        data = [part[part["label"] == x].groupby("change_pct")[metric].mean().to_numpy()
                for x in labels]
        box = ax.boxplot(data, whis=10, patch_artist=True)
        ax.set_xticks(range(1, len(labels) + 1), labels)
        for patch, label in zip(box["boxes"], labels, strict=True):
            patch.set_facecolor(method_color(label))
            patch.set_alpha(0.5)
        for i, label in enumerate(labels, start=1):
            sub = part[(part["label"] == label) & (part["change_pct"] == 0)]
            if len(sub):
                ax.plot(i, sub[metric].mean(), marker="x", color="tab:blue", markersize=8,
                        linestyle="none", label="published alpha" if i == 1 else None)
        for label, value in (references or {}).items():
            ax.axhline(value, color="tab:red" if label == "DCT" else method_color(label),
                       linestyle="-" if label == "DCT" else ":", label=label)
        ax.set_ylabel(METRIC_LABELS.get(metric, metric))
        ax.legend(fontsize="small", frameon=False)
        fig.tight_layout()
    return fig


def per_class_delta(table: pd.DataFrame, a: str, b: str):
    """Per-class accuracy of `a` minus `b` (columns of `tables.per_class_table`), as bars."""
    rows = table[table["class"] != ""]
    delta = rows[a].to_numpy(float) - rows[b].to_numpy(float)
    names = rows["name"].astype(str).tolist()
    with plt.rc_context(theme()):
        fig, ax = plt.subplots(figsize=(min(14.0, 2.0 + 0.3 * len(names)), 2.8))
        ax.bar(range(len(names)), delta, color=[method_color(a) if d >= 0 else method_color(b)
                                                for d in delta])
        ax.axhline(0.0, color="0.3", linewidth=0.8)
        ax.set_xticks(range(len(names)), names if len(names) <= 60 else [""] * len(names),
                      rotation=90, fontsize="x-small")
        ax.set_ylabel(f"{a} − {b} (points)")
        fig.tight_layout()
    return fig


@styled
def loss_terms_plot(histories: Mapping[str, Sequence[pd.DataFrame]]) -> Figure:
    """A panel per method: each weighted loss term per epoch (`loss_<name>` columns of
    `metrics.csv`, mean over seeds, log scale), so a term that barely acts or swamps the
    cross-entropy shows."""
    fig, axes = plt.subplots(1, len(histories), figsize=(3.2 * len(histories), 2.8),
                             squeeze=False, sharey=True)
    for ax, (method, frames) in zip(axes[0], histories.items(), strict=True):
        joined = pd.concat(list(frames))
        for column in [c for c in joined.columns if c.startswith("loss_")]:
            s = joined.groupby("epoch")[column].mean()
            ax.plot(s.index, s.clip(lower=1e-6), label=column.removeprefix("loss_"))
        ax.set_yscale("log")
        ax.set_title(method_label(method), fontsize="small")
        ax.set_xlabel("epoch")
        ax.legend(fontsize="x-small", frameon=False)
    axes[0, 0].set_ylabel("weighted loss term")
    fig.tight_layout()
    return fig


@styled
def budget_plot(points: pd.DataFrame, teacher: float | None = None) -> Figure:
    """Accuracy against budget: Top-1 per method at each multiple of the main budget (log-2
    axis; mean ± std over the seeds run there); `points` is `budget.budget_points`."""
    fig, ax = plt.subplots(figsize=(5.0, 3.4))
    for label, part in points.groupby("label", sort=False):
        s = _mean_std(part, ["factor"], "top1")
        style = method_style(label)
        ax.errorbar(s["factor"], s["mean"], yerr=s["std"].fillna(0), label=method_label(label),
                    marker="o", markersize=3, capsize=2, linewidth=1.3, **style)
    if teacher is not None:
        ax.axhline(teacher, color="black", linestyle=":", linewidth=1, label="Teacher")
    ax.set_xscale("log", base=2)
    factors = sorted(points["factor"].unique())
    epochs = points.drop_duplicates("factor").set_index("factor")["epochs"]
    ax.set_xticks(factors, [f"{f:g}×\n{int(epochs[f])} ep" for f in factors])
    ax.set_xlabel("budget (multiple of the main table's epochs)")
    ax.set_ylabel(METRIC_LABELS["top1"])
    ax.legend(fontsize="small", frameon=False, bbox_to_anchor=(1.02, 1), loc="upper left")
    fig.tight_layout()
    return fig


__all__ = ["alpha_plot", "budget_plot", "confusion_plot", "curves_plot", "design_plot",
           "k_study_plot", "loss_terms_plot", "method_bars", "per_class_delta", "per_class_plot",
           "sensitivity_box", "sensitivity_plot"]
