"""The attention and embedding claims (`claims.metric_claims`): paired by seed, oriented by
each metric's direction, and readable with one seed (no interval, no crash)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dctkd.report import claims, study


def _per_seed(seeds=(0, 1, 2)) -> pd.DataFrame:
    """A row per method, seed and level: DCT's SSIM beats AT's by 0.1 ± 0.01 on every seed,
    its distance to the teacher is larger than AT's (worse), and against the student alone
    the seeds disagree (+0.2, −0.2, 0)."""
    rows = []
    for level in (0, 1):
        for i, seed in enumerate(seeds):
            jitter = 0.01 * i
            rows += [
                {"method": "DCT", "seed": seed, "level": level, "ssim": 0.6 + jitter,
                 "distance": 1.0 + jitter},
                {"method": "AT", "seed": seed, "level": level, "ssim": 0.5 + 2 * jitter,
                 "distance": 0.5},
                {"method": "Baseline", "seed": seed, "level": level,
                 "ssim": 0.6 + jitter - (0.2, -0.2, 0.0)[i], "distance": 1.0 + jitter},
            ]
    rows.append({"method": "Teacher", "seed": 0, "level": 0, "ssim": np.nan,
                 "distance": np.nan})
    return pd.DataFrame(rows)


DIRECTIONS = {"ssim": True, "distance": False}
COMPARISONS = [("DCT", "AT"), ("DCT", "Baseline"), ("DCT", "KD")]


def test_verdicts_follow_each_metrics_direction():
    table = claims.metric_claims(_per_seed(), ["ssim", "distance"], DIRECTIONS, COMPARISONS,
                                 by=("level",))
    assert len(table) == 2 * 2 * 2  # levels x metrics x comparisons present (no KD runs)
    got = table.set_index(["level", "measure", "comparison"])
    for level in (0, 1):
        ssim = got.loc[(level, "ssim", "DCT − AT")]
        assert ssim["better"] == "higher" and ssim["verdict"] == "supported"
        assert ssim["seeds"] == 3 and np.isclose(ssim["difference"], 0.09)
        assert 0 < ssim["ci_low"] < 0.09 < ssim["ci_high"] and np.isnan(ssim["margin"])
        far = got.loc[(level, "distance", "DCT − AT")]  # larger distance: worse, not better
        assert far["better"] == "lower" and far["verdict"] == "contradicted"
        assert far["difference"] > 0
        assert got.loc[(level, "ssim", "DCT − Baseline"), "verdict"] == "unresolved"
    # the same data with the directions swapped turn supported into contradicted
    flipped = claims.metric_claims(_per_seed(), ["ssim", "distance"],
                                   {"ssim": False, "distance": True}, COMPARISONS,
                                   by=("level",)).set_index(["level", "measure", "comparison"])
    assert flipped.loc[(0, "ssim", "DCT − AT"), "verdict"] == "contradicted"
    assert flipped.loc[(0, "distance", "DCT − AT"), "verdict"] == "supported"
    counts = claims.verdict_counts(table).set_index("comparison")
    assert counts.loc["DCT − AT"].to_dict() == {"supported": 2, "contradicted": 2,
                                                "equivalent": 0, "unresolved": 0,
                                                "too few seeds": 0}
    words = claims.metric_sentences(table)
    assert len(words) == len(table)
    assert words[0].startswith("ssim (level 0), DCT − AT (higher is better): +0.090 over 3")
    assert words[0].endswith("→ supported")


def test_one_seed_gives_no_interval_and_says_so():
    table = claims.metric_claims(_per_seed(seeds=(0,)), ["ssim"], DIRECTIONS, COMPARISONS)
    assert set(table["verdict"]) == {"too few seeds"} and table["ci_low"].isna().all()
    assert (table["seeds"] == 1).all() and "no interval" in claims.metric_sentences(table)[0]
    assert claims.verdict_counts(table)["too few seeds"].tolist() == [1, 1]
    empty = claims.metric_claims(_per_seed(), ["ssim"], DIRECTIONS, [("DCT", "KD")])
    assert empty.empty and claims.verdict_counts(empty).empty


def test_unknown_direction_is_an_error_not_a_guess():
    with pytest.raises(KeyError):
        claims.metric_claims(_per_seed(), ["distance"], {"ssim": True}, COMPARISONS)


def test_overlap_and_silhouette_claims_from_the_study_frames():
    per_seed = _per_seed().drop(columns="distance")
    per_seed["n"] = 10
    table = study.overlap_claims(per_seed, [("DCT", "AT")])
    assert table["level"].tolist() == [1, 2]  # counted from 1, as in the overlap table
    assert table["measure"].tolist() == ["SSIM", "SSIM"]
    assert set(table["verdict"]) == {"supported"}
    sil = per_seed[per_seed["level"] == 0].rename(columns={"ssim": "silhouette"})
    got = study.silhouette_claims(sil)
    assert got["comparison"].tolist() == ["DCT − AT", "DCT − Baseline"]
    assert got["verdict"].tolist() == ["supported", "unresolved"]
