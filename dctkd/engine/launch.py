"""Training many runs: local worker processes, teachers before their students.

`ensure_all` is what `dctkd figures` and a notebook's `Report.ensure` call; each worker
process trains one run at a time through `runs.ensure`, whose file lock keeps two processes
(or two machines on a shared store) from training the same run. On a machine with GPUs each
run in flight has a GPU of its own (`CUDA_VISIBLE_DEVICES`, set in a fresh process before
torch touches CUDA). A run that fails stops nothing else: the rest train, and one
`RunsFailed` lists every failure with its `train.log` (`dctkd.engine.runlog`).
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import traceback
import warnings
from collections.abc import Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace

from dctkd.config import RunConfig
from dctkd.errors import Failure, RunsFailed, one_line

from . import prefix
from .checks import check
from .runlog import LOG, captured, lock_held, mark_failed, note, read_failure
from .runs import DEFAULT_STORE, Run, ensure, run_path

CPU_WORKERS = 2  # `dctkd figures` on a machine without GPUs (each gets cores // 2 threads)


def ensure_all(
    cfgs: Sequence[RunConfig], store: str | os.PathLike = DEFAULT_STORE,
    workers: int | None = 1,
) -> list[Run]:
    """`[ensure(c) for c in cfgs]`, training the missing runs in `workers` processes.

    Teachers train before their students. A failing run does not stop the others: every run
    that can train does, a student whose teacher failed is not started, and then one
    `RunsFailed` names each failure with its reason and its `<run>/train.log`. With
    `workers > 1` each worker gets `cores // workers` threads, no progress bars (the caller
    gets one bar over runs), its output in the run's `train.log` and, with GPUs, one GPU;
    `workers=None` is one per GPU (1 without GPUs). Scripts that call this with
    `workers > 1` need the usual `if __name__ == "__main__":` guard, since workers are spawned.
    """
    cfgs = list(cfgs)
    for cfg in cfgs:
        check(cfg, store)
    pending = missing_runs(cfgs, store)
    if pending:
        gpus = visible_gpus()
        workers = worker_count(workers, len(gpus))
        if workers <= 1:
            failures = _train_here(list(pending.values()), str(store))
        else:
            failures = _train_pool(list(pending.values()), str(store), workers, gpus)
        if failures:
            raise RunsFailed(failures)
    return [Run(run_path(c, store), c) for c in cfgs]


def needed_first(cfg: RunConfig) -> list[RunConfig]:
    """Every run `cfg` needs finished before it trains (`prerequisites`, at any depth), each
    listed after the runs it needs itself."""
    out: dict[str, RunConfig] = {}

    def visit(c: RunConfig) -> None:
        for before in c.prerequisites:
            if before.run_id not in out:
                visit(before)
                out[before.run_id] = before

    visit(cfg)
    return list(out.values())


def visible_gpus() -> list[str]:
    """The GPUs this process may use, as `CUDA_VISIBLE_DEVICES` entries (the ids this
    process was given, if any, else 0..G-1); [] on a machine without CUDA."""
    import torch

    count = torch.cuda.device_count()
    given = os.environ.get("CUDA_VISIBLE_DEVICES")
    if given is None:
        return [str(i) for i in range(count)]
    return [g.strip() for g in given.split(",") if g.strip()][:count]


def worker_count(requested: int | None, gpus: int, cpu_default: int = 1) -> int:
    """How many runs train at once: one per GPU unless told otherwise, `cpu_default` without
    GPUs. More workers than GPUs is allowed when asked for, with a warning: they share."""
    if requested is None:
        return gpus or cpu_default
    if gpus and requested > gpus:
        warnings.warn(f"{requested} workers share {gpus} GPU(s): runs on one GPU compete for "
                      f"its memory and time (--workers {gpus} gives each its own)", stacklevel=2)
    return max(1, requested)


def gpu_slots(workers: int, gpus: Sequence[str]) -> list[str | None]:
    """`CUDA_VISIBLE_DEVICES` of each of `workers` concurrent runs: slot i gets GPU i mod G,
    so slots share a GPU only when there are more workers than GPUs; None without GPUs."""
    return [gpus[i % len(gpus)] if gpus else None for i in range(workers)]


def run_state(cfg: RunConfig, store: str | os.PathLike = DEFAULT_STORE) -> str:
    """`done`, `running` (some process holds its lock), `failed` (it has a `failed.json`
    from its last attempt) or `missing`, read without touching the run."""
    path = run_path(cfg, store)
    if Run(path, cfg).done:
        return "done"
    if lock_held(path):
        return "running"
    return "failed" if read_failure(path) is not None else "missing"


def train_logged(cfg: RunConfig, store: str | os.PathLike, capture: bool = True) -> str:
    """`ensure(cfg, store)`, kept in `<run>/train.log`: a line when it starts and ends and,
    with `capture`, all the process prints meanwhile. A failure's traceback goes to the log
    and its reason to `failed.json` before it is raised; an interruption (Ctrl-C, a Slurm
    preemption) is noted and raised, and the run later resumes from `last.pt`."""
    path = run_path(cfg, store)
    with captured(path) if capture else contextlib.nullcontext():
        note(path, f"{cfg.run_id} starts on {socket.gethostname()} (pid {os.getpid()}, "
                   f"CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')})")
        start = time.monotonic()
        try:
            ensure(cfg, store)
        except Exception as err:
            note(path, f"failed: {one_line(err)}\n{traceback.format_exc()}")
            mark_failed(path, err)
            raise
        except BaseException as err:
            note(path, f"stopped ({type(err).__name__}); the run resumes from last.pt")
            raise
        note(path, f"finished in {time.monotonic() - start:.0f} s")
    return str(path)


def _train_here(cfgs: list[RunConfig], store: str) -> list[Failure]:
    """Train `cfgs` (teachers first) in this process; their failures, in order."""
    failed: dict[str, Failure] = {}
    for cfg in cfgs:
        teacher = _failed_teacher(cfg, failed)
        if teacher:
            failed[cfg.run_id] = Failure(cfg.run_id, teacher=teacher)
            continue
        try:
            train_logged(cfg, store, capture=False)
        except Exception as err:
            failed[cfg.run_id] = _failure(cfg, store, err)
    return list(failed.values())


def _train_pool(cfgs: list[RunConfig], store: str, workers: int, gpus: Sequence[str]
                ) -> list[Failure]:
    """Train `cfgs` in `workers` processes, a run starting once its prerequisites are done."""
    from tqdm.auto import tqdm

    pending = {c.run_id: replace(c, runtime=replace(c.runtime, progress=False)) for c in cfgs}
    slots, free = gpu_slots(workers, gpus), list(range(workers))
    failed: dict[str, Failure] = {}
    running: dict[Future, tuple[RunConfig, int]] = {}
    pools = _Pools(workers, max(1, _cores() // workers), fresh=bool(gpus))
    bar = tqdm(total=len(pending), desc="runs", unit="run",
               disable=not any(c.runtime.progress for c in cfgs))
    with pools, bar:
        while pending or running:
            for cfg in _startable(pending, running, failed, len(free)):
                slot = free.pop(0)
                running[pools.submit(_train_in_worker, cfg, store, slots[slot])] = (cfg, slot)
            if not running:
                continue
            finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for fut in finished:
                cfg, slot = running.pop(fut)
                free.append(slot)
                pools.release(fut)
                bar.update()
                try:
                    fut.result()
                except Exception as err:
                    failed[cfg.run_id] = _failure(cfg, store, err)
                    bar.set_postfix(failed=len(failed))
    return list(failed.values())


def _startable(pending: dict, running: dict, failed: dict, free: int) -> list[RunConfig]:
    """Up to `free` pending runs whose prerequisites (the run their weights start from, their
    teacher) are done, taken out of `pending`; runs whose prerequisite failed are moved to
    `failed` instead."""
    busy = set(pending) | {cfg.run_id for cfg, _ in running.values()}
    out = []
    for rid, cfg in list(pending.items()):
        teacher = _failed_teacher(cfg, failed)
        if teacher:
            failed[rid] = Failure(rid, teacher=teacher)
            del pending[rid]
        elif (len(out) < free and not any(p.run_id in busy for p in cfg.prerequisites)
              and not _shorter_to_come(cfg, pending, running)):
            out.append(pending.pop(rid))
    return out


def _shorter_to_come(cfg: RunConfig, pending: dict, running: dict) -> bool:
    """True when a shorter run whose kept prefix `cfg` could start from is still pending or
    training (`engine.prefix`): waiting for it saves training those epochs twice."""
    if not cfg.runtime.share_prefix:
        return False
    others = [*pending.values(), *(c for c, _ in running.values())]
    return any(prefix.shares(cfg, other) for other in others)


def _failed_teacher(cfg: RunConfig, failed: dict) -> str | None:
    """The run id of a prerequisite (at any depth) of `cfg` that failed, if any."""
    for before in needed_first(cfg):
        if before.run_id in failed:
            return before.run_id
    return None


def _failure(cfg: RunConfig, store: str, err: BaseException) -> Failure:
    """The failure of `cfg`; a worker that died without a word gets its marker here."""
    path = run_path(cfg, store)
    if read_failure(path) is None:
        mark_failed(path, err)
    log = path / LOG
    return Failure(cfg.run_id, one_line(err), str(log) if log.is_file() else None)


class _Pools:
    """The worker processes: one shared pool without GPUs; with GPUs a fresh process per run
    (its own CUDA context and `CUDA_VISIBLE_DEVICES`, so a CUDA error or a crash cannot reach
    the next run). A shared pool whose worker died is replaced for the runs still to start."""

    def __init__(self, workers: int, threads: int, fresh: bool):
        self.workers, self.threads, self.fresh = workers, threads, fresh
        self.shared: ProcessPoolExecutor | None = None
        self.own: dict[Future, ProcessPoolExecutor] = {}

    def _new(self, size: int) -> ProcessPoolExecutor:
        import multiprocessing as mp

        return ProcessPoolExecutor(size, mp_context=mp.get_context("spawn"),
                                   initializer=_worker_init, initargs=(self.threads, os.getpid()))

    def submit(self, fn, *args) -> Future:
        if self.fresh:
            pool = self._new(1)
            fut = pool.submit(fn, *args)
            self.own[fut] = pool
            return fut
        if self.shared is None:
            self.shared = self._new(self.workers)
        try:
            return self.shared.submit(fn, *args)
        except BrokenProcessPool:
            self.shared.shutdown(wait=False)
            self.shared = self._new(self.workers)
            return self.shared.submit(fn, *args)

    def release(self, fut: Future) -> None:
        pool = self.own.pop(fut, None)
        if pool is not None:
            pool.shutdown(wait=True)

    def __enter__(self) -> _Pools:
        return self

    def __exit__(self, exc_type, *exc) -> None:
        for pool in [*self.own.values(), self.shared]:
            if pool is None:
                continue
            if exc_type is not None:  # interrupted: the runs in flight stop now, not when done
                for process in list(getattr(pool, "_processes", {}).values()):
                    process.terminate()
            pool.shutdown(wait=True, cancel_futures=True)


def missing_runs(cfgs: Iterable[RunConfig], store: str | os.PathLike) -> dict[str, RunConfig]:
    """`{run_id: cfg}` of the runs of `cfgs` not done, each after its prerequisites that are
    not done either (a done run needs nothing trained)."""
    out: dict[str, RunConfig] = {}

    def visit(cfg: RunConfig) -> None:
        if cfg.run_id in out or Run(run_path(cfg, store), cfg).done:
            return
        for before in cfg.prerequisites:
            visit(before)
        out[cfg.run_id] = cfg

    for cfg in cfgs:
        visit(cfg)
    return out


def with_teachers(cfgs: Iterable[RunConfig]) -> list[RunConfig]:
    """`cfgs` with each one's prerequisites (at any depth) just before it."""
    out: list[RunConfig] = []
    for cfg in cfgs:
        out.extend([*needed_first(cfg), cfg])
    return out


def _train_in_worker(cfg: RunConfig, store: str, gpu: str | None) -> str:
    """A worker's run: on its GPU (set before torch touches CUDA: the process is fresh when
    there are GPUs), its output in its `train.log`."""
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    return train_logged(cfg, store, capture=True)


def _worker_init(threads: int, parent: int) -> None:
    import torch

    torch.set_num_threads(threads)
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    """A worker whose parent was killed (`kill -9`, an OOM kill) stops instead of training on
    unseen; its run resumes from `last.pt` the next time, like any interrupted run."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


__all__ = ["CPU_WORKERS", "ensure_all", "gpu_slots", "missing_runs", "needed_first", "run_state",
           "train_logged", "visible_gpus", "with_teachers", "worker_count"]
