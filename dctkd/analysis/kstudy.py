"""The k-study's statistics: does DCT's advantage grow with the number of objects a class needs?

Inputs are long frames with `k, method, seed` and one column per quantity (Top-1 and the
overlap measures); gains are paired by seed, so the seed-to-seed spread shared by both
methods cancels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from .overlap import MEASURE_NAMES, MEASURES


def kstudy_gains(
    frame: pd.DataFrame,
    quantities: Sequence[str] = ("top1", *MEASURES),
    method: str = "DCT",
    against: Sequence[str] = ("AT", "Baseline"),
) -> pd.DataFrame:
    """Gain of `method` over each of `against`, per k and seed (paired by seed), long form.

    Columns `k, seed, comparison ("DCT − AT"), quantity, gain`. Seeds missing from either
    side are left out; no common seed for some k is an error.
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


__all__ = ["accuracy_vs_k", "kstudy_gains"]
