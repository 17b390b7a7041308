"""What a notebook stands on: its profile, the run store, and a record of what it wrote.

A notebook opens a `Report`, asks it for the cells of its experiment families, `ensure`s the
runs (training only the missing ones), and saves every figure and table through it. The
report adds the profile's data warning to each caption and writes a small manifest per
notebook, from which `dctkd figures` builds `index.html`.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from dctkd.experiments import Cell, Profile, check_data, grid, load_profile, unique_configs

PACKAGE_ROOT = Path(__file__).resolve().parent


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


def write_json(path: Path, data: Any) -> None:
    """Write `data` as JSON to `path` through a temporary file renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=1)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
            "title": title or notebook,
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
        from dctkd import runs

        check_data(self.profile, cells)
        cfgs = unique_configs(cells)
        missing = [c for c in cfgs if not (self.store / c.run_id / runs.FINAL).is_file()]
        print(f"{len(cfgs)} runs: {len(cfgs) - len(missing)} ready, {len(missing)} to train")
        done = runs.ensure_all(cfgs, self.store, workers=self.workers)
        return {r.config.run_id: r for r in done}

    def caption(self, text: str) -> str:
        return f"{text.strip()} {data_note(self.profile)}"

    def figure(self, fig, name: str, caption: str) -> list[Path]:
        """Save `fig` as PNG and PDF under `figures/`, with its caption in the manifest."""
        from dctkd.plots import save_figure

        paths = save_figure(fig, name, self.figures)
        self._record("figures", name, self.caption(caption), paths)
        return paths

    def table(self, df, name: str, caption: str, **kwargs) -> list[Path]:
        """Save `df` as CSV and Markdown under `tables/`, the caption heading the Markdown."""
        from dctkd.plots import save_table

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


def dataset(cfg, split: str = "test"):
    """The un-augmented `split` of a run's dataset, as that run saw it (same hold-out seed)."""
    from dctkd.data import build_dataset

    d = cfg.data
    return build_dataset(d.name, split, d.root, options=d.options, augment=False,
                         val_fraction=d.val_fraction, seed=cfg.seed)


def display_image(ds, cfg, i: int):
    """Sample `i` of `ds` as uint8 `(3, H, W)` for display: stored pixels, else un-normalised."""
    import torch

    from dctkd.data import dataset_info

    if hasattr(ds, "raw_image"):
        return ds.raw_image(i)
    image, _ = ds[i]
    info = dataset_info(cfg.data.name, cfg.data.options, cfg.data.root)
    mean = torch.tensor(info.mean).view(3, 1, 1)
    std = torch.tensor(info.std).view(3, 1, 1)
    return (image * std + mean).clamp(0, 1).mul(255).round().to(torch.uint8)


def manifest_path(out: Path, notebook: str) -> Path:
    return Path(out) / "manifest" / f"{notebook}.json"


def read_manifests(out: Path) -> list[dict]:
    folder = Path(out) / "manifest"
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


__all__ = ["Report", "data_note", "default_results", "project_root", "read_manifests"]
