"""Many runs through Slurm (submitit): the plan of job arrays, what each sbatch script asks
for (a fake `sbatch` records them), no run queued twice, one-line mistakes, and a smoke grid
on submitit's local executor that survives a preemption and trains every epoch exactly once.
"""

from __future__ import annotations

import functools
import json
import os
import re
import time
from collections import Counter
from pathlib import Path

import pytest
import submitit
from engine_helpers import tiny, tiny_student
from slurm_helpers import PreemptedOnce

from dctkd.cli import main
from dctkd.engine import Run, slurm
from dctkd.engine.slurm import SlurmSettings

TESTS = Path(__file__).resolve().parent
FAST = {"optim.epochs": 1, "data.options.train_size": 120, "data.options.test_size": 40}


def _done(store: Path, cfg) -> None:
    """Make `cfg` read as finished in `store` (a minimal `final.json`)."""
    (store / cfg.run_id).mkdir(parents=True)
    (store / cfg.run_id / "final.json").write_text('{"best": {}, "last": {}}')


def _runs(arrays) -> list[tuple[list[str], str | None]]:
    return [([c.run_id for c in a.runs], a.after) for a in arrays]


def test_time_limits_read_as_sbatch_reads_them():
    assert [slurm.minutes(t) for t in ("90", "45:30", "1:30:00", "2-00:00:00", "2-12")] == [
        90, 46, 90, 2880, 3600]
    with pytest.raises(ValueError, match="'soon' is not a Slurm time limit"):
        slurm.minutes("soon")


def test_the_plan_queues_each_teachers_students_after_that_teacher(tmp_path):
    t1, t2 = tiny(**FAST), tiny(**{**FAST, "seed": 1})
    s1a, s1b = (tiny_student(m, t1) for m in ("kd", "at"))
    s2 = tiny_student("kd", t2)
    _done(tmp_path, t2)
    assert _runs(slurm.plan([s1a, s1b, s2], tmp_path)) == [
        ([t1.run_id, s2.run_id], None), ([s1a.run_id, s1b.run_id], t1.run_id)]
    assert _runs(slurm.plan([s1a, s1b, s2], tmp_path, queued=[t1.run_id])) == [
        ([s2.run_id], None), ([s1a.run_id, s1b.run_id], t1.run_id)]
    _done(tmp_path, s1a)
    assert _runs(slurm.plan([s1a, s2], tmp_path)) == [([s2.run_id], None)]


def test_job_parameters_come_from_the_settings_and_the_teachers_job():
    settings = SlurmSettings(partition="gpu", time="1-00:00:00", gpus_per_run=2, mem_gb=64,
                             array_parallelism=8, setup=["source .venv/bin/activate"],
                             args={"constraint": "a100"})
    assert slurm.parameters(settings) == {
        "name": "dctkd", "timeout_min": 1440, "nodes": 1, "tasks_per_node": 1,
        "gpus_per_node": 2, "mem_gb": 64, "slurm_partition": "gpu",
        "slurm_array_parallelism": 8, "slurm_setup": ["source .venv/bin/activate"],
        "slurm_additional_parameters": {"constraint": "a100"}}
    after = slurm.parameters(settings, after="1001_3")
    assert after["slurm_dependency"] == "afterok:1001_3"
    assert after["slurm_additional_parameters"] == {"constraint": "a100",
                                                    "kill-on-invalid-dep": "yes"}


SBATCH = """#!/bin/bash
n=$(( $(cat "$FAKE_SLURM/last" 2>/dev/null || echo 1000) + 1 ))
echo $n > "$FAKE_SLURM/last"
cp "$1" "$FAKE_SLURM/$n.sh"
echo "Submitted batch job $n"
"""
SACCT = """#!/bin/bash
echo "JobID|State|NodeList"
while [ $# -gt 0 ]; do
  if [ "$1" = "-j" ]; then echo "$2|$FAKE_STATE|"; echo "$2_[0-99]|$FAKE_STATE|"; shift; fi
  shift
done
"""


@pytest.fixture
def fake_slurm(tmp_path, monkeypatch) -> Path:
    """`sbatch` (records each script as `<job id>.sh`), `srun` and `sacct` (every job in
    state `$FAKE_STATE`) on PATH."""
    bin_dir, record = tmp_path / "bin", tmp_path / "sbatch"
    bin_dir.mkdir()
    record.mkdir()
    for name, text in (("sbatch", SBATCH), ("sacct", SACCT), ("srun", "#!/bin/bash\n")):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SLURM", str(record))
    monkeypatch.setenv("FAKE_STATE", "PENDING")
    submitit.SlurmJob.watcher.clear()
    yield record
    submitit.SlurmJob.watcher.clear()


def _flags(script: Path) -> dict[str, str]:
    return dict(re.findall(r"#SBATCH --([\w-]+)=(\S+)", script.read_text()))


