"""`dctkd figures`: train what the notebooks need, execute them, export HTML, write the index.

The build trains the union of every selected notebook's runs first (in parallel worker
processes, a GPU each, or as Slurm jobs: `launchers`), then executes each notebook with
papermill into `results/<profile>/notebooks/` (the notebook still calls `ensure`, so alone
it trains what it needs), exports it to HTML and rewrites `results/<profile>/index.html`.
A run that fails stops nothing else: the other runs train and the notebooks that do not need
it execute; those that do are marked `skipped`, and the build ends with the list of failed
runs (their logs) and skipped notebooks. A failing notebook stops the build with its name
and the failing cell's error; finished runs stay in the store, so a re-run continues.

A notebook executes into a temporary file that replaces the previous executed copy (and its
HTML) only when it succeeds, so a killed or failed build leaves the last good report in
place; a failed copy is kept beside it as `<name>.failed.ipynb`. The figures and tables a
notebook's previous run listed in its manifest and this run did not write are removed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from dctkd.errors import ConfigError, Failure, RunFailed, RunsFailed, one_line
from dctkd.files import write_text

from .arguments import figures_arguments
from .build_record import finish_record, start_record
from .grid import grid, unique_configs
from .index import pid_alive, set_status, write_index
from .launchers import SlurmLaunch, cli_options, slurm_launch, train_on_slurm
from .notebook import default_results, manifest_path
from .notebooks import (  # noqa: F401 - re-exported: `dctkd figures` and the tests use them
    for_profile,
    list_notebooks,
    notebook_dir,
    notebook_meta,
    select_notebooks,
)
from .profile import check_data, load_profile

KERNEL = "python3"
PARTIAL = ".{stem}.{pid}.tmp.ipynb"


class NotebookError(RunFailed):
    """A notebook failed: which one, in which cell, with which error."""


def _done(store: Path, cfg) -> bool:
    from dctkd.engine import Run

    return Run(store / cfg.run_id, cfg).done


def _cells(profile, families: Sequence[str]) -> list:
    """The grid's cells of `families`; a run setting the profile makes impossible names it."""
    try:
        return grid(profile, families)
    except ConfigError as err:
        raise ConfigError(f"profile {profile.name!r}: {err}") from None


def pretrain(profile, notebooks: Sequence[Path], store: Path, workers: int | None = None,
             log: Callable[[str], None] = print, slurm: SlurmLaunch | None = None,
             record: dict | None = None) -> list[Failure] | None:
    """Train every run the notebooks need (teachers first), here or as Slurm jobs.

    Returns the runs that failed ([] when all are done), or None when Slurm jobs were
    submitted and not waited for. `workers=None`: one per GPU, else `CPU_WORKERS`. The runs
    needed, trained and failed, and the training's wall time, go into `record` (the build's).
    """
    from dctkd.engine.launch import CPU_WORKERS, ensure_all, visible_gpus

    families = []
    for nb in notebooks:
        families += [f for f in notebook_meta(nb).get("families", []) if f not in families]
    cells = _cells(profile, families)
    check_data(profile, cells)
    cfgs = unique_configs(cells)
    missing = [c for c in cfgs if not _done(store, c)]
    where = "as Slurm jobs"
    if slurm is None:
        workers = workers if workers is not None else len(visible_gpus()) or CPU_WORKERS
        where = f"with {workers} worker(s)"
    log(f"[figures] {len(cfgs)} runs for {len(notebooks)} notebook(s): "
        f"{len(cfgs) - len(missing)} ready, {len(missing)} to train {where}")
    record = record if record is not None else {}
    record["runs"] = {"needed": len(cfgs), "trained": 0, "failed": 0}
    if not missing:
        return []
    if slurm is not None:
        return train_on_slurm(missing, store, slurm, profile.name, log)
    start = time.monotonic()
    failures: list[Failure] = []
    try:
        ensure_all(longest_first(missing), store, workers=workers)
    except RunsFailed as err:
        log(f"[figures] {len(err.failures)} of {len(missing)} runs did not finish")
        failures = err.failures
    seconds = time.monotonic() - start
    record["train_wall_seconds"] = round(seconds, 1)
    record["runs"].update(trained=len(missing) - len(failures), failed=len(failures))
    if not failures:
        log(f"[figures] trained {len(missing)} runs in {seconds:.0f} s")
    return failures


