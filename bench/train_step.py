"""Images per second of a ResNet-50 -> ResNet-18 DCT distillation training step, by stage.

Each stage adds one cost to the one before, so the table shows where a step's time goes:
  loader    JPEG files decoded and transformed into batches by a DataLoader in this process
            (the project's `ImageListDataset` and 224-px train pipeline), no model;
  student   ResNet-18 forward + backward + SGD step on a fixed batch already on the device;
  +teacher  the same plus the frozen ResNet-50's forward (eval mode, no grad);
  +dct      the engine's real step: `Distiller` with method `dct` (CE + DCT term).
The three model stages run with bf16 autocast, channels_last and `torch.compile` (of the
networks and, as the engine does, of the DCT term) each on and off, on one shared synthetic
batch. Every rate is also a ratio to the loader's rate and to the student-only rate of the
same variant; compare those between runs, since absolute rates follow the machine's load.
All cases are timed in one process, round-robin, as bench/dct_loss.py does, and each rate
comes from the median over repeats. Compiling happens before any timing (inductor builds one
graph per network and variant, minutes on a cold cache) and is reported on its own.

The benchmark then says how many DataLoader workers keep the device fed: it times one
worker (one thread) decoding and transforming JPEGs with PIL, as the dataset does, and with
`torchvision.io.decode_jpeg` on the CPU (on a GPU also `decode_jpeg` on the device), and
divides the fastest `+dct` rate by each. It writes its own JPEGs (about 500x375 px, the size
of a typical scene-dataset photo) to a temporary folder and removes them afterwards.

Defaults: batch 128 at 224 px on CUDA; batch 8 at 112 px on a CPU, which takes about a
minute on 2 cores plus the compile warm-up and is the size continuous integration runs.
Usage: `python bench/train_step.py [--batch B] [--size PX] [--no-compile] [--json PATH]
[--save [PATH]]`. `--save` writes the rates of the variant the engine trains with by default
(bf16 where the device has it, channels_last, no compile) to `results/throughput.json`, where
`dctkd figures --plan` reads them to price a profile in GPU-hours: the student's training
step, the teacher's forward (the +teacher rate less the student's) and the DCT term's
per-image cost (the +dct rate less the +teacher one). Run it on the GPU the runs will use.

As in bench/dct_loss.py, `OMP_WAIT_POLICY` defaults to `PASSIVE`: spinning OpenMP threads
would make the timings measure the other processes sharing the cores.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # must precede the first torch import

import argparse  # noqa: E402
import contextlib  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from dataclasses import asdict, dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import torchvision  # noqa: E402
from PIL import Image  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402
from torchvision.io import ImageReadMode, decode_jpeg, read_file  # noqa: E402

from dctkd.config import MethodConfig  # noqa: E402
from dctkd.data.memory import ImageListDataset, load_rgb  # noqa: E402
from dctkd.data.transforms import scene_transform  # noqa: E402
from dctkd.engine.distiller import build_distiller  # noqa: E402
from dctkd.engine.runtime import amp_dtype  # noqa: E402
from dctkd.losses import resolve  # noqa: E402
from dctkd.models import build_model, tap_shapes  # noqa: E402
from dctkd.report.plan import THROUGHPUT_FILE, Throughput  # noqa: E402

STUDENT, TEACHER = "resnet18", "resnet50"
STAGES = ("loader", "student", "+teacher", "+dct")
JPEG_SIZE = (500, 375)


@dataclass(frozen=True)
class Variant:
    """How the networks run: bf16 autocast, channels_last memory format, torch.compile."""

    bf16: bool
    channels_last: bool
    compiled: bool

    @property
    def label(self) -> str:
        return " ".join((
            "bf16" if self.bf16 else "fp32",
            "cl" if self.channels_last else "nchw",
            "compiled" if self.compiled else "eager",
        ))

    def as_dict(self) -> dict:
        return {"bf16": self.bf16, "channels_last": self.channels_last, "compile": self.compiled}


@dataclass
class Case:
    """One timed thing: `run()` does one step, or loads or decodes one batch, of `batch` images.

    `threads` pins torch's intra-op threads while it runs (1 for what one loader worker does,
    as DataLoader workers run single-threaded); None leaves them as they are.
    """

    stage: str
    variant: Variant | None
    run: Callable[[], None]
    threads: int | None = None

    @property
    def key(self) -> str:
        return f"{self.stage}|{self.variant.label if self.variant else '-'}"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--batch", type=int, default=None, help="default 128 on CUDA, 8 on CPU")
    parser.add_argument("--size", type=int, default=None, help="default 224 on CUDA, 112 on CPU")
    parser.add_argument("--classes", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=None, help="default 5 on CUDA, 3 on CPU")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds before the repeats")
    parser.add_argument("--jpegs", type=int, default=None, help="JPEG files (at least the batch)")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile variants")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument("--json", type=Path, default=None, help="write every number here")
    parser.add_argument("--save", type=Path, nargs="?", const=THROUGHPUT_FILE, default=None,
                        metavar="PATH", help="write the throughput `dctkd figures --plan` "
                        f"prices runs with (default {THROUGHPUT_FILE})")
    args = parser.parse_args(argv)
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    gpu = args.device.startswith("cuda")
    args.batch = args.batch or (128 if gpu else 8)
    args.size = args.size or (224 if gpu else 112)
    args.repeats = args.repeats or (5 if gpu else 3)
    args.jpegs = max(args.jpegs or 0, args.batch)
    return args


def write_jpegs(folder: Path, count: int, seed: int = 0) -> list[str]:
    """`count` 500x375 JPEGs (quality 90) of smooth random colour fields with fine grain.

    Pure noise would compress to several times a photo's size and take longer to decode; a
    blurred field plus grain gives files of about a photo's size, hence realistic decode times.
    """
    rng = np.random.default_rng(seed)
    width, height = JPEG_SIZE
    paths = []
    for i in range(count):
        coarse = Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8))
        smooth = np.asarray(coarse.resize((width, height), Image.BICUBIC), dtype=np.float32)
        pixels = smooth + rng.normal(0.0, 4.0, smooth.shape)
        path = folder / f"{i:05d}.jpg"
        Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(path, quality=90)
        paths.append(str(path))
    return paths


def endless(loader: DataLoader) -> Iterator:
    """Batches of `loader`, epoch after epoch (itertools.cycle would keep every batch)."""
    while True:
        yield from loader


def loader_case(files: list[str], args: argparse.Namespace) -> Case:
    """Stage 1: the project's file dataset and train transform, batched by a DataLoader."""
    dataset = ImageListDataset(
        [(path, 0) for path in files], ["scene"], scene_transform(True, args.size), verify="none"
    )
    batches = endless(DataLoader(dataset, args.batch, shuffle=True, drop_last=True))

    def run() -> None:
        next(batches)

    return Case("loader", None, run, threads=1)


