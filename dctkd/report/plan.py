"""What a profile costs before it trains: runs, epochs, images seen, GPU-hours and wall time.

A run's GPU time is counted from the images it pushes through each network, priced by one
throughput measured on the user's GPU (`bench/train_step.py --save` writes it to
`results/throughput.json`): the training step of a reference student (forward, backward, SGD)
and the forward of a reference teacher. Other networks and image sizes are priced by their
FLOPs per image relative to the reference, counted once per (model, size, classes) on the
meta device. Per run:

- training: `epochs x train images` student steps;
- teacher: the same number of teacher forwards when the teacher runs online; when its outputs
  are cached (`engine.teacher_cache.applies`: inputs not augmented or only flipped), one
  forward of each view of the training set instead;
- a distillation term: the measured per-image cost of the DCT term beside the teacher's
  forward (any method with a term is priced as DCT);
- evaluation: a student forward of the val split every epoch (the test split once: left out).

Assumptions to keep in mind: throughput scales with FLOPs, which small 32-px CIFAR networks
do not reach on a GPU (a run priced at under a tenth of the reference's FLOPs makes its
family's hours a lower bound, marked `>=`), and the loader keeps up. With
`--img-per-s N` alone, N is the reference student's training rate and a forward costs a third
of a training step. The train split size is counted from the data when it is there (the
split lists only, no image is read), else the official size (docs/protocol.md#datasets).
"""

from __future__ import annotations

import functools
import heapq
import json
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dctkd.config import RunConfig
from dctkd.data import dataset, dataset_info
from dctkd.losses import resolve

from .notebook import project_root

THROUGHPUT_FILE = project_root() / "results" / "throughput.json"  # one per machine's checkout
# Official training-split sizes, for a plan made before the data is downloaded; the test
# suite checks them against docs/protocol.md. SUN397: 50 images x 397 classes per partition.
OFFICIAL_TRAIN = {"ade20k": 20_210, "sun397": 50 * 397, "mit67": 5_360, "cifar100": 50_000}
FORWARD_SHARE = 1 / 3  # a forward's share of a training step, when no forward was measured
# Below this share of the reference's FLOPs a network runs under its FLOP rate on a GPU (too
# small to fill it), so its priced hours are a lower bound.
SMALL = 0.1


@dataclass(frozen=True)
class Throughput:
    """Measured rates of the reference networks at `size` px (img/s on one GPU)."""

    train_img_per_s: float
    train_model: str = "resnet18"
    forward_img_per_s: float | None = None
    forward_model: str = "resnet50"
    term_s_per_img: float = 0.0
    size: int = 224
    classes: int = 100
    device: str = ""
    source: str = "--img-per-s"

    def describe(self) -> str:
        fwd = (f", {self.forward_model} forward {self.forward_img_per_s:,.0f} img/s"
               if self.forward_img_per_s else "")
        where = (f" on {self.device}" if self.device else "") + (
            f" ({self.source})" if self.source else "")
        return (f"{self.train_model} training step {self.train_img_per_s:,.0f} img/s{fwd} at "
                f"{self.size} px{where}")


def load_throughput(path: str | os.PathLike | None = None) -> Throughput | None:
    """The throughput `bench/train_step.py --save` wrote; None when the default file is absent.
    A named file that is missing or malformed is an error naming it."""
    file = Path(path or THROUGHPUT_FILE)
    if path is None and not file.is_file():
        return None
    try:
        record = json.loads(file.read_text())
        return Throughput(**{k: v for k, v in record.items() if k != "measured"},
                          source=str(file))
    except FileNotFoundError:
        raise FileNotFoundError(f"no throughput file at {file}; expected the one "
                                "bench/train_step.py --save writes") from None
    except (ValueError, TypeError) as err:
        raise ValueError(f"{file}: not a throughput record of bench/train_step.py --save "
                         f"({err})") from None


