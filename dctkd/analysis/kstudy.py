"""The k-study's statistics: does DCT's advantage grow with the number of objects a class needs?

Inputs are long frames with `k, method, seed` (and `teacher_seed`, the teacher a student
distils from; a teacher's own row carries its seed) and one column per quantity (Top-1 and
the overlap measures). Gains are paired by seed, so the seed-to-seed spread shared by both
methods cancels; students of one teacher share it, so intervals per k are taken over
teachers (`stats.clustered`), and the trend in k is fitted on the per-k estimates, not on
every (k, seed) as if they were independent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from . import stats
from .overlap import MEASURE_NAMES, MEASURES
from .samples import TEACHER


def kstudy_gains(
    frame: pd.DataFrame,
    quantities: Sequence[str] = ("top1", *MEASURES),
    method: str = "DCT",
    against: Sequence[str] = ("AT", "Baseline"),
) -> pd.DataFrame:
    """Gain of `method` over each of `against`, per k and seed (paired by seed), long form.

    Columns `k, seed, comparison ("DCT − AT"), quantity, gain` (and `teacher_seed` when the
    frame has it). Seeds missing from either side are left out; no common seed for some k
    is an error.
    """
    quantities = [q for q in quantities if q in frame.columns]
    rows = []
    for k, part in frame.groupby("k", sort=True):
        ours = part[part["method"] == method].set_index("seed")
        for other in against:
            theirs = part[part["method"] == other].set_index("seed")
            common = sorted(set(ours.index) & set(theirs.index))
            if not common:
                raise ValueError(f"k = {k}: no seed trained for both {method} and {other}.")
            for seed in common:
                for q in quantities:
                    rows.append(
                        {
                            "k": int(k),
                            "seed": int(seed),
                            "comparison": f"{method} − {other}",
                            "quantity": MEASURE_NAMES.get(q, q),
                            "gain": float(ours.at[seed, q] - theirs.at[seed, q]),
                            **({"teacher_seed": ours.at[seed, "teacher_seed"]}
                               if "teacher_seed" in ours.columns else {}),
                        }
                    )
    return pd.DataFrame(rows)


def accuracy_vs_k(frame: pd.DataFrame, ceiling: Mapping[int, float]) -> pd.DataFrame:
    """Long frame `k, series, seed, Top-1 (%)`: each model's accuracy and the one-object
    ceiling, for `plots.k_study_plot(..., y="Top-1 (%)", hue="series")`."""
    y = MEASURE_NAMES["top1"]
    acc = frame[["k", "method", "seed", "top1"]].rename(columns={"method": "series", "top1": y})
    ceil = pd.DataFrame(
        {"k": list(ceiling), "series": "one-object ceiling", "seed": 0, y: list(ceiling.values())}
    )
    return pd.concat([acc, ceil], ignore_index=True)


def by_k(frame: pd.DataFrame, value: str, keys: Sequence[str] = (),
         cluster: str = "teacher_seed") -> pd.DataFrame:
    """Per k (and `keys`): the mean of `value` over teachers with its 95 % interval
    (`stats.clustered`: students averaged within their teacher first). Columns `k, keys...,
    mean, ci_low, ci_high, teachers, runs`."""
    rows = []
    for key, part in frame.groupby(["k", *keys], sort=False):
        key = key if isinstance(key, tuple) else (key,)
        mean, low, high, n = stats.clustered(part[value], part[cluster])
        rows.append({**dict(zip(["k", *keys], key, strict=True)), "mean": mean, "ci_low": low,
                     "ci_high": high, "teachers": n, "runs": int(part[value].notna().sum())})
    return pd.DataFrame(rows).sort_values(["k", *keys], kind="stable", ignore_index=True)


def difficulty(accuracy: pd.DataFrame) -> pd.DataFrame:
    """Per k, how hard the task is: the teachers' Top-1, the student alone's, and the gap
    between each teacher and the students alone paired with it, each over teachers.

    Long form: `k, quantity ("teacher" | "student alone" | "gap"), mean, ci_low, ci_high,
    teachers, runs`.
    """
    teachers = accuracy[accuracy["method"] == TEACHER].assign(quantity="teacher")
    alone = accuracy[accuracy["method"] == "Baseline"].assign(quantity="student alone")
    t_top1 = teachers.set_index(["k", "teacher_seed"])["top1"]
    gap = alone.assign(quantity="gap", top1=[
        t_top1.get((k, t), float("nan")) - a
        for k, t, a in zip(alone["k"], alone["teacher_seed"], alone["top1"], strict=True)])
    frame = pd.concat([teachers, alone, gap], ignore_index=True)
    return by_k(frame, "top1", ["quantity"])


def gap_closed(accuracy: pd.DataFrame, baseline: str = "Baseline") -> pd.DataFrame:
    """The share of the teacher − student-alone gap each method closes, per k and teacher:
    `(method − alone) / (teacher − alone)`, the students of that teacher averaged first (a
    per-student ratio would blow up where the gap is small). Columns `k, teacher_seed,
    method, fraction`; 1 means the student reaches its teacher, 0 the student alone."""
    rows = []
    students = accuracy[~accuracy["method"].isin([TEACHER, baseline])]
    for (k, t), part in accuracy.groupby(["k", "teacher_seed"], sort=True):
        teacher = part[part["method"] == TEACHER]["top1"].mean()
        alone = part[part["method"] == baseline]["top1"].mean()
        for m in pd.unique(students["method"]):
            mean = part[part["method"] == m]["top1"].mean()
            rows.append({"k": int(k), "teacher_seed": t, "method": m,
                         "fraction": (mean - alone) / (teacher - alone)
                         if teacher != alone else float("nan")})
    return pd.DataFrame(rows, columns=["k", "teacher_seed", "method", "fraction"])


def trend_in_k(per_k: pd.DataFrame, keys: Sequence[str] = ("comparison",)) -> pd.DataFrame:
    """Per `keys`, the least-squares slope of the per-k estimates (`by_k`'s `mean`) against k,
    with its 95 % interval on `len(ks) - 2` degrees of freedom: each k counts once, whatever
    its number of seeds (`stats.trend`). Columns `keys..., ks, slope, ci_low, ci_high`."""
    rows = []
    for key, part in per_k.groupby(list(keys), sort=False):
        key = key if isinstance(key, tuple) else (key,)
        got = stats.trend(part["k"], part["mean"])
        rows.append({**dict(zip(keys, key, strict=True)), "ks": got["points"],
                     "slope": got["slope"], "ci_low": got["ci_low"], "ci_high": got["ci_high"]})
    return pd.DataFrame(rows)


def budget_check(budget: pd.DataFrame, tolerance: float = 2.0) -> pd.DataFrame:
    """Did each run reach its plateau? `budget` has `k, method, seed, top1, top1_longer`
    (the same run trained with more epochs, `study.kstudy_budget`); adds `gain` and `passes`
    (the longer run gains at most `tolerance` points)."""
    out = budget.assign(gain=budget["top1_longer"] - budget["top1"])
    return out.assign(passes=out["gain"] <= tolerance)


def rule_interaction(gains: pd.DataFrame, first: str = "layout", second: str = "presence"
                     ) -> pd.DataFrame:
    """How much more a gain is under rule `first` than under `second`: per k, comparison,
    quantity and seed, `gain(first) - gain(second)` (columns `k, comparison, quantity, seed,
    first, second, interaction`).

    `gains` is `kstudy_gains` of each rule stacked with a `rule` column. Seed s of each rule
    is one replicate of its whole pipeline (its own teacher, its students), and the rules
    train on different scenes, so pairing them by seed cancels nothing: it only lines up
    independent replicates, and a seed missing under either rule is left out.
    """
    keys = ["k", "comparison", "quantity", "seed"]
    sides = [gains[gains["rule"] == r].set_index(keys)["gain"].rename(r) for r in (first, second)]
    both = pd.concat(sides, axis=1, join="inner").reset_index()
    return both.assign(interaction=both[first] - both[second])


__all__ = ["accuracy_vs_k", "budget_check", "by_k", "difficulty", "gap_closed", "kstudy_gains",
           "rule_interaction", "trend_in_k"]
