"""`dctkd figures --plan`: which cost plan a profile gets on this machine, and printing it.

A synthetic profile on a machine without a GPU is priced as `dctkd figures` would train it
here (`cpu_plan`); otherwise by a GPU's measured throughput (`plan`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from .plan import Throughput, family_rows, load_throughput, render, wall_seconds


def print_plan(args, profile, families: Sequence[str], out: Path) -> int:
    """`dctkd figures --plan` after its per-notebook lines: per family of the selected
    notebooks the cost table, and the wall time at `--array-parallelism` runs at a time. A
    synthetic profile on a machine without a GPU, unless a GPU's throughput is named, is
    priced as `dctkd figures` would train it here (`cpu_plan`); a profile of real datasets is
    planned for GPUs wherever the plan is made."""
    from dctkd.engine import Run

    from .grid import grid, unique_configs
    from .launchers import cli_options, slurm_launch

    if args.img_per_s is not None and not (args.img_per_s > 0 and math.isfinite(args.img_per_s)):
        raise ValueError(f"--img-per-s: expected a positive number of images per second, got "
                         f"{args.img_per_s}")
    cfgs = {name: unique_configs(grid(profile, [name])) for name in families}
    store = out / "runs"
    done = {c.run_id for runs in cfgs.values() for c in runs if Run(store / c.run_id, c).done}
    cpu_build = profile.synthetic and not _has_gpu()  # what `dctkd figures` trains here
    if cpu_build and args.img_per_s is None and args.throughput is None:
        from .cpu_plan import print_cpu_plan

        return print_cpu_plan(profile.name, cfgs, done, args.cpu_throughput, args.workers)
    tp = (Throughput(args.img_per_s) if args.img_per_s is not None
          else load_throughput(args.throughput))
    settings = slurm_launch(profile, out, cli_options(args)).settings
    rows, total, costs = family_rows(cfgs, tp, done)
    slots, gpus = settings.array_parallelism, max(settings.gpus_per_run, 1)
    wall = (wall_seconds([c for c in costs if c.cfg.run_id not in done], slots, gpus)
            if tp is not None else None)
    print(render(rows, total, tp, wall, slots, gpus))
    return 0


def _has_gpu() -> bool:
    """True when this machine has a GPU: `dctkd figures` here trains on it, not on the CPU."""
    import torch

    return torch.cuda.is_available()


__all__ = ["print_plan"]