def decoder_cases(files: list[str], args: argparse.Namespace, device: torch.device) -> list[Case]:
    """One worker's decode + train transform of `batch` JPEGs: PIL, decode_jpeg (CPU, GPU)."""
    transform = scene_transform(True, args.size)
    paths = itertools.cycle(files)
    n = args.batch

    def pil() -> None:
        for _ in range(n):
            transform(load_rgb(next(paths)))

    def torchvision_cpu() -> None:
        for _ in range(n):
            transform(decode_jpeg(read_file(next(paths)), mode=ImageReadMode.RGB))

    def torchvision_device() -> None:
        data = [read_file(next(paths)) for _ in range(n)]
        for image in decode_jpeg(data, mode=ImageReadMode.RGB, device=device):
            transform(image)

    cases = [Case("PIL", None, pil, threads=1),
             Case("decode_jpeg cpu", None, torchvision_cpu, threads=1)]
    if device.type == "cuda":
        cases.append(Case("decode_jpeg cuda", None, torchvision_device))
    return cases


def sgd_step(
    loss_fn: Callable, opt: torch.optim.Optimizer, bf16: bool, images: torch.Tensor,
    targets: torch.Tensor,
) -> Callable[[], None]:
    """One training step as the engine does it: autocast forward, float32 loss, SGD."""
    device_type = images.device.type

    def run() -> None:
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=bf16):
            loss = loss_fn(images, targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return run


def student_only(student: nn.Module) -> Callable:
    """Stage 2: cross-entropy alone, the engine's loss for a student trained without a method."""
    return lambda x, y: F.cross_entropy(student(x)[0].float(), y)


def with_teacher(student: nn.Module, teacher: nn.Module) -> Callable:
    """Stage 3: stage 2 plus the teacher's forward, in the order `Distiller` runs them."""

    def loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        logits, _ = student(x)
        with torch.no_grad():
            teacher(x)
        return F.cross_entropy(logits.float(), y)

    return loss


def with_dct(distiller: nn.Module) -> Callable:
    """Stage 4: the sum of the weighted terms `Distiller` returns, the loss the engine steps."""
    return lambda x, y: sum(distiller(x, y)[1].values())


def model_cases(
    args: argparse.Namespace, device: torch.device, variants: list[Variant]
) -> list[Case]:
    """Stages 2-4 for every variant; one student, teacher and SGD per memory format.

    Compiled variants wrap the same networks, so eager and compiled share weights and the
    optimiser; bf16 is an autocast switch at step time.
    """
    gen = torch.Generator().manual_seed(0)
    images = torch.randn(args.batch, 3, args.size, args.size, generator=gen).to(device)
    targets = torch.randint(0, args.classes, (args.batch,), generator=gen).to(device)
    objective = resolve(MethodConfig(name="dct"))
    shapes = {"student_shapes": tap_shapes(STUDENT, args.size),
              "teacher_shapes": tap_shapes(TEACHER, args.size)}
    cases = []
    for channels_last in sorted({v.channels_last for v in variants}):
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        torch.manual_seed(0)
        student = build_model(STUDENT, args.classes).to(device, memory_format=fmt)
        teacher = build_model(TEACHER, args.classes).to(device, memory_format=fmt)
        teacher.eval().requires_grad_(False)
        opt = torch.optim.SGD(student.parameters(), lr=1e-3, momentum=0.9, weight_decay=5e-4)
        x = images.contiguous(memory_format=fmt)
        for compiled in sorted({v.compiled for v in variants}):
            s, t = student, teacher
            if compiled:
                s, t = torch.compile(student), torch.compile(teacher)
            distiller = build_distiller(
                s, t, objective, **shapes, num_samples=args.batch, num_classes=args.classes,
                batch_size=args.batch,
            )
            if compiled:  # as the engine's runtime.compile does
                distiller.term.compile()
            losses = {"student": student_only(s), "+teacher": with_teacher(s, t),
                      "+dct": with_dct(distiller)}
            for v in variants:
                if (v.channels_last, v.compiled) == (channels_last, compiled):
                    cases += [Case(stage, v, sgd_step(fn, opt, v.bf16, x, targets))
                              for stage, fn in losses.items()]
    return cases


@contextlib.contextmanager
def intra_op_threads(n: int | None):
    """Torch's intra-op threads set to `n` (None: unchanged) for the duration."""
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def timed(case: Case, device: torch.device) -> float:
    """Seconds for one `case.run()`, the device synchronised on both sides of the clock."""
    with intra_op_threads(case.threads):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        case.run()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - start


def compile_warmup(cases: list[Case], device: torch.device) -> float:
    """Seconds spent bringing every compiled case to speed (two calls: compile, then settle)."""
    return sum(timed(c, device) + timed(c, device)
               for c in cases if c.variant is not None and c.variant.compiled)


def round_robin(
    cases: list[Case], warmup: int, repeats: int, device: torch.device
) -> dict[str, list[float]]:
    """Seconds per call of every case over `repeats` rounds, the order rotating each round
    so that what one case leaves behind (caches, freed memory) falls on all alike."""
    times: dict[str, list[float]] = {c.key: [] for c in cases}
    for r in range(warmup + repeats):
        k = r % len(cases)
        for case in cases[k:] + cases[:k]:
            seconds = timed(case, device)
            if r >= warmup:
                times[case.key].append(seconds)
    return times


def rates(cases: list[Case], times: dict[str, list[float]], batch: int) -> dict[str, dict]:
    """key -> images/s from the median and from the fastest call, and those calls in seconds.

    Both, because a step that the host cannot launch ahead of the device (a CPU-bound step)
    varies from call to call with the host: the median is what a run sees, the fastest what
    the device allows.
    """
    out = {}
    for case in cases:
        median, fastest = statistics.median(times[case.key]), min(times[case.key])
        out[case.key] = {"images_per_s": batch / median, "median_s": median,
                         "fastest_images_per_s": batch / fastest, "min_s": fastest}
    return out


def step_rows(cases: list[Case], measured: dict[str, dict]) -> list[dict]:
    """Stage rows with their ratios to the loader and to the student of the same variant.

    The loader has no variant; its student ratio is against the fp32/nchw/eager student.
    """
    loader = measured["loader|-"]["images_per_s"]
    baseline = Variant(False, False, False)
    rows = []
    for case in cases:
        if case.stage not in STAGES:
            continue
        student = measured[f"student|{(case.variant or baseline).label}"]["images_per_s"]
        rate = measured[case.key]["images_per_s"]
        rows.append({
            "stage": case.stage,
            "variant": case.variant.label if case.variant else "-",
            **(case.variant.as_dict() if case.variant else {}),
            **measured[case.key],
            "vs_loader": rate / loader,
            "vs_student": rate / student,
        })
    return rows


def feed_rows(cases: list[Case], measured: dict[str, dict], step_rate: float) -> list[dict]:
    """Decode rates and what they mean at `step_rate`: CPU workers needed, or for decoding
    on the device the share of its time that decoding would take."""
    rows = []
    for case in cases:
        if case.stage in STAGES:
            continue
        rate = measured[case.key]["images_per_s"]
        row = {"decoder": case.stage, **measured[case.key]}
        if case.stage.endswith("cuda"):
            row["device_time_share"] = step_rate / rate
        else:
            row["workers_needed"] = step_rate / rate
            row["workers"] = math.ceil(step_rate / rate)
        rows.append(row)
    return rows


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} CPUs)"


