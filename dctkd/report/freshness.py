"""Which files a build's numbers depend on, and whether they changed since the build.

A build's tables, figures and executed notebooks come from the library (`dctkd/`), the
notebooks papermill executes, its profile (and the profiles it `extends`) and the pinned
environment. A build records a content hash of each of those files (`dependency_hashes`);
a published build is *stale* when the files hash differently today (`changes`).

Contents are hashed rather than commits compared, for two reasons: a change and the rebuild
it calls for can land in one commit (the build then ran on files not committed yet, whose
hashes the commit holds all the same), and the check needs no git history, so a shallow
clone checks as well as a full one. The record keeps the commit too, for the reader.

Left out, because they change no number and no page of a build: the docs and README, tests,
bench, CI, the other profiles, and the modules that only plan, schedule, publish or read the
command line (`NOT_CONTENT`). A notebook counts by what papermill executes, its cells'
sources and tags and its `dctkd` metadata, not by outputs a Jupyter session saved into it.
The environment counts by the pins that choose it: pyproject's dependencies and the
Makefile's torch and torchvision versions.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import yaml

from .paths import PROFILE_DIR

# Modules that cannot change what a build computes or writes (relative to the project root).
NOT_CONTENT = (
    "dctkd/cli.py",
    "dctkd/report/arguments.py",
    "dctkd/report/browser.py",
    "dctkd/report/build_record.py",
    "dctkd/report/cpu_plan.py",
    "dctkd/report/fetch_weights.py",
    "dctkd/report/freshness.py",
    "dctkd/report/index.py",
    "dctkd/report/launchers.py",
    "dctkd/report/plan.py",
    "dctkd/report/plan_command.py",
    "dctkd/report/publish.py",
    "dctkd/report/published.py",
    "dctkd/report/quoted.py",
    "dctkd/report/reproduced.py",
    "dctkd/report/status.py",
    "dctkd/engine/slurm.py",
    "dctkd/engine/slurm_settings.py",
)
ENVIRONMENT = "environment (pyproject dependencies, Makefile pins)"
_PIN = re.compile(r"\b(torch|torchvision)==[\w.+-]+")


def profile_files(profile: str) -> list[Path]:
    """The YAML of `profile` (a built-in name or a path) and of every profile it extends."""
    path = Path(profile) if profile.endswith((".yaml", ".yml")) else PROFILE_DIR / f"{profile}.yaml"
    chain: list[Path] = []
    while path.is_file() and path not in chain:
        chain.append(path)
        parent = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("extends")
        if parent is None:
            break
        path = PROFILE_DIR / f"{parent}.yaml"
    if not chain:
        raise FileNotFoundError(f"no profile file for {profile!r}; expected a name in "
                                f"{PROFILE_DIR} or a YAML path")
    return [p.resolve() for p in chain]


def dependency_files(profile: str, root: Path, notebooks: Path | None = None) -> list[Path]:
    """Every file of `root` (the project) whose contents can change `profile`'s build, with
    the notebooks of `notebooks` (default `root/notebooks`)."""
    package = root / "dctkd"
    skip = {root / p for p in NOT_CONTENT}
    files = [p for p in package.rglob("*.py") if p not in skip and "__pycache__" not in p.parts]
    files += sorted((package / "report" / "paper").glob("*.csv"))
    files += profile_files(profile)
    files += sorted(Path(notebooks or root / "notebooks").glob("*.ipynb"))
    return sorted({p.resolve() for p in files})


def _notebook_bytes(path: Path) -> bytes:
    """What of a notebook executes: cell types, sources and tags, and its `dctkd` metadata."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    cells = [(c["cell_type"], "".join(c["source"]) if isinstance(c["source"], list)
              else c["source"], c.get("metadata", {}).get("tags", [])) for c in nb["cells"]]
    meta = nb.get("metadata", {}).get("dctkd", {})
    return json.dumps([cells, meta], sort_keys=True).encode()


def _environment_bytes(root: Path) -> bytes:
    import tomllib

    pyproject = root / "pyproject.toml"
    deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    makefile = root / "Makefile"
    text = makefile.read_text() if makefile.is_file() else ""
    pins = sorted({m.group(0) for m in _PIN.finditer(text)})
    return json.dumps([deps, pins]).encode()


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def dependency_hashes(profile: str, root: Path, notebooks: Path | None = None
                      ) -> dict[str, str]:
    """`{path: content hash}` of everything `profile`'s build depends on: paths relative to
    `root`, a notebook as `notebooks/<name>` wherever its folder is, a profile outside the
    project by its file name."""
    root = root.resolve()
    out = {}
    for path in dependency_files(profile, root, notebooks):
        if path.suffix == ".ipynb":
            out[f"notebooks/{path.name}"] = _digest(_notebook_bytes(path))
            continue
        name = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name
        out[name] = _digest(path.read_bytes())
    out[ENVIRONMENT] = _digest(_environment_bytes(root))
    return out


def changes(recorded: dict[str, str], now: dict[str, str]) -> list[str]:
    """`path (changed|added|removed)` for each dependency that differs from the record. A
    file the record holds that is now listed in `NOT_CONTENT` is left out: it was found to
    change no number, so an older build that counted it is no less current."""
    recorded = {p: h for p, h in recorded.items() if p not in NOT_CONTENT}
    out = [f"{p} (changed)" for p in sorted(recorded.keys() & now.keys())
           if recorded[p] != now[p]]
    out += [f"{p} (added)" for p in sorted(now.keys() - recorded.keys())]
    out += [f"{p} (removed)" for p in sorted(recorded.keys() - now.keys())]
    return out


__all__ = ["ENVIRONMENT", "NOT_CONTENT", "changes", "dependency_files", "dependency_hashes",
           "profile_files"]
