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


def interval_text(low: float, high: float, digits: int = 2) -> str:
    """`"[+1.20, +3.40]"`, or empty when there is no interval (one seed)."""
    if np.isnan(low) or np.isnan(high):
        return ""
    return f"[{low:+.{digits}f}, {high:+.{digits}f}]"


def claims_table(df: pd.DataFrame, comparisons: Sequence[tuple[str, str]] = CLAIMS,
                 value: str = "top1", digits: int = 2) -> pd.DataFrame:
    """A row per comparison `A − B` present in `df`: paired seeds, both means, the mean
    difference, its 95 % interval and the verdict it supports (`stats.compare`)."""
    labels = set(df["label"])
    wanted = [(a, b) for a, b in comparisons if a in labels and b in labels]
    got = stats.compare(df[df["label"] != TEACHER_LABEL], wanted, value)
    rows = []
    for (a, b), (_, r) in zip(wanted, got.iterrows(), strict=True):
        rows.append({
            "comparison": r["comparison"],
            "seeds": int(r["seeds"]),
            "A": round(float(r[a]), digits),
            "B": round(float(r[b]), digits),
            "difference": round(float(r["difference"]), digits),
            "95% interval": interval_text(r["ci_low"], r["ci_high"], digits),
            "verdict": r["verdict"],
        })
    return pd.DataFrame(rows, columns=["comparison", "seeds", "A", "B", "difference",
                                       "95% interval", "verdict"])


def against(df: pd.DataFrame, reference: str, others: Iterable[str] | None = None,
            value: str = "top1", digits: int = 2) -> pd.DataFrame:
    """Every label of `df` (or `others`) against one `reference` label, paired by seed."""
    names = [x for x in (others or dict.fromkeys(df["label"])) if x not in (reference,
                                                                              TEACHER_LABEL)]
    return claims_table(df, [(x, reference) for x in names], value, digits)


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
        interval = row["95% interval"] or "no interval"
        out.append(f"{row['comparison']}: {row['difference']:+.2f} points over {row['seeds']} "
                   f"paired seeds, 95% interval {interval} → {row['verdict']}")
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

VERDICTS = ("supported", "contradicted", "unresolved", "too few seeds")


def metric_claims(per_seed: pd.DataFrame, metrics: Sequence[str],
                  directions: Mapping[str, bool] = DIRECTIONS,
                  comparisons: Sequence[tuple[str, str]] = ATTENTION_CLAIMS,
                  by: Sequence[str] = (), label: str = "method",
                  names: Mapping[str, str] | None = None, digits: int = 3) -> pd.DataFrame:
    """The claim "A is better than B" on each metric, paired by seed (`claims_table`).

    `per_seed` has a row per model and seed (and per `by` group, e.g. level): `label`,
    `seed`, `by` and the metric columns. Returns a row per `by` group, metric and comparison
    present: `by…, measure, better` (`higher`/`lower`, from `directions`), `comparison, seeds,
    A, B, difference` (A − B, mean over paired seeds), `95% interval` and `verdict`:
    `supported` when the interval lies on the better side of 0, `contradicted` on the worse
    side, `unresolved` when it holds 0, `too few seeds` without an interval (one seed).
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
                got = claims_table(part, [(a, b)], metric, digits)
                if got.empty:
                    continue
                row = got.iloc[0].to_dict()
                better, worse = (f"{a} > {b}", f"{a} < {b}")[:: 1 if higher else -1]
                row["verdict"] = {better: "supported", worse: "contradicted",
                                  "no difference resolved": "unresolved"
                                  }.get(row["verdict"], "too few seeds")
                rows.append({**dict(zip(by, key, strict=True)),
                             "measure": (names or {}).get(metric, metric),
                             "better": "higher" if higher else "lower", **row})
    return pd.DataFrame(rows, columns=[*by, "measure", "better", "comparison", "seeds", "A",
                                       "B", "difference", "95% interval", "verdict"])


def metric_sentences(table: pd.DataFrame, digits: int = 3) -> list[str]:
    """`metric_claims` in words, one line per row (its `by` columns named first)."""
    keys = [c for c in table.columns if c not in ("measure", "better", "comparison", "seeds",
                                                   "A", "B", "difference", "95% interval",
                                                   "verdict")]
    out = []
    for _, row in table.iterrows():
        where = ", ".join(f"{k} {row[k]}" for k in keys)
        interval = row["95% interval"] or "no interval"
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


def accuracy_claims(df: pd.DataFrame, kd_reference: str | None = None,
                    digits: int = 2) -> pd.DataFrame:
    """Every accuracy claim of the paper on one teacher→student pair, paired by seed.

    The paper says the DCT term transfers better than every alternative: DCT against the
    student alone and each other method alone (KD included), DCT + KD against each other
    method + KD, and that it complements KD: DCT + KD against DCT, and against KD alone at
    the + KD rows' own KD weight (`kd_reference`, the label of that row), so the pair differs
    in the DCT term only. Columns: `claim` then those of `metric_claims` (verdict
    supported / contradicted / unresolved / too few seeds).
    """
    labels = [x for x in dict.fromkeys(df["label"]) if x != TEACHER_LABEL]
    dct, dct_kd = method_label("dct"), method_label("dct+kd")
    named = [x for x in labels if _is_method(x)]
    alone = [x for x in named if not x.endswith(" + KD") and x != dct]
    plus = [x for x in named if x.endswith(" + KD") and x != dct_kd]
    wanted = [(f"{dct} beats every other method alone", dct, x) for x in alone]
    wanted += [(f"{dct_kd} beats every other method + KD", dct_kd, x) for x in plus]
    wanted.append((f"{dct} complements KD", dct_kd, dct))
    if kd_reference in labels:
        wanted.append((f"{dct} complements KD (equal KD weight)", dct_kd, kd_reference))
    claim = {f"{a} − {b}": c for c, a, b in wanted}
    table = metric_claims(df, ["top1"], comparisons=[(a, b) for _, a, b in wanted],
                          label="label", names={"top1": "Top-1 (%)"}, digits=digits)
    table.insert(0, "claim", [claim.get(x, "") for x in table["comparison"]])
    return table.drop(columns=["measure", "better"])


def _is_method(text: str) -> bool:
    try:
        method_name(text)
    except ValueError:
        return False
    return True


__all__ = ["CLAIMS", "accuracy_claims", "against", "claims_table", "interval_text", "kstudy_claims",
           "kstudy_estimates", "kstudy_trend",
           "relabel", "sentences"]
__all__ += ["ATTENTION_CLAIMS", "DIRECTIONS", "VERDICTS", "metric_claims",
            "metric_sentences", "verdict_counts"]
