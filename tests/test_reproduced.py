"""A fresh build's primary endpoints set beside the published build's."""

from __future__ import annotations

import pandas as pd

from dctkd.report import reproduced


def _claims(folder, rows):
    folder.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(rows, columns=["comparison", "seeds", "difference", "ci_low", "ci_high",
                                        "primary", "verdict"])
    frame.to_csv(folder / "main_scenes_resnet20_resnet8_claims.csv", index=False)
    pd.DataFrame({"x": [1]}).to_csv(folder / "main_scenes.csv", index=False)  # not a claims table


def test_a_primary_endpoint_reproduces_inside_the_published_interval(tmp_path):
    _claims(tmp_path / "published", [
        ("DCT − AT", 8, 2.6, 0.6, 4.6, True, "supported"),
        ("DCT − KD", 8, -11.6, -13.2, -10.0, True, "contradicted"),
        ("DCT − PKT", 8, -11.6, -12.6, -10.6, False, "contradicted"),
    ])
    _claims(tmp_path / "fresh", [
        ("DCT − AT", 8, 1.1, -0.5, 2.7, True, "equivalent"),
        ("DCT − KD", 8, -9.1, -10.2, -8.0, True, "contradicted"),
        ("DCT − PKT", 8, 0.0, -1.0, 1.0, False, "equivalent"),
    ])
    got = reproduced.compare(tmp_path / "fresh", tmp_path / "published").set_index("comparison")
    assert list(got.index) == ["DCT − AT", "DCT − KD"]  # exploratory rows are not compared
    assert bool(got.loc["DCT − AT", "reproduced"]) and not got.loc["DCT − KD", "reproduced"]
    said = []
    reproduced.report(tmp_path / "fresh_build", tmp_path / "nothing", said.append)
    assert said == []
    (tmp_path / "build").mkdir()
    (tmp_path / "fresh").rename(tmp_path / "build" / "tables")
    (tmp_path / "pub").mkdir()
    (tmp_path / "published").rename(tmp_path / "pub" / "tables")
    reproduced.report(tmp_path / "build", tmp_path / "pub", said.append)
    assert said[1].endswith("→ reproduced") and "published +2.60 [+0.60, +4.60]" in said[1]
    assert said[2].endswith("→ NOT reproduced")
