"""A quick-profile student run through the engine against a bare PyTorch loop doing the same math.

The bare loop has the same model, training subset, batch, schedule, precision and memory
layout, evaluates the val split every epoch, keeps the student of the best val epoch and tests
it and the last one at the end, as the engine does (the best in memory, where the engine
writes `best.pt`); what it leaves out is everything the engine adds around the math (run folder,
checkpoints every epoch, metrics, predictions, TensorBoard events, provenance, the objective's
bookkeeping). Each case runs whole, round-robin, as a fresh process, as a user meets it: the
engine as `dctkd train --config run.yaml`, the bare loop as this script on the same YAML, so
the engine's start-up (its imports, its checks) counts; `--in-process` times the loops alone.
The table gives medians and ratios to the bare plain loop. Distillation uses the
teacher-output cache when the profile's inputs allow it, in both the engine and the bare loop
(which reads the teacher's outputs from the same file and looks them up the same way).

Usage: `python bench/engine.py [--profile quick] [--method dct] [--repeats 3] [--epochs N]
[--in-process]`.
The teacher (and the pre-training run it starts from, where the profile has one) is trained for
one epoch only: its cost is not what is measured, and a student's step costs the same whatever
its teacher learnt.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # must precede the first torch import

import argparse  # noqa: E402
import contextlib  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from dctkd.config import dump_yaml, load_yaml  # noqa: E402
from dctkd.data import build_dataset  # noqa: E402
from dctkd.engine import dataset_of, runs  # noqa: E402
from dctkd.engine import teacher_cache as tc  # noqa: E402
from dctkd.engine.indexed import Indexed  # noqa: E402
from dctkd.engine.runtime import amp_dtype, seed_all  # noqa: E402
from dctkd.losses import build_term, resolve  # noqa: E402
from dctkd.models import build_model, tap_shapes  # noqa: E402


def configs(profile: str, method: str, epochs: int | None):
    """The profile's seed-0 student alone and with `method`, its teacher cut to one epoch."""
    # Imported here: a bare run's process needs none of the report stack (it would be
    # start-up the bare loop pays and the engine's `dctkd train` does not).
    from dctkd.report import grid
    from dctkd.report.profile import load_profile

    overrides = ["roles.teacher.optim.epochs=1"]
    if "pretrain" in load_profile(profile).spec.get("roles", {}):
        overrides.append("roles.pretrain.optim.epochs=1")  # the run a teacher starts from
    if epochs:
        overrides.append(f"roles.student.optim.epochs={epochs}")
    prof = load_profile(profile, overrides)
    dataset = prof.family("main")["datasets"][0]
    pair = prof.pairs(dataset)[0]
    plain, distil = (_quiet(grid.student_config(prof, dataset, pair, m, 0))
                     for m in ("none", method))
    teacher = _quiet(distil.teacher)
    if teacher.init is not None:
        teacher = replace(teacher, init=_quiet(teacher.init))
    return plain, replace(distil, teacher=teacher)


def _quiet(cfg):
    return replace(cfg, runtime=replace(cfg.runtime, progress=False))


def engine_run(cfg, store: Path) -> None:
    """The whole run through the run store, from an empty run folder."""
    path = runs.run_path(cfg, store)
    if path.exists():
        import shutil

        shutil.rmtree(path)
    runs.ensure(cfg, store)


