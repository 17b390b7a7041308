"""The notebooks of a report: where they are, which the user named, which a profile can run.

A notebook's `dctkd` metadata names the experiment families it needs (`grid`); a profile
that does not define them leaves it out of a build, naming the profiles that hold it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from .grid import defined_families
from .notebook import project_root


def notebook_dir() -> Path:
    return project_root() / "notebooks"


def list_notebooks(folder: str | os.PathLike | None = None) -> list[Path]:
    folder = Path(folder) if folder else notebook_dir()
    if not folder.is_dir():
        raise FileNotFoundError(f"no notebooks folder at {folder}; expected the project's "
                                "notebooks/ (pass --notebooks DIR)")
    return sorted(p for p in folder.glob("*.ipynb") if not p.name.startswith("."))


def select_notebooks(names: Iterable[str] | None, folder: str | os.PathLike | None = None
                     ) -> list[Path]:
    """The notebooks named (by stem, or an unambiguous prefix such as `04`), or all of them."""
    available = list_notebooks(folder)
    if not names:
        return available
    chosen = []
    for name in names:
        stem = Path(name).stem
        hits = [p for p in available if p.stem == stem] or [
            p for p in available if p.stem.startswith(stem)]
        if len(hits) != 1:
            raise ValueError(f"notebook {name!r} matches {len(hits)} notebooks; expected one of "
                             f"{[p.stem for p in available]}")
        chosen += [p for p in hits if p not in chosen]
    return chosen


def for_profile(profile, nbs: Sequence[Path], named: bool = False,
                log: Callable[[str], None] = print) -> list[Path]:
    """The notebooks whose experiment families `profile` defines. The others are left out,
    named in one line with the profiles that hold them; a notebook asked for by name
    (`named`) that the profile leaves out stops the build instead."""
    from .profile import list_profiles, load_profile

    have = defined_families(profile)
    keep, left = [], []
    for nb in nbs:
        need = set(notebook_meta(nb).get("families", []))
        (keep if need <= have else left).append((nb, need))
    if not left:
        return [nb for nb, _ in keep]
    where = {}
    for name in list_profiles():
        fams = defined_families(load_profile(name))
        for nb, need in left:
            if need <= fams:
                where.setdefault(nb.stem, []).append(name)
    text = "; ".join(f"{nb.stem} (profile {', '.join(where.get(nb.stem, [])) or 'none'})"
                     for nb, _ in left)
    if named:
        raise ValueError(f"profile {profile.name!r} does not define the experiments of: "
                         f"{text}; pass --profile with one of those")
    log(f"[figures] not in profile {profile.name}: {text}")
    return [nb for nb, _ in keep]


def notebook_meta(path: Path) -> dict:
    """The notebook's `dctkd` metadata: `families` it needs, `title`, expected `outputs`."""
    # Plain JSON: nbformat's schema validation costs most of a second per notebook.
    with open(path, encoding="utf-8") as fh:
        return dict(json.load(fh).get("metadata", {}).get("dctkd", {}))


