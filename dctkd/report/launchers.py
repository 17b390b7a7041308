"""Where `dctkd figures` trains the runs its notebooks need: here, in worker processes with a
GPU each (`--launcher local`, `dctkd.engine.launch`), or as Slurm job arrays through submitit
(`--launcher slurm`, `dctkd.engine.slurm`).

A Slurm build submits and returns, printing the job arrays; `dctkd status` follows them and
`dctkd figures` run again executes the notebooks once their runs are done. With `--wait` it
waits for the jobs itself and goes on to the notebooks. Slurm settings are the profile's
`slurm:` section, under the command-line options.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from dctkd.config import RunConfig
from dctkd.engine import slurm
from dctkd.engine.slurm import SlurmSettings
from dctkd.errors import ConfigError, Failure
from dctkd.validation import dotted, first_problem, parse_yaml

from .arguments import SLURM_OPTIONS, launcher_arguments

# The options themselves are declared in `arguments`, which `--help` imports alone.
OPTIONS = SLURM_OPTIONS
add_arguments = launcher_arguments


def cli_options(args: argparse.Namespace) -> dict:
    """The Slurm settings given on the command line (those not given are absent)."""
    opts = {k: getattr(args, k) for k in OPTIONS if getattr(args, k, None) is not None}
    extra = {}
    for item in getattr(args, "slurm_arg", None) or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--slurm-arg {item!r} is not of the form KEY=VALUE")
        extra[key.strip()] = parse_yaml(raw, f"--slurm-arg {key.strip()}")
    if extra:
        opts["args"] = extra
    return opts


@dataclass(frozen=True)
class SlurmLaunch:
    """How to queue a build's runs: the job settings, the job folder
    (`results/<profile>/slurm/`), whether to wait, and submitit's cluster (`local` in the
    tests)."""

    settings: SlurmSettings
    folder: Path
    wait: bool = False
    cluster: str = "slurm"
    poll_s: float = 60.0


def slurm_launch(profile, out: Path, options: dict | None = None, wait: bool = False,
                 cluster: str = "slurm", poll_s: float = 60.0) -> SlurmLaunch:
    """The profile's `slurm:` section under the command-line `options`, checked."""
    section = dict(profile.spec.get("slurm") or {})
    options = dict(options or {})
    merged = {**section, **options,
              "args": {**section.get("args", {}), **options.get("args", {})}}
    try:
        settings = SlurmSettings(**merged)
    except ValidationError as err:
        where, text = first_problem(err, SlurmSettings, "Slurm setting")
        key = where[0] if where else ""
        source = (f"--{str(key).replace('_', '-')}" if key in options
                  else f"in profile {profile.name!r}")
        raise ConfigError(f"slurm.{dotted(where)}: {text} ({source})") from None
    return SlurmLaunch(settings, Path(out) / "slurm", wait, cluster, poll_s)


def train_on_slurm(missing: Sequence[RunConfig], store: Path, launch: SlurmLaunch,
                   profile: str, log: Callable[[str], None] = print) -> list[Failure] | None:
    """Queue `missing` (teachers first); with `launch.wait`, wait and return the failures,
    else None: the notebooks wait for a later `dctkd figures`."""
    sub = slurm.submit(missing, store, launch.folder, launch.settings, launch.cluster,
                       poll_s=min(launch.poll_s, 30.0))
    new = len(sub.jobs) - sub.earlier
    earlier = f", {sub.earlier} still queued from an earlier submission" if sub.earlier else ""
    log(f"[figures] submitted {new} run(s) as {len(sub.arrays)} job array(s) "
        f"({', '.join(sub.arrays) or '-'}){earlier}; job logs in {launch.folder}, run logs in "
        f"{store}/<run>/train.log")
    if not launch.wait:
        name = profile if not os.path.isabs(profile) else f"'{profile}'"
        log(f"[figures] students start once their teacher's job has succeeded; `dctkd status "
            f"--profile {name}` follows the runs, and `dctkd figures --profile {name}` executes "
            "the notebooks once they are done")
        return None
    failures = slurm.wait(sub, store, poll_s=launch.poll_s)
    log(f"[figures] the jobs have ended; {len(failures)} run(s) did not finish")
    return failures


__all__ = ["SlurmLaunch", "add_arguments", "cli_options", "slurm_launch", "train_on_slurm"]
