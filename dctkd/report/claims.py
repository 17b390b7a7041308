"""What the numbers say, and how sure they are: the paper's claims as paired differences over
seeds with 95 % intervals and the verdict each allows (docs/protocol.md#convergence holds
the evidence that the runs compared reached their plateau).

Each function takes the frames of `report.tables` (a row per run: `label`, `seed`, metrics)
or labelled cells and their runs, and returns a table a notebook shows and saves.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from dctkd.analysis import kstudy, stats
from dctkd.losses import TEACHER_LABEL
from dctkd.losses import label as method_label
from dctkd.losses.catalogue import name_of as method_name

CLAIMS = (("DCT", "AT"), ("DCT", "Baseline"), ("DCT + KD", "KD"))
"""The paper's comparisons of the main table: DCT against AT and against the student alone,
DCT + KD against KD."""


MARGIN = 2.0
"""Points of Top-1 inside which two methods count as the same (a profile's `claims.margin`)."""

ALPHA = round(1 - stats.LEVEL, 10)

VERDICTS = ("supported", "contradicted", "equivalent", "unresolved", "too few seeds")
"""A claim "A beats B" over paired seeds: *supported* or *contradicted* when the difference
test rejects 0 (Holm-adjusted within the primary family), else *equivalent* when two one-sided
tests put the difference inside ±margin (the 90 % interval inside the margin), else
*unresolved*; *too few seeds* without an interval."""

COLUMNS = ["comparison", "seeds", "A", "B", "difference", "ci_low", "ci_high", "margin", "p",
           "p_equivalence", "primary", "seeds needed", "verdict"]
"""Every claims table's columns: the paired difference A − B (points), its 95 % interval, the
equivalence margin, the two tests' p-values (Holm-adjusted for primary rows), whether the row
is a primary endpoint, the seeds a 95 % half-width of `margin` needs at the spread measured
(`stats.seeds_needed`), and the verdict."""


def interval_text(low: float, high: float, digits: int = 2) -> str:
    """`"[+1.20, +3.40]"`, or empty when there is no interval (one seed)."""
    if np.isnan(low) or np.isnan(high):
        return ""
    return f"[{low:+.{digits}f}, {high:+.{digits}f}]"


def claims_table(df: pd.DataFrame, comparisons: Sequence[tuple[str, str]] = CLAIMS,
                 value: str = "top1", digits: int = 2, margin: float | None = MARGIN,
                 primary: Iterable[tuple[str, str]] = (), higher: bool = True) -> pd.DataFrame:
    """A row per comparison `A − B` present in `df` (`COLUMNS`): paired seeds, both means, the
    mean difference, its 95 % interval, the tests and the verdict (`decide`). `primary`
    names the comparisons of the primary family (Holm-adjusted together); `higher` says that
    a larger `value` is better (the claim "A beats B" is then A − B > 0)."""
    labels = set(df["label"])
    wanted = [(a, b) for a, b in comparisons if a in labels and b in labels]
    main = set(map(tuple, primary))
    got = stats.compare(df[df["label"] != TEACHER_LABEL], wanted, value, margin=margin)
    rows = []
    for (a, b), (_, r) in zip(wanted, got.iterrows(), strict=True):
        need = stats.seeds_needed(r["sd"], margin) if margin else 0
        rows.append({
            "comparison": r["comparison"], "seeds": int(r["seeds"]),
            "A": round(float(r[a]), digits), "B": round(float(r[b]), digits),
            "difference": round(float(r["difference"]), digits),
            "ci_low": round(float(r["ci_low"]), digits),
            "ci_high": round(float(r["ci_high"]), digits),
            "margin": margin if margin else np.nan, "p": r["p"],
            "p_equivalence": r["p_equivalence"], "primary": (a, b) in main,
            "seeds needed": need or np.nan,
        })
    return decide(pd.DataFrame(rows, columns=COLUMNS[:-1]), higher)


def decide(table: pd.DataFrame, higher: bool = True, alpha: float = ALPHA) -> pd.DataFrame:
    """`table` with its p-values Holm-adjusted within the primary rows (each test its own
    family; exploratory rows keep theirs) and the `verdict` column (`VERDICTS`)."""
    from statsmodels.stats.multitest import multipletests

    out = table.copy()
    main = out["primary"].astype(bool) if len(out) else out["primary"]
    for column in ("p", "p_equivalence"):
        values = out.loc[main, column]
        tested = values.notna()
        if tested.sum() > 1:
            adjusted = multipletests(values[tested].to_numpy(float), alpha, "holm")[1]
            out.loc[values[tested].index, column] = adjusted
    better = out["difference"] > 0 if higher else out["difference"] < 0
    verdicts = []
    for (_, r), up in zip(out.iterrows(), better, strict=True):
        if r["seeds"] < 2 or np.isnan(r["p"]):
            verdicts.append("too few seeds")
        elif r["p"] < alpha:
            verdicts.append("supported" if up else "contradicted")
        elif r["p_equivalence"] < alpha:
            verdicts.append("equivalent")
        else:
            verdicts.append("unresolved")
    out["verdict"] = verdicts
    for column in ("p", "p_equivalence"):
        out[column] = out[column].astype(float).round(4)
    return out[COLUMNS]


def against(df: pd.DataFrame, reference: str, others: Iterable[str] | None = None,
            value: str = "top1", digits: int = 2, margin: float | None = MARGIN
            ) -> pd.DataFrame:
    """Every label of `df` (or `others`) against one `reference` label, paired by seed."""
    names = [x for x in (others or dict.fromkeys(df["label"])) if x not in (reference,
                                                                              TEACHER_LABEL)]
    return claims_table(df, [(x, reference) for x in names], value, digits, margin)


def relabel(df: pd.DataFrame, param: str, template: str = "{label} ({value})") -> pd.DataFrame:
    """`df` with the rows of an ablated `param` labelled by their setting (`"DCT (alpha 0.3)"`),
    so each setting can be paired by seed against another."""
    out = df.copy()
    rows = out["param"] == param
    out.loc[rows, "label"] = [template.format(label=lab, value=_setting(v), param=param)
                              for lab, v in zip(out.loc[rows, "label"], out.loc[rows, "value"],
                                                strict=True)]
    return out


def _setting(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def sentences(table: pd.DataFrame) -> list[str]:
    """The claims table in words, one line per comparison, for a notebook's summary."""
    out = []
    for _, row in table.iterrows():
        interval = interval_text(row["ci_low"], row["ci_high"]) or "no interval"
        family = "primary, Holm-adjusted" if row["primary"] else "exploratory"
        out.append(f"{row['comparison']}: {row['difference']:+.2f} points over {row['seeds']} "
                   f"paired seeds, 95% interval {interval}, margin ±{row['margin']:g} "
                   f"({family}) → {row['verdict']}")
    return out


def _with_interval(mean: float, low: float, high: float, digits: int) -> str:
    """`"62.10 [58.30, 65.90]"`, or the mean alone without an interval."""
    if np.isnan(mean):
        return ""
    text = interval_text(low, high, digits).replace("+", "")
    return f"{mean:.{digits}f} {text}".strip()


def kstudy_claims(accuracy: pd.DataFrame, ceiling: Mapping[int, float] | None = None,
                  comparisons: Sequence[tuple[str, str]] = (
                      ("DCT", "AT"), ("DCT", "KD"), ("DCT", "Baseline")),
                  digits: int = 2) -> pd.DataFrame:
    """Per k: how hard the task is (teachers' Top-1, the student alone's and the gap between
    them, each with its 95 % interval over teachers) beside each comparison's paired Top-1
    difference with its interval over teachers (`kstudy.by_k`), so a trend in k can be read
    against a trend in difficulty. `accuracy` is `study.kstudy_accuracy`.
    """
    hard = kstudy.difficulty(accuracy).set_index(["k", "quantity"])
    gains = kstudy.kstudy_gains(accuracy, ("top1",), against=[b for _, b in comparisons])
    per_k = kstudy.by_k(gains, "gain", ["comparison"]).set_index(["k", "comparison"])
    rows = []
    for k in sorted(accuracy["k"].unique()):
        row: dict = {"k": int(k), "teachers": int(hard.loc[(k, "teacher"), "teachers"])}
        for q, name in (("teacher", "teacher Top-1"), ("student alone", "student alone Top-1"),
                        ("gap", "teacher − student alone")):
            r = hard.loc[(k, q)]
            row[name] = _with_interval(r["mean"], r["ci_low"], r["ci_high"], digits)
        if ceiling is not None:
            row["one-object ceiling"] = round(ceiling.get(int(k), np.nan), 1)
        for a, b in comparisons:
            if (k, f"{a} − {b}") in per_k.index:
                r = per_k.loc[(k, f"{a} − {b}")]
                row[f"{a} − {b}"] = round(r["mean"], digits)
                row[f"{a} − {b} 95% interval"] = interval_text(r["ci_low"], r["ci_high"], digits)
        rows.append(row)
    return pd.DataFrame(rows)


def kstudy_estimates(frame: pd.DataFrame, value: str, keys: Sequence[str],
                     digits: int = 2) -> pd.DataFrame:
    """`kstudy.by_k` as a table: a row per k and `keys`, the mean over teachers, its 95 %
    interval and how many teachers and runs it stands on."""
    got = kstudy.by_k(frame, value, keys)
    return pd.DataFrame({
        "k": got["k"], **{key: got[key] for key in keys},
        "mean": got["mean"].round(digits + 1 if "fraction" in value else digits),
        "95% interval": [interval_text(lo, hi, digits + (value == "fraction"))
                         for lo, hi in zip(got["ci_low"], got["ci_high"], strict=True)],
        "teachers": got["teachers"], "runs": got["runs"]})


def kstudy_trend(per_k: pd.DataFrame, keys: Sequence[str] = ("comparison",),
                 digits: int = 3) -> pd.DataFrame:
    """A row per `keys`: the slope of the per-k estimates against k (points per extra
    object needed; `kstudy.trend_in_k`, each k one point) with its 95 % interval, and the
    verdict that interval alone supports: "grows with k", "shrinks with k", "unresolved"
    (it holds 0) or "too few k" (fewer than 3 ks: no interval). `per_k` is `kstudy.by_k`."""
    got = kstudy.trend_in_k(per_k, keys)
    return pd.DataFrame({
        **{key: got[key] for key in keys}, "ks": got["ks"],
        "slope per k": got["slope"].round(digits),
        "95% interval": [interval_text(lo, hi, digits)
                         for lo, hi in zip(got["ci_low"], got["ci_high"], strict=True)],
        "verdict": [_trend_verdict(r) for _, r in got.iterrows()]})


def _trend_verdict(got) -> str:
    if np.isnan(got["ci_low"]):
        return "too few k"
    if got["ci_low"] > 0:
        return "grows with k"
    if got["ci_high"] < 0:
        return "shrinks with k"
    return "unresolved"


DIRECTIONS: dict[str, bool] = {
    "ssim": True, "pearson": True, "iou": True, "mass_on_objects": True, "silhouette": True,
    "top1": True,
}
"""`{metric: higher is better}`: SSIM, Pearson and top-q IoU with the teacher's map are
similarities (higher: attention closer to the teacher's), the mass on the class-defining
objects a share (higher: more of the map on them), the silhouette a separation (higher:
tighter, better-separated classes). A distance-like metric maps to `False`."""

ATTENTION_CLAIMS = tuple((method_label("dct"), method_label(m))
                         for m in ("at", "none", "kd", "review"))
"""The attention and embedding claims: DCT against AT, the student alone, KD and ReviewKD."""

def metric_claims(per_seed: pd.DataFrame, metrics: Sequence[str],
                  directions: Mapping[str, bool] = DIRECTIONS,
                  comparisons: Sequence[tuple[str, str]] = ATTENTION_CLAIMS,
                  by: Sequence[str] = (), label: str = "method",
                  names: Mapping[str, str] | None = None, digits: int = 3,
                  margins: Mapping[str, float] | None = None) -> pd.DataFrame:
    """The claim "A is better than B" on each metric, paired by seed (`claims_table`).

    `per_seed` has a row per model and seed (and per `by` group, e.g. level): `label`,
    `seed`, `by` and the metric columns. Returns a row per `by` group, metric and comparison
    present: `by…, measure, better` (`higher`/`lower`, from `directions`), then `COLUMNS`:
    *supported* when the difference lies on the better side of 0, *contradicted* on the
    worse, *equivalent* inside the metric's margin (`margins`; none: no such verdict),
    *unresolved* otherwise. Every row is exploratory (no primary family).
    """
    frame = per_seed.drop(columns=["label"], errors="ignore") if label != "label" else per_seed
    frame = frame.rename(columns={label: "label"})
    groups = frame.groupby(list(by), sort=True) if by else [((), frame)]
    present = set(frame["label"])
    rows = []
    for key, part in groups:
        key = key if isinstance(key, tuple) else (key,)
        for metric in metrics:
            if metric not in part.columns:
                continue
            higher = bool(directions[metric])
            for a, b in comparisons:
                if a not in present or b not in present:
                    continue
                got = claims_table(part, [(a, b)], metric, digits,
                                   (margins or {}).get(metric), higher=higher)
                if got.empty:
                    continue
                rows.append({**dict(zip(by, key, strict=True)),
                             "measure": (names or {}).get(metric, metric),
                             "better": "higher" if higher else "lower", **got.iloc[0].to_dict()})
    return pd.DataFrame(rows, columns=[*by, "measure", "better", *COLUMNS])


def metric_sentences(table: pd.DataFrame, digits: int = 3) -> list[str]:
    """`metric_claims` in words, one line per row (its `by` columns named first)."""
    keys = [c for c in table.columns if c not in ("measure", "better", *COLUMNS)]
    out = []
    for _, row in table.iterrows():
        where = ", ".join(f"{k} {row[k]}" for k in keys)
        interval = interval_text(row["ci_low"], row["ci_high"], digits) or "no interval"
        out.append(f"{row['measure']}{' (' + where + ')' if where else ''}, "
                   f"{row['comparison']} ({row['better']} is better): "
                   f"{row['difference']:+.{digits}f} over {row['seeds']} paired seeds, "
                   f"95% interval {interval} → {row['verdict']}")
    return out


def verdict_counts(table: pd.DataFrame) -> pd.DataFrame:
    """A row per comparison of `metric_claims`: how many of its rows (metrics × groups) each
    verdict got, so a claim over several metrics and levels reads in one line."""
    counts = pd.crosstab(table["comparison"], table["verdict"]).reindex(
        columns=list(VERDICTS), fill_value=0)
    order = list(dict.fromkeys(table["comparison"]))
    return counts.reindex(order).reset_index().rename_axis(columns=None)


BEST = "best"
"""In a profile's primary endpoints, the other method alone whose students reach the highest
mean *val* Top-1 (chosen on val, so that picking it does not favour it on test)."""


def best_other(df: pd.DataFrame, exclude: Iterable[str] = ()) -> str | None:
    """The method alone (not the student alone, a + KD row or a control) of `df` with the
    highest mean val Top-1 (`tables.collect`'s `val_top1`), leaving out `exclude`."""
    skip = {TEACHER_LABEL, method_label("none"), *exclude}
    alone = [x for x in dict.fromkeys(df["label"])
             if x not in skip and _is_method(x) and not x.endswith(" + KD")]
    if not alone:
        return None
    means = df[df["label"].isin(alone)].groupby("label")["val_top1"].mean()
    return str(means.idxmax())


def primary_endpoints(df: pd.DataFrame, pairs: Iterable[Sequence[str]]
                      ) -> list[tuple[str, str]]:
    """A profile's primary comparisons `(A, B)` with `BEST` resolved against A (`best_other`);
    each once, and only those whose two rows `df` holds."""
    labels = set(df["label"])
    out: list[tuple[str, str]] = []
    for a, b in pairs:
        if b == BEST:
            b = best_other(df, exclude=[a])
        if b is not None and a in labels and b in labels and (a, b) not in out:
            out.append((a, b))
    return out


def accuracy_claims(df: pd.DataFrame, kd_reference: str | None = None, digits: int = 2,
                    margin: float | None = MARGIN, primary: Iterable[Sequence[str]] = ()
                    ) -> pd.DataFrame:
    """Every accuracy claim of the paper on one teacher→student pair, paired by seed.

    The paper says the DCT term transfers better than every alternative: DCT against the
    student alone and each other method alone (KD included), DCT + KD against each other
    method + KD, and that it complements KD: DCT + KD against DCT, and against KD alone at
    the + KD rows' own KD weight (`kd_reference`, the label of that row), so the pair differs
    in the DCT term only. A method alone at another setting (a control such as
    `CRD (K = 16,384)`) is paired with DCT like the method itself. `primary` names the
    primary endpoints (`primary_endpoints`; `BEST` stands for the best other method alone,
    chosen on val); they come first and are Holm-adjusted together, the rest are
    exploratory. Columns: `claim` then `COLUMNS`.
    """
    labels = [x for x in dict.fromkeys(df["label"]) if x != TEACHER_LABEL]
    dct, dct_kd = method_label("dct"), method_label("dct+kd")
    named = [x for x in labels if _is_method(x)]
    alone = [x for x in named if not x.endswith(" + KD") and x != dct]
    plus = [x for x in named if x.endswith(" + KD") and x != dct_kd]
    # A method at another of its settings (CRD with the original's 16,384 negatives) is
    # another method alone to the paper's claim; the student alone's controls are not.
    variants = [x for x in labels if x not in named and x != kd_reference
                and x.split(" (", 1)[0] in alone and x.split(" (", 1)[0] != "Baseline"]
    claim = {(dct, x): f"{dct} beats every other method alone" for x in alone + variants}
    claim |= {(dct_kd, x): f"{dct_kd} beats every other method + KD" for x in plus}
    claim[(dct_kd, dct)] = f"{dct} complements KD"
    if kd_reference in labels:
        claim[(dct_kd, kd_reference)] = f"{dct} complements KD (equal KD weight)"
    wanted = list(primary)
    main = primary_endpoints(df, wanted)
    best = {(a, best_other(df, exclude=[a])) for a, b in wanted if b == BEST}
    for pair in main:
        if pair in best:
            text = f"{pair[0]} beats the best other method alone (chosen on val)"
            claim[pair] = f"{claim[pair]}; {text}" if pair in claim else text
    order = main + [pair for pair in claim if pair not in main]
    table = claims_table(df, order, "top1", digits, margin, primary=main)
    table.insert(0, "claim", [claim.get(tuple(x.split(" − ", 1)), "")
                              for x in table["comparison"]])
    return table
def _is_method(text: str) -> bool:
    try:
        method_name(text)
    except ValueError:
        return False
    return True


__all__ = ["ALPHA", "BEST", "CLAIMS", "COLUMNS", "MARGIN", "accuracy_claims", "against",
           "best_other", "claims_table", "decide", "interval_text", "kstudy_claims",
           "kstudy_estimates", "kstudy_trend", "primary_endpoints", "relabel", "sentences"]
__all__ += ["ATTENTION_CLAIMS", "DIRECTIONS", "VERDICTS", "metric_claims",
            "metric_sentences", "verdict_counts"]
