"""Training many runs: a pool of local worker processes, teachers before their students.

`ensure_all` is what `dctkd figures` and a notebook's `Report.ensure` call; each worker
process trains one run at a time through `runs.ensure`, whose file lock keeps two processes
(or two machines on a shared store) from training the same run.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import replace

from dctkd.config import RunConfig
from dctkd.errors import ConfigError, RunFailed, one_line

from .checks import check
from .runs import DEFAULT_STORE, FINAL, Run, ensure, run_path


def ensure_all(
    cfgs: Sequence[RunConfig], store: str | os.PathLike = DEFAULT_STORE, workers: int = 1
) -> list[Run]:
    """`[ensure(c) for c in cfgs]`, training missing runs in `workers` processes.

    Teachers train before their students; each worker gets `cores // workers` threads and
    no progress bars of its own (the caller gets one bar over runs). Returns the runs in the
    order of `cfgs`. Scripts that call this with `workers > 1` need the usual
    `if __name__ == "__main__":` guard, since workers are spawned.
    """
    cfgs = list(cfgs)
    for cfg in cfgs:
        check(cfg, store)
    if workers <= 1:
        return [_ensure_one(c, store) for c in cfgs]
    pending: dict[str, RunConfig] = {}
    for cfg in _with_teachers(cfgs):
        if not run_path(cfg, store).joinpath(FINAL).is_file():
            quiet = replace(cfg, runtime=replace(cfg.runtime, progress=False))
            pending.setdefault(cfg.run_id, quiet)
    import multiprocessing as mp

    threads = max(1, _cores() // workers)
    pool = ProcessPoolExecutor(
        workers, mp_context=mp.get_context("spawn"), initializer=_worker_init, initargs=(threads,)
    )
    from tqdm.auto import tqdm

    bar = tqdm(total=len(pending), desc="runs", unit="run",
               disable=not any(c.runtime.progress for c in cfgs))
    with pool, bar:
        running: dict = {}
        while pending or running:
            busy = set(pending) | {c.run_id for c in running.values()}
            for rid, cfg in list(pending.items()):
                if cfg.teacher is None or cfg.teacher.run_id not in busy:
                    running[pool.submit(_ensure_path, cfg, str(store))] = cfg
                    del pending[rid]
            finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for fut in finished:
                cfg = running.pop(fut)
                try:
                    fut.result()
                    bar.update()
                except Exception as err:
                    for other in running:
                        other.cancel()
                    if isinstance(err, (ConfigError, RunFailed)):
                        raise
                    raise RunFailed(f"training {cfg.run_id} failed: {one_line(err)}") from err
    return [Run(run_path(c, store), c) for c in cfgs]


def _ensure_one(cfg: RunConfig, store: str | os.PathLike) -> Run:
    """`ensure(cfg)`; a run that fails while training is a RunFailed naming it."""
    try:
        return ensure(cfg, store)
    except (ConfigError, RunFailed):
        raise
    except Exception as err:
        raise RunFailed(f"training {cfg.run_id} failed: {one_line(err)}") from err


def _with_teachers(cfgs: Iterable[RunConfig]) -> list[RunConfig]:
    out: list[RunConfig] = []
    for cfg in cfgs:
        chain = []
        while cfg is not None:
            chain.append(cfg)
            cfg = cfg.teacher
        out.extend(reversed(chain))
    return out


def _ensure_path(cfg: RunConfig, store: str) -> str:
    return str(ensure(cfg, store).path)


def _worker_init(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


__all__ = ["ensure_all"]