def longest_first(cfgs: Sequence) -> list:
    """`cfgs`, the costliest first (images seen x forward FLOPs), so that both workers stay
    busy to the end instead of one finishing a long run alone; a student still starts only
    once its teacher is done (`ensure_all`)."""
    from .plan import _network, flops, split_sizes

    def cost(cfg) -> float:
        train, val = split_sizes(cfg)
        size, classes = _network(cfg)
        extra = 1.0 if cfg.method.name == "none" else 1.3
        return cfg.optim.epochs * (train * extra + val / 3) * flops(cfg.model, size, classes)

    return sorted(cfgs, key=cost, reverse=True)


def notebook_runs(profile, nb: Path) -> list:
    """The runs notebook `nb` reads under `profile`, teachers included."""
    return unique_configs(_cells(profile, notebook_meta(nb).get("families", [])))


def _blocked(profile, nbs: Sequence[Path], failures: Sequence[Failure]) -> list[Path]:
    """The notebooks that need a run that failed: executing them would only train it again
    inside the notebook (one run at a time) and most likely fail the same way."""
    bad = {f.run_id for f in failures}
    return [nb for nb in nbs if bad and bad & {c.run_id for c in notebook_runs(profile, nb)}]


def execute(nb: Path, out_dir: Path, parameters: dict, cwd: Path | None = None,
            html_export: bool = False) -> Path:
    """Run `nb` with papermill (kernel `python3`, working folder `cwd`) into `out_dir`.

    The executed copy (and its HTML) replaces the previous one only on success; a failed
    one is kept as `<name>.failed.ipynb` (and `.failed.html`) and named in the NotebookError.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    out_dir.mkdir(parents=True, exist_ok=True)
    _remove_dead_partials(out_dir, nb.stem)
    target = out_dir / nb.name
    partial = out_dir / PARTIAL.format(stem=nb.stem, pid=os.getpid())
    try:
        papermill.execute_notebook(
            str(nb), str(partial), parameters=parameters, kernel_name=KERNEL,
            cwd=str(cwd or nb.parent), progress_bar=False,
        )
        _keep(partial, target, html_export)
    except PapermillExecutionError as err:
        failed = _keep(partial, out_dir / f"{nb.stem}.failed.ipynb", html_export)
        lines = [line for line in str(err.evalue).splitlines() if line.strip()]
        first = next((line for line in err.source.splitlines() if line.strip()), "")
        raise NotebookError(
            f"notebook {nb.stem} failed in cell {_source_position(failed, err.cell_index)} "
            f"(`{first.strip()[:60]}`): {err.ename}: {lines[-1] if lines else ''} "
            f"(executed copy: {failed})") from err
    finally:
        partial.unlink(missing_ok=True)
    for stale in (target.with_suffix(".failed.ipynb"), target.with_suffix(".failed.html")):
        stale.unlink(missing_ok=True)
    return target


def _keep(partial: Path, target: Path, html_export: bool) -> Path:
    """Move an executed `partial` notebook to `target`, its HTML first when asked."""
    if partial.is_file():
        if html_export:
            export_html(partial, target.with_suffix(".html"))
        os.replace(partial, target)
    return target


def _remove_dead_partials(out_dir: Path, stem: str) -> None:
    """Temporary copies of `stem` whose build process is gone (killed mid-notebook)."""
    for path in out_dir.glob(PARTIAL.format(stem=stem, pid="*")):
        pid = path.name[len(stem) + 2:].split(".")[0]
        if pid.isdigit() and not pid_alive(int(pid)):
            path.unlink(missing_ok=True)


def _source_position(executed: Path, cell_index: int) -> int:
    """1-based position of a cell in the notebook as written (papermill's cells not counted)."""
    import nbformat

    try:
        cells = nbformat.read(executed, as_version=4).cells
    except (OSError, ValueError):
        return cell_index + 1
    ran = [c for c in cells if "papermill-error-cell-tag" not in c.metadata.get("tags", [])]
    ours = [c for c in ran[:cell_index] if "injected-parameters" not in c.metadata.get("tags", [])]
    return len(ours) + 1


def export_html(executed: Path, target: Path | None = None) -> Path:
    """`target` (default `<name>.html` beside the executed notebook), by nbconvert."""
    import nbformat
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nbformat.read(executed, as_version=4))
    return write_text(target or executed.with_suffix(".html"), body)