def test_a_grid_is_queued_at_once_each_student_array_after_its_teachers_task(tmp_path,
                                                                            fake_slurm):
    t1, t2 = tiny(**FAST), tiny(**{**FAST, "seed": 1})
    s1, s2a, s2b = tiny_student("kd", t1), tiny_student("kd", t2), tiny_student("at", t2)
    store, folder = tmp_path / "runs", tmp_path / "slurm"
    settings = SlurmSettings(partition="gpu", time="90", array_parallelism=4)
    sub = slurm.submit([s1, s2a, s2b], store, folder, settings)
    assert sub.arrays == ["1001", "1002", "1003"] and sub.earlier == 0
    first, second, third = (_flags(fake_slurm / f"{n}.sh") for n in (1001, 1002, 1003))
    assert first["array"] == "0-1%2" and "dependency" not in first
    assert (first["partition"], first["time"], first["gpus-per-node"]) == ("gpu", "90", "1")
    assert second["dependency"] == "afterok:1001_0" and "array" not in second
    assert third["dependency"] == "afterok:1001_1" and third["array"] == "0-1%2"
    assert third["kill-on-invalid-dep"] == "yes"
    assert json.loads((folder / slurm.LEDGER).read_text()) == {
        t1.run_id: "1001_0", t2.run_id: "1001_1", s1.run_id: "1002", s2a.run_id: "1003_0",
        s2b.run_id: "1003_1"}
    again = slurm.submit([s1, s2a, s2b], store, folder, settings)
    assert again.arrays == [] and again.earlier == 5 and not (fake_slurm / "1004.sh").exists()


def test_the_slurm_launcher_without_slurm_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    rc = main(["figures", "--profile", "smoke", "--nb", "01", "--results", str(tmp_path),
               "--launcher", "slurm"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err[-1] == (
        "dctkd figures: error: --launcher slurm needs Slurm: sbatch and srun were not found on "
        "PATH; run it on the cluster's login node")
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("args, message", [
    (["--launcher", "slurm", "--time", "soon"],
     "slurm.time: 'soon' is not a Slurm time limit; expected minutes or [D-]HH:MM[:SS], e.g. "
     "1440 or 24:00:00 (--time)"),
    (["--set", "slurm.gpus=2", "--plan"],
     "slurm.gpus: unknown key; expected one of ['account', 'args', 'array_parallelism', "
     "'cpus_per_run', 'gpus_per_run', 'max_timeouts', 'mem_gb', 'partition', 'setup', "
     "'time'] (--set)"),
    (["--set", "slurm.time=24:00:00", "--plan"],
     'slurm.time: expected the time limit as quoted text such as "24:00:00" or "1440" '
     "(minutes), got 86400; YAML reads an unquoted H:MM:SS as a number (--set)"),
])
def test_a_bad_slurm_setting_is_one_line_naming_where_it_came_from(args, message, tmp_path,
                                                                  capsys):
    rc = main(["figures", "--profile", "smoke", "--results", str(tmp_path), *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err == [f"dctkd figures: error: {message}"]


def test_a_smoke_grid_on_the_local_executor_is_requeued_once_and_trains_each_epoch_once(
        tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(TESTS), str(TESTS.parent)]))
    teacher = tiny(**{**FAST, "optim.epochs": 3})
    students = [tiny_student(m, teacher, **{**FAST, "optim.epochs": 2, "data.train_size": 100})
                for m in ("kd", "at")]
    store, counter = tmp_path / "runs", tmp_path / "epochs.txt"
    job = functools.partial(PreemptedOnce, counter=str(counter), preempt=teacher.run_id)
    start = time.monotonic()
    sub = slurm.submit(students, store, tmp_path / "slurm", SlurmSettings(gpus_per_run=0),
                       cluster="local", job=job, poll_s=0.2)
    assert slurm.wait(sub, store, poll_s=0.2) == []
    seconds = time.monotonic() - start
    trained = Counter((rid, int(epoch)) for rid, epoch, _ in
                      (line.split() for line in counter.read_text().splitlines()))
    expected = {(teacher.run_id, e) for e in range(3)} | {
        (s.run_id, e) for s in students for e in range(2)}
    assert set(trained) == expected and set(trained.values()) == {1}, trained
    pids = {line.split()[2] for line in counter.read_text().splitlines()
            if line.startswith(f"{teacher.run_id} ")}
    assert len(pids) == 2  # epoch 1 before the preemption, epochs 2-3 in the requeued job
    for cfg, epochs in ((teacher, 3), *((s, 2) for s in students)):
        run = Run(store / cfg.run_id, cfg)
        assert run.done and list(run.history()["epoch"]) == list(range(1, epochs + 1))
    assert len(Run(store / teacher.run_id).provenance()["resumes"]) == 1
    log = (store / teacher.run_id / "train.log").read_text()
    assert "USR2" in log and "stopped (SystemExit); the run resumes from last.pt" in log
    print(f"local-executor smoke grid: {seconds:.1f} s")


def test_dataloader_workers_of_a_slurm_job_leave_the_preemption_to_the_main_process(
        monkeypatch):
    import signal

    from dctkd.engine import runtime

    before = signal.getsignal(signal.SIGUSR2)
    try:
        runtime.seed_worker(0)
        assert signal.getsignal(signal.SIGUSR2) == before
        monkeypatch.setenv("SUBMITIT_EXECUTOR", "slurm")
        runtime.seed_worker(0)
        assert signal.getsignal(signal.SIGUSR2) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGUSR2, before)
