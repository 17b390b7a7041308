"""The house style: one label and one colour per method (from the catalogue) in every figure
and table, one plot theme, and the one way figures and tables are saved.

A method's `+kd` variant keeps its colour and is drawn dashed (or hatched); DCT is green as in
the original's figures. Figure functions return the `Figure` and never save or close it;
`save_figure` writes PNG and PDF, `save_table` CSV and Markdown, each whole or not at all.
"""

from __future__ import annotations

import functools
import re
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from dctkd.files import atomic_path
from dctkd.losses import catalogue

METRIC_LABELS = {"top1": "Top-1 (%)", "top5": "Top-5 (%)", "mca": "MCA (%)"}
METRIC_DASHES = {"top1": "-", "top5": "-.", "mca": "--"}
_ALIASES = {"baseline": "none", "vanilla": "none", "student": "none"}


def method_name(method: str) -> str | None:
    """The catalogue name of a method name, display label or alias (`"DCT + KD"` -> `"dct+kd"`);
    `"teacher"` for the teacher, None for a series that is not a method."""
    text = method.strip()
    if text.lower() == "teacher":
        return "teacher"
    try:
        return catalogue.name_of(text)
    except ValueError:
        pass
    key = text.lower().replace(" ", "")
    key = _ALIASES.get(key, key)
    try:
        catalogue.split_name(key)
    except ValueError:
        return None
    return key


def method_color(method: str) -> str:
    """The method's fixed colour; any other series gets a stable colour from its spelling."""
    name = method_name(method)
    if name is not None:
        return catalogue.colour(name)
    palette = sns.color_palette("tab20", 20).as_hex()
    return palette[zlib.crc32(method.strip().lower().encode()) % 20]


def method_label(method: str) -> str:
    """Display name of a method or label (`"dct+kd"` -> `"DCT + KD"`); other text unchanged."""
    name = method_name(method)
    return catalogue.label(name) if name is not None else method.strip()


def method_style(method: str) -> dict[str, Any]:
    """Line keywords: the method's colour, dashed when it uses the KD term (KD included)."""
    name = method_name(method)
    dashed = name not in (None, "teacher") and catalogue.uses_kd(name)
    return {"color": method_color(method), "linestyle": "--" if dashed else "-"}


def theme() -> dict:
    """The matplotlib rc parameters of every figure."""
    return {**sns.axes_style("whitegrid"), **sns.plotting_context("paper", font_scale=1.1)}


def styled(fn: Callable[..., Figure]) -> Callable[..., Figure]:
    """Decorator: draw the figure under the house theme."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Figure:
        with plt.rc_context(theme()):
            return fn(*args, **kwargs)

    return wrapper


def _safe_name(name: str) -> str:
    if not name or not re.fullmatch(r"[\w.\- ]+", name) or name.startswith("."):
        raise ValueError(
            f"figure/table name must be a plain file stem (letters, digits, ._- ), got {name!r}."
        )
    return name


def save_figure(fig: Figure, name: str, out_dir: str | Path,
                formats: Sequence[str] = ("png", "pdf"), dpi: int = 150) -> list[Path]:
    """Write `fig` as `<out_dir>/<name>.<fmt>` for each format; returns the paths written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = _safe_name(name)
    paths = []
    for fmt in formats:
        meta = {"CreationDate": None} if fmt == "pdf" else None
        with atomic_path(out / f"{stem}.{fmt}") as tmp:
            fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight", metadata=meta)
        paths.append(out / f"{stem}.{fmt}")
    return paths


def save_table(df: pd.DataFrame, name: str, out_dir: str | Path, caption: str | None = None,
               floatfmt: str = ".2f", index: bool = False) -> list[Path]:
    """Write `df` as `<name>.csv` (full precision) and `<name>.md` (caption line, then table)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = _safe_name(name)
    markdown = df.to_markdown(index=index, floatfmt=floatfmt)
    text = (f"{caption.strip()}\n\n" if caption else "") + markdown + "\n"
    with atomic_path(out / f"{stem}.csv") as tmp:
        df.to_csv(tmp, index=index)
    with atomic_path(out / f"{stem}.md") as tmp:
        tmp.write_text(text, encoding="utf-8")
    return [out / f"{stem}.csv", out / f"{stem}.md"]


__all__ = ["METRIC_DASHES", "METRIC_LABELS", "method_color", "method_label", "method_name",
           "method_style", "save_figure", "save_table", "styled", "theme"]
