"""`results/<profile>/build.json`: what the last `dctkd figures` of a profile did and on what.

The record names the code (commit, whether the tree had changes, a hash of every file the
numbers depend on: `freshness`), the machine, the notebooks executed, and the build's wall
time with its training share, so a published build can say what made it and how long it
took. It describes the last build only: a build that resumed from runs trained earlier says
so in `runs.trained` (the runs this build trained) against `runs.needed`.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

from dctkd.files import write_json

from .freshness import dependency_hashes
from .notebook import project_root

RECORD = "build.json"


def cpu_model() -> str:
    """The CPU's model name (`/proc/cpuinfo`), else what `platform` knows."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict:
    """The machine a build ran on: CPU, cores this process may use, native bf16, GPUs."""
    import torch

    from dctkd.engine.runtime import cpu_supports_bf16

    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return {
        "cpu": cpu_model(),
        "cores": cores,
        "cpu_bf16": cpu_supports_bf16(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "gpus": gpus,
        "platform": platform.platform(),
        "torch": torch.__version__,
    }


def start_record(profile: str, overrides: list[str], notebooks: list[Path],
                 notebook_folder: Path | None = None) -> dict:
    """The record of a build of `notebooks` (from `notebook_folder`, default the project's)
    starting now: its code and machine; the times are added at the end."""
    from dctkd.engine.runs import git_state

    root = project_root()
    commit, dirty = git_state(root)
    return {
        "profile": Path(profile).stem,
        "overrides": list(overrides),
        "notebooks": [nb.stem for nb in notebooks],
        "commit": commit,
        "dirty": dirty,
        "dependencies": dependency_hashes(profile, root, notebook_folder),
        "machine": machine(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "clock": time.monotonic(),
        "runs": {"needed": 0, "trained": 0, "failed": 0},
        "train_wall_seconds": 0.0,
        "notebook_seconds": {},
    }


def finish_record(out: Path, record: dict, state: str) -> Path:
    """Write `record` with its end time, wall time and `state` (`ok`, `failed`) to
    `<out>/build.json`."""
    done = {k: v for k, v in record.items() if k != "clock"}
    done["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    done["wall_seconds"] = round(time.monotonic() - record["clock"], 1)
    done["state"] = state
    return write_json(Path(out) / RECORD, done)


def read_record(out: Path) -> dict:
    """The build record of the results folder `out`; a missing or damaged one is an error
    naming the file and the command that writes it."""
    path = Path(out) / RECORD
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"no build record at {path}; expected the one `dctkd figures` "
                                "writes at the end of a build (build the profile first)") from None
    except ValueError as err:
        raise ValueError(f"{path}: not a build record ({err})") from None
    if not isinstance(record, dict) or "dependencies" not in record:
        raise ValueError(f"{path}: not a build record (no `dependencies`)")
    return record


__all__ = ["RECORD", "cpu_model", "finish_record", "machine", "read_record", "start_record"]
