"""What a profile costs on this CPU: each run priced by seconds per image measured here.

On a CPU the 32-px CIFAR ResNets are compute-bound and no cheaper per image at a larger
batch, but their rate does depend on the network, its batch and its precision, so a run is
priced by what `bench/cpu_train_step.py --save` measured for exactly those (it measures every
shape the synthetic profiles train and writes `results/cpu_throughput.json`), in the
threads one build worker gets (`CPU_WORKERS` runs at a time, `cores // CPU_WORKERS` threads
each). Per run:

- training: `epochs x train images` student steps (forward, backward, SGD);
- the teacher: a forward at the student's batch on every image the student trains on, or,
  when its outputs are cached (`engine.teacher_cache`), one pass over each view of the
  train split at the eval batch;
- a distillation term (AT, DCT, ...): its measured seconds per image beyond the two networks;
- evaluation: the val split every epoch and the test split twice (best and last checkpoint);
- a fixed cost per run (data, networks, logs) and one per epoch (its checkpoint, metrics,
  events and what the val pass costs beyond its forwards), both measured on tiny runs, and
  the build's own: its check of every run before training, one after the other, and its
  workers' start;
- with `runtime.share_prefix`, a longer run of the same experiment skips the epochs before
  a shorter run's first LR drop (it continues from that run's kept state, once it is done).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from dctkd.config import RunConfig

from .notebook import project_root

CPU_THROUGHPUT_FILE = project_root() / "results" / "cpu_throughput.json"
MEASURE = "python bench/cpu_train_step.py --save"


def precision(cfg: RunConfig) -> str:
    """The autocast dtype a run trains under on this CPU (`off`, `bfloat16`)."""
    import torch

    from dctkd.engine.runtime import amp_dtype

    dtype = amp_dtype(cfg.runtime.amp, torch.device("cpu"))
    return str(dtype).removeprefix("torch.") if dtype else "off"


def _size(cfg: RunConfig) -> int:
    from .plan import _network

    return _network(cfg)[0]


def step_key(model: str, size: int, batch: int, amp: str) -> str:
    return f"{model}|{size}px|b{batch}|{amp}"


def term_key(cfg: RunConfig) -> str:
    """The distillation term of `cfg`: its method and options, both networks, batch, precision."""
    options = json.dumps(dict(cfg.method.options), sort_keys=True, default=str)
    return (f"{cfg.method.name}{options}|{cfg.model}>{cfg.teacher.model}|{_size(cfg)}px|"
            f"b{cfg.optim.batch_size}|{precision(cfg)}")


def has_term(cfg: RunConfig) -> bool:
    from dctkd.losses import resolve

    return cfg.teacher is not None and resolve(cfg.method).term is not None


def _cached_views(cfg: RunConfig) -> int:
    """Views of each train image whose teacher outputs are computed once; 0: not cached."""
    from dctkd.engine import teacher_cache

    return teacher_cache.VIEWS.get(cfg.data.augment, 0) if teacher_cache.applies(cfg) else 0


def needs(cfg: RunConfig) -> dict[str, set[str]]:
    """What pricing `cfg` reads: `step` (training), `forward` (eval and teacher) and `term`
    keys; `bench/cpu_train_step.py` measures the union over a profile's runs."""
    amp, size = precision(cfg), _size(cfg)
    out = {"step": {step_key(cfg.model, size, cfg.optim.batch_size, amp)},
           "forward": {step_key(cfg.model, size, cfg.optim.eval_batch_size, amp)},
           "term": set()}
    if cfg.teacher is not None and _needs_teacher(cfg):
        batch = cfg.optim.eval_batch_size if _cached_views(cfg) else cfg.optim.batch_size
        out["forward"].add(step_key(cfg.teacher.model, size, batch, amp))
    if has_term(cfg):
        out["term"].add(term_key(cfg))
    return out


def _needs_teacher(cfg: RunConfig) -> bool:
    from dctkd.losses import resolve

    return resolve(cfg.method).needs_teacher


