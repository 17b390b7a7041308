"""Comparisons drawn from a few seeds: paired differences, their 95 % intervals, trends.

Two methods trained with the same seed share the student's initialisation, data order and
training subset, so the seed-to-seed spread they have in common cancels in their difference:
a claim "A beats B" is read from the per-seed differences `A_s - B_s`, their mean, a
Student-t interval over seeds and two tests: is the difference 0, and does it lie inside a
declared margin (equivalence, by two one-sided tests; statsmodels). How many seeds resolve a
difference of a given size follows from the differences' spread (`seeds_needed`).
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


def paired_test(differences: Sequence[float], margin: float | None = None,
                level: float = LEVEL) -> dict[str, float]:
    """What paired differences over seeds allow: their mean, its Student-t interval at
    `level`, the p-value of "no difference" (two-sided t-test), and with `margin` the p-value
    of "the difference lies outside ±margin" (two one-sided tests, TOST: below `1 - level`
    exactly when the `2·level - 1` interval, 90 % for 95 %, lies inside the margin). `sd` is
    the differences' spread, `n` their count; fewer than two give NaN tests."""
    from statsmodels.stats.weightstats import DescrStatsW

    d = np.asarray([x for x in differences if x is not None and np.isfinite(x)], dtype=float)
    nan = float("nan")
    out = {"n": len(d), "mean": float(d.mean()) if len(d) else nan, "ci_low": nan,
           "ci_high": nan, "sd": nan, "p": nan, "p_equivalence": nan}
    if len(d) < 2:
        return out
    sd = float(d.std(ddof=1))
    out["sd"] = sd
    if sd == 0:  # every seed agrees: no spread to test against, the sign decides
        out.update(ci_low=out["mean"], ci_high=out["mean"], p=0.0 if out["mean"] else 1.0)
        if margin is not None:
            out["p_equivalence"] = 0.0 if abs(out["mean"]) < margin else 1.0
        return out
    described = DescrStatsW(d)
    out["ci_low"], out["ci_high"] = (float(x) for x in described.tconfint_mean(1 - level))
    out["p"] = float(described.ttest_mean(0.0)[1])
    if margin is not None:
        out["p_equivalence"] = float(described.ttost_mean(-margin, margin)[0])
    return out


def seeds_needed(sd: float, half_width: float, level: float = LEVEL, most: int = 100) -> int:
    """The fewest seeds whose `level` interval of a mean of paired differences with spread `sd`
    is at most `half_width` wide on each side (`t_{n-1} · sd / √n ≤ half_width`): how many a
    comparison needs to resolve a difference of that size. `most` + 1 when none up to `most`."""
    if not np.isfinite(sd):
        return 0
    for n in range(2, most + 1):
        if stats.t.ppf(0.5 + level / 2, n - 1) * sd / np.sqrt(n) <= half_width:
            return n
    return most + 1


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
            label: str = "label", level: float = LEVEL, margin: float | None = None
            ) -> pd.DataFrame:
    """A row per `(a, b)`: seeds paired, mean of each side, the mean difference, its interval
    and tests (`paired_test`: `p`, `p_equivalence` against ±`margin`, `sd`).

    `verdict` reads the interval alone: `a > b` or `a < b` when it excludes 0, else `no
    difference resolved` (the seeds do not tell the two apart); `report.claims` draws the
    report's verdicts from the tests, corrected for multiplicity.
    """
    rows = []
    for a, b in pairs:
        diffs = paired(frame, a, b, value, label)
        tested = paired_test(diffs["difference"], margin, level)
        mean, low, high = tested["mean"], tested["ci_low"], tested["ci_high"]
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
                     "difference": mean, "ci_low": low, "ci_high": high,
                     "sd": tested["sd"], "p": tested["p"],
                     "p_equivalence": tested["p_equivalence"], "verdict": verdict})
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


__all__ = ["LEVEL", "clustered", "compare", "interval", "paired", "paired_test", "seeds_needed",
           "trend"]