def build(
    profile: str = "quick",
    notebooks: Iterable[str] | None = None,
    results: str | os.PathLike | None = None,
    data: str | None = None,
    overrides: Sequence[str] = (),
    workers: int | None = None,
    html_export: bool = True,
    train_first: bool = True,
    notebook_folder: str | os.PathLike | None = None,
    log: Callable[[str], None] = print,
    jobs: int = 2,
    slurm: dict | None = None,
) -> Path | None:
    """Regenerate the selected notebooks' reports; returns the path of `index.html`.

    `workers` processes train the missing runs first (None: one per GPU, else 2), or, with
    `slurm` (`{"options": {...}, "wait": bool}`, see `launchers.slurm_launch`), Slurm jobs:
    without waiting the build ends there and returns None. Then `jobs` notebooks execute at a
    time (each in its own kernel), all but those whose runs failed: those are marked
    `skipped`, and a `RunsFailed` listing the runs and notebooks ends the build.
    """
    prof = load_profile(profile, overrides, data)
    out = Path(results).expanduser().resolve() if results else default_results(profile)
    nbs = for_profile(prof, select_notebooks(notebooks, notebook_folder), bool(notebooks), log)
    record = start_record(profile, list(overrides), nbs,
                          Path(notebook_folder) if notebook_folder else None)
    launch = None if slurm is None else slurm_launch(prof, out, **slurm)
    failures = (pretrain(prof, nbs, out / "runs", workers, log, launch, record)
                if train_first else [])
    if failures is None:
        return None
    params = {
        "profile": profile, "results": str(out), "data": prof.data_root,
        "overrides": list(overrides),
    }
    blocked = _blocked(prof, nbs, failures)
    for nb in blocked:
        set_status(out, nb.stem, "skipped")
    state = "failed"
    try:
        _execute_all([nb for nb in nbs if nb not in blocked], out, params, html_export, jobs,
                     log, record["notebook_seconds"])
        state = "failed" if failures else "ok"
    except NotebookError as err:
        if not failures:
            raise
        raise _runs_failed(failures, blocked, also=err) from err
    finally:
        index = write_index(out, prof)
        finish_record(out, record, state)
    log(f"[figures] index: {index}")
    if failures:
        raise _runs_failed(failures, blocked)
    if not notebooks and not overrides:  # the whole profile as published: does it reproduce?
        from .notebook import project_root
        from .reproduced import report

        report(out, project_root() / "reports" / prof.name, log)
    return index


def _runs_failed(failures: Sequence[Failure], blocked: Sequence[Path],
                 also: Exception | None = None) -> RunsFailed:
    """The build's error: the failed runs, the notebooks skipped for them, and a notebook that
    failed besides (as one more listed line)."""
    err = RunsFailed(failures, [nb.stem for nb in blocked])
    if also is not None:
        err.details.append(f"besides: {one_line(also)}")
        err.__notes__ = list(err.details)
    return err


def _run_one(nb: str, out: str, params: dict, html_export: bool) -> float:
    """Execute one notebook (and export it, even half-run); returns its wall seconds."""
    start = time.monotonic()
    before = _manifest(Path(out), Path(nb).stem)
    try:
        execute(Path(nb), Path(out) / "notebooks", params, html_export=html_export)
    finally:
        _remove_stale_outputs(Path(out), Path(nb).stem, before)
    return time.monotonic() - start


def _manifest(out: Path, stem: str) -> dict:
    try:
        return json.loads(manifest_path(out, stem).read_text())
    except (OSError, ValueError):
        return {}


