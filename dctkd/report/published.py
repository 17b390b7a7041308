"""The published builds under `reports/`: which there are, whether each is current, the pages
that list them, and `dctkd publish` (publish one, or `--check` them all).

A published build is current while every file its numbers depend on hashes as it did when
it was built (`freshness`); otherwise it is stale, and the check names the files that
changed and the commands that rebuild and republish it.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from dctkd.files import write_text

from .freshness import changes, dependency_hashes
from .notebook import project_root
from .plan import duration

BUILD = "BUILD.json"


def default_reports() -> Path:
    return project_root() / "reports"


def published_profiles(reports: Path) -> list[str]:
    """The profiles published under `reports` (a folder holding a `BUILD.json`)."""
    return sorted(p.parent.name for p in Path(reports).glob(f"*/{BUILD}")
                  if not p.parent.name.startswith("."))  # a publication being written


def read_build(folder: Path) -> dict:
    path = Path(folder) / BUILD
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"no {path}; expected a build published by dctkd publish"
                                ) from None
    except ValueError as err:
        raise ValueError(f"{path}: not a published build record ({err})") from None


def stale_files(folder: Path, root: Path | None = None, notebooks: Path | None = None
                ) -> list[str]:
    """The dependencies of the build published in `folder` that changed since it was built
    (`path (changed|added|removed)`); [] when it is current."""
    build = read_build(folder)
    now = dependency_hashes(build["profile"], root or project_root(), notebooks)
    return changes(build["dependencies"], now)


def summary(build: dict) -> str:
    """One sentence: what made the build and how long it took."""
    m, b, runs = build["machine"], build["build"], build["runs"]
    precision = ", ".join(f"autocast {k} in {v} of {runs['count']} runs"
                          for k, v in sorted(build["precision"]["autocast"].items()))
    dirty = " with uncommitted changes" if build.get("dirty") else ""
    gpus = f", GPUs: {', '.join(m['gpus'])}" if m.get("gpus") else ""
    return (f"Built {b['started'][:16].replace('T', ' ')} at commit "
            f"{str(build.get('commit'))[:12]}{dirty} on {m['cpu']}, {m['cores']} cores "
            f"(native bf16: {'yes' if m['cpu_bf16'] else 'no'}{gpus}); {precision}. Wall time "
            f"{duration(b['wall_seconds'])}, of which training "
            f"{duration(b['train_wall_seconds'])} ({runs['trained_by_this_build']} of "
            f"{runs['count']} runs trained by this build; their epochs add up to "
            f"{duration(runs['train_seconds'])} of one worker).")


def write_overview(reports: Path) -> list[Path]:
    """`reports/index.html` and `reports/README.md`: each published build with its summary,
    its index and the screenshot of that index."""
    reports = Path(reports)
    names = published_profiles(reports)
    builds = {name: read_build(reports / name) for name in names}
    esc = html.escape
    page = ["<!doctype html><meta charset='utf-8'><title>dctkd — published builds</title>",
            "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;"
            "line-height:1.4}img{width:480px;border:1px solid #ddd}</style>",
            "<h1>dctkd — published builds</h1>"]
    text = ["# Published builds", "",
            "Each folder is a build of one profile as `dctkd publish` wrote it: executed "
            "notebooks (HTML), tables (CSV + Markdown), figures (PNG) and `BUILD.json`.", ""]
    for name, build in builds.items():
        page.append(f"<h2><a href='{esc(name)}/index.html'>{esc(name)}</a></h2>"
                    f"<p>{esc(summary(build))}</p><a href='{esc(name)}/index.html'>"
                    f"<img src='{esc(name)}/index.png' alt='the {esc(name)} index'></a>")
        text += [f"## {name}", "", summary(build), "",
                 f"[index]({name}/index.html) · [notebooks]({name}/notebooks/) · "
                 f"[tables]({name}/tables/) · [figures]({name}/figures/) · "
                 f"[BUILD.json]({name}/{BUILD})", "", f"![the {name} index]({name}/index.png)", ""]
    if not builds:
        page.append("<p>Nothing published yet.</p>")
        text.append("Nothing published yet.")
    return [write_text(reports / "index.html", "\n".join(page) + "\n"),
            write_text(reports / "README.md", "\n".join(text) + "\n")]


def check(reports: Path, root: Path | None = None) -> int:
    """Print whether each published build is current; 1 when one is stale."""
    names = published_profiles(reports)
    if not names:
        print(f"no published builds under {reports}")
    stale = 0
    for name in names:
        folder = Path(reports) / name
        changed = stale_files(folder, root)
        commit = str(read_build(folder).get("commit"))[:12]
        if not changed:
            print(f"{folder}: current (built at {commit}; no file its numbers depend on "
                  "changed since)")
            continue
        stale += 1
        more = f" and {len(changed) - 5} more" if len(changed) > 5 else ""
        print(f"{folder}: stale, {len(changed)} file(s) its numbers depend on changed since "
              f"its build at {commit}: {', '.join(changed[:5])}{more}; rebuild and republish: "
              f"make figures PROFILE={name} && make publish PROFILE={name}")
    return 1 if stale else 0


__all__ = ["BUILD", "check", "default_reports", "published_profiles",
           "read_build", "stale_files", "summary", "write_overview"]
