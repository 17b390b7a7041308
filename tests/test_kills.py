"""A `dctkd figures` build that is stopped (SIGTERM) or killed (SIGKILL) takes its worker
processes with it: nothing trains on unseen, and the same command resumes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")


def _workers(parent: int) -> list[int]:
    """Live processes started by `parent` through multiprocessing's spawn."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == parent and fields[0] != "Z" and b"spawn_main" in cmdline:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _start_build(tmp_path: Path) -> tuple[subprocess.Popen, list[int]]:
    build = subprocess.Popen(
        [sys.executable, "-m", "dctkd.cli", "figures", "--profile", "smoke", "--nb", "02",
         "--workers", "2", "--results", str(tmp_path / "out"),
         "--set", "roles.teacher.optim.epochs=500"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        workers = _workers(build.pid)
        logs = list((tmp_path / "out").glob("runs/*/train.log"))
        if len(workers) == 2 and len(logs) == 2:
            return build, workers
        assert build.poll() is None, build.communicate()
        time.sleep(0.5)
    build.kill()
    pytest.fail("the build never had two runs in flight")


def _gone(pids: list[int], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not any(_alive(p) for p in pids):
            return True
        time.sleep(0.2)
    return False


def test_sigterm_stops_the_build_and_its_runs_in_flight(tmp_path):
    build, workers = _start_build(tmp_path)
    build.send_signal(signal.SIGTERM)
    _, err = build.communicate(timeout=60)
    assert build.returncode == 130
    assert err.strip().splitlines()[-1] == (
        "dctkd figures: interrupted; the same command resumes")
    assert _gone(workers, 10), "workers outlived the stopped build"


def test_workers_of_a_killed_build_stop_on_their_own(tmp_path):
    build, workers = _start_build(tmp_path)
    build.kill()
    build.communicate(timeout=30)
    try:
        assert _gone(workers, 15), "workers outlived the killed build"
    finally:
        for pid in workers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
