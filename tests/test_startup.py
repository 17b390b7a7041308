"""The command line starts in proportion to its command: importing it, and the help of every
command that needs no network or data, loads none of the heavy stacks (torch, torchvision,
matplotlib, seaborn, papermill, submitit). Checked in a fresh interpreter, where nothing is
imported yet."""

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
    main({argv!r})
except SystemExit:
    pass
print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


def _heavy_loaded(argv: list[str] | None) -> list[str]:
    """The heavy top-level modules a fresh interpreter holds after importing the CLI and,
    unless `argv` is None, running `dctkd <argv>`."""
    code = _PROBE.format(argv=argv, heavy=HEAVY) if argv is not None else (
        f"import json, sys, dctkd.cli\nprint(json.dumps([m for m in {HEAVY!r} "
        "if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_importing_the_cli_loads_no_heavy_stack():
    assert _heavy_loaded(None) == []


@pytest.mark.parametrize("argv", [["--help"], ["figures", "--help"], ["status", "--help"],
                                  ["fetch-weights", "--help"], ["figures", "--nosuch"]])
def test_help_and_a_mistyped_option_load_no_heavy_stack(argv):
    assert _heavy_loaded(argv) == []


def test_the_report_package_imports_its_names_on_first_use():
    code = ("import sys, dctkd.report as r\nassert 'dctkd.report.figures' not in sys.modules\n"
            "from dctkd.report import Report, figures\n"
            "print(figures.__name__, Report.__module__, 'matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["dctkd.report.figures", "dctkd.report.notebook", "True"]
