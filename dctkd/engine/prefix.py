"""A longer run's first epochs taken from a shorter one: the budget family's shared prefix.

A run re-trained with `f`× its epochs (every LR milestone moved in proportion,
`report.grid.stretched`) follows the very trajectory of the shorter run until the shorter
run's first LR drop: same initialisation, same data order and augmentation (every generator
is reseeded from `(seed, epoch, rank)` at the start of each epoch), same learning rate. With
`runtime.share_prefix`, a run keeps its whole training state at its first LR drop
(`prefix.pt`, beside `prefix-best.pt`, its best weights so far), and a longer run of the same
experiment, starting fresh, continues from the latest such state that lies before its own
first drop instead of training those epochs again. Its `provenance.json` names the run it
started from. The numbers are those of training it from scratch (tested bit for bit in
`deterministic` mode).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from dctkd.config import RunConfig, identity, load_yaml
from dctkd.files import atomic_path

FILE, BEST = "prefix.pt", "prefix-best.pt"


def prefix_epoch(cfg: RunConfig) -> int | None:
    """The epoch after which the run's LR first drops, or None when its LR depends on its
    length from the first epoch on (cosine)."""
    o = cfg.optim
    if o.schedule == "multistep":
        return min(o.milestones) if o.milestones else None
    if o.schedule == "step":
        return o.step_size
    return None


def family_key(cfg: RunConfig) -> str | None:
    """What runs that differ only in their schedule's length share: the hash of their
    identity without the epochs and LR milestones (None for schedules with no shared start)."""
    if prefix_epoch(cfg) is None:
        return None
    ident = identity(cfg)
    for key in ("epochs", "milestones", "step_size"):
        ident["optim"].pop(key, None)
    blob = json.dumps(ident, sort_keys=True, separators=(",", ":"))
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def shares(longer: RunConfig, shorter: RunConfig) -> bool:
    """True when `longer` can start from `shorter`'s prefix: same experiment but for the
    schedule's length, and `shorter`'s first LR drop comes no later than `longer`'s. Ties
    go by length, then run id, so of two runs at most one waits for the other."""
    key = family_key(longer)
    if key is None or family_key(shorter) != key:
        return False
    order = [(prefix_epoch(c), c.optim.epochs, c.run_id) for c in (shorter, longer)]
    return order[0] < order[1] and order[0][0] <= longer.optim.epochs


def keep(cfg: RunConfig, run_dir: Path, epoch: int) -> None:
    """After `epoch` has been checkpointed: keep the state as the run's prefix if `epoch` is
    its first LR drop (`last.pt` → `prefix.pt`, `best.pt` → `prefix-best.pt`)."""
    if not cfg.runtime.share_prefix or epoch != prefix_epoch(cfg):
        return
    for src, dst in (("last.pt", FILE), ("best.pt", BEST)):
        if (run_dir / src).is_file():
            with atomic_path(run_dir / dst) as tmp:
                shutil.copyfile(run_dir / src, tmp)


def find(cfg: RunConfig, store: Path) -> Path | None:
    """The run folder in `store` whose prefix `cfg` can start from (the latest such prefix),
    or None. Candidates are the runs of the same model, method and seed."""
    if not cfg.runtime.share_prefix or family_key(cfg) is None:
        return None
    best, start = None, 0
    stem = cfg.run_id.rsplit("-", 1)[0]
    for folder in Path(store).glob(f"{stem}-*"):
        if not (folder / FILE).is_file() or not (folder / "config.yaml").is_file():
            continue
        try:
            other = load_yaml(folder / "config.yaml")
        except (OSError, ValueError):
            continue
        if shares(cfg, other) and prefix_epoch(other) > start:
            best, start = folder, prefix_epoch(other)
    return best


def load(folder: Path, run_dir: Path, run_id: str, device, main: bool = True) -> dict:
    """The training checkpoint kept in `folder`'s prefix, and (by the `main` process) its best
    weights copied into `run_dir` as this run's `best.pt` so far, renamed to `run_id`."""
    import torch

    ckpt = torch.load(folder / FILE, map_location=device, weights_only=True)
    if main and (folder / BEST).is_file():
        best = torch.load(folder / BEST, map_location="cpu", weights_only=True)
        best["run_id"] = run_id
        run_dir.mkdir(parents=True, exist_ok=True)
        with atomic_path(run_dir / "best.pt") as tmp:
            torch.save(best, tmp)
    return ckpt


__all__ = ["BEST", "FILE", "family_key", "find", "keep", "load", "prefix_epoch", "shares"]
