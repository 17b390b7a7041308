"""What a notebook stands on: its profile, the run store, and a record of what it wrote.

A notebook opens a `Report`, asks it for the cells of its experiment families, `ensure`s the
runs (training only the missing ones), and saves every figure and table through it. The
report adds the profile's data warning to each caption and writes a small manifest per
notebook, from which `dctkd figures` builds `index.html`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from dctkd.files import write_json

from .grid import Cell, grid, unique_configs
from .profile import Profile, check_data, load_profile

PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # the dctkd package


def project_root() -> Path:
    """The source tree holding `notebooks/` (an editable install), else the working folder."""
    root = PACKAGE_ROOT.parent
    return root if (root / "notebooks").is_dir() else Path.cwd()


def default_results(profile: str) -> Path:
    return project_root() / "results" / Path(profile).stem


def data_note(profile: Profile) -> str:
    """The sentence every caption of a synthetic profile ends with."""
    if profile.synthetic:
        return (f"Synthetic data (profile `{profile.name}`), not the paper's datasets: the "
                "comparison is at small scale and the numbers are not the published ones.")
    return f"Profile `{profile.name}`."


class Report:
    """A notebook's handle on its profile, runs and outputs.

    `results` is `results/<profile>/` (runs in `runs/`, figures in `figures/`, tables in
    `tables/`); opening a report clears the manifest of that notebook, so a re-run lists
    exactly what it wrote this time.
    """

    def __init__(
        self,
        notebook: str,
        profile: str = "quick",
        results: str | os.PathLike | None = None,
        data: str | None = None,
        overrides: Iterable[str] | dict | None = None,
        workers: int = 1,
        title: str | None = None,
    ):
        self.notebook = notebook
        self.profile = load_profile(profile, overrides, data)
        self.out = Path(results).expanduser().resolve() if results else default_results(profile)
        self.store = self.out / "runs"
        self.figures = self.out / "figures"
        self.tables = self.out / "tables"
        self.workers = workers
        self._manifest = {
            "notebook": notebook,
            "title": title or notebook_title(notebook),
            "profile": self.profile.name,
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "figures": [],
            "tables": [],
        }
        self._save()

    def __repr__(self) -> str:
        return f"Report({self.notebook!r}, profile={self.profile.name!r}, out={str(self.out)!r})"

    def cells(self, *families: str) -> list[Cell]:
        return grid(self.profile, families)

    def ensure(self, cells: Sequence[Cell]) -> dict:
        """`{run_id: Run}` for every cell, training the missing runs (teachers first)."""
        from dctkd.engine import Run, ensure_all

        check_data(self.profile, cells)
        cfgs = unique_configs(cells)
        missing = [c for c in cfgs if not Run(self.store / c.run_id, c).done]
        print(f"{len(cfgs)} runs: {len(cfgs) - len(missing)} ready, {len(missing)} to train")
        done = ensure_all(cfgs, self.store, workers=self.workers)
        return {r.config.run_id: r for r in done}

    def caption(self, text: str) -> str:
        return f"{text.strip()} {data_note(self.profile)}"

    def figure(self, fig, name: str, caption: str) -> list[Path]:
        """Save `fig` as PNG and PDF under `figures/`, with its caption in the manifest."""
        from .style import save_figure

        paths = save_figure(fig, name, self.figures)
        self._record("figures", name, self.caption(caption), paths)
        return paths

    def table(self, df, name: str, caption: str, **kwargs) -> list[Path]:
        """Save `df` as CSV and Markdown under `tables/`, the caption heading the Markdown."""
        from .style import save_table

        full = self.caption(caption)
        paths = save_table(df, name, self.tables, caption=full, **kwargs)
        self._record("tables", name, full, paths)
        return paths

    def _record(self, kind: str, name: str, caption: str, paths: list[Path]) -> None:
        entries = [e for e in self._manifest[kind] if e["name"] != name]
        entries.append({
            "name": name,
            "caption": caption,
            "files": [os.path.relpath(p, self.out) for p in paths],
        })
        self._manifest[kind] = entries
        self._save()

    def _save(self) -> None:
        write_json(manifest_path(self.out, self.notebook), self._manifest)


def notebook_title(notebook: str) -> str:
    """The `dctkd.title` of `notebooks/<notebook>.ipynb`'s metadata, else the name itself."""
    path = project_root() / "notebooks" / f"{notebook}.ipynb"
    if not path.is_file():
        return notebook
    meta = json.loads(path.read_text(encoding="utf-8")).get("metadata", {})
    return str(meta.get("dctkd", {}).get("title", notebook))


def manifest_path(out: Path, notebook: str) -> Path:
    return Path(out) / "manifest" / f"{notebook}.json"


def read_manifests(out: Path) -> list[dict]:
    folder = Path(out) / "manifest"
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


__all__ = ["Report", "data_note", "default_results", "project_root", "read_manifests"]
