"""Test-wide settings: one intra-op thread per test process.

`make test` runs pytest with two worker processes on machines that often have two cores;
with torch's default threads each worker would spin-wait against the other.
"""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def smoke_out(tmp_path_factory) -> Path:
    """One smoke results folder, shared by xdist workers so each smoke run trains once."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        out = tmp_path_factory.getbasetemp().parent / "smoke-results"
        out.mkdir(exist_ok=True)
        return out
    return tmp_path_factory.mktemp("smoke-results")
