"""`dctkd <command>`: train and evaluate runs of the store from the shell.

Each command is a pair `(add_arguments(parser), run(args) -> exit code)` in `COMMANDS`, either
functions or `"module:function"` names: the options come from a module that imports nothing
heavy, and the code that runs is imported only once the arguments parsed, so `--help` and a
mistyped option answer at once (this module itself imports no torch). A bad
configuration stops with one line on stderr and exit code 2, before any training; so does
any other user error (a path, a damaged file, a full disk). A run or notebook that fails
exits with 1; when several runs failed, each is listed (with its log) before that line.
`--debug` (before or after the command) shows the traceback instead.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import math
import os
import signal
import sys
import typing
import warnings
from collections.abc import Callable
from dataclasses import fields, is_dataclass

from .config import RunConfig, apply_overrides, dump_yaml, load_yaml
from .errors import one_line


def config_keys(cls: type = RunConfig, prefix: str = "") -> list[tuple[str, str, object]]:
    """Every dotted `key=value` field of the config: `(key, type, default)`."""
    out = []
    defaults = cls()
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        key = f"{prefix}{f.name}"
        value = getattr(defaults, f.name)
        if is_dataclass(value):
            out += config_keys(type(value), key + ".")
        elif f.name == "teacher":
            out.append((f"{key}.<key>", "RunConfig", "(none) the teacher's own fields, as above"))
        elif f.name == "init":
            out.append((f"{key}.<key>", "RunConfig",
                        "(none) the run whose weights start this one (all but its classifier)"))
        else:
            hint = hints[f.name]
            name = hint.__name__ if isinstance(hint, type) else str(hint).replace("typing.", "")
            out.append((key, name, value))
    return out


def _fields_help() -> str:
    from .data import dataset_names
    from .losses import method, method_names

    rows = [f"  {k:<24} {t:<16} default {d!r}" if not isinstance(d, str) or t != "RunConfig"
            else f"  {k:<24} {t:<16} {d}" for k, t, d in config_keys()]
    methods = [f"  {name:<12} {method(name).label}" for name in method_names(plus_kd=False)]
    return (
        "config fields (key=value, values parsed as YAML):\n" + "\n".join(rows)
        + "\n\nmethods (method.name; each but none also as <name>+kd):\n" + "\n".join(methods)
        + "\n\ndatasets (data.name): " + ", ".join(dataset_names())
    )


class _FieldsHelpParser(argparse.ArgumentParser):
    """A parser whose help ends with every config field, method and dataset, listed only when
    help is shown: reading the catalogues for it costs a run ~0.15 s of start-up otherwise."""

    def format_help(self) -> str:
        if self.epilog is None:
            self.epilog = _fields_help()
        return super().format_help()


def _add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE.yaml", help="start from this RunConfig YAML")
    p.add_argument("--store", default=None, help="run store folder (default results/quick/runs)")


def _resolve(args: argparse.Namespace, overrides: list[str]) -> RunConfig:
    """The config from `--config` and the overrides; a problem is a ConfigError naming the
    file or the command line, whichever holds it."""
    cfg = load_yaml(args.config) if args.config else RunConfig()
    return apply_overrides(cfg, overrides)


def _store(args: argparse.Namespace) -> str:
    from .engine import DEFAULT_STORE

    return args.store or DEFAULT_STORE


def train_arguments(p: argparse.ArgumentParser) -> None:
    p.description = "Train a run (and its teacher) unless the store already has it; resumes."
    _add_config_args(p)
    p.add_argument("--print-config", action="store_true", help="show the resolved YAML, exit")
    p.add_argument("overrides", nargs="*", metavar="key=value")


def train_command(args: argparse.Namespace) -> int:
    cfg = _resolve(args, args.overrides)
    if args.print_config:
        print(f"# run_id: {cfg.run_id}\n{dump_yaml(cfg)}", end="")
        return 0
    from .engine import check, ensure, run_path

    check(cfg, _store(args))
    main_rank = os.environ.get("RANK", "0") == "0"
    if main_rank:
        print(f"run {run_path(cfg, _store(args))}", file=sys.stderr)
    run = ensure(cfg, _store(args))
    if not main_rank:
        return 0
    summary = _summary(run.metrics())
    print(json.dumps({"run": str(run.path), **summary}))
    if summary.get("diverged_epoch"):
        print(f"dctkd train: warning: {_diverged(summary)}", file=sys.stderr)
    return 0


def _summary(final: dict) -> dict:
    """`best_epoch`, `diverged_epoch` (if any) and Top-1/Top-5/MCA of both checkpoints; null
    where a checkpoint has no metrics."""
    out = {"best_epoch": final["best_epoch"]}
    if final.get("diverged_epoch"):
        out["diverged_epoch"] = final["diverged_epoch"]
    for which in ("best", "last"):
        values = {k: final[which][k] for k in ("top1", "top5", "mca")}
        out[which] = {k: None if math.isnan(v) else round(v, 3) for k, v in values.items()}
    return out


def _diverged(summary: dict) -> str:
    epoch, best = summary["diverged_epoch"], summary["best_epoch"]
    kept = (f"best and its metrics are epoch {best}, before the divergence" if best
            else "there is no usable checkpoint and no metrics")
    return (f"training diverged (non-finite loss) in epoch {epoch}; {kept} (lower optim.lr "
            "or method.alpha)")


def evaluate_arguments(p: argparse.ArgumentParser) -> None:
    p.description = "Evaluate a finished run's student on a split; writes eval_*.json beside it."
    _add_config_args(p)
    p.add_argument("target", nargs="*", metavar="RUN_DIR | key=value",
                   help="a run folder, or the overrides naming a run in the store")
    p.add_argument("--split", default="test", choices=("test", "val", "train"))
    p.add_argument("--which", default="best", choices=("best", "last"))
    p.add_argument("--ten-crop", action="store_true", help="average softmax over ten crops")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    p.add_argument("--root", default=None, help="dataset root, if it moved since training")


def evaluate_command(args: argparse.Namespace) -> int:
    import torch
    from torch.utils.data import DataLoader

    from .data import build_dataset
    from .engine import Run, run_path
    from .engine.evaluate import evaluate, scalars
    from .engine.runtime import amp_dtype, pick_device

    if len(args.target) == 1 and "=" not in args.target[0]:
        run = Run(args.target[0])
    else:
        run = Run(run_path(_resolve(args, args.target), _store(args)))
    if not run.done:
        raise FileNotFoundError(f"{run.path} has no readable final.json: train the run first "
                                "(the same `dctkd train` command finishes it)")
    cfg = run.config
    device = pick_device(args.device)
    model = run.load_model(args.which).to(device)
    data = build_dataset(cfg.data.name, args.split, args.root or cfg.data.root,
                         options=dict(cfg.data.options), augment=False,
                         val_fraction=cfg.data.val_fraction,
                         train_size=cfg.data.train_size, seed=cfg.seed,
                         holdout_seed=cfg.data.holdout_seed)
    loader = DataLoader(data, cfg.optim.eval_batch_size, shuffle=False,
                        pin_memory=device.type == "cuda")
    with torch.inference_mode():
        result = evaluate(model, loader, len(data.classes), ten_crop=args.ten_crop,
                          nominal_batch=cfg.optim.eval_batch_size,
                          amp_dtype=amp_dtype(cfg.runtime.amp, device))
    out = {"run": str(run.path), "split": args.split, "which": args.which,
           "ten_crop": args.ten_crop, **scalars(result)}
    print(json.dumps(out))
    from .files import write_text

    name = f"eval_{args.split}_{args.which}{'_tencrop' if args.ten_crop else ''}.json"
    try:
        write_text(run.path / name, json.dumps(out, indent=2))
    except OSError as err:
        print(f"dctkd evaluate: warning: the result above is not saved: {run.path} cannot be "
              f"written ({err.strerror or err})", file=sys.stderr)
    return 0


Arguments = Callable[[argparse.ArgumentParser], None]
Run = Callable[[argparse.Namespace], int]
_ARGS = "dctkd.report.arguments"
COMMANDS: dict[str, tuple[Arguments | str, Run | str]] = {
    "train": (train_arguments, train_command),
    "evaluate": (evaluate_arguments, evaluate_command),
    "figures": (f"{_ARGS}:figures_arguments", "dctkd.report.build:main"),
    "fetch-weights": (f"{_ARGS}:fetch_weights_arguments", "dctkd.report.fetch_weights:main"),
    "status": (f"{_ARGS}:status_arguments", "dctkd.report.status:main"),
    "publish": (f"{_ARGS}:publish_arguments", "dctkd.report.publish:main"),
}


def _load(entry: Callable | str) -> Callable:
    """A function, or the one a `"module:function"` name points at (imported now)."""
    if not isinstance(entry, str):
        return entry
    module, _, name = entry.partition(":")
    return getattr(importlib.import_module(module), name)


def _available() -> list[str]:
    """The commands whose code is installed (the report ones may be left out of a package)."""
    return [n for n, (_, run) in COMMANDS.items()
            if not isinstance(run, str) or _exists(run.partition(":")[0])]


def _exists(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `dctkd` script; returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = bool(argv) and argv[0] == "--debug"
    argv = argv[1:] if debug else argv
    names = _available()
    usage = (f"usage: dctkd [--debug] {{{','.join(names)}}} ... (dctkd <command> --help for "
             "details)")
    if not argv or argv[0] in ("-h", "--help"):
        print(usage, file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    name = argv[0]
    if name not in names:
        print(f"{usage}\ndctkd: error: unknown command {name!r}", file=sys.stderr)
        return 2
    add_arguments, run = COMMANDS[name]
    parser_class = _FieldsHelpParser if name in ("train", "evaluate") else argparse.ArgumentParser
    parser = parser_class(prog=f"dctkd {name}",
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    _load(add_arguments)(parser)
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of an error instead of its one line")
    args = parser.parse_args(argv[1:])
    with _one_line_warnings(name), _sigterm_interrupts():
        try:
            return int(_load(run)(args) or 0)
        except KeyboardInterrupt:
            print(f"dctkd {name}: interrupted; the same command resumes", file=sys.stderr)
            return 130
        except Exception as err:
            code = exit_code(err)
            if debug or args.debug or code is None:
                raise
            for line in getattr(err, "details", ()):  # e.g. each failed run and its log
                print(f"  {line}", file=sys.stderr)
            print(f"dctkd {name}: error: {one_line(err)}", file=sys.stderr)
            return code


def exit_code(err: BaseException) -> int | None:
    """2 for a user error (a config, a path, a file, the disk), 1 for a run or a notebook that
    failed, None for anything else: a bug, shown with its traceback."""
    import yaml

    from .errors import RunFailed

    if isinstance(err, RunFailed) or type(err).__name__ == "OutOfMemoryError":
        return 1
    if isinstance(err, (ValueError, OSError, yaml.YAMLError)):
        return 2
    return None


@contextlib.contextmanager
def _one_line_warnings(name: str):
    """Warnings print as `dctkd <command>: warning: ...`, one line each, while a command runs."""
    before = warnings.formatwarning
    warnings.formatwarning = lambda message, *_, **__: (
        f"dctkd {name}: warning: {' '.join(str(message).split())}\n")
    try:
        yield
    finally:
        warnings.formatwarning = before


@contextlib.contextmanager
def _sigterm_interrupts():
    """SIGTERM (`kill`, a scheduler's stop) ends a command like Ctrl-C does: runs in flight
    stop, a build's status reads "interrupted", and the same command resumes."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    try:
        before = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread (e.g. main() called from a worker thread)
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


if __name__ == "__main__":
    raise SystemExit(main())