@functools.lru_cache(maxsize=64)
def flops(model: str, size: int, classes: int) -> float:
    """Forward FLOPs of one `size`-px image, counted on the meta device (nothing computed)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from dctkd.models import build_model

    with torch.device("meta"):
        net = build_model(model, classes)
    with FlopCounterMode(display=False) as counter:
        net(torch.empty(1, 3, size, size, device="meta"))
    return float(counter.get_total_flops())


@functools.lru_cache(maxsize=64)
def _split_size(name: str, root: str | None, options: str) -> int:
    """Images of the official train split: counted from the data, else the official size."""
    from dctkd.data.scene_datasets import READERS, resolve_root

    entry = dataset(name)
    parsed = entry.parse_options(json.loads(options))
    if entry.subdir is None:  # generated in memory (scenes): its options say how many
        return int(parsed.train_size)
    try:
        if name in READERS:
            return len(READERS[name](resolve_root(name, root), parsed.model_dump()).train)
        return len(entry.build("train", root, parsed, False))
    except (OSError, ValueError):
        if name in OFFICIAL_TRAIN:
            return OFFICIAL_TRAIN[name]
        raise


def split_sizes(cfg: RunConfig) -> tuple[int, int]:
    """`(train, val)` images of a run: the split less its val hold-out, then `train_size`."""
    full = _split_size(cfg.data.name, cfg.data.root, json.dumps(dict(cfg.data.options),
                                                                sort_keys=True))
    val = round(full * cfg.data.val_fraction)
    train = full - val
    return (min(train, cfg.data.train_size) if cfg.data.train_size else train), val


@dataclass
class RunCost:
    cfg: RunConfig
    epochs: int
    images: int  # training images seen (epochs x train split)
    seconds: float | None  # on one GPU; None without a throughput
    lower_bound: bool = False  # a network far smaller than the reference: hours are a floor


def _network(cfg: RunConfig) -> tuple[int, int]:
    info = dataset_info(cfg.data.name, dict(cfg.data.options), cfg.data.root)
    return info.image_size, info.num_classes


def run_cost(cfg: RunConfig, tp: Throughput | None) -> RunCost:
    """The images and GPU seconds of one run (its teacher's own training not included)."""
    train, val = split_sizes(cfg)
    epochs = cfg.optim.epochs
    images = epochs * train
    if tp is None:
        return RunCost(cfg, epochs, images, None)
    ref_train = flops(tp.train_model, tp.size, tp.classes)
    ref_fwd = flops(tp.forward_model, tp.size, tp.classes)

    def step_s(model: str, size: int, k: int) -> float:
        return flops(model, size, k) / ref_train / tp.train_img_per_s

    def forward_s(model: str, size: int, k: int) -> float:
        if tp.forward_img_per_s:
            return flops(model, size, k) / ref_fwd / tp.forward_img_per_s
        return FORWARD_SHARE * step_s(model, size, k)

    size, k = _network(cfg)
    small = flops(cfg.model, size, k) < SMALL * ref_train
    seconds = images * step_s(cfg.model, size, k) + epochs * val * forward_s(cfg.model, size, k)
    objective = resolve(cfg.method)
    if cfg.teacher is not None and objective.needs_teacher:
        from dctkd.engine import teacher_cache

        t_size, t_k = _network(cfg.teacher)
        views = teacher_cache.VIEWS.get(cfg.data.augment, 0) if teacher_cache.applies(cfg) else 0
        seconds += (views * train or images) * forward_s(cfg.teacher.model, t_size, t_k)
    if objective.term is not None:
        seconds += images * tp.term_s_per_img
    return RunCost(cfg, epochs, images, seconds, small)


def wall_seconds(costs: Sequence[RunCost], slots: int, gpus_per_run: int = 1,
                 after: Mapping[str, Sequence[str]] | None = None) -> float:
    """Makespan of `costs` with `slots` runs at a time, longest first, each run starting once
    its prerequisites (its init, its teacher) and the runs `after` names for it (a shorter run
    whose prefix it continues) are done; a run on `gpus_per_run` GPUs takes its GPU time /
    that."""
    by_id = {c.cfg.run_id: c for c in costs}
    waiting: dict[str, list[RunCost]] = {}
    blockers: dict[str, int] = {}
    ready = []
    for c in costs:
        before = {p.run_id for p in c.cfg.prerequisites} | set((after or {}).get(
            c.cfg.run_id, ()))
        before &= by_id.keys()
        for parent in before:
            waiting.setdefault(parent, []).append(c)
        blockers[c.cfg.run_id] = len(before)
        if not before:
            ready.append((0.0, c))
    running: list[tuple[float, str]] = []  # (end time, run id)
    now, pending = 0.0, list(ready)
    while pending or running:
        pending.sort(key=lambda p: (p[0], -(p[1].seconds or 0)))
        while pending and len(running) < slots and pending[0][0] <= now:
            _, c = pending.pop(0)
            heapq.heappush(running, (now + (c.seconds or 0) / max(gpus_per_run, 1),
                                     c.cfg.run_id))
        if not running:
            now = pending[0][0]
            continue
        now, done = heapq.heappop(running)
        for child in waiting.pop(done, []):
            blockers[child.cfg.run_id] -= 1
            if not blockers[child.cfg.run_id]:
                pending.append((now, child))
    return now


@dataclass
class Row:
    name: str
    runs: int = 0
    missing: int = 0
    epochs: int = 0
    images: int = 0
    seconds: float | None = 0.0
    missing_seconds: float | None = 0.0
    lower_bound: bool = False
    ids: set = field(default_factory=set)

    def add(self, cost: RunCost, done: bool) -> None:
        if cost.cfg.run_id in self.ids:
            return
        self.ids.add(cost.cfg.run_id)
        self.runs, self.epochs, self.images = (self.runs + 1, self.epochs + cost.epochs,
                                               self.images + cost.images)
        self.missing += not done
        self.lower_bound |= cost.lower_bound
        if cost.seconds is None:
            self.seconds = self.missing_seconds = None
        elif self.seconds is not None:
            self.seconds += cost.seconds
            self.missing_seconds += 0.0 if done else cost.seconds


def family_rows(families: dict[str, list[RunConfig]], tp: Throughput | None,
                done: Iterable[str] = (), price: Callable[[RunConfig], RunCost] | None = None
                ) -> tuple[list[Row], Row, list[RunCost]]:
    """One row per family (its runs, teachers included), the distinct total, every run cost:
    priced by `price`, else by `tp` (`run_cost`)."""
    done, costs, rows, total = set(done), {}, [], Row("total (distinct runs)")
    price = price or (lambda cfg: run_cost(cfg, tp))
    for name, cfgs in families.items():
        row = Row(name)
        for cfg in cfgs:
            if cfg.run_id not in costs:
                costs[cfg.run_id] = price(cfg)
            cost = costs[cfg.run_id]
            row.add(cost, cfg.run_id in done)
            total.add(cost, cfg.run_id in done)
        rows.append(row)
    return rows, total, list(costs.values())


def _hours(seconds: float | None, floor: bool = False) -> str:
    return "-" if seconds is None else f"{'>=' if floor else ''}{seconds / 3600:,.1f}"


def table_lines(rows: list[Row], total: Row, unit: str = "GPU") -> list[str]:
    """The family table: runs, missing, epochs, images seen and `unit`-hours per family."""
    lines = [f"{'family':<22} {'runs':>6} {'missing':>8} {'epochs':>9} {'images seen':>15} "
             f"{unit + '-h':>10} {unit + '-h missing':>14}"]
    for r in [*rows, total]:
        lines.append(f"{r.name:<22} {r.runs:>6,} {r.missing:>8,} {r.epochs:>9,} "
                     f"{r.images:>15,} {_hours(r.seconds, r.lower_bound):>10} "
                     f"{_hours(r.missing_seconds, r.lower_bound):>14}")
    return lines


def render(rows: list[Row], total: Row, tp: Throughput | None, wall: float | None,
           slots: int, gpus_per_run: int) -> str:
    """The table, the throughput it assumes and the wall time, as `dctkd figures --plan`
    prints it."""
    lines = table_lines(rows, total)
    if tp is None:
        lines.append("GPU-hours: no throughput; run `python bench/train_step.py --save` on the "
                     "GPU the runs will use, or pass --img-per-s N")
        return "\n".join(lines)
    lines.append(f"throughput: {tp.describe()}; other networks priced by their FLOPs")
    if total.lower_bound:
        lines.append(f">=: the family has networks under {SMALL:.0%} of the reference's FLOPs, "
                     "which a GPU runs below their FLOP rate: a lower bound")
    days = wall / 86400 if wall is not None else math.nan
    lines.append(f"wall time of the missing runs, {slots} at a time on {gpus_per_run} GPU(s) "
                 f"each, teachers first: {wall / 3600:,.1f} h ({days:.2f} days)")
    return "\n".join(lines)


def duration(seconds: float) -> str:
    """`42 s`, `17.5 min` or `2.6 h`."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


__all__ = ["duration", "OFFICIAL_TRAIN", "THROUGHPUT_FILE", "RunCost", "Throughput", "family_rows",
           "flops", "load_throughput", "render", "run_cost", "split_sizes",
           "wall_seconds"]
