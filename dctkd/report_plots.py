"""Figures of the result notebooks that `dctkd.plots` does not draw: method bars, design
ablations and the baselines' alpha sensitivity (SPEC F.1–F.5), in the same house style.

Each function takes the frames of `dctkd.tables` and returns the `Figure` unsaved.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from dctkd.experiments import TEACHER, method_name
from dctkd.plots import METRIC_LABELS, method_color, method_style


@contextlib.contextmanager
def _style():
    rc = {**sns.axes_style("whitegrid"), **sns.plotting_context("paper", font_scale=1.1)}
    with plt.rc_context(rc):
        yield


def _colour(label: str) -> str:
    return method_color("teacher" if label == TEACHER else method_name(label))


def method_bars(df: pd.DataFrame, order: Sequence[str], metric: str = "top1",
                title: str | None = None):
    """Mean ± std (over seeds) of `metric` per method, a panel per teacher→student pair.

    Methods with the KD term are hatched; the teacher is a dashed vertical line.
    """
    pairs = list(dict.fromkeys(df["pair"]))
    with _style():
        fig, axes = plt.subplots(1, len(pairs), figsize=(4.2 * len(pairs), 0.3 * len(order) + 1.2),
                                 squeeze=False, sharex=True)
        lows = []
        for ax, pair in zip(axes[0], pairs, strict=True):
            sub = df[df["pair"] == pair]
            stats = sub.groupby("label")[metric].agg(["mean", "std"]).fillna(0.0)
            labels = [x for x in order if x in stats.index and x != TEACHER]
            y = np.arange(len(labels))
            ax.barh(y, stats.loc[labels, "mean"], xerr=stats.loc[labels, "std"],
                    color=[_colour(x) for x in labels], capsize=2,
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
    with _style():
        fig, axes = plt.subplots(1, len(groups), figsize=(3.2 * len(groups), 2.8),
                                 squeeze=False, sharey=True)
        lows = []
        for ax, group in zip(axes[0], groups, strict=True):
            part = df[df["param"] == group]
            values = list(dict.fromkeys(part["value"]))
            stats = part.groupby("value")[metric].agg(["mean", "std"]).fillna(0.0).loc[values]
            colours = [method_color(method_name(part[part["value"] == v]["label"].iloc[0]))
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
    """SPEC F.5 curves: `metric` against the % change of each method's alpha (mean ± std).

    `references` draws horizontal lines (e.g. `{"DCT": 47.3, "Baseline": 40.9}`).
    """
    with _style():
        fig, ax = plt.subplots(figsize=(5.0, 3.2))
        for label, sub in part.groupby("label", sort=False):
            stats = sub.groupby("change_pct")[metric].agg(["mean", "std"]).fillna(0.0)
            ax.errorbar(stats.index, stats["mean"], yerr=stats["std"], marker="o", capsize=2,
                        label=label, **method_style(method_name(label)))
        for label, value in (references or {}).items():
            ax.axhline(value, color=_colour(label), linestyle=":", label=label)
        ax.axvline(0.0, color="0.6", linewidth=0.8)
        ax.set_xlabel("change of alpha (%)")
        ax.set_ylabel(METRIC_LABELS.get(metric, metric))
        ax.legend(fontsize="small", frameon=False, bbox_to_anchor=(1.02, 1), loc="upper left")
        fig.tight_layout()
    return fig


def sensitivity_box(part: pd.DataFrame, references: Mapping[str, float] | None = None,
                    metric: str = "top1"):
    """SPEC F.5 box plot: the spread of `metric` over alpha changes per method.

    A cross marks the method at its published alpha (change 0); `references` are lines.
    """
    labels = list(dict.fromkeys(part["label"]))
    with _style():
        fig, ax = plt.subplots(figsize=(1.0 + 0.9 * len(labels), 3.2))
        data = [part[part["label"] == x].groupby("change_pct")[metric].mean().to_numpy()
                for x in labels]
        box = ax.boxplot(data, whis=10, patch_artist=True)
        ax.set_xticks(range(1, len(labels) + 1), labels)
        for patch, label in zip(box["boxes"], labels, strict=True):
            patch.set_facecolor(_colour(label))
            patch.set_alpha(0.5)
        for i, label in enumerate(labels, start=1):
            sub = part[(part["label"] == label) & (part["change_pct"] == 0)]
            if len(sub):
                ax.plot(i, sub[metric].mean(), marker="x", color="tab:blue", markersize=8,
                        linestyle="none", label="published alpha" if i == 1 else None)
        for label, value in (references or {}).items():
            ax.axhline(value, color="tab:red" if label == "DCT" else _colour(label),
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
    with _style():
        fig, ax = plt.subplots(figsize=(min(14.0, 2.0 + 0.3 * len(names)), 2.8))
        ax.bar(range(len(names)), delta, color=[_colour(a) if d >= 0 else _colour(b)
                                                for d in delta])
        ax.axhline(0.0, color="0.3", linewidth=0.8)
        ax.set_xticks(range(len(names)), names if len(names) <= 60 else [""] * len(names),
                      rotation=90, fontsize="x-small")
        ax.set_ylabel(f"{a} − {b} (points)")
        fig.tight_layout()
    return fig
