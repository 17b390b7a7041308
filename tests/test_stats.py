"""Paired comparisons over seeds, their intervals, trends and the plateau statistic."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dctkd.analysis import stats


def test_interval_is_the_student_t_interval_of_the_mean():
    mean, low, high = stats.interval([1.0, 2.0, 3.0])
    assert mean == 2.0
    assert high - mean == pytest.approx(4.302653 * 1.0 / np.sqrt(3), rel=1e-6)
    assert low == pytest.approx(2 * mean - high)
    assert np.isnan(stats.interval([5.0])[1]) and np.isnan(stats.interval([])[0])


def _runs() -> pd.DataFrame:
    rows = []
    for seed, (a, b, c) in enumerate([(80, 70, 81), (85, 74, 84), (78, 69, 80)]):
        rows += [{"label": "DCT", "seed": seed, "top1": a},
                 {"label": "AT", "seed": seed, "top1": b},
                 {"label": "KD", "seed": seed, "top1": c}]
    rows.append({"label": "AT", "seed": 9, "top1": 0.0})  # unpaired: left out
    return pd.DataFrame(rows)


def test_paired_differences_align_seeds_and_read_the_interval():
    diffs = stats.paired(_runs(), "DCT", "AT")
    assert diffs["seed"].tolist() == [0, 1, 2] and diffs["difference"].tolist() == [10, 11, 9]
    table = stats.compare(_runs(), [("DCT", "AT"), ("DCT", "KD")]).set_index("comparison")
    assert table.loc["DCT − AT", "difference"] == 10 and table.loc["DCT − AT", "seeds"] == 3
    assert table.loc["DCT − AT", "verdict"] == "DCT > AT"
    assert table.loc["DCT − KD", "verdict"] == "no difference resolved"
    assert table.loc["DCT − KD", "ci_low"] < 0 < table.loc["DCT − KD", "ci_high"]
    one = stats.compare(_runs()[_runs()["seed"] == 0], [("DCT", "AT")])
    assert one["verdict"].iloc[0] == "one seed: no interval"


def test_trend_matches_least_squares_and_widens_with_noise():
    x = [1, 1, 2, 2, 3, 3, 4, 4]
    y = [0.5, 1.5, 2.0, 3.0, 2.5, 3.5, 4.0, 5.0]
    got = stats.trend(x, y)
    assert got["slope"] == pytest.approx(np.polyfit(x, y, 1)[0])
    assert got["ci_low"] < got["slope"] < got["ci_high"] and got["points"] == 8
    assert np.isnan(stats.trend([1, 2], [3, 4])["slope"])
