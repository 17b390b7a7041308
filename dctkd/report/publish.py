"""`dctkd publish`: a finished build, made reviewable without running anything.

From `results/<profile>/` it writes `reports/<profile>/`: each executed notebook as HTML (its
stylesheet shared in `notebooks/notebook.css` instead of repeated in every page, which keeps
the folder small), the tables (CSV + Markdown), the figures (PNG), an `index.html` whose links
all stay inside the folder, a screenshot of that index (`index.png`) and `BUILD.json`: the
commit, the machine, the precision the runs trained in, the wall and training time and the
file list. The new folder is written beside the old one, checked in the browser, and only
then swapped in, so a failed publication leaves the previous one as it was.

Only a whole, successful, current build is published: the last `dctkd figures` of the
profile must have executed each of the profile's notebooks with the profile as it is (no
`--set`), and the code its numbers depend on must not have changed since (`freshness`).
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import shutil
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from dctkd.files import write_json, write_text

from .build_record import read_record
from .freshness import changes, dependency_hashes
from .index import index_page, read_status
from .notebook import project_root
from .published import BUILD, check, default_reports, summary, write_overview

KEEP = (".png", ".csv", ".md")  # what a published build holds of the figures and tables
CSS = "notebook.css"
_STYLE = re.compile(r"<style[^>]*>(.*?)</style>", re.S)


def notebook_html(executed: Path) -> tuple[str, str]:
    """`(page, css)`: the executed notebook as nbconvert's HTML with its inline stylesheets
    taken out of `<head>` into `css`, linked as `notebook.css` instead."""
    import nbformat
    from nbconvert import HTMLExporter

    page, _ = HTMLExporter().from_notebook_node(nbformat.read(executed, as_version=4))
    head, sep, body = page.partition("</head>")
    css = "\n".join(_STYLE.findall(head))
    head = _STYLE.sub("", head) + f'<link rel="stylesheet" href="{CSS}">\n'
    return head + sep + body, css


def _runs(profile, notebooks: list[Path], store: Path) -> dict:
    """What the run files of the notebooks' runs say: precision, commits, training time."""
    from .build import notebook_runs

    ids = sorted({c.run_id for nb in notebooks for c in notebook_runs(profile, nb)})
    autocast, commits, seconds, missing = Counter(), Counter(), 0.0, []
    for rid in ids:
        try:
            prov = json.loads((store / rid / "provenance.json").read_text())
            final = json.loads((store / rid / "final.json").read_text())
        except (OSError, ValueError):
            missing.append(rid)
            continue
        autocast[str(prov.get("autocast", "unrecorded"))] += 1
        commits[str(prov.get("git_commit"))[:12]] += 1
        seconds += float(final.get("train_seconds") or 0.0)
    if missing:
        raise FileNotFoundError(f"{len(missing)} of the {len(ids)} runs the notebooks read are "
                                f"not finished in {store} (first: {missing[0]}); build the "
                                "profile again before publishing it")
    return {"count": len(ids), "autocast": dict(autocast), "commits": dict(commits),
            "train_seconds": round(seconds, 1)}


def _check_build(record: dict, results: Path, notebooks: list[Path]) -> None:
    """A one-line error unless the last build executed every notebook of the profile, as is."""
    if record.get("state") != "ok":
        raise ValueError(f"{results}: its last build did not finish well (state: "
                         f"{record.get('state')}); expected a whole, successful build")
    if record.get("overrides"):
        raise ValueError(f"{results} was built with --set {' '.join(record['overrides'])}; "
                         "publish a build of the profile as it is")
    status = read_status(results)
    for nb in notebooks:
        if nb.stem not in record.get("notebooks", []) or status.get(nb.stem) != "ok":
            raise ValueError(f"{results}: notebook {nb.stem} was not executed by its last build "
                             f"(state: {status.get(nb.stem, 'never run')}); expected a whole "
                             "build of the profile (dctkd figures --profile "
                             f"{record['profile']})")
        executed = results / "notebooks" / f"{nb.stem}.ipynb"
        if not executed.is_file():
            raise FileNotFoundError(f"no executed notebook {executed}; build the profile again")


def _copy_outputs(manifests: dict[str, dict], results: Path, target: Path) -> None:
    for m in manifests.values():
        for entry in m.get("figures", []) + m.get("tables", []):
            for name in entry["files"]:
                if name.endswith(KEEP):
                    (target / name).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(results / name, target / name)


