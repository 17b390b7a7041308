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
import math
import os
import platform
import shutil
import socket
import subprocess
import sys
import time
from functools import lru_cache
from pathlib import Path

import numpy as np

from dctkd.config import RunConfig, dump_yaml, from_dict, identity, parse_yaml
from dctkd.errors import ConfigError, RunFailed
from dctkd.files import remove_leftovers, write_text

from .checks import check
from .runlog import FAILED, LOG, clear_failed, lock_path

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
            config = read_config(file)
        self.config = config

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    @property
    def done(self) -> bool:
        """True when `final.json` exists and can be read: an unreadable one means not done,
        so `ensure` finishes the run again."""
        try:
            _read_final(self.path / FINAL)
        except (OSError, ValueError):
            return False
        return True

    def metrics(self) -> dict:
        """`final.json`: test metrics of the `best` and `last` checkpoints and run facts.

        A metric with no value (a checkpoint that does not exist or has non-finite weights;
        null in the file) is NaN here, so tables and means need no special case.
        """
        final = _read_final(self._need(FINAL))
        for which in ("best", "last"):
            final[which] = {k: math.nan if v is None else v for k, v in final[which].items()}
        return final

    @property
    def usable(self) -> bool:
        """False for a finished run that diverged in its first epoch: it has no checkpoint."""
        return self.metrics().get("best_epoch") != 0

    def history(self):
        """Per-epoch metrics (`metrics.csv`) as a pandas DataFrame."""
        import pandas as pd

        return pd.read_csv(self._need("metrics.csv"))

    def provenance(self) -> dict:
        return json.loads(self._need(PROVENANCE).read_text())

    def load_model(self, which: str = "best"):
        """The student as a `TappedModel` (`best`: val-selected; `last`: final epoch), on CPU."""
        from dctkd.data import dataset_info
        from dctkd.models import load_model

        if which not in ("best", "last"):
            raise ValueError(f"which must be 'best' or 'last', got {which!r}")
        if which == "best" and self.done and not self.usable:
            raise RunFailed(
                f"run {self.path.name} diverged in epoch 1 and has no usable checkpoint; "
                "retrain it with a lower optim.lr (or method.alpha)")
        data = self.config.data
        info = dataset_info(data.name, data.options, root=data.root)
        if which == "best":
            return load_model(
                self._need("best.pt"),
                expected_arch=self.config.model,
                expected_classes=info.num_classes,
            )
        import torch

        from dctkd.models import build_model

        file = self._need("last.pt")
        try:
            state = torch.load(file, map_location="cpu", weights_only=True)
            model = build_model(self.config.model, info.num_classes)
            model.load_state_dict(state["student"])
        except Exception as err:
            from dctkd.errors import one_line

            raise ValueError(f"{file} could not be read as this run's training checkpoint "
                             f"({one_line(err)[:200]})") from err
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


def read_config(file: Path) -> RunConfig:
    """The `RunConfig` of a run's `config.yaml`; a damaged file is one line naming it."""
    return from_dict(RunConfig, parse_yaml(file.read_text(), str(file)) or {}, f"in {file}")


def _read_final(file: Path) -> dict:
    """`final.json`, refusing an empty, truncated or incomplete one (ValueError)."""
    try:
        final = json.loads(file.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{file} is not valid JSON ({err.msg} at line {err.lineno}); "
                         "re-run the run's command to finish it again") from None
    if not isinstance(final, dict) or not all(isinstance(final.get(k), dict)
                                              for k in ("best", "last")):
        raise ValueError(f"{file} lacks the best and last metrics; re-run the run's command "
                         "to finish it again")
    return final


def dataset_of(cfg: RunConfig, split: str = "test"):
    """The un-augmented `split` of a run's dataset, as that run saw it (same val hold-out)."""
    from dctkd.data import build_dataset

    d = cfg.data
    return build_dataset(d.name, split, d.root, options=d.options, augment=False,
                         val_fraction=d.val_fraction, train_size=d.train_size, seed=cfg.seed,
                         holdout_seed=d.holdout_seed)


