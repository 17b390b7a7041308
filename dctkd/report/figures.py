"""Every figure of the companion in one house style, and the one way figures and tables are saved.

Each method keeps one colour in every figure (DCT green, as in the original's figures;
SPEC F.7) and a run with the KD term added is drawn dashed in its method's colour. Figure
functions return the `Figure` and never save or close it; `save_figure` writes PNG and PDF,
`save_table` writes CSV and Markdown, each to a temporary name renamed into place.
"""

from __future__ import annotations

import functools
import os
import re
import zlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from matplotlib.figure import Figure

from dctkd.analysis.maps import overlay

METHOD_COLORS: dict[str, str] = {
    "teacher": "#222222",
    "baseline": "#8c8c8c",
    "kd": "#ff7f0e",
    "at": "#1f77b4",
    "pkt": "#9467bd",
    "vid": "#8c564b",
    "crd": "#e377c2",
    "ckd": "#17becf",
    "review": "#bcbd22",
    "dct": "#2ca02c",
}
METHOD_LABELS: dict[str, str] = {
    "teacher": "Teacher",
    "baseline": "Baseline",
    "kd": "KD",
    "at": "AT",
    "pkt": "PKT",
    "vid": "VID",
    "crd": "CRD",
    "ckd": "SemCKD",
    "review": "ReviewKD",
    "dct": "DCT",
}
_ALIASES = {"none": "baseline", "vanilla": "baseline", "student": "baseline"}
METRIC_LABELS = {"top1": "Top-1 (%)", "top5": "Top-5 (%)", "mca": "MCA (%)"}
METRIC_DASHES = {"top1": "-", "top5": "-.", "mca": "--"}


def _split(method: str) -> tuple[str, bool]:
    """Base method name and whether the KD term is added (`"dct+kd"` -> `("dct", True)`)."""
    name = method.strip().lower().replace(" ", "")
    plus_kd = name.endswith("+kd")
    base = name[: -len("+kd")] if plus_kd else name
    return _ALIASES.get(base, base), plus_kd or base == "kd"


def method_color(method: str) -> str:
    """The method's fixed colour; an unknown name gets a stable colour from its spelling."""
    base, _ = _split(method)
    if base in METHOD_COLORS:
        return METHOD_COLORS[base]
    palette = sns.color_palette("tab20", 20).as_hex()
    return palette[zlib.crc32(base.encode()) % 20]


def method_label(method: str) -> str:
    """Display name: `"dct+kd"` -> `"DCT+KD"`, `"none"` -> `"Baseline"`."""
    base, plus_kd = _split(method)
    label = METHOD_LABELS.get(base, method.strip())
    return f"{label}+KD" if plus_kd and base != "kd" else label


def method_style(method: str) -> dict[str, Any]:
    """Line keywords for a method: its colour, dashed when it uses the KD term (KD included)."""
    _, plus_kd = _split(method)
    return {"color": method_color(method), "linestyle": "--" if plus_kd else "-"}


def _styled(fn: Callable[..., Figure]) -> Callable[..., Figure]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Figure:
        rc = {**sns.axes_style("whitegrid"), **sns.plotting_context("paper", font_scale=1.1)}
        with plt.rc_context(rc):
            return fn(*args, **kwargs)

    return wrapper


def _safe_name(name: str) -> str:
    if not name or not re.fullmatch(r"[\w.\- ]+", name) or name.startswith("."):
        raise ValueError(
            f"figure/table name must be a plain file stem (letters, digits, ._- ), got {name!r}."
        )
    return name


def _atomic(path: Path, write: Callable[[Path], None]) -> Path:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def save_figure(
    fig: Figure,
    name: str,
    out_dir: str | os.PathLike,
    formats: Sequence[str] = ("png", "pdf"),
    dpi: int = 150,
) -> list[Path]:
    """Write `fig` as `<out_dir>/<name>.<fmt>` for each format; returns the paths written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = _safe_name(name)
    paths = []
    for fmt in formats:
        meta = {"CreationDate": None} if fmt == "pdf" else None

        def write(tmp: Path, fmt: str = fmt, meta: dict | None = meta) -> None:
            fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight", metadata=meta)

        paths.append(_atomic(out / f"{stem}.{fmt}", write))
    return paths


def save_table(
    df: pd.DataFrame,
    name: str,
    out_dir: str | os.PathLike,
    caption: str | None = None,
    floatfmt: str = ".2f",
    index: bool = False,
) -> list[Path]:
    """Write `df` as `<name>.csv` (full precision) and `<name>.md` (caption line, then table)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = _safe_name(name)
    markdown = df.to_markdown(index=index, floatfmt=floatfmt)
    text = (f"{caption.strip()}\n\n" if caption else "") + markdown + "\n"
    return [
        _atomic(out / f"{stem}.csv", lambda p: df.to_csv(p, index=index)),
        _atomic(out / f"{stem}.md", lambda p: p.write_text(text, encoding="utf-8")),
    ]


