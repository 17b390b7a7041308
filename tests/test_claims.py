"""The report's verdicts: a difference resolved, a tie inside the margin, multiplicity over the
primary endpoints, and how many seeds a comparison needs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dctkd.analysis import stats
from dctkd.report import claims

NOISE = np.array([-1.2, 0.4, 0.9, -0.3, 0.6, -0.8, 0.2, 0.1])


def _runs(means: dict[str, float], spread: dict[str, float] | None = None,
          seeds: int = 8) -> pd.DataFrame:
    """A row per label and seed; `spread` scales the seed noise each label adds."""
    rows = []
    for label, mean in means.items():
        for seed in range(seeds):
            noise = (spread or {}).get(label, 0.0) * NOISE[seed]
            rows.append({"label": label, "seed": seed, "top1": mean + noise,
                         "val_top1": mean + noise + 0.5})
    return pd.DataFrame(rows)


def test_every_claims_table_has_the_declared_columns():
    table = claims.claims_table(_runs({"DCT": 80, "AT": 75}, {"AT": 1.0}), [("DCT", "AT")])
    assert list(table.columns) == claims.COLUMNS
    row = table.iloc[0]
    assert row["margin"] == claims.MARGIN and not row["primary"] and row["seeds"] == 8
    assert row["ci_low"] < row["difference"] < row["ci_high"] and row["verdict"] == "supported"


@pytest.mark.parametrize("gap, spread, expected", [
    (5.0, 1.0, "supported"),
    (-5.0, 1.0, "contradicted"),
    (0.3, 1.0, "equivalent"),     # 90 % interval inside ±2 points
    (0.3, 6.0, "unresolved"),     # too noisy to say either
])
def test_a_verdict_reads_both_tests(gap, spread, expected):
    df = _runs({"DCT": 80 + gap, "AT": 80}, {"AT": spread})
    assert claims.claims_table(df, [("DCT", "AT")])["verdict"].iloc[0] == expected


def test_equivalence_is_the_ninety_percent_interval_inside_the_margin():
    diffs = 0.3 - 1.0 * NOISE
    got = stats.paired_test(diffs, margin=2.0)
    mean, low, high = stats.interval(diffs, level=0.90)
    assert (got["p_equivalence"] < 0.05) == (-2.0 < low and high < 2.0)
    assert got["p_equivalence"] < 0.05 < got["p"]
    narrower = stats.paired_test(diffs, margin=abs(high) - 0.01)
    assert narrower["p_equivalence"] > 0.05


def test_holm_adjusts_only_the_primary_family():
    df = _runs({"DCT": 81.0, "AT": 80.0, "KD": 80.0, "PKT": 80.0}, {"AT": 1.0, "KD": 3.0})
    pairs = [("DCT", "AT"), ("DCT", "KD"), ("DCT", "PKT")]
    alone = claims.claims_table(df, pairs).set_index("comparison")
    family = claims.claims_table(df, pairs, primary=pairs[:2]).set_index("comparison")
    raw = alone.loc["DCT − AT", "p"]
    # Holm: the smaller of the two primary p-values is doubled; the exploratory row keeps its.
    assert family.loc["DCT − AT", "p"] == pytest.approx(min(1.0, 2 * raw), abs=1e-4)
    assert family.loc["DCT − PKT", "p"] == alone.loc["DCT − PKT", "p"]
    assert list(family["primary"]) == [True, True, False]


def test_seeds_needed_follow_the_spread_of_the_differences():
    assert stats.seeds_needed(1.0, 2.0) == 4  # t(3) · 1 / 2 = 1.59
    assert stats.seeds_needed(1.9, 2.0) == 6
    assert stats.seeds_needed(0.0, 2.0) == 2 and stats.seeds_needed(float("nan"), 2.0) == 0
    table = claims.claims_table(_runs({"DCT": 81, "AT": 80}, {"AT": 3.0}), [("DCT", "AT")])
    sd = float(np.std(3.0 * NOISE, ddof=1))
    assert table["seeds needed"].iloc[0] == stats.seeds_needed(sd, claims.MARGIN)


def test_the_best_other_method_is_chosen_on_val_not_test():
    df = _runs({"Baseline": 60, "AT": 75, "KD": 80, "PKT": 79, "DCT": 78, "DCT + KD": 85})
    pkt = df["label"] == "PKT"
    df.loc[pkt, "val_top1"] += 5  # PKT leads on val, KD on test
    assert claims.best_other(df, exclude=["DCT"]) == "PKT"
    pairs = claims.primary_endpoints(df, [("DCT", "KD"), ("DCT", claims.BEST), ("DCT", "KD")])
    assert pairs == [("DCT", "KD"), ("DCT", "PKT")]
    found = claims.accuracy_claims(df, primary=[("DCT", "KD"), ("DCT", claims.BEST)])
    assert list(found["comparison"][:2]) == ["DCT − KD", "DCT − PKT"]
    assert found["primary"].tolist()[:3] == [True, True, False]
    assert "best other method alone (chosen on val)" in found["claim"].iloc[1]