def print_report(result: dict) -> None:
    a = result["args"]
    print(f"Training step {TEACHER} -> {STUDENT} (+DCT), batch {a['batch']} at {a['size']} px, "
          f"{a['classes']} classes, median of {a['repeats']} repeats")
    print(f"{result['device']}, torch {result['torch']}, torchvision {result['torchvision']}, "
          f"{result['threads']} threads, OMP_WAIT_POLICY={result['omp_wait_policy']}, "
          f"CPU capability {result['cpu_capability']}, "
          f"load average {result['load_average']}")
    print(f"{'stage':<9} {'variant':<19} {'img/s':>9} {'fastest':>9} {'x loader':>9} "
          f"{'x student':>10}")
    for row in result["steps"]:
        print(f"{row['stage']:<9} {row['variant']:<19} {row['images_per_s']:>9.1f} "
              f"{row['fastest_images_per_s']:>9.1f} {row['vs_loader']:>9.3f} "
              f"{row['vs_student']:>10.3f}")
    print("(img/s from the median call, fastest from the fastest; x student: against the "
          "student of the same variant, the loader's against fp32 nchw eager)")
    if result["compile_warmup_s"]:
        print(f"compile warm-up (untimed): {result['compile_warmup_s']:.1f} s")
    feed = result["feed"]
    print(f"Feeding {feed['step_images_per_s']:.1f} img/s (+dct {feed['step_variant']}) from "
          f"{JPEG_SIZE[0]}x{JPEG_SIZE[1]} JPEGs at {a['size']} px, one worker = one thread:")
    print(f"{'decoder':<17} {'img/s':>9}  needed")
    for row in feed["decoders"]:
        if "workers_needed" in row:
            need = f"{row['workers_needed']:.2f} -> {row['workers']} worker(s)"
        else:
            need = f"{100 * row['device_time_share']:.1f}% of the device's time"
        print(f"{row['decoder']:<17} {row['images_per_s']:>9.1f}  {need}")


