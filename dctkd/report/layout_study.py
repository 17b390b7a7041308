"""Presence against layout: the multi-attention study of notebook 13, from the report's side.

Does the DCT loss help more where a class is defined by how its objects are arranged than
where it is defined by which objects are there? The k-study's machinery (`grid.kstudy`,
`study.kstudy_*`) measures one rule at a time; here its frames are built per rule and
stacked (`per_rule`), and the study's verdicts are drawn from them with `claims.claims_table`:
the primary endpoint, the interaction (DCT − AT)_layout − (DCT − AT)_presence, and per rule
the paired comparisons of the methods. `room` checks the design on validation accuracy, and
`convergence` reads its budget check both ways (`budget.convergence_table`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pandas as pd

from dctkd.analysis import kstudy
from dctkd.losses import TEACHER_LABEL as TEACHER

from . import budget
from .claims import COLUMNS, claims_table
from .grid import Cell

RULES = ("layout", "presence")
"""The rule whose gain is expected larger first: the interaction is first minus second."""

ROOM = 8.0
"""Points of val Top-1 that the student alone and the AT student must sit below their
teacher under each rule: room for a method to show a difference."""

PRIMARY = ("DCT", "AT")
"""The comparison whose interaction with the rule is the study's primary endpoint."""


def rule_of(cell: Cell) -> str:
    """The scenes' rule a cell's runs train on (`presence` when the data does not say)."""
    return str((cell.cfg.data.options or {}).get("rule", "presence"))


def per_rule(fn: Callable[..., pd.DataFrame], cells: Sequence[Cell], *args, **kwargs
             ) -> pd.DataFrame:
    """`fn(cells of one rule, *args, **kwargs)` for each rule, stacked with a `rule` column
    first: the k-study's frames are keyed by k alone, and two rules share each k."""
    frames = []
    for rule in dict.fromkeys(rule_of(c) for c in cells):
        part = fn([c for c in cells if rule_of(c) == rule], *args, **kwargs)
        frames.append(part.assign(rule=rule)[
            ["rule", *(c for c in part.columns if c != "rule")]])
    return pd.concat(frames, ignore_index=True)


def by_rule(frame: pd.DataFrame, fn: Callable[..., pd.DataFrame], *args, **kwargs
            ) -> pd.DataFrame:
    """`fn` applied to each rule's rows of `frame`, stacked with the `rule` column first."""
    frames = []
    for rule, part in frame.groupby("rule", sort=False):
        got = fn(part.drop(columns="rule"), *args, **kwargs)
        frames.append(got.assign(rule=rule)[["rule", *got.columns]])
    return pd.concat(frames, ignore_index=True)


def interaction_claims(gains: pd.DataFrame, comparisons: Sequence[str],
                       quantity: str = "Top-1 (%)", margin: float | None = 2.0,
                       primary: str = f"{PRIMARY[0]} − {PRIMARY[1]}", digits: int = 2
                       ) -> pd.DataFrame:
    """A row per k and comparison: how much larger the comparison's paired gain is under
    layout than under presence (`kstudy.rule_interaction`), its 95 % interval and verdict
    (`claims.COLUMNS`; A and B are the gain under each rule). The `primary` comparison's row
    at every k forms the primary family (Holm); the rest are exploratory.

    `gains` is `kstudy_gains` per rule (`by_rule`), one teacher per seed: each seed is an
    independent replicate, so the interval over seeds is the right one.
    """
    inter = kstudy.rule_interaction(gains[gains["quantity"] == quantity], *RULES)
    rows, pairs, main = [], [], []
    for k in sorted(inter["k"].unique()):
        for comp in [primary, *(c for c in comparisons if c != primary)]:
            part = inter[(inter["k"] == k) & (inter["comparison"] == comp)]
            if part.empty:
                continue
            names = tuple(f"{comp} | {rule} | k = {k}" for rule in RULES)
            pairs.append(names)
            if comp == primary:
                main.append(names)
            rows += [{"label": name, "seed": s, "gain": g} for rule, name in
                     zip(RULES, names, strict=True) for s, g in zip(part["seed"], part[rule],
                                                                     strict=True)]
    if not rows:
        return pd.DataFrame(columns=["k", *COLUMNS])
    table = claims_table(pd.DataFrame(rows), pairs, "gain", digits, margin, primary=main)
    split = table["comparison"].str.extract(r"^(.*) \| \w+ \| k = (\d+) − ")
    table["comparison"] = [f"({c})_{RULES[0]} − ({c})_{RULES[1]}" for c in split[0]]
    table.insert(0, "k", split[1].astype(int).to_numpy())
    return table


