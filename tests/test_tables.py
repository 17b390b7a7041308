"""Table building: mean ± std over seeds and the published numbers beside the reproduced ones
(the `paper` paths that the smoke notebooks never reach)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dctkd.report import grid as E
from dctkd.report import tables
from dctkd.report.profile import load_profile


def _frame(cells) -> pd.DataFrame:
    """Cell rows with made-up metrics: top1 = 40 + seed, so mean/std are known."""
    rows = []
    for c in cells:
        row = c.row()
        for suffix in ("", "_last"):
            row["top1" + suffix] = 40.0 + c.seed
            row["top5" + suffix] = 70.0
            row["mca" + suffix] = 10.0 + 2 * c.seed
        rows.append(row)
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def paper():
    return load_profile("paper", data="/datasets")


def test_mean_std_formats_seeds():
    assert tables.mean_std([40.0, 41.0, 42.0]) == "41.00 ± 1.00"
    assert tables.mean_std([40.0]) == "40.00"
    assert tables.mean_std([]) == ""
    assert tables.mean_std([np.nan, 3.0]) == "3.00"


def test_main_table_puts_published_top1_beside_each_pair(paper):
    df = _frame(E.main(paper))
    order = tables.label_order(paper.main_methods())
    table = tables.main_table(df, "ade20k", order, published="ADE20K").set_index("method")
    col = "resnet50 → resnet18: published Top-1"
    assert table.loc["AT", col] == "45.43"
    assert table.loc["DCT + KD", col] == "54.25"
    assert table.loc["ReviewKD", col] == ""  # not in the README tables
    assert table.loc["DCT", "resnet50 → resnet18: Top-1 (val-selected)"] == "41.00 ± 1.00"
    assert table.loc["Teacher", "seeds"] == 1 and table.loc["DCT", "seeds"] == 3
    assert list(table.index[:3]) == ["Teacher", "Baseline", "AT"]


def test_alpha_table_carries_the_published_curve(paper):
    df = _frame(E.alpha(paper))
    table = tables.alpha_table(df, published=True).set_index("alpha")
    assert table.loc["0.1", "published Top-1"] == "43.73"
    assert table.loc["baseline", "published MCA"] == "10.24"
    assert table.loc["3", "Top-1"] == "40.00"
    frame = tables.alpha_frame(df)
    assert sorted(frame["alpha"].unique())[:2] == [0.1, 0.2]


def test_models_table_shows_every_published_teacher_value(paper):
    df = _frame(E.teachers(paper) + E.baselines(paper))
    names = {k: paper.published(k) for k in paper.datasets}
    table = tables.models_table(df, names)
    sun_r50 = table[(table.dataset == "sun397") & (table.model == "resnet50")]
    assert sun_r50["published Top-1"].iloc[0] == "61.69 / 51.59"
    mit_r34 = table[(table.dataset == "mit67") & (table.model == "resnet34")
                    & (table.role == "student alone")]
    assert mit_r34["published Top-1"].iloc[0] == "38.84"
    assert mit_r34["seeds"].iloc[0] == 3


def test_design_and_sensitivity_tables(paper):
    df = _frame(E.design(paper))
    design = tables.design_table(df, E.DESIGN_GROUPS)
    assert {"transform", "pred_guide", "levels", "reference"} <= set(design["ablation"])
    assert "AT (spatial)" in set(design["setting"])
    df = _frame(E.baseline_alpha(paper))
    alphas = {m: E.default_alpha(m) for m in paper.family("baseline_alpha")["methods"]}
    part = tables.sensitivity_frame(df, alphas)
    at = part[(part.label == "AT") & (part.value == 0.5)]
    assert at["alpha"].iloc[0] == pytest.approx(1500.0)
    table = tables.sensitivity_table(part)
    assert set(table["method"]) == {"AT", "PKT", "VID", "CRD", "ReviewKD"}
    assert "+0%" in table.columns and "+100%" in table.columns
