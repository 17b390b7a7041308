"""Start-up of each `dctkd` command next to `python -c "import torch"`, whole processes.

A command's start-up is what a user waits for before anything happens: the interpreter, the
imports and, for `train` and `status`, the checks. Each command runs as a fresh process,
round-robin with the others (so the machine's load falls on all alike), and its time is the
median over `--repeats`; the ratios to `import torch` come from that one run, so compare them
between machines rather than the seconds. `dctkd train` is timed on a finished tiny run (its
checks, its store look-up and its summary, no epoch) of a CIFAR ResNet on the built-in scenes,
against `import torch`, the one import such a run needs (torchvision is for the ImageNet
models and image files).

Usage: `python bench/startup.py [--repeats N] [--json PATH]`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TINY = ["model=resnet8", "optim.epochs=1", "optim.batch_size=32", "runtime.progress=false",
        "data.options={k: 1, num_classes: 4, image_size: 16, train_size: 64, test_size: 32, "
        "distractors: 1, seed: 0}"]


def dctkd(*args: str) -> list[str]:
    return [sys.executable, "-m", "dctkd.cli", *args]


def commands(store: Path, results: Path) -> dict[str, list[str]]:
    """Label -> argv; the first two are the references."""
    python = [sys.executable, "-c"]
    return {
        "import torch": [*python, "import torch"],
        "import torch, torchvision": [*python, "import torch, torchvision"],
        "dctkd --help": dctkd("--help"),
        "dctkd figures --help": dctkd("figures", "--help"),
        "dctkd status --help": dctkd("status", "--help"),
        "dctkd train --help": dctkd("train", "--help"),
        "dctkd train --print-config": dctkd("train", "--print-config"),
        "dctkd status": dctkd("status", "--profile", "smoke", "--results", str(results)),
        "dctkd train (finished run)": dctkd("train", "--store", str(store), *TINY),
    }


def timed(argv: list[str], env: dict) -> float:
    start = time.perf_counter()
    out = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({out.returncode}): {out.stderr[-500:]}")
    return seconds


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None, help="write every number here")
    args = parser.parse_args(argv)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    with tempfile.TemporaryDirectory(prefix="dctkd-startup-") as folder:
        cases = commands(Path(folder) / "store", Path(folder) / "results")
        timed(cases["dctkd train (finished run)"], env)  # trains the run once, untimed
        times: dict[str, list[float]] = {k: [] for k in cases}
        for r in range(args.repeats + 1):  # round 0 warms the file cache, untimed
            names = list(cases)[r % len(cases):] + list(cases)[:r % len(cases)]
            for name in names:
                seconds = timed(cases[name], env)
                if r:
                    times[name].append(seconds)
    median = {k: statistics.median(v) for k, v in times.items()}
    torch_s, both_s = median["import torch"], median["import torch, torchvision"]
    print(f"start-up, median of {args.repeats} fresh processes each, round-robin; load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"{'command':<30} {'seconds':>8} {'x import torch':>15}")
    for name, seconds in median.items():
        print(f"{name:<30} {seconds:>8.2f} {seconds / torch_s:>15.2f}")
    added = median["dctkd train (finished run)"] - torch_s
    print(f"dctkd train adds {added:.2f} s to import torch (importing torchvision too would "
          f"add {both_s - torch_s:.2f} s)")
    result = {"repeats": args.repeats, "median_s": median, "ratio_to_import_torch":
              {k: v / torch_s for k, v in median.items()}, "train_added_s": added}
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