@dataclass(frozen=True)
class CpuRates:
    """Seconds per image measured on this CPU, by `needs` key, and the fixed cost of a run."""

    step: dict[str, float]
    forward: dict[str, float]
    term: dict[str, float]
    run_overhead_s: dict[str, float]  # by profile: a run's fixed cost in its worker
    check_s: dict[str, float]  # by profile: the build's check of a run, before training
    start_s: float  # a build's workers starting
    threads: int
    workers: int
    device: str = ""
    measured: str = ""
    source: str = ""
    # by profile: an epoch's fixed cost; a record written before it was measured prices none
    epoch_overhead_s: dict[str, float] = field(default_factory=dict)

    def overhead(self, profile: str | None) -> float:
        """The fixed seconds of one run of `profile`, else the largest measured."""
        return _of(self.run_overhead_s, profile)

    def epoch_overhead(self, profile: str | None) -> float:
        """The fixed seconds of one epoch of a run of `profile`, else the largest measured."""
        return _of(self.epoch_overhead_s, profile)

    def check(self, profile: str | None) -> float:
        """Seconds a build of `profile` checks one run for, else the largest measured."""
        return _of(self.check_s, profile)

    def describe(self) -> str:
        return (f"rates measured on {self.device} with {self.threads} thread(s) per run "
                f"({self.measured}, {self.source})")


def _of(table: dict[str, float], profile: str | None) -> float:
    return table.get(profile or "", max(table.values(), default=0.0))


def load_cpu_rates(path: str | os.PathLike | None = None) -> CpuRates | None:
    """The rates `bench/cpu_train_step.py --save` wrote; None when the default file is absent.
    A named file that is missing or malformed is an error naming it."""
    file = Path(path or CPU_THROUGHPUT_FILE)
    if path is None and not file.is_file():
        return None
    try:
        record = json.loads(file.read_text())
        return CpuRates(**{k: record[k] for k in ("step", "forward", "term", "run_overhead_s",
                                                  "check_s", "start_s", "threads", "workers",
                                                  "device", "measured")},
                        epoch_overhead_s=dict(record.get("epoch_overhead_s", {})),
                        source=str(file))
    except FileNotFoundError:
        raise FileNotFoundError(f"no CPU throughput file at {file}; expected the one "
                                f"`{MEASURE}` writes") from None
    except (ValueError, TypeError, KeyError) as err:
        raise ValueError(f"{file}: not a CPU throughput record of {MEASURE} ({err})") from None


def _rate(table: dict[str, float], key: str, what: str) -> float:
    if key not in table:
        raise ValueError(f"no CPU rate measured for the {what} {key}; expected it in the file "
                         f"`{MEASURE}` writes (run it again: it measures every synthetic "
                         "profile's shapes, or name the profile with --profile)")
    return table[key]


def cpu_seconds(cfg: RunConfig, rates: CpuRates, profile: str | None = None,
                skipped: int = 0) -> float:
    """Seconds one worker takes to train `cfg` (of `profile`) here, its teacher's own
    training excluded, less the `skipped` epochs it continues from a shorter run's prefix."""
    from .plan import split_sizes

    train, val = split_sizes(cfg)
    test = _test_size(cfg)
    amp, size, epochs = precision(cfg), _size(cfg), cfg.optim.epochs - skipped
    step = _rate(rates.step, step_key(cfg.model, size, cfg.optim.batch_size, amp), "step")
    evaluate = _rate(rates.forward, step_key(cfg.model, size, cfg.optim.eval_batch_size, amp),
                     "forward")
    # one epoch: training, its val pass and what it writes
    epoch = train * step + val * evaluate + rates.epoch_overhead(profile)
    once = rates.overhead(profile) + 2 * test * evaluate
    if cfg.teacher is not None and _needs_teacher(cfg):
        views = _cached_views(cfg)
        batch = cfg.optim.eval_batch_size if views else cfg.optim.batch_size
        forward = _rate(rates.forward, step_key(cfg.teacher.model, size, batch, amp), "forward")
        if views:
            once += views * train * forward
        else:
            epoch += train * forward
    if has_term(cfg):
        epoch += train * _rate(rates.term, term_key(cfg), "term")
    return once + epochs * epoch


