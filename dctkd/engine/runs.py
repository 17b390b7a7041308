"""The run store: one folder per experiment identity, trained at most once.

Layout: `<store>/<run_id>/` holding `config.yaml` (written first), `provenance.json`,
`metrics.csv` (one row per epoch), `last.pt` (everything needed to resume), `best.pt`
(student weights selected on the held-out val split), `predictions_{best,last}.npz`,
`per_class_{best,last}.csv`, `confusion_{best,last}.csv`, and `final.json`, written last: a
run is complete exactly when `final.json` exists. Every file is written to a temporary name
and renamed into place, so a crash never leaves a half-written file. `ensure` holds a file
lock on the run (`<store>/.locks/<run_id>.lock`) while training, so two processes asking for
one run train it once.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import yaml

from .config import RunConfig, dump_yaml, from_dict, to_dict

DEFAULT_STORE = "results/quick/runs"
CONFIG, FINAL, PROVENANCE = "config.yaml", "final.json", "provenance.json"


class Run:
    """A run folder. `config` comes from its `config.yaml`; the rest is read on demand."""

    def __init__(self, path: str | os.PathLike, config: RunConfig | None = None):
        self.path = Path(path)
        if config is None:
            file = self.path / CONFIG
            if not file.is_file():
                raise FileNotFoundError(f"no run at {self.path}: expected a {CONFIG} there")
            config = from_dict(RunConfig, yaml.safe_load(file.read_text()) or {})
        self.config = config

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    @property
    def done(self) -> bool:
        return (self.path / FINAL).is_file()

    def metrics(self) -> dict:
        """`final.json`: test metrics of the `best` and `last` checkpoints and run facts."""
        return json.loads(self._need(FINAL).read_text())

    def history(self):
        """Per-epoch metrics (`metrics.csv`) as a pandas DataFrame."""
        import pandas as pd

        return pd.read_csv(self._need("metrics.csv"))

    def provenance(self) -> dict:
        return json.loads(self._need(PROVENANCE).read_text())

    def load_model(self, which: str = "best"):
        """The student as a `TappedModel` (`best`: val-selected; `last`: final epoch), on CPU."""
        from .data import dataset_info
        from .models import load_model

        if which not in ("best", "last"):
            raise ValueError(f"which must be 'best' or 'last', got {which!r}")
        data = self.config.data
        info = dataset_info(data.name, data.options, root=data.root)
        if which == "best":
            return load_model(
                self._need("best.pt"),
                expected_arch=self.config.model,
                expected_classes=info.num_classes,
            )
        import torch

        from .models import build_model

        state = torch.load(self._need("last.pt"), map_location="cpu", weights_only=True)
        model = build_model(self.config.model, info.num_classes)
        model.load_state_dict(state["student"])
        return model.eval()

    def predictions(self, which: str = "best") -> dict[str, np.ndarray]:
        """Test-split predictions: `logits (N, K)` float16, `top5 (N, 5)`, `targets (N,)`."""
        with np.load(self._need(f"predictions_{which}.npz")) as data:
            return {k: data[k] for k in data.files}

    def _need(self, name: str) -> Path:
        file = self.path / name
        if not file.is_file():
            raise FileNotFoundError(
                f"{file} is missing: the run has not finished (expected {FINAL} to exist)"
            )
        return file


def run_path(cfg: RunConfig, store: str | os.PathLike = DEFAULT_STORE) -> Path:
    return Path(store) / cfg.run_id


def ensure(cfg: RunConfig, store: str | os.PathLike = DEFAULT_STORE) -> Run:
    """The finished run of `cfg` in `store`, training it (and its teacher) first if missing.

    The config is checked before anything is written, so a bad one leaves no folder behind.
    Under torchrun every rank calls this and trains together; rank 0 holds the lock and writes.
    """
    from .train import check, train

    path = run_path(cfg, store)
    run = Run(path, cfg)
    if run.done:
        return run
    check(cfg)
    rank, world = _dist_rank_world()
    if world > 1:
        lock = _lock(path) if rank == 0 else contextlib.nullcontext()
        with lock:
            if not _broadcast_flag(run.done if rank == 0 else False):
                if rank == 0:
                    _begin(cfg, path)
                train(cfg, path, store=store)
                if rank == 0:
                    _finish_provenance(path)
        _barrier()
        return run
    with _lock(path):
        if run.done:
            return run
        fresh = not (path / "last.pt").exists()
        _begin(cfg, path)
        try:
            train(cfg, path, store=store)
        except (ValueError, FileNotFoundError):
            if fresh and not (path / "last.pt").exists():
                shutil.rmtree(path, ignore_errors=True)
            raise
        _finish_provenance(path)
    return run


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
        check(cfg)
    if workers <= 1:
        return [ensure(c, store) for c in cfgs]
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
                    raise RuntimeError(f"training {cfg.run_id} failed: {err}") from err
    return [Run(run_path(c, store), c) for c in cfgs]


def check(cfg: RunConfig) -> None:
    from .train import check as _check

    _check(cfg)


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


@contextlib.contextmanager
def _lock(path: Path):
    from filelock import FileLock

    locks = path.parent / ".locks"
    locks.mkdir(parents=True, exist_ok=True)
    with FileLock(str(locks / f"{path.name}.lock")):
        yield


def _begin(cfg: RunConfig, path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    config_file = path / CONFIG
    if config_file.exists():
        old = yaml.safe_load(config_file.read_text()) or {}
        if to_dict(from_dict(RunConfig, old), True) != to_dict(cfg, True):
            raise ValueError(
                f"{config_file} holds a different experiment than the one asked for; "
                "expected the same identity fields (remove the folder to retrain)"
            )
    write_text(config_file, dump_yaml(cfg))
    prov = provenance(cfg)
    old_file = path / PROVENANCE
    if old_file.exists():
        prov["resumed_from_start"] = json.loads(old_file.read_text()).get("start_time")
    write_text(old_file, json.dumps(prov, indent=2))


def _finish_provenance(path: Path) -> None:
    file = path / PROVENANCE
    prov = json.loads(file.read_text()) if file.exists() else {}
    prov["end_time"] = _now()
    write_text(file, json.dumps(prov, indent=2))


def provenance(cfg: RunConfig) -> dict:
    """Where and with what a run was made: code version, packages, machine, seed, times."""
    import torch
    import torchvision

    commit, dirty = _git_state()
    device = "cpu"
    if torch.cuda.is_available() and cfg.runtime.device != "cpu":
        device = torch.cuda.get_device_name(0)
    return {
        "run_id": cfg.run_id,
        "seed": cfg.seed,
        "git_commit": commit,
        "git_dirty": dirty,
        "python": platform.python_version(),
        "packages": {
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
            "numpy": np.__version__,
            "dctkd": _dctkd_version(),
        },
        "device": device,
        "cpu_threads": torch.get_num_threads(),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "argv": sys.argv,
        "start_time": _now(),
    }


@lru_cache(maxsize=1)
def _git_state() -> tuple[str | None, bool | None]:
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10
        )
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root, capture_output=True, text=True, timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None, None
    if commit.returncode != 0:
        return None, None
    return commit.stdout.strip(), bool(status.stdout.strip())


def _dctkd_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("dctkd")
    except PackageNotFoundError:
        return "unknown"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write `text` to `path` atomically (temp file in the same folder, then `os.replace`)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, _FILE_MODE)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path beside `path`; on success it is renamed onto `path`."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.fchmod(fd, _FILE_MODE)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _dist_rank_world() -> tuple[int, int]:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def _broadcast_flag(flag: bool) -> bool:
    import torch
    import torch.distributed as dist

    from .train import init_distributed

    init_distributed()
    device = "cuda" if dist.get_backend() == "nccl" else "cpu"
    t = torch.tensor([int(flag)], device=device)
    dist.broadcast(t, 0)
    return bool(t.item())


def _barrier() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        dist.barrier()


__all__ = [
    "DEFAULT_STORE",
    "Run",
    "atomic_path",
    "ensure",
    "ensure_all",
    "provenance",
    "run_path",
    "write_text",
]