def _teacher_model(cfg: RunConfig, store: str | os.PathLike):
    """The trained teacher of `cfg` (training it first if missing) as `(network, run folder)`,
    or `(None, None)` when the method needs no teacher."""
    from dctkd.losses import resolve

    if cfg.teacher is None or not resolve(cfg.method).needs_teacher:
        return None, None
    run = ensure(cfg.teacher, store)
    if not run.usable:
        raise RunFailed(
            f"the teacher run {run.path.name} diverged in epoch 1 and has no usable checkpoint, "
            f"so {cfg.run_id} cannot train; lower teacher.optim.lr and run again")
    return run.load_model("best"), run.path


def _init_weights(cfg: RunConfig, store: str | os.PathLike) -> Path | None:
    """The val-selected checkpoint of the run that starts `cfg`'s weights (training it first
    if missing), or None when `cfg` starts from scratch or from published weights."""
    if cfg.init is None:
        return None
    run = ensure(cfg.init, store)
    if not run.usable:
        raise RunFailed(
            f"the run {run.path.name} that starts {cfg.run_id}'s weights diverged in epoch 1 "
            "and has no usable checkpoint; lower its optim.lr and run again")
    return run.path / "best.pt"


def run_path(cfg: RunConfig, store: str | os.PathLike = DEFAULT_STORE) -> Path:
    return Path(store) / cfg.run_id


def ensure(cfg: RunConfig, store: str | os.PathLike = DEFAULT_STORE) -> Run:
    """The finished run of `cfg` in `store`, training it (and the runs it needs: the one its
    weights start from, its teacher) first if missing.

    The config is checked before anything is written (the store too), so a bad one leaves no
    folder behind; a fresh run that fails before its first checkpoint is removed again (all
    but a launcher's `train.log` and `failed.json`).
    Temporary files a killed writer left are swept when the run starts and when it finishes.
    Under torchrun every rank calls this and trains together; rank 0 holds the lock and writes.
    """
    from .train import train

    path = run_path(cfg, store)
    run = Run(path, cfg)
    if run.done:
        return run
    check(cfg, store)
    init = _init_weights(cfg, store)
    teacher, teacher_dir = _teacher_model(cfg, store)
    rank, world = _dist_rank_world()
    if world > 1:
        lock = _lock(path) if rank == 0 else contextlib.nullcontext()
        with lock:
            if not _broadcast_flag(run.done if rank == 0 else False):
                if rank == 0:
                    _begin(cfg, path)
                train(cfg, path, teacher, teacher_dir, init)
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
            train(cfg, path, teacher, teacher_dir, init)
        except BaseException:
            if fresh and not (path / "last.pt").exists():
                _discard(path)
            raise
        _finish_provenance(path)
    return run


@contextlib.contextmanager
def _lock(path: Path):
    from filelock import FileLock

    file = lock_path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(file)):
        yield


def _discard(path: Path) -> None:
    """Remove a fresh run that failed before its first checkpoint, but for the launcher's
    log and failure marker (`dctkd.engine.runlog`): without them, the folder goes too."""
    for item in path.iterdir() if path.is_dir() else ():
        if item.is_dir():
            shutil.rmtree(item, ignore_errors=True)
        elif item.name not in (LOG, FAILED):
            item.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        path.rmdir()


def _begin(cfg: RunConfig, path: Path) -> None:
    """Open the run folder: sweep leftovers, check or rewrite `config.yaml`, note the start.

    A damaged `config.yaml` is rewritten (the folder's name already carries the config's
    hash, and `last.pt` its run id); one that names another experiment stops.
    """
    path.mkdir(parents=True, exist_ok=True)
    remove_leftovers(path)
    config_file = path / CONFIG
    if config_file.exists():
        try:
            old = read_config(config_file)
        except ConfigError as err:
            _warn(f"{config_file} was unreadable and is rewritten ({err})")
        else:
            if identity(old) != identity(cfg):
                raise ConfigError(
                    f"{config_file} holds a different experiment than the one asked for; "
                    "expected the same identity fields (remove the folder to retrain)"
                )
    write_text(config_file, dump_yaml(cfg))
    prov = provenance(cfg)
    old = _read_provenance(path / PROVENANCE)
    if old.get("start_time"):
        prov["start_time"] = old["start_time"]
        prov["resumes"] = [*old.get("resumes", []), _now()]
    write_text(path / PROVENANCE, json.dumps(prov, indent=2))