def shared_prefixes(cfgs: list[RunConfig]) -> dict[str, tuple[int, list[str]]]:
    """`{run id: (epochs skipped, shorter runs it waits for)}` of the runs that continue a
    shorter run's kept prefix (`runtime.share_prefix`, `engine.prefix`) instead of training
    those epochs: the latest prefix among the shorter runs of the same experiment."""
    from dctkd.engine import prefix

    out = {}
    for cfg in cfgs:
        if not cfg.runtime.share_prefix:
            continue
        shorter = [o for o in cfgs if o.run_id != cfg.run_id and prefix.shares(cfg, o)]
        if shorter:
            out[cfg.run_id] = (max(prefix.prefix_epoch(o) for o in shorter),
                               [o.run_id for o in shorter])
    return out


def _test_size(cfg: RunConfig) -> int:
    """Test images of a generated dataset (its `test_size` option); 0 for one read from disk,
    whose test pass the plan leaves out as the GPU plan does."""
    from dctkd.data import dataset

    options = dataset(cfg.data.name).parse_options(dict(cfg.data.options))
    return int(getattr(options, "test_size", 0) or 0)


def print_cpu_plan(profile: str, families: dict[str, list[RunConfig]], done: set[str],
                   path: str | os.PathLike | None = None, workers: int | None = None) -> int:
    """The family table in hours of one worker, then the wall time of the missing runs with
    the build's workers here and the line a user reads before starting."""
    from dctkd.engine.launch import CPU_WORKERS, _cores

    from .plan import RunCost, duration, family_rows, table_lines, wall_seconds

    rates = load_cpu_rates(path)
    if rates is None:
        print(f"CPU hours: no throughput measured on this machine; run `{MEASURE}` (a few "
              "minutes) for the estimate")
        return 0

    every = list({c.run_id: c for cfgs in families.values() for c in cfgs}.values())
    shared = shared_prefixes(every)

    def price(cfg: RunConfig) -> RunCost:
        skipped = shared.get(cfg.run_id, (0, []))[0]
        seconds = cpu_seconds(cfg, rates, profile, skipped)
        return RunCost(cfg, cfg.optim.epochs - skipped,
                       (cfg.optim.epochs - skipped) * _train_size(cfg), seconds)

    rows, total, costs = family_rows(families, None, done, price)
    slots = workers or CPU_WORKERS
    threads = max(1, _cores() // slots)
    missing = [c for c in costs if c.cfg.run_id not in done]
    after = {rid: waits for rid, (_, waits) in shared.items()}
    # As `engine.launch.ensure_all`: every run checked, one after the other, then the worker
    # processes started (one worker trains in the building process itself).
    fixed = (rates.start_s if slots > 1 else 0.0) + len(missing) * rates.check(profile)
    wall = fixed + wall_seconds(missing, slots, after=after) if missing else 0.0
    lines = table_lines(rows, total, unit="CPU")
    lines.append(f"CPU-h: hours of one worker; {rates.describe()}")
    if threads != rates.threads:
        lines.append(f"note: a worker here gets {threads} thread(s), the rates were measured "
                     f"with {rates.threads}: measure again here for a faithful estimate")
    lines.append(f"wall time of the missing runs, {slots} at a time ({threads} thread(s) each), "
                 f"teachers first: {wall:,.0f} s")
    lines.append(f"{profile}: {total.runs} runs ({total.missing} missing), "
                 f"~{duration(wall)} of training on this machine")
    print("\n".join(lines))
    return 0


def _train_size(cfg: RunConfig) -> int:
    from .plan import split_sizes

    return split_sizes(cfg)[0]


__all__ = ["CPU_THROUGHPUT_FILE", "CpuRates", "cpu_seconds", "load_cpu_rates", "needs",
           "precision", "print_cpu_plan", "shared_prefixes", "step_key", "term_key"]
