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


@pytest.fixture(scope="session")
def paper_home(tmp_path_factory) -> Path:
    """Tiny copies of the paper's datasets in their official layouts (`<home>/data`, the
    folder `--data` names) and a torch home (`<home>/torch`, for `$TORCH_HOME`) whose hub
    cache holds random ResNet-50/152 weights under torchvision's ImageNet file names.

    Written once per session (tests/paper_layouts.py) and shared by xdist workers.
    """
    from filelock import FileLock
    from paper_layouts import write_fake_imagenet_weights, write_paper_data

    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    home = base / "paper-home"
    with FileLock(str(base / "paper-home.lock")):
        if not (home / "written").is_file():
            write_paper_data(home / "data")
            write_fake_imagenet_weights(home / "torch" / "hub", ["resnet50", "resnet152"])
            (home / "written").touch()
    return home
