"""The README's account of each published build is written from that build's tables, and
says nothing else."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from dctkd.report import quoted
from dctkd.report.notebook import project_root
from dctkd.report.published import default_reports, published_profiles


def _build(folder: Path, budget_gains=(0.5, -1.0)) -> Path:
    tables = folder / "tables"
    tables.mkdir(parents=True)
    pd.DataFrame({"method": ["Teacher", "Baseline", "DCT", "AT"], "seeds": [1, 6, 6, 6],
                  "Top-1 (val-selected)": ["90.75", "72.50 ± 1.20", "80.00 ± 0.50",
                                           "77.00 ± 0.90"]}).to_csv(
        tables / "main_scenes.csv", index=False)
    claims = pd.DataFrame([
        {"claim": "x", "comparison": "DCT − AT", "seeds": 6, "difference": 3.0, "ci_low": 2.1,
         "ci_high": 3.9, "margin": 2.0, "p": 0.0004, "primary": True, "verdict": "supported"},
        {"claim": "y", "comparison": "DCT − Baseline", "seeds": 6, "difference": 7.5,
         "ci_low": 6.0, "ci_high": 9.0, "margin": 2.0, "p": 0.0001, "primary": False,
         "verdict": "supported"}])
    claims.to_csv(tables / "main_scenes_resnet20_resnet8_claims.csv", index=False)
    pd.DataFrame({"method": ["Teacher", "DCT"], "seeds": [1, 3], "gain": list(budget_gains),
                  "verdict": ["converged", "converged"]}).to_csv(
        tables / "budget_test.csv", index=False)
    return folder


def test_the_account_is_written_from_the_tables(tmp_path):
    lines = quoted.account(_build(tmp_path / "quick"))
    assert lines[0] == ("- Teacher 90.75 %, student alone 72.50 % over 6 seeds: 18.25 points "
                        "below its teacher.")
    assert lines[1].startswith("- DCT − AT: +3.00 points, 95 % interval [+2.10, +3.90] over 6 "
                               "seeds (margin ±2, Holm-adjusted p = 0.0004) → **supported**")
    assert len(lines) == 3 and "DCT − Baseline" not in "".join(lines)  # primary rows only
    assert lines[2] == ("- Budget test (twice the epochs, 3 seeds): all 2 rows converged "
                        "(gains -1.00 to +0.50 points).")


def _layout_build(folder: Path) -> Path:
    tables = folder / "tables"
    tables.mkdir(parents=True)
    pd.DataFrame({"rule": ["presence", "layout"], "k": [3, 3],
                  "kinds-only ceiling (%)": [100.0, 24.6],
                  "kinds+positions ceiling (%)": [100.0, 100.0]}).to_csv(
        tables / "layout_design.csv", index=False)
    pd.DataFrame({"rule": ["presence", "layout"], "k": [3, 3], "teacher": [86.8, 88.6],
                  "Baseline": [46.0, 22.4], "AT": [62.9, 85.0],
                  "room": [True, False]}).to_csv(tables / "layout_room.csv", index=False)
    row = {"seeds": 7, "ci_low": -20.0, "ci_high": 1.5, "margin": 2.0, "p": 0.08,
           "verdict": "unresolved"}
    pd.DataFrame([
        {**row, "k": 3, "comparison": "(DCT − AT)_layout − (DCT − AT)_presence",
         "difference": -9.25, "primary": True},
        {**row, "k": 3, "comparison": "(DCT − KD)_layout − (DCT − KD)_presence",
         "difference": -1.0, "primary": False}]).to_csv(
        tables / "layout_interaction.csv", index=False)
    pd.DataFrame([{**row, "rule": "presence", "k": 3, "comparison": "DCT − AT",
                   "difference": 6.0, "primary": False},
                  {**row, "rule": "layout", "k": 3, "comparison": "DCT − AT",
                   "difference": -3.25, "primary": False},
                  {**row, "rule": "layout", "k": 3, "comparison": "DCT − Baseline",
                   "difference": 40.0, "primary": False}]).to_csv(
        tables / "layout_claims.csv", index=False)
    pd.DataFrame({"rule": ["presence", "layout"], "k": [3, 3], "method": ["AT", "AT"],
                  "seeds": [3, 3], "gain": [0.5, 4.0],
                  "verdict": ["converged", "not converged"]}).to_csv(
        tables / "layout_budget.csv", index=False)
    return folder


def test_the_layout_study_is_accounted_for_from_its_own_tables(tmp_path):
    lines = quoted.account(_layout_build(tmp_path / "layout"))
    assert lines[0] == ("- presence, k = 3: kinds-only ceiling 100.0 %, kinds+positions "
                        "100.0 %; val Top-1 teacher 86.80, student alone 46.00, AT 62.90 "
                        "(room under the 8-point rule).")
    assert lines[1].endswith("AT 85.00 (no room under the 8-point rule).")
    assert lines[2] == ("- (DCT − AT)_layout − (DCT − AT)_presence, k = 3: -9.25 points, 95 % "
                        "interval [-20.00, +1.50] over 7 seeds (margin ±2, Holm-adjusted p = "
                        "0.08) → **unresolved**.")
    assert lines[3].startswith("- DCT − AT: presence (k = 3) +6.00 points")
    assert "; layout (k = 3) -3.25 points" in lines[3] and "Holm" not in lines[3]
    assert lines[4] == ("- Budget test (twice the epochs, 3 seeds): 1 of 2 rows converged; "
                        "AT (layout) not converged (+4.00).")
    assert len(lines) == 5  # DCT − Baseline and the exploratory interaction are not quoted


def test_a_block_is_rewritten_in_place_and_only_its_own():
    text = ("intro\n<!-- quoted: quick -->\nold\n<!-- /quoted -->\nmiddle\n"
            "<!-- quoted: full -->\nkept\n<!-- /quoted -->\n")
    new = quoted.rewrite(text, "quick", ["- a", "- b"])
    assert quoted.blocks(new) == {"quick": ["- a", "- b"], "full": ["kept"]}
    assert new.startswith("intro\n") and "middle\n" in new
    with pytest.raises(ValueError, match="no '<!-- quoted: layout -->' block"):
        quoted.rewrite(text, "layout", [])


@pytest.mark.parametrize("profile", published_profiles(default_reports()))
def test_the_readme_quotes_each_published_build_as_its_files_say(profile):
    said = quoted.blocks((project_root() / "README.md").read_text(encoding="utf-8"))
    assert profile in said, f"the README gives no account of the published {profile} build"
    assert said[profile] == quoted.account(default_reports() / profile), (
        f"the README's numbers for {profile} are not its published build's: make publish "
        f"PROFILE={profile} rewrites them")
