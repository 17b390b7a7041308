"""A run's log file and failure marker, and a look at its lock that does not take it.

A launcher (the local worker pool, a Slurm job) sends what a run prints to `<run>/train.log`,
so a listing of failures can point at the traceback; a run that fails writes
`<run>/failed.json` (the reason, the log, when, where), which the run store removes once the
run finishes. Both outlive the cleanup of a fresh run that failed before its first
checkpoint: that folder keeps exactly these two files.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from pathlib import Path

from dctkd.errors import one_line
from dctkd.files import write_json

LOG, FAILED = "train.log", "failed.json"


def lock_path(path: Path) -> Path:
    """The lock file of run folder `path` (`<store>/.locks/<run_id>.lock`)."""
    return path.parent / ".locks" / f"{path.name}.lock"


def lock_held(path: Path) -> bool:
    """True when some process (here, or on another machine sharing the store) holds the run's
    lock, i.e. is training it. Tried without waiting and released at once; a lock file that
    cannot be opened (a read-only store) reads as not held."""
    from filelock import FileLock, Timeout

    file = lock_path(path)
    if not file.is_file():
        return False
    lock = FileLock(str(file), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        return True
    except OSError:
        return False
    lock.release()
    return False


def note(path: Path, text: str) -> None:
    """Append a line to the run's log (creating the folder): the launcher's own records."""
    path.mkdir(parents=True, exist_ok=True)
    with open(path / LOG, "a", encoding="utf-8") as fh:
        fh.write(f"[dctkd {time.strftime('%Y-%m-%d %H:%M:%S')}] {text}\n")


@contextlib.contextmanager
def captured(path: Path):
    """This process's stdout and stderr go to `<run>/train.log` while the block runs.

    The file descriptors are redirected, not only `sys.stdout`, so warnings, C extensions,
    DataLoader workers and submitit's own messages land there too; the previous streams come
    back afterwards (a worker process trains many runs in turn).
    """
    path.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        with open(path / LOG, "ab") as log:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
            try:
                yield
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
    finally:
        for fd in saved:
            os.close(fd)


def mark_failed(path: Path, err: BaseException) -> None:
    """Write `failed.json`: the one-line reason and where its full traceback is."""
    path.mkdir(parents=True, exist_ok=True)
    write_json(path / FAILED, {
        "reason": one_line(err)[:1000], "error": type(err).__name__, "log": str(path / LOG),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "host": socket.gethostname(),
    })


def read_failure(path: Path) -> dict | None:
    """The run's `failed.json`, or None when it has none (a damaged one reads as a failure
    without a reason)."""
    file = path / FAILED
    if not file.is_file():
        return None
    try:
        found = json.loads(file.read_text())
    except (OSError, ValueError):
        found = None
    if not isinstance(found, dict):
        return {"reason": f"{file} is unreadable", "log": str(path / LOG)}
    return found


def clear_failed(path: Path) -> None:
    (path / FAILED).unlink(missing_ok=True)


__all__ = ["FAILED", "LOG", "captured", "clear_failed", "lock_held", "lock_path",
           "mark_failed", "note", "read_failure"]