def publish(profile: str, results: Path, reports: Path, notebook_folder: Path | None = None,
            allow_stale: bool = False, browser: bool = True,
            log: Callable[[str], None] = print) -> Path:
    """Publish the build in `results` (of `profile`) as `reports/<profile>/`; returns it."""
    from .notebook import read_manifests
    from .notebooks import for_profile, list_notebooks, notebook_meta
    from .profile import load_profile

    results, reports = Path(results).resolve(), Path(reports).resolve()
    record = read_record(results)
    if record["profile"] != Path(profile).stem:
        raise ValueError(f"{results} holds a build of profile {record['profile']!r}; expected "
                         f"one of {Path(profile).stem!r} (pass --results)")
    prof = load_profile(profile)
    notebooks = for_profile(prof, list_notebooks(notebook_folder), log=lambda _: None)
    _check_build(record, results, notebooks)
    changed = changes(record["dependencies"],
                      dependency_hashes(profile, project_root(), notebook_folder))
    if changed and not allow_stale:
        raise ValueError(f"{results} is stale: {len(changed)} file(s) its numbers depend on "
                         f"changed since it was built ({', '.join(changed[:3])}); rebuild it "
                         "(dctkd figures) or pass --allow-stale")
    runs = _runs(prof, notebooks, results / "runs")
    name = Path(profile).stem
    reports.mkdir(parents=True, exist_ok=True)
    staging = reports / f".{name}.{os.getpid()}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "notebooks").mkdir(parents=True)
    try:
        for nb in notebooks:
            page, css = notebook_html(results / "notebooks" / f"{nb.stem}.ipynb")
            write_text(staging / "notebooks" / f"{nb.stem}.html", page)
        write_text(staging / "notebooks" / CSS, css)
        written = {m["notebook"]: m for m in read_manifests(results)}
        manifests = {nb.stem: {"figures": [], "tables": [], **written.get(nb.stem, {}),
                               "title": notebook_meta(nb).get("title", nb.stem)}
                     for nb in notebooks}
        _copy_outputs(manifests, results, staging)
        entry = _entry(record, runs, allow_stale and bool(changed))
        header = (f"<p>{html.escape(summary(entry))} <a href='{BUILD}'>{BUILD}</a> · "
                  "<a href='../index.html'>all published builds</a></p>")
        write_text(staging / "index.html", index_page(
            staging, name, prof.description, manifests, {}, header,
            notebook_links=("html",), keep=lambda f: f.endswith(KEEP)))
        if browser:
            from .browser import check_site, screenshot

            screenshot(staging, "index.html", staging / "index.png")
        _write_build(staging, entry)
        if browser:
            write_overview(reports)  # the page its index links back to, as a reader finds it
            problems = check_site(reports, f"{staging.name}/index.html", pages=tuple(
                f"{staging.name}/notebooks/{nb.stem}.html" for nb in notebooks))
            if problems:
                raise ValueError(f"the published pages have {len(problems)} problem(s): "
                                 f"{'; '.join(problems[:3])}")
        target = _swap(staging, reports / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    write_overview(reports)
    log(f"[publish] {target}: {len(notebooks)} notebooks, "
        f"{_size(target) / 2**20:.1f} MiB (reports/ {_size(reports) / 2**20:.1f} MiB)")
    _requote(name, target, reports.parent / "README.md", log)
    return target


def _requote(name: str, folder: Path, readme: Path, log: Callable[[str], None]) -> None:
    """Rewrite the README's account of the profile's published build (`quoted`), where the
    README quotes one, so its numbers are the new publication's."""
    from .quoted import account, blocks, rewrite

    text = readme.read_text(encoding="utf-8") if readme.is_file() else ""
    if name in blocks(text):
        write_text(readme, rewrite(text, name, account(folder)))
        log(f"[publish] {readme}: its account of the {name} build rewritten from the tables")


def _entry(record: dict, runs: dict, stale: bool) -> dict:
    """`BUILD.json` less its file list: the build record and what its run files say."""
    return {
        "profile": record["profile"],
        "published": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "published_stale": stale,
        "commit": record.get("commit"),
        "dirty": record.get("dirty"),
        "machine": record["machine"],
        "precision": {"autocast": runs["autocast"]},
        "build": {k: record.get(k) for k in ("started", "finished", "wall_seconds",
                                             "train_wall_seconds", "notebook_seconds", "state")},
        "runs": {**runs, "trained_by_this_build": record["runs"]["trained"]},
        "dependencies": record["dependencies"],
    }


def _write_build(folder: Path, entry: dict) -> Path:
    """`BUILD.json`: `entry` with every published file and its size in bytes."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    sizes = {p.relative_to(folder).as_posix(): p.stat().st_size for p in files}
    return write_json(folder / BUILD, {**entry, "files": sizes})


def _swap(staging: Path, target: Path) -> Path:
    """Put `staging` where `target` is: the old folder is renamed aside first, removed after."""
    old = target.with_name(f".{target.name}.{os.getpid()}.old.tmp")
    if target.exists():
        os.replace(target, old)
    os.replace(staging, target)
    shutil.rmtree(old, ignore_errors=True)
    return target


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main(args: argparse.Namespace) -> int:
    """`dctkd publish`."""
    from .notebook import default_results

    reports = Path(args.reports) if args.reports else default_reports()
    if args.check:
        return check(reports)
    results = Path(args.results) if args.results else default_results(args.profile)
    publish(args.profile, results, reports, Path(args.notebooks) if args.notebooks else None,
            allow_stale=args.allow_stale, browser=not args.no_browser)
    return 0


__all__ = ["KEEP", "main", "notebook_html", "publish"]
