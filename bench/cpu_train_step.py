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
  fixed    a build's start (its `CPU_WORKERS` worker processes spawned and importing the
           training code), its check of each run before training (`engine.checks`, one run
           after the other), and whole tiny runs of one and of three epochs in a warm
           process as a worker trains them (`train_logged`: data, networks, the val pass,
           checkpoints, logs) less what the rates above price them at: a cost per run and
           one per epoch (an epoch's checkpoint, metrics and events, and whatever the val
           pass costs beyond its forwards), in a run of the network most of the profile's
           runs train.

Cases are timed round-robin (each sample ~0.2 s of calls, the median of `--repeats`), in
`CPU_WORKERS` processes at once (`--concurrent`), as the build trains, so that the rates
include what its workers cost each other (shared caches and memory). Every time but the
tiny runs' is CPU time (`time.process_time`, the workers' rusage for their start): what the
work costs when the build has the cores, which the machine's other work does not change,
whereas wall time on a machine busy with other jobs would price their share of the cores
too. A run's file syncs are paid in waiting, not CPU, so the tiny runs are timed by the
clock. The plan's wall time is therefore that of a build with the cores to itself; under
other load it takes longer.
`--save` writes the rates to `results/cpu_throughput.json`, where `dctkd figures --plan`
reads them on a machine without a GPU.
Usage: `python bench/cpu_train_step.py [--profile P ...] [--repeats N] [--save [PATH]]`.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # must precede the first torch import

import argparse  # noqa: E402
import contextlib  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
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
    """`{name: (one call, images per call)}` for every step and forward `cpu_plan.needs` asks
    of `configs`."""
    out: dict[str, tuple[Callable[[], None], int]] = {}
    for cfg in configs:
        need = cpu_plan.needs(cfg)
        for key in need["step"]:
            out.setdefault(f"step {key}", (step_case(cfg, False), cfg.optim.batch_size))
        for key in need["forward"]:
            model, _, batch, _ = key.split("|")
            out.setdefault(f"forward {key}", (forward_case(cfg, model, int(batch[1:])),
                                              int(batch[1:])))
    return out


def term_cases(configs: list[RunConfig]) -> dict[str, tuple[list[Callable[[], None]], int]]:
    """`{term key: ([distilled step, student alone, teacher forward], batch)}`: the term is
    what the first costs beyond the other two."""
    out: dict[str, tuple[list[Callable[[], None]], int]] = {}
    for cfg in configs:
        for key in cpu_plan.needs(cfg)["term"]:
            if key not in out:
                batch = cfg.optim.batch_size
                out[key] = ([step_case(cfg, True), step_case(cfg, False),
                             forward_case(cfg, cfg.teacher.model, batch)], batch)
    return out


def _calls(run: Callable[[], None]) -> int:
    """Calls of `run` that fill one sample (after one warm-up call)."""
    run()
    start = time.process_time()
    run()
    return max(1, round(SAMPLE_S / max(time.process_time() - start, 1e-6)))


def _sample(run: Callable[[], None], calls: int, images: int) -> float:
    """CPU seconds per image of `calls` calls of `run` (see the module's note on the clock)."""
    start = time.process_time()
    for _ in range(calls):
        run()
    return (time.process_time() - start) / (calls * images)


