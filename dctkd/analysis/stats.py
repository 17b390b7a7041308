"""Comparisons drawn from a few seeds: paired differences, their 95 % intervals, trends.

Two methods trained with the same seed share the student's initialisation, data order and
training subset, so the seed-to-seed spread they have in common cancels in their difference:
a claim "A beats B" is read from the per-seed differences `A_s - B_s`, their mean and a
Student-t interval over seeds. With three seeds the interval is wide (t = 4.30): it says how
much the seeds allow, which is the point.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

LEVEL = 0.95


def interval(values: Sequence[float], level: float = LEVEL) -> tuple[float, float, float]:
    """`(mean, low, high)`: the mean of `values` and its two-sided Student-t interval.

    One value has no spread: its interval is `(nan, nan)`.
    """
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=float)
    if len(v) == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(v.mean())
    if len(v) < 2:
        return mean, float("nan"), float("nan")
    half = float(stats.t.ppf(0.5 + level / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))
    return mean, mean - half, mean + half


def paired(frame: pd.DataFrame, a: str, b: str, value: str = "top1", label: str = "label",
           pair_on: str = "seed") -> pd.DataFrame:
    """Per-seed differences `a - b` of `value`: columns `seed, a, b, difference`.

    Rows of `frame` are runs with a `label` column naming the method and a `pair_on` column
    (the seed). Seeds that only one side ran are left out.
    """
    left = frame[frame[label] == a].groupby(pair_on)[value].mean()
    right = frame[frame[label] == b].groupby(pair_on)[value].mean()
    common = sorted(set(left.index) & set(right.index))
    return pd.DataFrame({pair_on: common, a: left[common].to_numpy(),
                         b: right[common].to_numpy(),
                         "difference": (left[common] - right[common]).to_numpy()})


def compare(frame: pd.DataFrame, pairs: Sequence[tuple[str, str]], value: str = "top1",
            label: str = "label", level: float = LEVEL) -> pd.DataFrame:
    """A row per `(a, b)`: seeds paired, mean of each side, the mean difference and its interval.

    `verdict` reads the interval: `a > b` or `a < b` when it excludes 0, else `no difference
    resolved` (the seeds do not tell the two apart).
    """
    rows = []
    for a, b in pairs:
        diffs = paired(frame, a, b, value, label)
        mean, low, high = interval(diffs["difference"], level)
        if np.isnan(low):
            verdict = "one seed: no interval"
        elif low > 0:
            verdict = f"{a} > {b}"
        elif high < 0:
            verdict = f"{a} < {b}"
        else:
            verdict = "no difference resolved"
        rows.append({"comparison": f"{a} − {b}", "seeds": len(diffs),
                     a: float(diffs[a].mean()) if len(diffs) else np.nan,
                     b: float(diffs[b].mean()) if len(diffs) else np.nan,
                     "difference": mean, "ci_low": low, "ci_high": high, "verdict": verdict})
    return pd.DataFrame(rows)


def trend(x: Sequence[float], y: Sequence[float], level: float = LEVEL) -> dict[str, float]:
    """Least-squares slope of `y` on `x` with its Student-t interval (`n - 2` degrees)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) < 3 or np.ptp(x) == 0:
        return {"slope": float("nan"), "ci_low": float("nan"), "ci_high": float("nan"),
                "points": len(x)}
    fit = stats.linregress(x, y)
    half = float(stats.t.ppf(0.5 + level / 2, len(x) - 2) * fit.stderr)
    return {"slope": float(fit.slope), "ci_low": float(fit.slope) - half,
            "ci_high": float(fit.slope) + half, "points": len(x)}


def clustered(values: Sequence[float], clusters: Sequence, level: float = LEVEL
              ) -> tuple[float, float, float, int]:
    """`(mean, low, high, clusters)`: `interval` of the cluster means.

    Why: students that distil from one teacher share it, so they are not independent draws;
    averaging within each teacher first and taking the Student-t interval over teachers puts
    the variance where it lives (two teachers: one degree of freedom, a wide interval).
    """
    frame = pd.DataFrame({"value": np.asarray(values, dtype=float), "cluster": list(clusters)})
    frame = frame[np.isfinite(frame["value"])]
    means = frame.groupby("cluster", sort=True)["value"].mean()
    mean, low, high = interval(means.tolist(), level)
    return mean, low, high, len(means)


__all__ = ["LEVEL", "clustered", "compare", "interval", "paired", "trend"]
