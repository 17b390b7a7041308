"""TensorBoard event files beside a run's `metrics.csv`, so a build can be watched as it trains.

`tensorboard --logdir results/<profile>/runs` shows one TensorBoard run per run folder (named
by its run id): every column of `metrics.csv` per epoch (the weighted loss terms, LR, train and
val Top-1, images/s), the resolved config as text, and once the run is finished its test
metrics as hparams, keyed by method, seed, model and dataset, so the HParams table sorts runs
by them. Only the process that writes `metrics.csv` (rank 0) writes events, and
`runtime.tensorboard=false` writes none.

Steps are epochs. A resumed run opens its writer with `purge_step` at the first epoch it will
train again, so the events a killed process wrote past its last checkpoint are discarded by
TensorBoard instead of showing twice. That needs TensorBoard to read the new event file after
the old ones, and it reads them in name order (`_open_after_earlier_files`).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from dctkd.config import RunConfig, dump_yaml

# A metrics.csv column -> its TensorBoard tag; grouped so that like curves share a chart.
_TAGS = {"loss": "loss/total", "train_top1": "top1/train", "val_top1": "top1/val",
         "val_top5": "val/top5", "val_mca": "val/mca", "lr": "optim/lr",
         "images_per_s": "speed/images_per_s", "epoch_seconds": "speed/epoch_seconds"}


def tag(column: str) -> str:
    """`loss_<term>` -> `loss/<term>`; a column not named above keeps its own name."""
    if column.startswith("loss_"):
        return "loss/" + column[len("loss_"):]
    return _TAGS.get(column, column)


class Board:
    """A run's event writer; every method is a no-op when the run writes no events."""

    def __init__(self, cfg: RunConfig, run_dir: Path, main: bool, start_epoch: int):
        self.cfg, self.writer, self.run_dir, self.start = cfg, None, run_dir, start_epoch
        self.enabled = main and cfg.runtime.tensorboard

    def __enter__(self) -> Board:
        return self

    def __exit__(self, *exc) -> None:
        # A run that stops (an error, Ctrl-C) closes its file, so no writer thread outlives it.
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def _open(self) -> None:
        """The writer, opened when the first epoch ends: a run that fails in its first epoch
        leaves no event file behind."""
        from torch.utils.tensorboard import SummaryWriter  # imported only by runs that log

        # Fresh: purge every step an earlier attempt left (its config text at 0 included);
        # resumed after epoch e: purge from e + 1 on, keeping what the checkpoint covers.
        _open_after_earlier_files(self.run_dir)
        self.writer = SummaryWriter(str(self.run_dir), purge_step=self.start + 1 if self.start
                                    else 0, flush_secs=30)
        if not self.start:
            text = "\n".join(f"    {line}" for line in dump_yaml(self.cfg).splitlines())
            self.writer.add_text("config", f"run `{self.cfg.run_id}`\n\n{text}", 0)

    def epoch(self, row: dict[str, Any]) -> None:
        """One `metrics.csv` row at step `row["epoch"]`, flushed so it shows at once."""
        if not self.enabled:
            return
        if self.writer is None:
            self._open()
        for column, value in row.items():
            if column != "epoch" and _finite(value):
                self.writer.add_scalar(tag(column), value, row["epoch"])
        self.writer.flush()

    def finish(self, final: dict) -> dict:
        """The test metrics of `final.json` as hparams, then close; returns `final`."""
        if not self.enabled:
            return final
        if self.writer is None:  # resumed with every epoch already trained
            self._open()
        from torch.utils.tensorboard.summary import hparams

        metrics = {f"test/{k}_{which}": final[which][k] for which in ("best", "last")
                   for k in ("top1", "top5", "mca") if _finite(final[which].get(k))}
        for summary in hparams(hparam_keys(self.cfg), metrics):
            self.writer.file_writer.add_summary(summary, final["epochs"])
        for name, value in metrics.items():
            self.writer.add_scalar(name, value, final["epochs"])
        self.writer.close()
        self.writer = None
        return final


# How long a writer may wait for a second later than the event files already there; more
# means their names carry a clock ahead of this one, which waiting would not fix.
_MAX_WAIT_S = 2.0


def _open_after_earlier_files(run_dir: Path) -> None:
    """Wait, if needed, until the clock is past the second of every event file in `run_dir`.

    An event file is named `events.out.tfevents.<second>.<host>.<pid>.<n>` (`n` counts the
    writers a process opened), and TensorBoard reads a folder's files in name order. Files
    opened in the same second are ordered by pid and `n` compared as text, where `...9` comes
    after `...10`: a resumed run's file could be read first, its purge would find nothing to
    drop, and the earlier file's steps, now out of order, would make TensorBoard discard the
    later ones. A file opened in a later second sorts after them all. The wait (under a
    second) happens only when a run resumes within a second of its previous writer opening.
    """
    seconds = [int(part) for p in run_dir.glob("events.out.tfevents.*")
               if (part := p.name.split(".")[3]).isdigit()]
    wait = max(seconds, default=0) + 1 - time.time()
    if 0 < wait <= _MAX_WAIT_S:
        time.sleep(wait)


def hparam_keys(cfg: RunConfig) -> dict[str, Any]:
    """What a run is, as the HParams table's columns (strings and numbers only).

    Few on purpose: TensorBoard shows the first five by name until others are ticked, and
    these are what a build's runs differ by (the run id is the table's trial id, and the
    config text holds every other field)."""
    from dctkd.losses import resolve

    return {
        "alpha": resolve(cfg.method).alpha, "dataset": cfg.data.name,
        "method": cfg.method.name, "model": cfg.model, "seed": cfg.seed,
        "teacher": cfg.teacher.model if cfg.teacher is not None else "none",
    }


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(
        value)


__all__ = ["Board", "hparam_keys", "tag"]
