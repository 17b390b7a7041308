"""`dctkd status`: where a profile's runs stand, notebook by notebook.

For each notebook: how many of its runs (teachers included) the store holds `done`, `running`
(some process, here or on another node sharing the store, holds the run's lock), `failed`
(its last attempt left a `failed.json`) or `missing`, and the notebook's last build state;
then each failed run with its reason and log. It only reads: a lock is tried without
waiting and released, nothing trains, nothing is written, so it is safe beside a build or a
Slurm grid in progress.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from .arguments import status_arguments
from .build import notebook_runs, select_notebooks
from .index import read_status
from .notebook import default_results
from .profile import load_profile

STATES = ("done", "running", "failed", "missing")


add_arguments = status_arguments  # built without importing the machinery below


def survey(profile, notebooks, out: Path) -> tuple[list[tuple], dict[str, str]]:
    """`(rows, {run_id: state})`: per notebook `(name, runs, done, running, failed, missing,
    last build)`; each run is looked at once however many notebooks share it."""
    from dctkd.engine.launch import run_state

    store, builds = out / "runs", read_status(out)
    states: dict[str, str] = {}
    rows = []
    for nb in notebooks:
        cfgs = notebook_runs(profile, nb)
        ids = [cfg.run_id for cfg in cfgs]  # a hash of the whole config: computed once each
        for cfg, rid in zip(cfgs, ids, strict=True):
            if rid not in states:
                states[rid] = run_state(cfg, store)
        counts = Counter(states[rid] for rid in ids)
        rows.append((nb.stem, len(cfgs), *(counts[s] for s in STATES),
                     builds.get(nb.stem, "never")))
    return rows, states


def render(rows: list[tuple], states: dict[str, str], store: Path) -> str:
    """The table, a line for all distinct runs, then the failed runs with reason and log."""
    from dctkd.engine.runlog import read_failure

    head = ("notebook", "runs", *STATES, "last build")
    widths = [max(len(head[0]), *(len(r[0]) for r in rows), 14)] + [7] * 5
    lines = ["  ".join(f"{h:<{w}}" if i == 0 else f"{h:>{w}}"
                       for i, (h, w) in enumerate(zip(head, widths, strict=False)))
             + f"  {head[-1]}"]
    for name, *counts, build in rows:
        lines.append(f"{name:<{widths[0]}}  " + "  ".join(f"{n:>7}" for n in counts)
                     + f"  {build}")
    total = Counter(states.values())
    lines.append(f"{'all (distinct)':<{widths[0]}}  {len(states):>7}  "
                 + "  ".join(f"{total[s]:>7}" for s in STATES))
    failed = [rid for rid, state in states.items() if state == "failed"]
    if failed:
        lines.append("failed runs (the same dctkd figures command retries them):")
    for rid in failed:
        marker = read_failure(store / rid) or {}
        lines.append(f"  {rid}: {marker.get('reason', '?')} (log: {marker.get('log', '?')})")
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    """`dctkd status`: prints the survey; exit 0 whatever the runs' state."""
    prof = load_profile(args.profile, args.overrides, args.data)
    out = Path(args.results).expanduser() if args.results else default_results(args.profile)
    rows, states = survey(prof, select_notebooks(args.nb, args.notebooks), out)
    print(f"profile {prof.name}, runs in {out / 'runs'}")
    print(render(rows, states, out / "runs"))
    return 0


__all__ = ["STATES", "add_arguments", "main", "render", "survey"]
