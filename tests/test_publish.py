"""`dctkd publish` on a real (tiny) build in a temporary folder: what it copies and leaves out,
`BUILD.json`, an index whose links stay inside the folder, the shared stylesheet, the build
record `dctkd figures` writes, the staleness check, and one-line refusals of a build that is
partial, overridden or stale. The browser checks run where Chromium is installed (CI)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from publish_helpers import NAMES, PROFILE, make_build

from dctkd.cli import main
from dctkd.report import freshness
from dctkd.report.browser import check_site, missing_browser
from dctkd.report.build_record import read_record
from dctkd.report.notebook import project_root
from dctkd.report.publish import publish
from dctkd.report.published import published_profiles, read_build, stale_files

ROOT = project_root()
needs_browser = pytest.mark.skipif(missing_browser() is not None,
                                   reason=f"no headless browser here: {missing_browser()}")


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path]:
    return make_build(tmp_path_factory.mktemp("build"))


@pytest.fixture(scope="module")
def published(built, tmp_path_factory) -> Path:
    results, folder = built
    reports = tmp_path_factory.mktemp("reports")
    publish(PROFILE, results, reports, folder, browser=missing_browser() is None,
            log=lambda _: None)
    return reports


def test_the_build_records_its_code_machine_and_times(built):
    results, folder = built
    record = read_record(results)
    assert record["state"] == "ok" and record["notebooks"] == list(NAMES)
    notebooks = record["notebook_seconds"].values()
    # each time is rounded to 0.1 s, so their sum may pass the rounded wall by that much each
    assert record["wall_seconds"] + 0.05 * (len(notebooks) + 1) >= sum(notebooks) > 0
    assert set(record["notebook_seconds"]) == set(NAMES)
    assert record["runs"] == {"needed": 0, "trained": 0, "failed": 0}
    assert record["machine"]["cores"] >= 1 and isinstance(record["machine"]["cpu_bf16"], bool)
    now = freshness.dependency_hashes(PROFILE, ROOT, folder)
    assert record["dependencies"].keys() == now.keys()
    assert {f"notebooks/{n}.ipynb" for n in NAMES} <= now.keys()
    assert all(record["dependencies"][k] == now[k] for k in now if k.startswith("notebooks/"))
    assert record["commit"] is None or re.fullmatch(r"[0-9a-f]{40}", record["commit"])


def test_publish_copies_html_tables_and_png_only(published, built):
    results, _ = built
    out = published / PROFILE
    assert sorted(p.name for p in (out / "notebooks").iterdir()) == sorted(
        [f"{n}.html" for n in NAMES] + ["notebook.css"])
    assert sorted(p.name for p in (out / "figures").iterdir()) == [f"{n}_curve.png" for n in NAMES]
    assert sorted(p.name for p in (out / "tables").iterdir()) == sorted(
        f"{n}_numbers.{ext}" for n in NAMES for ext in ("csv", "md"))
    for name in NAMES:
        table = pd.read_csv(out / "tables" / f"{name}_numbers.csv")
        assert table.to_dict("list") == {"x": [1, 2], "y": [0.5, 0.25]}
        page = (out / "notebooks" / f"{name}.html").read_text()
        head = page.split("</head>")[0]
        assert "<style" not in head and 'href="notebook.css"' in head
        assert "data:image/png;base64," in page  # the figure the notebook showed
        assert len(page) < (results / "notebooks" / f"{name}.html").stat().st_size / 2
    assert "--jp-" in (out / "notebooks" / "notebook.css").read_text()


def test_the_index_links_only_what_is_published(published):
    page = (published / PROFILE / "index.html").read_text()
    links = re.findall(r"(?:href|src)='([^']+)'", page)
    assert {f"notebooks/{n}.html" for n in NAMES} <= set(links)
    assert not [link for link in links if link.endswith((".ipynb", ".pdf"))
                or "results/" in link]
    for link in links:
        if not link.startswith("#"):  # the contents' anchors
            assert (published / PROFILE / link).resolve().is_file(), link
    assert "Test report 01_line" in page and "A curve." in page


def test_build_json_names_commit_machine_precision_time_and_files(published, built):
    results, _ = built
    build = read_build(published / PROFILE)
    record = read_record(results)
    assert build["commit"] == record["commit"] and build["machine"] == record["machine"]
    assert build["build"]["wall_seconds"] == record["wall_seconds"] > 0
    assert build["runs"]["count"] == 0 and build["precision"] == {"autocast": {}}
    files = {p.relative_to(published / PROFILE).as_posix(): p.stat().st_size
             for p in (published / PROFILE).rglob("*") if p.is_file()}
    assert build["files"] == {k: v for k, v in files.items() if k != "BUILD.json"}
    assert published_profiles(published) == [PROFILE]
    overview = (published / "index.html").read_text()
    assert f"href='{PROFILE}/index.html'" in overview
    assert f"]({PROFILE}/index.html)" in (published / "README.md").read_text()


def _notebook_changes(published: Path, folder: Path) -> list[str]:
    """The stale notebooks (the library may change under a shared checkout meanwhile)."""
    return [c for c in stale_files(published / PROFILE, ROOT, folder)
            if c.startswith("notebooks/")]


def test_a_changed_notebook_makes_the_build_stale(built, published, tmp_path):
    _, folder = built
    assert _notebook_changes(published, folder) == []
    changed = tmp_path / "notebooks"
    shutil.copytree(folder, changed)
    nb = nbformat.read(changed / f"{NAMES[0]}.ipynb", as_version=4)
    nb.cells[-1].outputs = [nbformat.v4.new_output("stream", text="saved by a session")]
    nbformat.write(nb, changed / f"{NAMES[0]}.ipynb")
    assert _notebook_changes(published, changed) == []  # outputs count for nothing
    nb.cells[-1].source += "\nprint('one more line')"
    nbformat.write(nb, changed / f"{NAMES[0]}.ipynb")
    assert _notebook_changes(published, changed) == [f"notebooks/{NAMES[0]}.ipynb (changed)"]


def test_check_names_the_changed_files_and_the_commands(published, tmp_path, capsys):
    reports = tmp_path / "reports"
    shutil.copytree(published, reports)
    build = read_build(reports / PROFILE)
    build["dependencies"] = freshness.dependency_hashes(PROFILE, ROOT)  # the project's notebooks
    (reports / PROFILE / "BUILD.json").write_text(json.dumps(build))
    assert main(["publish", "--check", "--reports", str(reports)]) == 0
    assert "current" in capsys.readouterr().out
    build["dependencies"]["dctkd/dct.py"] = "0" * 16
    del build["dependencies"]["dctkd/attention.py"]
    (reports / PROFILE / "BUILD.json").write_text(json.dumps(build))
    assert main(["publish", "--check", "--reports", str(reports)]) == 1
    out = capsys.readouterr().out
    assert "stale, 2 file(s)" in out and "dctkd/dct.py (changed)" in out
    assert "dctkd/attention.py (added)" in out and f"make publish PROFILE={PROFILE}" in out


def test_what_counts_as_a_dependency():
    files = {p.relative_to(ROOT).as_posix() for p in freshness.dependency_files("full", ROOT)}
    assert {"dctkd/dct.py", "dctkd/losses/dct.py", "dctkd/report/profiles/full.yaml",
            "dctkd/report/profiles/quick.yaml", "notebooks/03_main_results.ipynb",
            "dctkd/report/paper/results.csv"} <= files  # full extends quick
    assert not files & set(freshness.NOT_CONTENT)
    assert not [f for f in files if f.startswith(("docs/", "tests/", "bench/"))
                or f.endswith(("smoke.yaml", "paper.yaml", ".md"))]
    for path in freshness.NOT_CONTENT:  # a renamed module must not slip out of the check
        assert (ROOT / path).is_file(), path
    assert freshness.ENVIRONMENT in freshness.dependency_hashes("quick", ROOT)


def test_a_file_since_found_to_change_no_number_does_not_make_a_build_stale():
    now = {"dctkd/dct.py": "a" * 16}
    recorded = {**now, freshness.NOT_CONTENT[0]: "b" * 16}  # counted when it was built
    assert freshness.changes(recorded, now) == []
    assert freshness.changes({**recorded, "dctkd/old.py": "c" * 16}, now) == [
        "dctkd/old.py (removed)"]


@pytest.mark.parametrize("case", ["partial", "overridden", "failed", "another", "stale"])
def test_refuses_a_build_it_cannot_vouch_for(case, built, tmp_path):
    results, folder = tmp_path / "results", tmp_path / "notebooks"
    for source, copy in zip(built, (results, folder), strict=True):
        shutil.copytree(source, copy)
    record = read_record(results)
    record.update({"partial": {"notebooks": [NAMES[0]]}, "overridden": {"overrides": ["s=1"]},
                   "failed": {"state": "failed"}, "another": {"profile": "quick"},
                   "stale": {}}[case])
    (results / "build.json").write_text(json.dumps(record))
    if case == "partial":  # as a build of the first notebook alone leaves it
        (results / "status" / f"{NAMES[1]}.json").unlink()
    if case == "stale":
        nb = nbformat.read(folder / f"{NAMES[1]}.ipynb", as_version=4)
        nb.cells[-1].source += "\n1 + 1"
        nbformat.write(nb, folder / f"{NAMES[1]}.ipynb")
    expected = {"partial": f"notebook {NAMES[1]} was not executed by its last build",
                "overridden": "was built with --set s=1",
                "failed": "its last build did not finish well (state: failed)",
                "another": "holds a build of profile 'quick'; expected one of 'smoke'",
                "stale": "is stale: 1 file(s) its numbers depend on changed since it was built "
                         f"(notebooks/{NAMES[1]}.ipynb (changed))"}[case]
    with pytest.raises(ValueError, match=re.escape(expected)):
        publish(PROFILE, results, tmp_path / "reports", folder, browser=False)
    assert not (tmp_path / "reports" / PROFILE).exists()
    if case == "stale":
        out = publish(PROFILE, results, tmp_path / "reports", folder, browser=False,
                      allow_stale=True, log=lambda _: None)
        assert read_build(out)["published_stale"] is True


def test_a_results_folder_without_a_build_record_is_one_line(tmp_path, capsys):
    assert main(["publish", "--profile", "smoke", "--results", str(tmp_path), "--reports",
                 str(tmp_path / "r"), "--no-browser"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"dctkd publish: error: no build record at {tmp_path / 'build.json'}; "
                   "expected the one `dctkd figures` writes at the end of a build (build the "
                   "profile first)")


@needs_browser
def test_published_pages_open_in_the_browser_with_a_screenshot(published):
    png = (published / PROFILE / "index.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    pages = tuple(f"{PROFILE}/notebooks/{n}.html" for n in NAMES)
    assert check_site(published, f"{PROFILE}/index.html", pages) == []
    assert check_site(published, "index.html") == []


@needs_browser
def test_the_browser_check_finds_broken_links_and_images(published, tmp_path):
    site = tmp_path / "site"
    shutil.copytree(published / PROFILE, site / PROFILE)
    index = site / PROFILE / "index.html"
    index.write_text(index.read_text() + "<a href='missing.html'>x</a>"
                     "<a href='../../results/smoke/index.html'>y</a>"
                     "<a href='tables/none.csv'>z</a><img src='figures/none.png'>")
    (site / "index.html").write_text("<title>t</title>")
    problems = check_site(site, f"{PROFILE}/index.html")
    assert any(f"page {PROFILE}/missing.html gives HTTP 404" in p for p in problems), problems
    assert any("results/smoke/index.html leaves the published folder" in p for p in problems)
    assert any("tables/none.csv gives HTTP 404" in p for p in problems)
    assert any("image figures/none.png does not load" in p for p in problems)