def time_cases(timed: dict[str, tuple[Callable[[], None], int]], repeats: int,
               rotation: int = 0) -> dict[str, float]:
    """Median seconds per image of each case, timed round-robin from case `rotation` on."""
    calls = {name: _calls(run) for name, (run, _) in timed.items()}
    samples: dict[str, list[float]] = {name: [] for name in timed}
    names = list(timed)
    for r in range(rotation, rotation + repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            run, images = timed[name]
            samples[name].append(_sample(run, calls[name], images))
    return {name: statistics.median(values) for name, values in samples.items()}


def time_terms(terms: dict[str, tuple[list[Callable[[], None]], int]], repeats: int
               ) -> dict[str, float]:
    """Seconds per image of each term: in every sample the distilled step, the student alone
    and the teacher's forward run back to back, and the term is the median over samples of
    the first less the other two, so that a change of the machine's load cancels out."""
    out = {}
    for key, (runs, batch) in terms.items():
        calls = [_calls(run) for run in runs]
        diffs = []
        for _ in range(repeats):
            distilled, alone, teacher = (_sample(run, n, batch) for run, n in zip(runs, calls,
                                                                                  strict=True))
            diffs.append(distilled - alone - teacher)
        out[key] = max(0.0, statistics.median(diffs))
    return out


def check_seconds(configs: list[RunConfig]) -> float:
    """Mean seconds of checking one run before a build trains it (`engine.checks`, in the
    building process, one run after the other; the first checks of a process cost most)."""
    from dctkd.engine.checks import check

    with tempfile.TemporaryDirectory(prefix="dctkd-bench-") as store:
        start = time.process_time()
        for cfg in configs:
            check(cfg, store)
        return (time.process_time() - start) / len(configs)


def measure(names: list[str], repeats: int, threads: int, rotation: int = 0) -> dict:
    """Seconds per image of every step, forward (`time_cases`) and term (`time_terms`) the
    profiles `names` train, then each profile's fixed cost of a run (`run_overhead`), in this
    process on `threads` threads."""
    torch.set_num_threads(threads)
    by_profile = profile_configs(names)
    configs = [c for cfgs in by_profile.values() for c in cfgs]
    seconds = time_cases(cases(configs), repeats, rotation)
    out = {"step": {k.split(" ", 1)[1]: v for k, v in seconds.items() if k.startswith("step ")},
           "forward": {k.split(" ", 1)[1]: v for k, v in seconds.items()
                       if k.startswith("forward ")},
           "term": time_terms(term_cases(configs), repeats)}
    rates = cpu_plan.CpuRates(**out, run_overhead_s={}, check_s={}, start_s=0.0,
                              threads=threads, workers=CPU_WORKERS)
    fixed = {name: fixed_costs(_typical(cfgs), rates) for name, cfgs in by_profile.items()}
    out["run_overhead_s"] = {name: run for name, (run, _) in fixed.items()}
    out["epoch_overhead_s"] = {name: epoch for name, (_, epoch) in fixed.items()}
    return out


def measure_concurrently(names: list[str], repeats: int, threads: int, workers: int) -> dict:
    """`measure` in `workers` processes at once, as many as a build trains in, so that the
    rates and a run's fixed cost include what the build's workers cost each other (shared
    cores, caches, memory); each is the mean over the processes."""
    if workers <= 1:
        return measure(names, repeats, threads)
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
        results = list(pool.map(measure, *zip(*[(names, repeats, threads, w)
                                                 for w in range(workers)], strict=True)))
    return {kind: {key: statistics.mean(r[kind][key] for r in results)
                   for key in results[0][kind]} for kind in results[0]}


def start_seconds() -> float:
    """Seconds for a build's `CPU_WORKERS` fresh worker processes to start and import the
    training code, as `dctkd figures` starts them."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    from dctkd.engine.launch import _worker_init

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with ProcessPoolExecutor(CPU_WORKERS, mp_context=mp.get_context("spawn"),
                             initializer=_worker_init, initargs=(1, os.getpid())) as pool:
        done = [pool.submit(exec, "import dctkd.engine.train, dctkd.data")
                for _ in range(CPU_WORKERS)]
        for fut in done:
            fut.result()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the workers, now reaped
    used = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return used / CPU_WORKERS  # they start side by side


def fixed_costs(cfg: RunConfig, rates: cpu_plan.CpuRates, runs: int = 3) -> tuple[float, float]:
    """`(per run, per epoch)`: the seconds whole tiny runs of `cfg`'s shape take in a warm
    worker (`train_logged`, as a build's worker runs them: checks, data, networks, the val
    pass, checkpoints, logs, TensorBoard, its output kept in `train.log`) beyond what the rates
    price their compute at, from runs of one and of three epochs (medians of `runs`, after
    one that warms the process up). Wall time, not CPU time: a checkpoint's file sync is paid
    in waiting."""
    from dctkd.engine.launch import train_logged

    images = min(split_sizes(cfg)[0], 4 * cfg.optim.batch_size)
    tiny = apply_overrides(cfg, {"data.train_size": images, "runtime.progress": False})
    extra: dict[int, list[float]] = {1: [], 3: []}
    with tempfile.TemporaryDirectory(prefix="dctkd-bench-") as store:
        for seed in range(runs + 1):
            for epochs in extra:
                run = replace(apply_overrides(tiny, {"optim.epochs": epochs}), seed=1000 + seed)
                start = time.perf_counter()
                train_logged(run, store)
                if seed:
                    extra[epochs].append(time.perf_counter() - start
                                         - cpu_plan.cpu_seconds(run, rates))
    one, three = (statistics.median(extra[e]) for e in (1, 3))
    per_epoch = max(0.0, (three - one) / 2)
    return max(0.0, one - per_epoch), per_epoch


def _typical(cfgs: list[RunConfig]) -> RunConfig:
    """A run with neither teacher nor init of the network most of the profile's runs train:
    whose fixed costs stand for the profile's."""
    common = Counter(c.model for c in cfgs).most_common(1)[0][0]  # ties: the first met
    alone = [c for c in cfgs if c.teacher is None and c.init is None]
    return next((c for c in alone if c.model == common), alone[0])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", action="append", default=None,
                        help="a profile to measure (repeatable; default every synthetic one)")
    parser.add_argument("--repeats", type=int, default=5, help="timed samples per case")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default what one build worker gets here)")
    parser.add_argument("--concurrent", type=int, default=CPU_WORKERS,
                        help="processes measuring at once (default the build's workers)")
    parser.add_argument("--json", type=Path, default=None, help="write every number here")
    parser.add_argument("--save", type=Path, nargs="?", const=cpu_plan.CPU_THROUGHPUT_FILE,
                        default=None, metavar="PATH", help="write the rates `dctkd figures "
                        f"--plan` reads (default {cpu_plan.CPU_THROUGHPUT_FILE})")
    args = parser.parse_args(argv)
    threads = args.threads or max(1, _cores() // CPU_WORKERS)
    torch.set_num_threads(threads)
    names = args.profile or [n for n in list_profiles() if load_profile(n).synthetic]
    by_profile = profile_configs(names)
    tables = measure_concurrently(names, args.repeats, threads, args.concurrent)
    overhead = tables["run_overhead_s"]
    rates = cpu_plan.CpuRates(**tables, start_s=start_seconds(),
                              check_s={name: check_seconds(cfgs)
                                       for name, cfgs in by_profile.items()},
                              threads=threads, workers=CPU_WORKERS,
                              device=f"{cpu_model()}, {_cores()} cores")
    record = {**asdict(rates), "measured": time.strftime("%Y-%m-%d %H:%M:%S"),
              "profiles": names, "torch": torch.__version__, "load_average": os.getloadavg()}
    record.pop("source")
    for kind in ("step", "forward", "term"):
        print(f"{kind}:")
        for key, value in sorted(record[kind].items()):
            print(f"  {key:<60} {1e3 * value:8.3f} ms/img  {1 / value if value else 0:9,.0f} "
                  "img/s")
    print(f"a build's start: {rates.start_s:.1f} s; per run (a worker's fixed cost, per epoch "
          "/ the build's check): " + ", ".join(
              f"{k} {overhead[k]:.2f} s + {rates.epoch_overhead_s[k]:.3f} s per epoch / "
              f"{rates.check_s[k]:.3f} s" for k in overhead))
    print(f"{threads} thread(s) in each of {args.concurrent} process(es) measuring at once, "
          f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    for path in (args.json, args.save):
        if path:
            write_json(path, record)
    if args.save:
        print(f"rates for dctkd figures --plan: {args.save}")
    return record


if __name__ == "__main__":
    main()
