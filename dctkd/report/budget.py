"""Convergence shown by budget, and accuracy against budget.

A flat end of a step or cosine schedule proves nothing: the LR is near zero there, so every
curve is flat. The test of a plateau is more budget: a run re-trained with twice its epochs
(schedule stretched, `grid.stretched`) that moves by at most `THRESHOLD` points either way
has converged; one that gains more has not, one that loses more is past its plateau
(docs/protocol.md#convergence). The frames here are `tables.collect` over the cells of the
`budget` (or `regime`) family: `param == "budget"`, `value` = the factor of the main budget.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from dctkd.analysis import stats

from .claims import interval_text
from .tables import mean_std

THRESHOLD = 2.0
"""Points that twice the epochs may add to a converged run's Top-1."""

# Top-1 is a multiple of 100 / n, and differences of those carry float error: 85.9 - 83.9
# is 2.0000000000000142, which a gain of exactly 2 points must not fail on.
_ROUNDING = 1e-9


def _factors(df: pd.DataFrame) -> pd.DataFrame:
    part = df[df["param"] == "budget"].copy()
    part["factor"] = part["value"].astype(float)
    return part


CONVERGED, NOT_CONVERGED, PAST = "converged", "not converged", "past its plateau"


def verdict(gain: float, threshold: float = THRESHOLD) -> str:
    """`converged` when more budget moves Top-1 by at most `threshold` points either way,
    `not converged` when it gains more, `past its plateau` when it loses more: a run that
    longer training costs points was compared past its best budget, not at its plateau."""
    if gain > threshold + _ROUNDING:
        return NOT_CONVERGED
    if gain < -threshold - _ROUNDING:
        return PAST
    return CONVERGED


def convergence_table(df: pd.DataFrame, check: float = 2.0, threshold: float = THRESHOLD,
                      order: Sequence[str] | None = None, digits: int = 2) -> pd.DataFrame:
    """A row per label: Top-1 at 1× and at `check`× its budget (mean over the seeds run at
    both), the gain paired by seed with its 95 % interval when there are ≥ 2 seeds, and the
    verdict of the mean gain (`verdict`)."""
    part = _factors(df)
    rows = []
    labels = list(dict.fromkeys(part["label"]))
    if order is not None:
        labels = [x for x in order if x in labels] + [x for x in labels if x not in order]
    for label in labels:
        sub = part[part["label"] == label]
        one = sub[sub["factor"] == 1.0].groupby("seed")["top1"].mean()
        more = sub[sub["factor"] == check].groupby("seed")["top1"].mean()
        seeds = sorted(set(one.index) & set(more.index))
        if not seeds:
            continue
        gain = (more[seeds] - one[seeds]).to_numpy()
        mean, low, high = stats.interval(gain)
        rows.append({
            "method": label, "seeds": len(seeds),
            "epochs": int(sub[sub["factor"] == 1.0]["epochs"].iloc[0]),
            "Top-1 at 1×": round(float(one[seeds].mean()), digits),
            f"Top-1 at {check:g}×": round(float(more[seeds].mean()), digits),
            "gain": round(mean, digits),
            "95% interval": interval_text(low, high, digits),
            "verdict": verdict(mean, threshold),
        })
    return pd.DataFrame(rows)


def verdicts(table: pd.DataFrame) -> dict[str, tuple[str, float]]:
    """`{label: (verdict, gain)}` from `convergence_table`."""
    return {r["method"]: (r["verdict"], float(r["gain"])) for _, r in table.iterrows()}


def mark(table: pd.DataFrame, found: Mapping[str, tuple[str, float]], check: float = 2.0,
         column: str = "method") -> pd.DataFrame:
    """`table` with a `budget test` column beside its rows: `converged (+0.8)`, `NOT
    converged (+4.2)`, `past its plateau (−3.1)`, or empty for a row the test did not
    cover."""
    out = table.copy()
    out.insert(out.columns.get_loc(column) + 1, f"budget test ({check:g}× epochs)",
               [_verdict_text(found.get(x)) for x in out[column]])
    return out


def _verdict_text(found: tuple[str, float] | None) -> str:
    if found is None:
        return ""
    said, gain = found
    return f"{'NOT converged' if said == NOT_CONVERGED else said} ({gain:+.1f})"


def note(found: Mapping[str, tuple[str, float]], labels: Sequence[str] | None = None,
         check: float = 2.0) -> str:
    """A caption sentence naming the rows (among `labels`) that failed the budget test, in
    either direction."""
    labels = list(found) if labels is None else [x for x in labels if x in found]
    if not labels:
        return ""
    out = ""
    for said, rule in ((NOT_CONVERGED, f"{check:g}× the epochs gains > {THRESHOLD:g} points"),
                       (PAST, f"{check:g}× the epochs loses > {THRESHOLD:g} points")):
        bad = [f"{x} ({found[x][1]:+.1f})" for x in labels if found[x][0] == said]
        if bad:
            out += f" {said[0].upper()}{said[1:]} by the budget test ({rule}): {', '.join(bad)}."
    return out or (f" Every row shown passed the budget test ({check:g}× the epochs moves "
                   f"Top-1 by ≤ {THRESHOLD:g} points).")


def budget_curve_table(df: pd.DataFrame, order: Sequence[str] | None = None) -> pd.DataFrame:
    """Accuracy against budget: a row per label, a column per factor of the budget (with its
    epochs), Top-1 `mean ± std` over the seeds run at that factor."""
    part = _factors(df)
    factors = sorted(part["factor"].unique())
    labels = list(dict.fromkeys(part["label"]))
    if order is not None:
        labels = [x for x in order if x in labels] + [x for x in labels if x not in order]
    rows = []
    for label in labels:
        sub = part[part["label"] == label]
        if sub["factor"].nunique() < 3:
            continue
        row = {"method": label}
        for f in factors:
            at = sub[sub["factor"] == f]
            epochs = int(at["epochs"].iloc[0]) if len(at) else None
            row[f"{f:g}× ({epochs} ep)" if epochs else f"{f:g}×"] = mean_std(at["top1"])
        rows.append(row)
    return pd.DataFrame(rows)


def budget_points(df: pd.DataFrame) -> pd.DataFrame:
    """`label, factor, epochs, top1` per run of the labels run at ≥ 3 factors (the figure)."""
    part = _factors(df)
    many = part.groupby("label")["factor"].nunique()
    part = part[part["label"].isin(many[many >= 3].index)]
    return part[["label", "seed", "factor", "epochs", "top1"]].reset_index(drop=True)


def ordering(df: pd.DataFrame, labels: Sequence[str]) -> pd.DataFrame:
    """The `labels` ranked by mean Top-1 at the largest and at the main factor: rankings of
    learning speed and of where each method ends can differ."""
    part = _factors(df)
    top = part["factor"].max()
    rows = []
    for f in sorted({1.0, top}):
        means = part[(part["factor"] == f) & part["label"].isin(labels)].groupby("label")[
            "top1"].mean().sort_values(ascending=False)
        rows.append({"budget": f"{f:g}×", "ranking": " > ".join(
            f"{x} ({v:.1f})" for x, v in means.items() if np.isfinite(v))})
    return pd.DataFrame(rows)


__all__ = ["CONVERGED", "NOT_CONVERGED", "PAST", "THRESHOLD", "budget_curve_table",
           "budget_points", "convergence_table", "mark", "note", "ordering", "verdict",
           "verdicts"]