def throughput(result: dict, device: torch.device) -> Throughput:
    """The engine's default variant on `device`, as the plan prices runs: the student step,
    the teacher's forward alone and the term's seconds per image, from the stage rates."""
    label = Variant(amp_dtype("auto", device) == torch.bfloat16, True, False).label
    rate = {r["stage"]: r["images_per_s"] for r in result["steps"] if r["variant"] == label}
    teacher_s = 1 / rate["+teacher"] - 1 / rate["student"]
    a = result["args"]
    return Throughput(
        train_img_per_s=rate["student"], train_model=STUDENT,
        forward_img_per_s=1 / teacher_s if teacher_s > 0 else None, forward_model=TEACHER,
        term_s_per_img=max(0.0, 1 / rate["+dct"] - 1 / rate["+teacher"]), size=a["size"],
        classes=a["classes"], device=f"{result['device']}, {label}", source="")


def save_throughput(tp: Throughput, path: Path) -> None:
    record = {k: v for k, v in asdict(tp).items() if k != "source"}
    record["measured"] = time.strftime("%Y-%m-%d %H:%M:%S")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2))
    print(f"throughput for dctkd figures --plan: {path} ({tp.describe()})")


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark, print its table and return (and optionally write) every number."""
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    if not args.no_compile:
        # Both networks in four variants each: more graphs than dynamo keeps per code by default.
        torch._dynamo.config.recompile_limit = 64
    variants = [Variant(*flags) for flags in itertools.product(
        (False, True), (False, True), (False,) if args.no_compile else (False, True))]

    with tempfile.TemporaryDirectory(prefix="dctkd-bench-") as folder:
        files = write_jpegs(Path(folder), args.jpegs)
        cases = [loader_case(files, args), *model_cases(args, device, variants),
                 *decoder_cases(files, args, device)]
        compile_s = compile_warmup(cases, device)
        times = round_robin(cases, args.warmup, args.repeats, device)
    measured = rates(cases, times, args.batch)
    steps = step_rows(cases, measured)
    fastest = max((r for r in steps if r["stage"] == "+dct"), key=lambda r: r["images_per_s"])
    result = {
        "device": device_name(device),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "threads": torch.get_num_threads(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "load_average": " ".join(f"{x:.1f}" for x in os.getloadavg()),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "compile_warmup_s": compile_s,
        "steps": steps,
        "feed": {"step_images_per_s": fastest["images_per_s"], "step_variant": fastest["variant"],
                 "decoders": feed_rows(cases, measured, fastest["images_per_s"])},
    }
    print_report(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    if args.save:
        save_throughput(throughput(result, device), args.save)
    return result


if __name__ == "__main__":
    main()
