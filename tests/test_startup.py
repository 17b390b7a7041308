"""The command line starts in proportion to its command: importing it, and the help of every
command that needs no network or data, loads none of the heavy stacks (torch, torchvision,
matplotlib, seaborn, papermill, submitit); the commands that build no run (`train --help`,
`train --print-config`, `status`) import no torch, since importing it alone takes seconds.
Checked in a fresh interpreter, where nothing is imported yet."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "torchvision", "matplotlib", "seaborn", "papermill", "submitit", "pandas")

_PROBE = """
import json, sys
from dctkd.cli import main
try:
    code = main({argv!r})
except SystemExit as exit:
    code = exit.code
print(json.dumps([code, sorted(m for m in {heavy!r} if m in sys.modules)]))
"""


def _heavy_loaded(argv: list[str] | None, exit_codes: tuple[int, ...] = (0, 2)) -> list[str]:
    """The heavy top-level modules a fresh interpreter holds after importing the CLI and,
    unless `argv` is None, running `dctkd <argv>`, which must end with one of `exit_codes`
    (2: a mistyped option), so a command that stops early cannot pass for a light one."""
    code = _PROBE.format(argv=argv, heavy=HEAVY) if argv is not None else (
        f"import json, sys, dctkd.cli\nprint(json.dumps([0, [m for m in {HEAVY!r} "
        "if m in sys.modules]]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    exit_code, loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert exit_code in exit_codes, out.stderr[-2000:]
    return loaded


def test_importing_the_cli_loads_no_heavy_stack():
    assert _heavy_loaded(None) == []


@pytest.mark.parametrize("argv", [["--help"], ["figures", "--help"], ["status", "--help"],
                                  ["fetch-weights", "--help"], ["publish", "--help"],
                                  ["figures", "--nosuch"],
                                  ["train", "--help"], ["evaluate", "--help"],
                                  ["train", "--nosuch"]])
def test_help_and_a_mistyped_option_load_no_heavy_stack(argv):
    assert _heavy_loaded(argv) == []


def test_printing_a_resolved_config_loads_no_heavy_stack():
    """Validating and hashing a config with a teacher, a distillation method and its options
    reads the method, dataset and model catalogues, not the code behind them."""
    argv = ["train", "--print-config", "method.name=dct+kd", "method.options.variant=v2",
            "teacher.model=resnet56", "model=resnet20", "data.name=cifar100"]
    assert _heavy_loaded(argv, exit_codes=(0,)) == []


def test_status_imports_no_torch(tmp_path):
    """`dctkd status` computes every run id of a profile and reads the store, not torch
    (submitit, which its Slurm settings come from, is light enough)."""
    loaded = _heavy_loaded(["status", "--profile", "smoke", "--results", str(tmp_path)],
                           exit_codes=(0,))
    assert "torch" not in loaded and "torchvision" not in loaded, loaded


def test_the_report_package_imports_its_names_on_first_use():
    code = ("import sys, dctkd.report as r\nassert 'dctkd.report.figures' not in sys.modules\n"
            "from dctkd.report import Report, figures\n"
            "print(figures.__name__, Report.__module__, 'matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["dctkd.report.figures", "dctkd.report.notebook", "True"]


def test_reading_a_profile_imports_no_submitit():
    """A profile's Slurm settings are plain data: reading one (as `bench/train_step.py` and
    `dctkd figures --plan` do) must not need submitit, which a GPU node may not have."""
    code = ("import sys\nfrom dctkd.report.profile import load_profile\nimport dctkd.report.plan\n"
            "load_profile('quick')\nprint('submitit' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["False"]


def test_a_cifar_resnet_run_on_scenes_imports_no_torchvision(tmp_path):
    """A CIFAR-style ResNet on the built-in scenes needs torch alone: torchvision, whose import
    takes seconds, is for ImageNet models, image files and their transforms."""
    argv = ["train", "--store", str(tmp_path), "model=resnet8", "data.name=scenes",
            "data.options.train_size=48", "data.options.test_size=16", "optim.epochs=1",
            "optim.batch_size=16", "runtime.progress=false"]
    code = _PROBE.format(argv=argv, heavy=("torch", "torchvision"))
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    exit_code, loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert exit_code == 0, out.stderr[-2000:]
    assert loaded == ["torch"]
    assert list(tmp_path.glob("resnet8-none-*/final.json"))  # the run trained and finished
