"""Speed of the DCT loss (forward + backward) against the paper code's formulation.

Shapes follow a ResNet-50 -> ResNet-18 pair at 224 px: maps 56/28/14/7, student channels
64..512 (requiring grad), teacher channels 256..2048 (no grad), PRED_GUIDE on. Every method
is timed in the same process, round-robin, so the ratios compare like with like on a shared
machine. Usage: `python bench/dct_loss.py [--batch 128] [--repeats 7] [--threads N]
[--device cpu|cuda] [--formats fp32,bf16,fp32-cl,bf16-cl] [--compile]`.

`--formats` times the features as the engine's variants hand them to the loss: float32 or
bfloat16 (what autocast makes of a network's activations), contiguous or channels_last; every
method runs on every format in the same round-robin, and each row's speed-up is against the
original formulation on the first format. The default is `fp32` on a CPU and all four on CUDA,
where the engine trains in bf16 + channels_last.

OpenMP threads that spin while waiting turn every parallel region into a wait for a
descheduled sibling once other processes share the cores, so the timings would measure the
machine's load more than the code. The bench therefore defaults `OMP_WAIT_POLICY` to
`PASSIVE`; set `OMP_WAIT_POLICY` yourself (e.g. `ACTIVE`) to time other behaviour.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # must precede the first torch import

import argparse  # noqa: E402
import functools  # noqa: E402
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


FORMATS = {"fp32": (torch.float32, False), "bf16": (torch.bfloat16, False),
           "fp32-cl": (torch.float32, True), "bf16-cl": (torch.bfloat16, True)}


def make_inputs(batch: int, seed: int = 0):
    """Post-ReLU-like random float32 features for both networks, logits and targets (CPU)."""
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
    # A teacher right on three samples in four, so PRED_GUIDE keeps most of the batch.
    right = torch.arange(batch) % 4 != 3
    logits[right, targets[right]] += 10.0
    return student, teacher, logits, targets


def methods(compiled: bool = False):
    """name -> loss(student, teacher, logits, targets); with `compiled`, also each variant
    through `torch.compile` (one compiled function per variant, shapes static)."""
    # torch's FFT takes no bfloat16; autocast runs it in float32, so the original gets float32.
    out = {"original (V1)": lambda s, t, z, y: original_dct_loss(
        [f.float() for f in s], [f.float() for f in t], z, y)}
    for variant in ("v1", "v2", "dct2"):
        out[variant] = lambda s, t, z, y, v=variant: dct_kd_loss(s, t, z, y, variant=v)
    if compiled:
        for variant in ("v1", "v2", "dct2"):
            fn = functools.partial(dct_kd_loss, variant=variant)
            out[f"{variant} compiled"] = torch.compile(fn, dynamic=False)
    return out


def formatted(inputs, fmt: str, device: torch.device):
    """The float32 `inputs` on `device` in format `fmt`; student features are new leaves that
    require grad, as the student's activations do (not views of the CPU leaves, whose
    gradient would be copied back to the host in every backward)."""
    dtype, channels_last = FORMATS[fmt]
    memory_format = torch.channels_last if channels_last else torch.contiguous_format

    def cast(f: torch.Tensor) -> torch.Tensor:
        return f.to(device, dtype).contiguous(memory_format=memory_format)

    student, teacher, logits, targets = inputs
    return ([cast(f.detach()).requires_grad_() for f in student], [cast(f) for f in teacher],
            logits.to(device), targets.to(device))


def step(fn, student, teacher, logits, targets) -> float:
    """Seconds for one forward + backward, gradients cleared first, the device synchronised
    on both sides of the clock."""
    for f in student:
        f.grad = None
    sync = torch.cuda.synchronize if student[0].is_cuda else (lambda: None)
    sync()
    start = time.perf_counter()
    fn(student, teacher, logits, targets).backward()
    sync()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--formats", default=None,
                        help=f"comma-separated, from {list(FORMATS)} (default fp32 on a CPU, "
                             "all on CUDA)")
    parser.add_argument("--compile", action="store_true",
                        help="also time each variant through torch.compile (compiled during "
                             "the warm-up rounds, which are not timed)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(
        ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    )
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is available")
    formats = (args.formats.split(",") if args.formats
               else list(FORMATS) if device.type == "cuda" else ["fp32"])
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise SystemExit(f"--formats: expected names from {list(FORMATS)}, got {unknown}")

    inputs = make_inputs(args.batch)
    with torch.no_grad():  # the agreement check, in float32 on the CPU
        ref = original_dct_loss(*inputs).item()
        ours = dct_kd_loss(*inputs, variant="v1").item()
    if abs(ours - ref) > 1e-4 * max(1.0, abs(ref)):
        raise SystemExit(f"v1 disagrees with the original formulation: {ours} vs {ref}")

    tensors = {fmt: formatted(inputs, fmt, device) for fmt in formats}
    cases = [(name, fmt, fn) for fmt in formats for name, fn in methods(args.compile).items()]
    times: dict[tuple[str, str], list[float]] = {(n, f): [] for n, f, _ in cases}
    for r in range(args.warmup + args.repeats):
        # Rotating the order spreads what one case leaves behind (freed memory) over all.
        for name, fmt, fn in cases[r % len(cases) :] + cases[: r % len(cases)]:
            t = step(fn, *tensors[fmt])
            if r >= args.warmup:
                times[name, fmt].append(t)

    base = statistics.median(times["original (V1)", formats[0]])
    print(
        f"DCT loss forward+backward, batch {args.batch}, maps {'/'.join(map(str, SIZES))}, "
        f"student C {STUDENT_CHANNELS}, teacher C {TEACHER_CHANNELS}, {args.repeats} repeats"
    )
    where = (torch.cuda.get_device_name(device) if device.type == "cuda"
             else f"{torch.get_num_threads()} threads, "
                  f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}, {os.cpu_count()} CPUs")
    print(f"torch {torch.__version__}, {where}, "
          f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"v1 value {ours:.6f} vs original {ref:.6f} (float32, CPU)")
    print(f"{'method':<15} {'format':<8} {'median ms':>10} {'min ms':>9} {'µs/img':>7} "
          f"{'speed-up vs original ' + formats[0]:>27}")
    for (name, fmt), ts in times.items():
        med = statistics.median(ts)
        print(f"{name:<15} {fmt:<8} {med * 1e3:>10.2f} {min(ts) * 1e3:>9.2f} "
              f"{med / args.batch * 1e6:>7.1f} {base / med:>26.2f}x")


if __name__ == "__main__":
    main()
