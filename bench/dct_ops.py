"""Aten ops the DCT term issues per forward + backward, against the paper code's formulation.

On a GPU the term is launch-bound: its maps are 7-56 px, so each op costs about one kernel
launch, whatever its size. This script counts the ops a `TorchDispatchMode` sees in one forward
and backward of the four-level term (ResNet-50 -> ResNet-18 taps at 224 px, the shapes of
bench/dct_loss.py, batch 32), for every variant with and without PRED_GUIDE, and prints
them beside the original formulation's count (bench/original_formulation.py). Views (which
launch nothing) are counted apart.

Each is counted twice, because the term organises its work by device
(dctkd.attention.launch_bound):
- `gpu path`: on the `meta` device, which takes the path a GPU takes (one reduction per tap,
  all levels in one canvas) and computes nothing, so it runs on any machine;
- `cpu path`: on this CPU, where bytes cost more than ops: each large tap is squared and
  summed in cache-sized chunks (two ops per chunk; dctkd.attention._CHUNK_BYTES) and each
  level has its own canvas, unpadded; bench/dct_loss.py times it.

Usage: `python bench/dct_ops.py [--batch 32] [--top 0]` (`--top N` lists each count's N most
frequent ops).
"""

from __future__ import annotations

import argparse
import collections
import sys
from collections.abc import Callable
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dct_loss import make_inputs  # noqa: E402
from original_formulation import original_dct_loss  # noqa: E402

from dctkd.losses.dct import VARIANTS, dct_kd_loss  # noqa: E402

GOAL = 150  # non-view ops per forward + backward of the four-level term


class OpCounter(TorchDispatchMode):
    """Counts every aten op dispatched while active."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: collections.Counter = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops[func] += 1
        return func(*args, **(kwargs or {}))

    def non_views(self) -> collections.Counter:
        return collections.Counter({f: n for f, n in self.ops.items() if not f.is_view})


def count_ops(loss: Callable[..., torch.Tensor], inputs: tuple) -> OpCounter:
    """The ops of one `loss(*inputs).backward()`, after an uncounted call that fills the
    caches (DCT matrices, masks) a training run fills in its first step."""
    student = inputs[0]
    for _ in range(2):
        for f in student:
            f.grad = None
        counter = OpCounter()
        with counter:
            loss(*inputs).backward()
    return counter


def on_device(inputs: tuple, device: str) -> tuple:
    """`inputs` on `device`; student features fresh leaves that require grad."""
    student, teacher, logits, targets = inputs
    return ([f.detach().to(device).requires_grad_() for f in student],
            [f.to(device) for f in teacher], logits.to(device), targets.to(device))


def cases() -> dict[str, Callable[..., torch.Tensor]]:
    out = {"original (V1)": original_dct_loss}
    for variant in VARIANTS:
        for pred_guide in (True, False):
            out[f"{variant}{'' if pred_guide else ' no guide'}"] = (
                lambda s, t, z, y, v=variant, g=pred_guide: dct_kd_loss(
                    s, t, z, y, variant=v, pred_guide=g))
    return out


def main(argv: list[str] | None = None) -> dict[tuple[str, str], int]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--top", type=int, default=0, help="list each count's N commonest ops")
    args = parser.parse_args(argv)

    inputs = make_inputs(args.batch)
    counts: dict[tuple[str, str], int] = {}
    print(f"aten ops per forward + backward, batch {args.batch}, maps 56/28/14/7, "
          f"torch {torch.__version__}")
    print(f"{'term':<18} {'path':<9} {'non-view':>9} {'all':>6} {'x original':>11}")
    for path, device in (("gpu path", "meta"), ("cpu path", "cpu")):
        original = None
        for name, loss in cases().items():
            counter = count_ops(loss, on_device(inputs, device))
            non_views = sum(counter.non_views().values())
            counts[name, path] = non_views
            original = original or non_views
            print(f"{name:<18} {path:<9} {non_views:>9} {sum(counter.ops.values()):>6} "
                  f"{non_views / original:>10.2f}x")
            for func, n in counter.non_views().most_common(args.top):
                print(f"{'':<20}{n:>5}  {func}")
    ours = [n for (name, path), n in counts.items() if path == "gpu path" and name[0] != "o"]
    print(f"gpu path: at most {max(ours)} non-view ops per term (goal {GOAL})")
    return counts


if __name__ == "__main__":
    main()