def _remove_stale_outputs(out: Path, stem: str, before: dict) -> None:
    """Delete the figures and tables the notebook's previous run wrote and this one did not.

    A notebook that stopped before opening its `Report` left the old manifest untouched:
    all of its files are then stale, and the manifest goes with them.
    """
    after = _manifest(out, stem)
    if after == before:
        after = {}
        manifest_path(out, stem).unlink(missing_ok=True)
    kept = {f for kind in ("figures", "tables") for e in after.get(kind, []) for f in e["files"]}
    for kind in ("figures", "tables"):
        for entry in before.get(kind, []):
            for name in set(entry["files"]) - kept:
                (out / name).unlink(missing_ok=True)


def _execute_all(nbs: Sequence[Path], out: Path, params: dict, html_export: bool, jobs: int,
                 log: Callable[[str], None], seconds: dict[str, float] | None = None) -> None:
    """Run the notebooks, `jobs` at a time; the first failure stops new starts and is raised.
    Each notebook's wall seconds go into `seconds`."""
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait

    took = seconds if seconds is not None else {}
    jobs = max(1, min(jobs, len(nbs)))
    pool = ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn")) if jobs > 1 else None
    queue, running, failure = list(nbs), {}, None
    try:
        while queue or running:
            while queue and len(running) < jobs and failure is None:
                nb = queue.pop(0)
                set_status(out, nb.stem, "running")
                log(f"[figures] {nb.stem} ...")
                args = (str(nb), str(out), params, html_export)
                if pool is None:
                    fut: Future = Future()
                    try:
                        fut.set_result(_run_one(*args))
                    except Exception as err:
                        fut.set_exception(err)
                else:
                    fut = pool.submit(_run_one, *args)
                running[fut] = nb
            if failure is not None:
                queue.clear()
            if not running:
                break
            done, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for fut in done:
                nb = running.pop(fut)
                try:
                    wall = fut.result()
                except Exception as err:
                    set_status(out, nb.stem, "failed")
                    failure = failure or err
                    continue
                set_status(out, nb.stem, "ok")
                took[nb.stem] = round(wall, 1)
                log(f"[figures] {nb.stem} done in {wall:.0f} s")
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    if failure is not None:
        raise failure


def plan(profile, notebooks: Sequence[Path], store: Path) -> list[tuple[str, int, int]]:
    """`(notebook, runs needed, runs missing)` for each notebook, without training."""
    rows = []
    for nb in notebooks:
        cfgs = notebook_runs(profile, nb)
        missing = sum(not _done(store, c) for c in cfgs)
        rows.append((nb.stem, len(cfgs), missing))
    return rows


# The parser is built from `arguments`, which imports nothing heavy: `--help` is at once.
add_arguments = figures_arguments


def main(args: argparse.Namespace) -> int:
    """`dctkd figures`; errors go up to `dctkd.cli.main`, which prints them as one line (exit
    2 for a bad profile, path or data, 1 for a run or notebook that failed)."""
    if args.plan:
        from .plan_command import print_plan

        prof = load_profile(args.profile, args.overrides, args.data)
        out = Path(args.results) if args.results else default_results(args.profile)
        nbs = for_profile(prof, select_notebooks(args.nb, args.notebooks), bool(args.nb))
        for name, total, missing in plan(prof, nbs, out / "runs"):
            print(f"{name:32s} {total:5d} runs, {missing:5d} missing")
        families = [f for nb in nbs for f in notebook_meta(nb).get("families", [])]
        return print_plan(args, prof, list(dict.fromkeys(families)), out)
    slurm = None
    if args.launcher == "slurm":
        slurm = {"options": cli_options(args), "wait": args.wait}
    build(args.profile, args.nb, args.results, args.data, args.overrides, args.workers,
          html_export=not args.no_html, train_first=not args.no_pretrain,
          notebook_folder=args.notebooks, jobs=args.jobs, slurm=slurm)
    return 0


if __name__ == "__main__":  # `python -m dctkd.report.build ...` is `dctkd figures ...`
    import runpy

    sys.argv.insert(1, "figures")
    runpy.run_module("dctkd.cli", run_name="__main__")