def bare_run(cfg, teacher_outputs) -> None:
    """The same training and evaluation math as the engine, written as a plain loop."""
    o = cfg.optim
    device = torch.device("cpu")
    amp = amp_dtype(cfg.runtime.amp, device)
    autocast = torch.autocast("cpu", dtype=amp) if amp else contextlib.nullcontext()
    d = cfg.data
    train = build_dataset(d.name, "train", d.root, options=d.options, augment=d.augment,
                          val_fraction=d.val_fraction, train_size=d.train_size, seed=cfg.seed)
    val, test = dataset_of(cfg, "val"), dataset_of(cfg, "test")
    seed_all(cfg.seed)
    model = build_model(cfg.model, len(train.classes)).to(memory_format=torch.channels_last)
    objective = resolve(cfg.method)
    term = None
    if objective.term is not None:
        shapes = [tuple(f.shape[1:]) for f in teacher_outputs.features]
        term = build_term(objective.term,
                          student_shapes=tap_shapes(cfg.model, train[0][0].shape[-1]),
                          teacher_shapes=shapes, num_samples=len(train),
                          num_classes=len(train.classes), batch_size=o.batch_size,
                          options=objective.options, train_targets=list(train.targets))
    params = list(model.parameters()) + (list(term.parameters()) if term is not None else [])
    opt = torch.optim.SGD(params, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay)
    sched = (torch.optim.lr_scheduler.StepLR(opt, o.step_size, o.gamma) if o.schedule == "step"
             else torch.optim.lr_scheduler.CosineAnnealingLR(opt, o.epochs)
             if o.schedule == "cosine" else
             torch.optim.lr_scheduler.MultiStepLR(opt, list(o.milestones), o.gamma))
    loader = DataLoader(Indexed(train), o.batch_size, shuffle=True,
                        drop_last=len(train) % o.batch_size == 1)
    best_top1, best_epoch, best_weights = -1.0, 0, None
    for epoch in range(o.epochs):
        model.train()
        for images, targets, index in loader:
            images = images.contiguous(memory_format=torch.channels_last)
            with autocast:  # the term under the same autocast as the engine's Distiller
                logits, feats = model(images)
                if term is not None:
                    t = teacher_outputs.lookup(index, device)
                    distil = objective.alpha * term(feats, t.features, t.logits, targets).float()
            loss = objective.beta * F.cross_entropy(logits.float(), targets)
            if term is not None:
                loss = loss + distil
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        sched.step()
        top1 = _accuracy(model, val, o.eval_batch_size, autocast)
        if top1 > best_top1:  # the student of the best val epoch, as the engine's best.pt
            best_top1, best_epoch = top1, epoch + 1
            best_weights = {k: v.clone() for k, v in model.state_dict().items()}
    _accuracy(model, test, o.eval_batch_size, autocast)
    if best_epoch != o.epochs:  # tested as well, unless it is the last
        model.load_state_dict(best_weights)
        _accuracy(model, test, o.eval_batch_size, autocast)


@torch.no_grad()
def _accuracy(model, data, batch_size: int, autocast) -> float:
    model.eval()
    hits = 0
    for images, targets in DataLoader(data, batch_size):
        with autocast:
            hits += int((model(images.contiguous(memory_format=torch.channels_last))[0]
                         .argmax(1) == targets).sum())
    return hits / len(data)


def cached_outputs(cfg, store: Path):
    """The teacher outputs the engine cached for `cfg`, read as the engine reads them."""
    device, train = torch.device("cpu"), dataset_of(cfg, "train")
    amp = amp_dtype(cfg.runtime.amp, device)
    key = tc.cache_key(cfg, amp, cfg.runtime.channels_last, device, len(train))
    path = tc.cache_path(runs.run_path(cfg.teacher, store), key)
    return tc.load_or_build(path, key, lambda: (_ for _ in ()).throw(
        FileNotFoundError(f"no cached teacher outputs at {path}")))