def rule_claims(accuracy: pd.DataFrame, comparisons: Sequence[tuple[str, str]],
                margin: float | None = 2.0, value: str = "top1", digits: int = 2
                ) -> pd.DataFrame:
    """Per rule and k, each comparison `A − B` paired by seed (`claims.claims_table`, every
    row exploratory): columns `rule, k`, then `claims.COLUMNS`."""
    frames = []
    for (rule, k), part in accuracy.groupby(["rule", "k"], sort=False):
        got = claims_table(part.rename(columns={"method": "label"}), comparisons, value,
                           digits, margin)
        frames.append(got.assign(rule=rule, k=int(k))[["rule", "k", *got.columns]])
    return pd.concat(frames, ignore_index=True)


def room(accuracy: pd.DataFrame, need: float = ROOM, value: str = "val_top1",
         below: Sequence[str] = ("Baseline", "AT")) -> pd.DataFrame:
    """Per rule and k, whether the task leaves room for a method to show a difference: the
    teachers' mean `value` (val Top-1, never test: the design is chosen on it), each of
    `below`'s, how far each sits under the teacher, and `room`: every one of them at least
    `need` points under it."""
    rows = []
    for (rule, k), part in accuracy.groupby(["rule", "k"], sort=False):
        means = part.groupby("method")[value].mean()
        row = {"rule": rule, "k": int(k), "teacher": round(means.get(TEACHER, float("nan")), 2)}
        gaps = []
        for label in below:
            gap = means.get(TEACHER, float("nan")) - means.get(label, float("nan"))
            row[label] = round(means.get(label, float("nan")), 2)
            row[f"teacher − {label}"] = round(gap, 2)
            gaps.append(gap)
        row["room"] = all(g >= need for g in gaps)
        rows.append(row)
    return pd.DataFrame(rows)


def convergence(budget_runs: pd.DataFrame, threshold: float = budget.THRESHOLD
                ) -> pd.DataFrame:
    """The budget check per rule and k, read both ways (`budget.convergence_table`: a row per
    model, the gain of the longer runs over their own, paired by seed, with its interval and
    verdict: converged, not converged, past its plateau). `budget_runs` is
    `study.kstudy_budget` per rule (`per_rule`)."""
    frames = []
    for (rule, k), part in budget_runs.groupby(["rule", "k"], sort=False):
        check = float((part["epochs_longer"] / part["epochs"]).iloc[0])
        long = pd.concat([
            pd.DataFrame({"label": part["method"], "seed": part["seed"], "param": "budget",
                          "value": factor, "top1": part[top1], "epochs": part[epochs]})
            for factor, top1, epochs in ((1.0, "top1", "epochs"),
                                         (check, "top1_longer", "epochs_longer"))])
        got = budget.convergence_table(long, check=check, threshold=threshold)
        frames.append(got.assign(rule=rule, k=int(k))[["rule", "k", *got.columns]])
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["rule", "k", "method", "seeds", "gain", "95% interval", "verdict"])


__all__ = ["PRIMARY", "ROOM", "RULES", "by_rule", "convergence", "interaction_claims",
           "per_rule", "room", "rule_claims", "rule_of"]
