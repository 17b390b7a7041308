"""The published builds under `reports/`: `quick`, `full` and `layout` are there; each holds
the executed HTML of every notebook its profile runs, tables that parse and PNG figures, lists
its files truly in `BUILD.json`, is current with the code its numbers depend on (or rebuilt in
the same change), and opens in a real browser with every link and image working; all of
`reports/` stays under 30 MB."""

from __future__ import annotations

import pandas as pd
import pytest

from dctkd.report.browser import check_site, missing_browser
from dctkd.report.notebooks import for_profile, list_notebooks
from dctkd.report.profile import load_profile
from dctkd.report.published import (
    BUILD,
    default_reports,
    published_profiles,
    read_build,
    stale_files,
)

REPORTS = default_reports()
REQUIRED = ("quick", "full", "layout")  # the profiles the README presents as built and published
PUBLISHED = published_profiles(REPORTS)
LIMIT_MB = 30


def _notebooks(profile: str) -> list[str]:
    return [nb.stem for nb in for_profile(load_profile(profile), list_notebooks(),
                                          log=lambda _: None)]


@pytest.mark.parametrize("profile", REQUIRED)
def test_the_presented_profiles_are_published(profile):
    assert profile in PUBLISHED, (f"no published {profile} build in {REPORTS}: make figures "
                                  f"PROFILE={profile} && make publish PROFILE={profile}")


@pytest.mark.parametrize("profile", PUBLISHED)
def test_every_notebook_of_the_profile_is_published_as_html(profile):
    folder = REPORTS / profile
    for name in _notebooks(profile):
        page = folder / "notebooks" / f"{name}.html"
        assert page.is_file(), f"{page} missing: republish (make publish PROFILE={profile})"
        assert "jp-Notebook" in page.read_text(encoding="utf-8")


@pytest.mark.parametrize("profile", PUBLISHED)
def test_every_table_parses_and_figures_are_png(profile):
    folder = REPORTS / profile
    tables = sorted((folder / "tables").glob("*.csv"))
    assert tables
    for csv in tables:
        assert len(pd.read_csv(csv).columns), csv  # a table with no rows keeps its header
        assert csv.with_suffix(".md").is_file()
    assert {p.suffix for p in (folder / "figures").iterdir()} == {".png"}


@pytest.mark.parametrize("profile", PUBLISHED)
def test_build_json_lists_exactly_the_published_files(profile):
    folder = REPORTS / profile
    build = read_build(folder)
    on_disk = {p.relative_to(folder).as_posix(): p.stat().st_size
               for p in folder.rglob("*") if p.is_file() and p.name != BUILD}
    assert build["files"] == on_disk
    assert build["profile"] == profile and build["build"]["state"] == "ok"
    assert not build.get("published_stale"), "published with --allow-stale: rebuild it"


@pytest.mark.parametrize("profile", PUBLISHED)
def test_the_published_build_is_current_with_the_code(profile):
    changed = stale_files(REPORTS / profile)
    assert not changed, (f"reports/{profile} is stale: {len(changed)} file(s) its numbers "
                         f"depend on changed since its build ({', '.join(changed[:5])}); "
                         f"make figures PROFILE={profile} && make publish PROFILE={profile}")


def test_reports_stay_small():
    size = sum(p.stat().st_size for p in REPORTS.rglob("*") if p.is_file())
    assert size <= LIMIT_MB * 2**20, f"reports/ holds {size / 2**20:.1f} MB"


@pytest.mark.skipif(missing_browser() is not None,
                    reason=f"no headless browser here: {missing_browser()}")
@pytest.mark.parametrize("profile", PUBLISHED)
def test_the_published_pages_work_in_a_browser(profile):
    pages = tuple(f"{profile}/notebooks/{name}.html" for name in _notebooks(profile))
    assert check_site(REPORTS, f"{profile}/index.html", pages) == []
    assert check_site(REPORTS, "index.html") == []
    assert (REPORTS / profile / "index.png").read_bytes()[:4] == b"\x89PNG"