def _finish_provenance(path: Path) -> None:
    prov = _read_provenance(path / PROVENANCE)
    prov["end_time"] = _now()
    write_text(path / PROVENANCE, json.dumps(prov, indent=2))
    remove_leftovers(path)
    clear_failed(path)


def _read_provenance(file: Path) -> dict:
    """`provenance.json`, or {} when it is missing or damaged (it is rewritten whole)."""
    try:
        prov = json.loads(file.read_text())
    except (OSError, ValueError):
        return {}
    return prov if isinstance(prov, dict) else {}


def _warn(message: str) -> None:
    import warnings

    warnings.warn(message, RuntimeWarning, stacklevel=3)


def provenance(cfg: RunConfig) -> dict:
    """Where and with what a run was made: code version, packages, machine, seed, times."""
    from importlib.metadata import version

    import torch

    from .runtime import amp_dtype

    commit, dirty = _git_state()
    device = "cpu"
    if torch.cuda.is_available() and cfg.runtime.device != "cpu":
        device = torch.cuda.get_device_name(0)
    # What `runtime.amp` became on this machine (`auto` means bf16 on some CPUs, fp32 on
    # others): not part of the run's id, and it moves the results.
    dtype = amp_dtype(cfg.runtime.amp, torch.device("cpu" if device == "cpu" else "cuda"))
    return {
        "run_id": cfg.run_id,
        "seed": cfg.seed,
        "git_commit": commit,
        "git_dirty": dirty,
        "python": platform.python_version(),
        "packages": {
            "torch": torch.__version__,
            "torchvision": version("torchvision"),  # not imported: that takes seconds
            "numpy": np.__version__,
            "dctkd": _dctkd_version(),
        },
        "device": device,
        "autocast": str(dtype).removeprefix("torch.") if dtype else "off",
        "cpu_threads": torch.get_num_threads(),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "argv": sys.argv,
        "start_time": _now(),
    }


@lru_cache(maxsize=1)
def _git_state() -> tuple[str | None, bool | None]:
    return git_state(Path(__file__).resolve().parent.parent)


def git_state(folder: Path, timeout: float = 10.0) -> tuple[str | None, bool | None]:
    """`(commit, dirty)` of the checkout holding `folder`; None for what git cannot say in
    `timeout` seconds. The commit is asked apart from the dirty check: in a fresh clone
    `git status` runs the notebooks' nbstripout filter on every notebook once (tens of
    seconds), and a run records its commit all the same (`make env` pays that once)."""
    commit = _git(folder, timeout, "rev-parse", "HEAD")
    if commit is None:
        return None, None
    status = _git(folder, timeout, "status", "--porcelain", "--untracked-files=no")
    return commit, None if status is None else bool(status)


def _git(folder: Path, timeout: float, *args: str) -> str | None:
    """`git args` run in `folder`: its stripped output, or None if it failed or timed out."""
    try:
        done = subprocess.run(["git", *args], cwd=folder, capture_output=True, text=True,
                              timeout=timeout)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _dctkd_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("dctkd")
    except PackageNotFoundError:
        return "unknown"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _dist_rank_world() -> tuple[int, int]:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def _broadcast_flag(flag: bool) -> bool:
    import torch
    import torch.distributed as dist

    from .runtime import init_distributed

    init_distributed()
    device = "cuda" if dist.get_backend() == "nccl" else "cpu"
    t = torch.tensor([int(flag)], device=device)
    dist.broadcast(t, 0)
    return bool(t.item())


def _barrier() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        dist.barrier()


__all__ = ["DEFAULT_STORE", "Run", "dataset_of", "ensure", "provenance", "run_path"]
