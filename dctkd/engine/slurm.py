"""Many runs on many nodes: each missing run is one task of a Slurm job array, via submitit.

How a grid is queued (`plan`, `submit`): the runs whose teacher is done, or that need none,
form one array; the students of each teacher that is itself queued form one array per
teacher, submitted at the same time with `--dependency=afterok:<that teacher's task>` and
`--kill-on-invalid-dep=yes`. So one command queues the whole grid and may exit (nothing has
to outlive days of training on a login node), a student starts as soon as its own teacher is
done rather than when all teachers are, and the students of a teacher that failed are
cancelled by Slurm instead of pending forever. Executors without dependencies (submitit's
`local` one, which the tests use) have the submitting process wait instead: a teacher's
students are submitted when its job succeeded, and skipped when it failed.

Each task is a `TrainJob`, a `submitit.helpers.Checkpointable`: at a preemption, or when the
time limit nears, Slurm sends USR2, submitit requeues the task, and the requeued task calls
`ensure` again, which resumes from `last.pt`. The run store's lock (on the shared file
system) keeps two jobs from training one run; `<folder>/jobs.json` remembers what was
queued, so submitting again does not queue twice a run still pending or running.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import submitit

from dctkd.config import RunConfig
from dctkd.errors import ConfigError, Failure, one_line
from dctkd.files import write_json

from .checks import check
from .launch import _cores, missing_runs, train_logged, with_teachers
from .runlog import LOG, read_failure
from .runs import Run, run_path
from .slurm_settings import SlurmSettings, minutes

ACTIVE = {"PENDING", "RUNNING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "CONFIGURING",
          "COMPLETING", "RESIZING", "SUSPENDED", "SIGNALING", "STAGE_OUT", "PREEMPTED"}
LEDGER = "jobs.json"


def parameters(settings: SlurmSettings, after: str | None = None) -> dict[str, Any]:
    """`AutoExecutor.update_parameters` of one array: the settings, and the job it waits for."""
    extra: dict[str, Any] = dict(settings.args)
    if after:
        extra["kill-on-invalid-dep"] = "yes"
    params = {
        "name": "dctkd", "timeout_min": minutes(settings.time), "nodes": 1, "tasks_per_node": 1,
        "gpus_per_node": settings.gpus_per_run, "cpus_per_task": settings.cpus_per_run,
        "mem_gb": settings.mem_gb, "slurm_partition": settings.partition,
        "slurm_account": settings.account, "slurm_array_parallelism": settings.array_parallelism,
        "slurm_setup": list(settings.setup) or None, "slurm_additional_parameters": extra or None,
        "slurm_dependency": f"afterok:{after}" if after else None,
    }
    return {k: v for k, v in params.items() if v is not None}


@dataclass(frozen=True)
class Array:
    """One job array: its runs, and the run id of the teacher whose job must succeed first."""

    runs: tuple[RunConfig, ...]
    after: str | None = None


def plan(cfgs: Sequence[RunConfig], store: str | os.PathLike, queued: Sequence[str] = ()
         ) -> list[Array]:
    """The arrays that train every missing run of `cfgs` (teachers included), each after the
    array holding its teacher (or the run its weights start from). Runs in `queued` (still
    in Slurm's queue from an earlier submission) get no array, but their students still wait
    for them."""
    missing = missing_runs(cfgs, store)
    roots, students = [], {}
    for rid, cfg in missing.items():
        if rid in queued:
            continue
        waits = [p.run_id for p in cfg.prerequisites if p.run_id in missing]
        if len(waits) > 1:
            raise ConfigError(f"{rid} needs two runs that are not trained yet ({waits[0]} and "
                              f"{waits[1]}), and a job array waits for one; submit again once "
                              f"{waits[0]} has finished")
        teacher = waits[0] if waits else None
        if teacher is not None:
            students.setdefault(teacher, []).append(cfg)
        else:
            roots.append(cfg)
    arrays = [Array(tuple(roots))] if roots else []
    arrays += [Array(tuple(students.pop(t)), t) for t in queued if t in students]
    i = 0
    while i < len(arrays):
        arrays += [Array(tuple(students.pop(c.run_id)), c.run_id) for c in arrays[i].runs
                   if c.run_id in students]
        i += 1
    return arrays


class TrainJob(submitit.helpers.Checkpointable):
    """One run as a job: `train_logged` (output in `<run>/train.log`, `failed.json` on
    failure). Checkpointable: a preempted or timed-out job is requeued as itself, and
    `ensure` resumes the run from `last.pt`."""

    def __init__(self, cfg: RunConfig, store: str | os.PathLike):
        self.cfg, self.store = cfg, str(store)

    def __call__(self) -> str:
        if "OMP_NUM_THREADS" not in os.environ:
            import torch

            torch.set_num_threads(_cores())
        return train_logged(self.cfg, self.store, capture=True)


@dataclass
class Submitted:
    """What `submit` queued: `jobs` by run id (this submission's and, from an earlier one,
    those still queued), the arrays, and the runs never submitted because a teacher failed."""

    cfgs: dict[str, RunConfig]
    jobs: dict[str, Any] = field(default_factory=dict)
    arrays: list[str] = field(default_factory=list)
    earlier: int = 0
    skipped: list[Failure] = field(default_factory=list)


def submit(cfgs: Sequence[RunConfig], store: str | os.PathLike, folder: str | os.PathLike,
           settings: SlurmSettings, cluster: str = "slurm", job: Callable = TrainJob,
           poll_s: float = 30.0) -> Submitted:
    """Queue every missing run of `cfgs` (`plan`); returns once all are submitted (with an
    executor that has no dependencies, once every teacher's job has ended)."""
    cfgs = [replace(c, runtime=replace(c.runtime, progress=False)) for c in with_teachers(cfgs)]
    for cfg in cfgs:
        check(cfg, store)
    folder = Path(folder)
    if cluster == "slurm" and not (shutil.which("sbatch") and shutil.which("srun")):
        raise ConfigError("--launcher slurm needs Slurm: sbatch and srun were not found on "
                          "PATH; run it on the cluster's login node")
    queued = _still_queued(folder, cluster)
    out = Submitted({c.run_id: c for c in cfgs})
    out.jobs = {rid: _job(folder, cluster, jid) for rid, jid in queued.items() if rid in out.cfgs}
    out.earlier = len(out.jobs)
    waiting, dead = plan(cfgs, store, list(out.jobs)), set()
    while waiting:
        for arr in list(waiting):
            teacher = out.jobs.get(arr.after) if arr.after else None
            if arr.after in dead or (teacher is not None and cluster != "slurm"
                                     and teacher.done() and teacher.exception() is not None):
                out.skipped += [Failure(c.run_id, teacher=arr.after) for c in arr.runs]
                dead |= {c.run_id for c in arr.runs}
            elif teacher is not None and cluster != "slurm" and not teacher.done():
                continue
            else:
                _submit_array(arr, out, folder, settings, cluster, job, store, teacher)
            waiting.remove(arr)
        if waiting:
            time.sleep(poll_s)
    write_json(folder / LEDGER, {**queued, **{r: j.job_id for r, j in out.jobs.items()}})
    return out


def _submit_array(arr: Array, out: Submitted, folder: Path, settings: SlurmSettings,
                  cluster: str, job: Callable, store, teacher) -> None:
    after = teacher.job_id if teacher is not None and cluster == "slurm" else None
    executor = submitit.AutoExecutor(folder=folder, cluster=cluster,
                                     slurm_max_num_timeout=settings.max_timeouts)
    executor.update_parameters(**parameters(settings, after))
    jobs = executor.submit_array([job(cfg, store) for cfg in arr.runs])
    out.jobs.update({cfg.run_id: j for cfg, j in zip(arr.runs, jobs, strict=True)})
    out.arrays.append(jobs[0].job_id.split("_")[0])


def wait(submitted: Submitted, store: str | os.PathLike, poll_s: float = 60.0
         ) -> list[Failure]:
    """Wait until every job has ended; the runs that did not finish, teachers first."""
    while not all(j.done() for j in submitted.jobs.values()):
        time.sleep(poll_s)
    failed = {f.run_id: f for f in submitted.skipped}
    for rid, cfg in submitted.cfgs.items():
        if rid in submitted.jobs and not Run(run_path(cfg, store), cfg).done:
            failed[rid] = _failure(cfg, store, submitted.jobs[rid], failed)
    return list(failed.values())


def _failure(cfg: RunConfig, store, job, failed: dict) -> Failure:
    """Why `cfg`'s job left it unfinished: its teacher failed, its `failed.json`, or what
    submitit says (a job cancelled or killed before it could write anything)."""
    for before in cfg.prerequisites:
        if before.run_id in failed:
            return Failure(cfg.run_id, teacher=before.run_id)
    path = run_path(cfg, store)
    marker = read_failure(path)
    if marker is not None:
        return Failure(cfg.run_id, str(marker.get("reason", "")), str(path / LOG))
    err = job.exception()
    reason = f"job {job.job_id} ended ({job.state}): " + (one_line(err)[:300] if err else "")
    return Failure(cfg.run_id, reason.rstrip(": "), str(job.paths.stderr))


def _still_queued(folder: Path, cluster: str) -> dict[str, str]:
    """`{run_id: job_id}` of an earlier submission whose jobs Slurm still holds."""
    try:
        ledger = json.loads((folder / LEDGER).read_text())
    except (OSError, ValueError):
        return {}
    if cluster != "slurm" or not isinstance(ledger, dict):
        return {}
    states = {jid: _job(folder, cluster, jid).state for jid in set(ledger.values())}
    return {rid: jid for rid, jid in ledger.items() if states[jid].split()[0] in ACTIVE}


def _job(folder: Path, cluster: str, job_id: str):
    kind = submitit.SlurmJob if cluster == "slurm" else submitit.LocalJob
    return kind(folder=folder, job_id=str(job_id))


__all__ = ["Array", "SlurmSettings", "Submitted", "TrainJob", "minutes", "parameters", "plan",
           "submit", "wait"]