def _image_axes(ax: plt.Axes) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)


def _hwc(image: torch.Tensor | np.ndarray) -> np.ndarray:
    arr = image.detach().cpu().numpy() if torch.is_tensor(image) else np.asarray(image)
    return arr.transpose(1, 2, 0) if arr.shape[0] == 3 and arr.shape[-1] != 3 else arr


@_styled
def am_grid(
    image: torch.Tensor | np.ndarray,
    rows: Mapping[str, Sequence[torch.Tensor]],
    level_labels: Sequence[str] | None = None,
    alpha: float = 0.5,
    title: str | None = None,
) -> Figure:
    """SPEC F.6 grid for one image: a row per model (image, then its map at each level).

    `image` is uint8 `(3, H, W)`; `rows` maps a row label to that model's raw maps
    `[(h_l, w_l)]`, one per level, drawn with the house `overlay`.
    """
    if not rows:
        raise ValueError("am_grid needs at least one row of maps.")
    n_levels = max(len(maps) for maps in rows.values())
    labels = list(level_labels or [f"level {i + 1}" for i in range(n_levels)])
    fig, axes = plt.subplots(
        len(rows), n_levels + 1, figsize=(1.6 * (n_levels + 1), 1.6 * len(rows)), squeeze=False
    )
    for r, (row_label, maps) in enumerate(rows.items()):
        axes[r, 0].imshow(_hwc(image))
        axes[r, 0].set_ylabel(method_label(row_label), fontsize="small")
        for c, m in enumerate(maps, start=1):
            axes[r, c].imshow(overlay(image, m, alpha=alpha))
        for ax in axes[r]:
            _image_axes(ax)
    for c, label in enumerate(["image", *labels]):
        axes[0, c].set_title(label, fontsize="small")
    if title:
        fig.suptitle(title)
    fig.tight_layout(pad=0.3)
    return fig


@_styled
def gradcam_grid(
    images: torch.Tensor | np.ndarray,
    cams: Mapping[str, torch.Tensor],
    alpha: float = 0.5,
    title: str | None = None,
) -> Figure:
    """A row per image (uint8 `(N, 3, H, W)`): the image, then each model's CAM `(N, h, w)`."""
    n = len(images)
    fig, axes = plt.subplots(
        n, len(cams) + 1, figsize=(1.6 * (len(cams) + 1), 1.6 * n), squeeze=False
    )
    for r in range(n):
        axes[r, 0].imshow(_hwc(images[r]))
        for c, maps in enumerate(cams.values(), start=1):
            axes[r, c].imshow(overlay(images[r], maps[r], alpha=alpha))
        for ax in axes[r]:
            _image_axes(ax)
    for c, label in enumerate(["image", *(method_label(k) for k in cams)]):
        axes[0, c].set_title(label, fontsize="small")
    if title:
        fig.suptitle(title)
    fig.tight_layout(pad=0.3)
    return fig


def _mean_std(frame: pd.DataFrame, keys: list[str], value: str) -> pd.DataFrame:
    out = frame.groupby(keys, sort=True)[value].agg(["mean", "std", "size"]).reset_index()
    out["std"] = out["std"].fillna(0.0)
    return out


