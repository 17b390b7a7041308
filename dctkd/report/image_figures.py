"""Figures drawn on images and maps: activation-map grids, Grad-CAMs, spectra, t-SNE and
the overlap measures per level, in the house style."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from matplotlib.figure import Figure

from dctkd.analysis import CHANCE, overlay
from dctkd.analysis.spectra import VARIANT_NAMES, spectra

from .style import method_label, method_style, styled


def _image_axes(ax: plt.Axes) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)


def _hwc(image: torch.Tensor | np.ndarray) -> np.ndarray:
    arr = image.detach().cpu().numpy() if torch.is_tensor(image) else np.asarray(image)
    return arr.transpose(1, 2, 0) if arr.shape[0] == 3 and arr.shape[-1] != 3 else arr


@styled
def am_grid(
    image: torch.Tensor | np.ndarray,
    rows: Mapping[str, Sequence[torch.Tensor]],
    level_labels: Sequence[str] | None = None,
    alpha: float = 0.5,
    title: str | None = None,
) -> Figure:
    """docs/experiments.md#activation-map-figures grid for one image: a row per model (image, then
    its map at each level).

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


@styled
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


@styled
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


@styled
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


@styled
def spectra_figure(image, maps: Sequence[torch.Tensor], title: str | None = None):
    """A row per level: the map over the image, then its V1, V2 and DCT-II spectra.

    `image` uint8 `(3, H, W)`; `maps[l]` is this image's map `(H_l, W_l)`. Spectra are drawn
    with the zero frequency at the top-left corner, as the loss indexes them.
    """
    cols = ["map", *VARIANT_NAMES.values()]
    fig, axes = plt.subplots(len(maps), len(cols), figsize=(1.9 * len(cols), 1.8 * len(maps)),
                             squeeze=False)
    for r, m in enumerate(maps):
        axes[r, 0].imshow(overlay(image, m, alpha=0.5))
        for c, s in enumerate(spectra(m[None]).values(), start=1):
            im = axes[r, c].imshow(s[0].numpy(), cmap="viridis", vmin=0, vmax=1)
        axes[r, 0].set_ylabel(f"level {r + 1}\n{m.shape[-2]}×{m.shape[-1]}", fontsize="small")
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
    for c, name in enumerate(cols):
        axes[0, c].set_title(name, fontsize="small")
    fig.colorbar(im, ax=axes, shrink=0.6, label="normalised coefficient")
    if title:
        fig.suptitle(title, fontsize="medium")
    return fig


def plot_frame(per_seed: pd.DataFrame) -> pd.DataFrame:
    """The rows of `seed_means` that `plots.overlap_plot` draws (the chance rows become a
    reference line, see `mark_chance`)."""
    return per_seed[per_seed["method"] != CHANCE]


def mark_chance(fig, per_seed: pd.DataFrame, measures: Sequence[str]) -> None:
    """Draw the objects' area share (a uniform map's mass) on the mass panel of `fig`.

    `measures` are those given to `plots.overlap_plot`, whose panels follow that order and
    whose x positions are the level indices in increasing order.
    """
    chance = per_seed[per_seed["method"] == CHANCE].sort_values("level")
    measures = [m for m in measures if m in per_seed.columns]
    if chance.empty or "mass_on_objects" not in measures:
        return
    ax = fig.axes[measures.index("mass_on_objects")]
    levels = sorted(per_seed["level"].unique())
    xs = [levels.index(v) for v in chance["level"]]
    ax.plot(xs, chance["mass_on_objects"], color="0.5", linestyle=":", label="chance")
    fig.axes[len(measures) - 1].legend(
        fontsize="small", frameon=False, bbox_to_anchor=(1.02, 1), loc="upper left"
    )


__all__ = ["am_grid", "gradcam_grid", "mark_chance", "overlap_plot", "plot_frame",
           "spectra_figure", "tsne_plot"]
