"""Seconds per image of every training step, forward and distillation term a CPU build does.

`dctkd figures` on a machine without a GPU trains `CPU_WORKERS` runs at a time, each on
`cores // CPU_WORKERS` threads; the 32-px CIFAR ResNets it trains are compute-bound there, so
what a build costs follows from a handful of measured rates. For every shape the named
profiles train (default: every synthetic profile), this script times, in the threads one
worker gets and in the precision the runs use:

  step     the engine's training step (`Distiller` with the run's objective, forward,
           backward, SGD) of the student alone, at the run's batch;
  forward  an eval-mode forward without gradients: evaluation at the eval batch, and a
           teacher at its student's batch (and at the eval batch, how its cache is built);
  term     a distilled student's step less the student-alone step and the teacher's forward:
           what its method's term costs per image;
  launch   tiny runs trained as a build trains them (`ensure_all`, `CPU_WORKERS` workers:
           checks, worker start-up, data, networks, checkpoints, logs) less what the rates
           above price them at, in batches of 2 and 8 runs: the fixed cost of a build (its
           workers' start-up) and of each run.

Cases are timed round-robin (each sample ~0.2 s of calls, the median of `--repeats`), so a
change of load falls on all alike. `--save` writes the rates to `results/cpu_throughput.json`,
where `dctkd figures --plan` reads them on a machine without a GPU. The machine's other work
slows every rate alike; measure on an idle machine for the estimate of an idle one.
Usage: `python bench/cpu_train_step.py [--profile P ...] [--repeats N] [--save [PATH]]`.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # must precede the first torch import

import argparse  # noqa: E402
import contextlib  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import asdict, replace  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402
from torch import nn  # noqa: E402

from dctkd.config import MethodConfig, RunConfig, apply_overrides  # noqa: E402
from dctkd.engine.distiller import build_distiller  # noqa: E402
from dctkd.engine.launch import CPU_WORKERS, _cores  # noqa: E402
from dctkd.engine.runtime import amp_dtype  # noqa: E402
from dctkd.files import write_json  # noqa: E402
from dctkd.losses import resolve  # noqa: E402
from dctkd.models import build_model, tap_shapes  # noqa: E402
from dctkd.report import cpu_plan  # noqa: E402
from dctkd.report.build_record import cpu_model  # noqa: E402
from dctkd.report.grid import defined_families, grid, unique_configs  # noqa: E402
from dctkd.report.paths import list_profiles  # noqa: E402
from dctkd.report.plan import _network, split_sizes  # noqa: E402
from dctkd.report.profile import load_profile  # noqa: E402

SAMPLE_S = 0.2  # seconds of calls per timed sample


def profile_configs(names: list[str]) -> dict[str, list[RunConfig]]:
    """Every distinct run of each profile (teachers and inits included)."""
    out = {}
    for name in names:
        prof = load_profile(name)
        out[name] = unique_configs(grid(prof, sorted(defined_families(prof))))
    return out


def _networks(cfg: RunConfig) -> tuple[int, int, torch.dtype | None, bool]:
    size, classes = _network(cfg)
    return size, classes, amp_dtype(cfg.runtime.amp, torch.device("cpu")), cfg.runtime.channels_last


def _batch(cfg: RunConfig, batch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    size, classes, _, channels_last = _networks(cfg)
    gen = torch.Generator().manual_seed(0)
    images = torch.randn(batch, 3, size, size, generator=gen)
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    return images, torch.randint(0, classes, (batch,), generator=gen), torch.arange(batch)


def _model(name: str, cfg: RunConfig) -> nn.Module:
    model = build_model(name, _networks(cfg)[1])
    return model.to(memory_format=torch.channels_last) if _networks(cfg)[3] else model


def step_case(cfg: RunConfig, with_method: bool) -> Callable[[], None]:
    """One engine training step of `cfg`: its own objective (`with_method`) with an online
    teacher, or the student alone (`method none`)."""
    size, classes, amp, _ = _networks(cfg)
    train = split_sizes(cfg)[0]
    method = cfg.method if with_method else MethodConfig(name="none")
    objective = resolve(method)
    student = _model(cfg.model, cfg)
    teacher = None
    if objective.needs_teacher:
        teacher = _model(cfg.teacher.model, cfg).eval().requires_grad_(False)
    distiller = build_distiller(
        student, teacher, objective, student_shapes=tap_shapes(cfg.model, size),
        teacher_shapes=tap_shapes(cfg.teacher.model, size) if teacher is not None else None,
        num_samples=train, num_classes=classes, batch_size=cfg.optim.batch_size,
        train_targets=[i % classes for i in range(train)])
    distiller.train()
    params = [p for p in distiller.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=1e-3, momentum=0.9, weight_decay=5e-4)
    images, targets, index = _batch(cfg, cfg.optim.batch_size)

    def run() -> None:
        with torch.autocast("cpu", dtype=amp) if amp else contextlib.nullcontext():
            _, losses = distiller(images, targets, index)
        opt.zero_grad(set_to_none=True)
        sum(losses.values()).backward()
        opt.step()

    return run


def forward_case(cfg: RunConfig, model: str, batch: int) -> Callable[[], None]:
    """An eval-mode forward of `model` without gradients, at `batch`, as `cfg` runs it."""
    amp = _networks(cfg)[2]
    net = _model(model, cfg).eval()
    images = _batch(cfg, batch)[0]

    def run() -> None:
        with torch.inference_mode(), torch.autocast("cpu", dtype=amp) if amp else \
                contextlib.nullcontext():
            net(images)

    return run


def cases(configs: list[RunConfig]) -> dict[str, tuple[Callable[[], None], int]]:
    """`{name: (one call, images per call)}` for every key `cpu_plan.needs` asks of
    `configs`; a distilled config also gets its teacher's forward at its own batch (the term
    is what is left of its step once that and the student-alone step are taken off)."""
    out: dict[str, tuple[Callable[[], None], int]] = {}
    for cfg in configs:
        need = cpu_plan.needs(cfg)
        size, amp = _networks(cfg)[0], cpu_plan.precision(cfg)
        for key in need["step"]:
            out.setdefault(f"step {key}", (step_case(cfg, False), cfg.optim.batch_size))
        for key in need["forward"]:
            model, _, batch, _ = key.split("|")
            out.setdefault(f"forward {key}", (forward_case(cfg, model, int(batch[1:])),
                                              int(batch[1:])))
        for key in need["term"]:
            fwd = cpu_plan.step_key(cfg.teacher.model, size, cfg.optim.batch_size, amp)
            out.setdefault(f"forward {fwd}", (forward_case(cfg, cfg.teacher.model,
                                                           cfg.optim.batch_size),
                                              cfg.optim.batch_size))
            out.setdefault(f"distill {key}", (step_case(cfg, True), cfg.optim.batch_size))
    return out


def time_cases(timed: dict[str, tuple[Callable[[], None], int]], repeats: int
               ) -> dict[str, float]:
    """Median seconds per image of each case, timed round-robin."""
    calls = {}
    for name, (run, _) in timed.items():
        run()  # warm-up: first-call allocations, lazy initialisations
        start = time.perf_counter()
        run()
        calls[name] = max(1, round(SAMPLE_S / max(time.perf_counter() - start, 1e-6)))
    samples: dict[str, list[float]] = {name: [] for name in timed}
    names = list(timed)
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            run, images = timed[name]
            start = time.perf_counter()
            for _ in range(calls[name]):
                run()
            samples[name].append((time.perf_counter() - start) / (calls[name] * images))
    return {name: statistics.median(values) for name, values in samples.items()}


def rates_from(seconds: dict[str, float], configs: list[RunConfig]) -> dict[str, dict]:
    """`step`, `forward` and `term` tables (seconds per image) of the plan's keys."""
    step = {k.split(" ", 1)[1]: v for k, v in seconds.items() if k.startswith("step ")}
    forward = {k.split(" ", 1)[1]: v for k, v in seconds.items() if k.startswith("forward ")}
    term = {}
    for cfg in configs:
        for key in cpu_plan.needs(cfg)["term"]:
            size, amp = _networks(cfg)[0], cpu_plan.precision(cfg)
            alone = step[cpu_plan.step_key(cfg.model, size, cfg.optim.batch_size, amp)]
            teacher = forward[cpu_plan.step_key(cfg.teacher.model, size, cfg.optim.batch_size,
                                                amp)]
            term[key] = max(0.0, seconds[f"distill {key}"] - alone - teacher)
    return {"step": step, "forward": forward, "term": term}


