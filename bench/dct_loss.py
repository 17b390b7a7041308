"""Speed of the DCT loss (forward + backward) against the paper code's formulation.

Shapes follow a ResNet-50 -> ResNet-18 pair at 224 px: maps 56/28/14/7, student channels
64..512 (requiring grad), teacher channels 256..2048 (no grad), PRED_GUIDE on. Every method
is timed in the same process, round-robin, so the ratios compare like with like on a shared
machine. Usage: `python bench/dct_loss.py [--batch 128] [--repeats 7] [--threads N]`.

OpenMP threads that spin while waiting turn every parallel region into a wait for a
descheduled sibling once other processes share the cores, so the timings would measure the
machine's load more than the code. The bench therefore defaults `OMP_WAIT_POLICY` to
`PASSIVE`; set `OMP_WAIT_POLICY` yourself (e.g. `ACTIVE`) to time other behaviour.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # must precede the first torch import

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from original_formulation import original_dct_loss  # noqa: E402

from dctkd.losses.dct import dct_kd_loss  # noqa: E402

SIZES = (56, 28, 14, 7)
STUDENT_CHANNELS = (64, 128, 256, 512)
TEACHER_CHANNELS = (256, 512, 1024, 2048)


def make_inputs(batch: int, seed: int = 0):
    """Post-ReLU-like random features for both networks, logits and targets."""
    g = torch.Generator().manual_seed(seed)
    student = [
        torch.randn(batch, c, s, s, generator=g).relu_().requires_grad_()
        for c, s in zip(STUDENT_CHANNELS, SIZES, strict=True)
    ]
    teacher = [
        torch.randn(batch, c, s, s, generator=g).relu_()
        for c, s in zip(TEACHER_CHANNELS, SIZES, strict=True)
    ]
    logits = torch.randn(batch, 100, generator=g)
    targets = torch.randint(0, 100, (batch,), generator=g)
    return student, teacher, logits, targets


def methods():
    """name -> loss(student, teacher, logits, targets)."""
    out = {"original (V1)": original_dct_loss}
    for variant in ("v1", "v2", "dct2"):
        out[variant] = lambda s, t, z, y, v=variant: dct_kd_loss(s, t, z, y, variant=v)
    return out


def step(fn, student, teacher, logits, targets) -> float:
    """Seconds for one forward + backward, gradients cleared first."""
    for f in student:
        f.grad = None
    start = time.perf_counter()
    fn(student, teacher, logits, targets).backward()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    student, teacher, logits, targets = make_inputs(args.batch)
    fns = methods()
    with torch.no_grad():
        ref = original_dct_loss(student, teacher, logits, targets).item()
        ours = dct_kd_loss(student, teacher, logits, targets, variant="v1").item()
    if abs(ours - ref) > 1e-4 * max(1.0, abs(ref)):
        raise SystemExit(f"v1 disagrees with the original formulation: {ours} vs {ref}")

    names = list(fns)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(args.warmup + args.repeats):
        # Rotating the order spreads what one method leaves behind (freed memory) over all.
        for name in names[r % len(names) :] + names[: r % len(names)]:
            t = step(fns[name], student, teacher, logits, targets)
            if r >= args.warmup:
                times[name].append(t)

    base = statistics.median(times["original (V1)"])
    print(
        f"DCT loss forward+backward, batch {args.batch}, maps {'/'.join(map(str, SIZES))}, "
        f"student C {STUDENT_CHANNELS}, teacher C {TEACHER_CHANNELS}, {args.repeats} repeats"
    )
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}, {os.cpu_count()} CPUs, "
        f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )
    print(f"v1 value {ours:.6f} vs original {ref:.6f}")
    print(f"{'method':<15} {'median ms':>10} {'min ms':>9} {'speed-up vs original':>21}")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:<15} {med * 1e3:>10.1f} {min(ts) * 1e3:>9.1f} {base / med:>20.2f}x")


if __name__ == "__main__":
    main()