@_styled
def overlap_plot(
    frame: pd.DataFrame,
    measures: Sequence[str] = ("ssim", "pearson", "iou"),
    x: str = "level",
    hue: str = "method",
    order: Sequence[str] | None = None,
) -> Figure:
    """Mean ± std of each overlap measure per method (`hue`) and level (`x`), one panel each.

    The spread is over the rows given: pass per-sample rows for the sample spread or per-seed
    means for the seed spread. Levels are tap indices and are shown counted from 1.
    """
    measures = [m for m in measures if m in frame.columns]
    if not measures or hue not in frame.columns or x not in frame.columns:
        raise ValueError(f"overlap_plot needs columns {x!r}, {hue!r} and a measure column.")
    methods = list(order or pd.unique(frame[hue]))
    levels = sorted(pd.unique(frame[x]))
    fig, axes = plt.subplots(1, len(measures), figsize=(3.2 * len(measures), 2.8), squeeze=False)
    width = 0.7 / max(1, len(methods))
    for ax, measure in zip(axes[0], measures, strict=True):
        stats = _mean_std(frame, [hue, x], measure)
        for i, method in enumerate(methods):
            s = stats[stats[hue] == method]
            pos = [levels.index(v) + (i - (len(methods) - 1) / 2) * width for v in s[x]]
            style = method_style(str(method))
            ax.errorbar(
                pos,
                s["mean"],
                yerr=s["std"],
                marker="o",
                capsize=2,
                color=style["color"],
                linestyle=style["linestyle"],
                label=method_label(str(method)),
            )
        ax.set_xticks(range(len(levels)), [str(int(v) + 1) for v in levels])
        ax.set_xlabel("level")
        ax.set_title(measure.replace("_", " "))
    axes[0, -1].legend(fontsize="small", frameon=False, bbox_to_anchor=(1.02, 1), loc="upper left")
    fig.tight_layout()
    return fig


@_styled
def tsne_plot(
    points: Mapping[str, np.ndarray],
    labels: np.ndarray | Mapping[str, np.ndarray],
    silhouettes: Mapping[str, float] | None = None,
    class_names: Sequence[str] | None = None,
) -> Figure:
    """One t-SNE scatter `(N, 2)` per model, coloured by class, silhouette in the title."""
    fig, axes = plt.subplots(1, len(points), figsize=(3.0 * len(points), 3.0), squeeze=False)
    for ax, (name, xy) in zip(axes[0], points.items(), strict=True):
        y = np.asarray(labels[name] if isinstance(labels, Mapping) else labels)
        classes = np.unique(y)
        palette = sns.color_palette("tab10" if len(classes) <= 10 else "husl", len(classes))
        for colour, k in zip(palette, classes, strict=True):
            tag = class_names[int(k)] if class_names is not None else str(k)
            ax.scatter(*np.asarray(xy)[y == k].T, s=6, color=colour, label=tag, linewidths=0)
        title = method_label(name)
        if silhouettes and name in silhouettes:
            title += f" (silhouette {silhouettes[name]:.2f})"
        ax.set_title(title, fontsize="small")
        ax.set_xticks([])
        ax.set_yticks([])
    if len(classes) <= 20:
        axes[0, -1].legend(
            fontsize="x-small",
            frameon=False,
            markerscale=2,
            bbox_to_anchor=(1.02, 1),
            loc="upper left",
        )
    fig.tight_layout()
    return fig


def _numeric_alpha(frame: pd.DataFrame, what: str) -> pd.DataFrame:
    alpha = pd.to_numeric(frame["alpha"], errors="coerce")
    if alpha.isna().any() or (alpha <= 0).any():
        bad = frame["alpha"][alpha.isna() | (alpha <= 0)].unique().tolist()
        raise ValueError(f"alpha_plot needs positive numeric alphas in {what}, got {bad}.")
    return frame.assign(alpha=alpha)


@_styled
def alpha_plot(
    runs: pd.DataFrame,
    reference: Mapping[str, float] | None = None,
    published: pd.DataFrame | None = None,
    metrics: Sequence[str] = ("top1", "top5", "mca"),
    method: str = "dct",
) -> Figure:
    """SPEC F.4: accuracy against alpha (log axis), a panel per metric.

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


@_styled
def curves_plot(
    histories: Mapping[str, pd.DataFrame | Sequence[pd.DataFrame]],
    y: str = "val_top1",
    x: str = "epoch",
    max_x: float | None = None,
    ylabel: str | None = None,
) -> Figure:
    """SPEC F.7: a validation curve per method (several frames per method: mean ± std band)."""
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


@_styled
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


@_styled
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
        elif _split(str(name))[0] in METHOD_COLORS:
            out[name] = method_color(str(name))
        else:
            out[name] = next(cycle)
    return out


@_styled
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


__all__ = [
    "METHOD_COLORS",
    "alpha_plot",
    "am_grid",
    "confusion_plot",
    "curves_plot",
    "gradcam_grid",
    "k_study_plot",
    "method_color",
    "method_label",
    "method_style",
    "overlap_plot",
    "per_class_plot",
    "save_figure",
    "save_table",
    "tsne_plot",
]