def launch_costs(cfg: RunConfig, rates: cpu_plan.CpuRates, counts: tuple[int, int] = (2, 8)
                 ) -> tuple[float, float]:
    """`(start, per run)` seconds of training tiny runs of `cfg`'s shape as a build does
    (`ensure_all` with `CPU_WORKERS` workers: checks, worker start-up, data, networks,
    checkpoints, logs), beyond what the rates price their compute at. Fitted to the wall
    time of two batches of runs, `wall = start + (runs x per run + compute) / workers`."""
    from dctkd.engine.launch import ensure_all

    images = min(split_sizes(cfg)[0], 4 * cfg.optim.batch_size)
    tiny = apply_overrides(cfg, {"optim.epochs": 1, "data.train_size": images,
                                 "runtime.progress": False})
    walls, computes = [], []
    for count in counts:
        runs = [replace(tiny, seed=1000 + seed) for seed in range(count)]
        with tempfile.TemporaryDirectory(prefix="dctkd-bench-") as store:
            start = time.perf_counter()
            ensure_all(runs, store, workers=CPU_WORKERS)
            walls.append(time.perf_counter() - start)
        computes.append(sum(cpu_plan.cpu_seconds(r, rates) for r in runs))
    (k1, k2), (w1, w2), (p1, p2) = counts, walls, computes
    per_run = max(0.0, (CPU_WORKERS * (w2 - w1) - (p2 - p1)) / (k2 - k1))
    return max(0.0, w1 - (k1 * per_run + p1) / CPU_WORKERS), per_run


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", action="append", default=None,
                        help="a profile to measure (repeatable; default every synthetic one)")
    parser.add_argument("--repeats", type=int, default=5, help="timed samples per case")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default what one build worker gets here)")
    parser.add_argument("--launch-runs", default="2,8", metavar="A,B",
                        help="the two batches of tiny runs the fixed costs are fitted to")
    parser.add_argument("--json", type=Path, default=None, help="write every number here")
    parser.add_argument("--save", type=Path, nargs="?", const=cpu_plan.CPU_THROUGHPUT_FILE,
                        default=None, metavar="PATH", help="write the rates `dctkd figures "
                        f"--plan` reads (default {cpu_plan.CPU_THROUGHPUT_FILE})")
    args = parser.parse_args(argv)
    try:
        counts = tuple(int(n) for n in args.launch_runs.split(","))
    except ValueError:
        counts = ()
    if len(counts) != 2 or not 0 < counts[0] < counts[1]:
        parser.error(f"--launch-runs: expected two counts A,B with 0 < A < B, got "
                     f"{args.launch_runs!r}")
    threads = args.threads or max(1, _cores() // CPU_WORKERS)
    torch.set_num_threads(threads)
    names = args.profile or [n for n in list_profiles() if load_profile(n).synthetic]
    by_profile = profile_configs(names)
    configs = [c for cfgs in by_profile.values() for c in cfgs]
    seconds = time_cases(cases(configs), args.repeats)
    tables = rates_from(seconds, configs)
    rates = cpu_plan.CpuRates(**tables, run_overhead_s={}, start_s={}, threads=threads,
                              workers=CPU_WORKERS, device=f"{cpu_model()}, {_cores()} cores")
    overhead, start = {}, {}
    for name, cfgs in by_profile.items():
        alone = next(c for c in cfgs if c.teacher is None and c.init is None)
        start[name], overhead[name] = launch_costs(alone, rates, counts)
    record = {**asdict(replace(rates, run_overhead_s=overhead, start_s=start)),
              "measured": time.strftime("%Y-%m-%d %H:%M:%S"), "profiles": names,
              "torch": torch.__version__, "load_average": os.getloadavg()}
    record.pop("source")
    for kind in ("step", "forward", "term"):
        print(f"{kind}:")
        for key, value in sorted(record[kind].items()):
            print(f"  {key:<60} {1e3 * value:8.3f} ms/img  {1 / value if value else 0:9,.0f} "
                  "img/s")
    print("per run / build start: " + ", ".join(f"{k} {overhead[k]:.2f} s / {start[k]:.1f} s"
                                                 for k in overhead))
    print(f"{threads} thread(s), load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    for path in (args.json, args.save):
        if path:
            write_json(path, record)
    if args.save:
        print(f"rates for dctkd figures --plan: {args.save}")
    return record


if __name__ == "__main__":
    main()