def process_cases(args, plain, distil, store: Path, cached: bool) -> dict:
    """Each case as a fresh process: `dctkd train` and this script's `--bare` mode."""
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    files = {}
    for name, cfg in (("plain", plain), ("distil", distil)):
        files[name] = store / f"{name}.yaml"
        files[name].write_text(dump_yaml(cfg))

    def engine(name, cfg):
        def run():
            path = runs.run_path(cfg, store)
            if path.exists():
                import shutil

                shutil.rmtree(path)
            subprocess.run([sys.executable, "-m", "dctkd.cli", "train", "--config",
                            str(files[name]), "--store", str(store)], env=env, check=True,
                           capture_output=True)
        return run

    def bare(name):
        return lambda: subprocess.run([sys.executable, __file__, "--bare", str(files[name]),
                                       "--store", str(store)], env=env, check=True)

    cases = {"bare loop, student alone": bare("plain"),
             "engine, student alone": engine("plain", plain)}
    if cached:
        cases[f"bare loop, {args.method} (cached teacher)"] = bare("distil")
    cases[f"engine, {args.method} ({'cached' if cached else 'online'} teacher)"] = engine(
        "distil", distil)
    return cases


def main(argv: list[str] | None = None) -> dict[str, float]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--profile", default="quick")
    p.add_argument("--method", default="dct")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--epochs", type=int, default=None,
                   help="student epochs (default: the profile's)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--in-process", action="store_true",
                   help="time the loops in this process, without start-up")
    p.add_argument("--bare", type=Path, help=argparse.SUPPRESS)  # one bare run, as a process
    p.add_argument("--store", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.bare:
        cfg = load_yaml(args.bare)
        cached = cfg.teacher is not None and tc.applies(cfg)
        bare_run(cfg, cached_outputs(cfg, args.store) if cached else None)
        return {}
    plain, distil = configs(args.profile, args.method, args.epochs)
    with tempfile.TemporaryDirectory(prefix="dctkd-bench-") as tmp:
        return _measure(args, plain, distil, Path(tmp))


def _measure(args, plain, distil, store: Path) -> dict[str, float]:
    teacher_run = runs.ensure(distil.teacher, store)
    cached = tc.applies(distil)
    outputs = None
    if cached:
        device = torch.device("cpu")
        train = dataset_of(distil, "train")
        outputs = tc.compute(teacher_run.load_model("best"), train, 512,
                             amp_dtype(distil.runtime.amp, device), True, device)
    cases = {
        "bare loop, student alone": lambda: bare_run(plain, None),
        "engine, student alone": lambda: engine_run(plain, store),
        f"bare loop, {args.method}" + (" (cached teacher)" if cached else ""):
            lambda: bare_run(distil, outputs) if cached else None,
        f"engine, {args.method}" + (" (cached teacher)" if cached else " (online teacher)"):
            lambda: engine_run(distil, store),
    }
    if not cached:
        del cases[next(k for k in cases if k.startswith("bare loop, " + args.method))]
    engine_run(distil, store)  # builds the teacher-output cache once, outside the timings
    if not args.in_process:
        cases = process_cases(args, plain, distil, store, cached)
    times: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(args.repeats):
        for name, case in cases.items():
            start = time.perf_counter()
            case()
            times[name].append(time.perf_counter() - start)
    base = statistics.median(times["bare loop, student alone"])
    print(f"{args.profile} profile, {plain.model} student, {plain.optim.epochs} epochs on "
          f"{len(dataset_of(plain, 'train'))} images, batch {plain.optim.batch_size}, "
          f"amp {plain.runtime.amp}, {args.threads} thread(s), median of {args.repeats}, "
          f"{'in one process' if args.in_process else 'whole processes'}")
    # Two ratios: to the bare plain loop (what distillation costs in all), and to the bare
    # loop doing the same method (what the engine adds around that math).
    print(f"{'case':<42} {'seconds':>8} {'x bare plain':>13} {'x bare same':>12}")
    ratios = {}
    for name, values in times.items():
        med = statistics.median(values)
        ratios[name] = med / base
        twin = name.replace("engine,", "bare loop,").replace("(online teacher)", "").strip()
        same = (f"{med / statistics.median(times[twin]):12.3f}"
                if name.startswith("engine") and twin in times else f"{'':>12}")
        print(f"{name:<42} {med:8.2f} {med / base:13.3f} {same}")
    return ratios


if __name__ == "__main__":
    main()
