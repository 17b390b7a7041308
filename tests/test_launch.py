"""Many runs on one machine: a GPU per worker, failures that stop nothing else, `dctkd status`.

The GPU tests fake the GPU list (`launch.visible_gpus`): the assignment is a pure function,
and what reaches a spawned worker is read back from the `CUDA_VISIBLE_DEVICES` its run's
`train.log` records.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest
from engine_helpers import tiny, tiny_student
from filelock import FileLock

from dctkd.cli import main
from dctkd.engine import ensure_all, launch
from dctkd.engine import train as train_module
from dctkd.engine.runlog import FAILED, LOG, lock_path, mark_failed
from dctkd.errors import Failure, RunsFailed
from dctkd.report import build as figures
from dctkd.report import index
from dctkd.report.profile import load_profile

FAST = {"optim.epochs": 1, "data.options.train_size": 120, "data.options.test_size": 40}


def test_each_concurrent_run_gets_a_gpu_of_its_own():
    assert launch.gpu_slots(3, ["0", "1", "2", "3"]) == ["0", "1", "2"]
    assert launch.gpu_slots(5, ["4", "6"]) == ["4", "6", "4", "6", "4"]
    assert launch.gpu_slots(2, []) == [None, None]


def test_workers_default_to_one_per_gpu_and_warn_when_they_share(recwarn):
    assert launch.worker_count(None, 8) == 8
    assert launch.worker_count(None, 0, cpu_default=2) == 2
    assert launch.worker_count(3, 0) == 3 and launch.worker_count(4, 8) == 4
    assert not recwarn.list
    with pytest.warns(UserWarning, match="16 workers share 8 GPU"):
        assert launch.worker_count(16, 8) == 16


def test_visible_gpus_are_the_ones_this_process_was_given(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5,7")
    assert launch.visible_gpus() == ["5", "7"]
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert launch.visible_gpus() == ["0", "1"]


def _corrupt_folder(root: Path) -> Path:
    """An image folder (2 classes) with one truncated JPEG, found only while training."""
    from PIL import Image

    for split, n in (("train", 6), ("test", 2)):
        for c in ("a", "b"):
            (root / split / c).mkdir(parents=True)
            for i in range(n):
                Image.new("RGB", (16, 16), (40 * i, 0, 200)).save(root / split / c / f"{i}.jpg")
    bad = root / "train" / "b" / "3.jpg"
    bad.write_bytes(bad.read_bytes()[:200])
    return root


def test_a_failing_teacher_stops_only_its_students_and_each_worker_has_its_gpu(tmp_path,
                                                                              monkeypatch):
    monkeypatch.setattr(launch, "visible_gpus", lambda: ["5", "7"])
    root = _corrupt_folder(tmp_path / "data")
    teacher = tiny(**{"data.name": "folder", "data.root": str(root),
                      "data.options": {"image_size": 16}, "optim.epochs": 1})
    student = tiny_student("kd", teacher, **{"data.name": "folder", "data.root": str(root),
                                             "data.options": {"image_size": 16}})
    fine = tiny(**FAST)
    store = tmp_path / "store"
    with pytest.raises(RunsFailed) as caught:
        ensure_all([student, fine], store, workers=2)
    err = caught.value
    assert str(err).startswith("1 run failed and 1 was not trained (a run they need failed), "
                               "each listed with its log")
    log = store / teacher.run_id / LOG
    assert err.details[1] == (f"{student.run_id}: not trained, {teacher.run_id}, which it "
                              "needs, failed")
    assert re.fullmatch(rf"{teacher.run_id}: cannot decode image .*3\.jpg.* \(log: {log}\)",
                        err.details[0])
    assert sorted(p.name for p in (store / teacher.run_id).iterdir()) == [FAILED, LOG]
    assert "Traceback" in log.read_text() and "cannot decode image" in log.read_text()
    assert json.loads((store / teacher.run_id / FAILED).read_text())["log"] == str(log)
    assert not (store / student.run_id).exists()
    given = {re.search(r"CUDA_VISIBLE_DEVICES=(\w+)", (store / r / LOG).read_text())[1]
             for r in (teacher.run_id, fine.run_id)}
    assert given == {"5", "7"}
    states = {r.run_id: launch.run_state(r, store) for r in (teacher, student, fine)}
    assert states == {teacher.run_id: "failed", student.run_id: "missing", fine.run_id: "done"}


def test_a_run_that_fails_then_succeeds_loses_its_failure_mark(tmp_path, monkeypatch):
    real = train_module._train_epoch
    a, b = tiny(**FAST), tiny(**{**FAST, "seed": 1})

    def fail_a(s, *args):
        if s.cfg.run_id == a.run_id:
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        return real(s, *args)

    monkeypatch.setattr(train_module, "_train_epoch", fail_a)
    with pytest.raises(RunsFailed, match=rf"^training {a.run_id} failed: CUDA error: an "
                       rf"illegal memory access was encountered \(log: .*{LOG}\)"):
        ensure_all([a, b], tmp_path, workers=1)
    assert launch.run_state(a, tmp_path) == "failed" and launch.run_state(b, tmp_path) == "done"
    monkeypatch.setattr(train_module, "_train_epoch", real)
    ensure_all([a, b], tmp_path, workers=1)
    assert launch.run_state(a, tmp_path) == "done" and not (tmp_path / a.run_id / FAILED).exists()
    assert (tmp_path / a.run_id / LOG).read_text().count(f"{a.run_id} starts on") == 2


def test_status_counts_each_notebooks_runs_by_state(tmp_path, capsys):
    nb = figures.select_notebooks(["01"])[0]
    cfgs = figures.notebook_runs(load_profile("smoke"), nb)
    store = tmp_path / "runs"
    mark_failed(store / cfgs[0].run_id, RuntimeError("out of memory"))
    lock_path(store / cfgs[1].run_id).parent.mkdir(parents=True, exist_ok=True)
    index.set_status(tmp_path, nb.stem, "failed")
    with FileLock(str(lock_path(store / cfgs[1].run_id))):
        assert main(["status", "--profile", "smoke", "--nb", "01", "--results",
                     str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    missing = len(cfgs) - 2
    assert re.fullmatch(rf"01_method +{len(cfgs)} +0 +1 +1 +{missing} +failed", out[2])
    assert re.fullmatch(rf"all \(distinct\) +{len(cfgs)} +0 +1 +1 +{missing}", out[3])
    assert out[4:] == ["failed runs (the same dctkd figures command retries them):",
                       f"  {cfgs[0].run_id}: out of memory (log: {store / cfgs[0].run_id / LOG})"]


def _notebook(path: Path, families: list[str]) -> Path:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('profile = "smoke"')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell("x = 1")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata["dctkd"] = {"families": families}
    nbformat.write(nb, path)
    return path


def test_figures_skips_only_the_notebooks_of_failed_runs_and_lists_them(tmp_path, capsys,
                                                                       monkeypatch):
    folder, out = tmp_path / "nbs", tmp_path / "out"
    folder.mkdir()
    _notebook(folder / "97_needs_teachers.ipynb", ["teachers"])
    _notebook(folder / "98_needs_nothing.ipynb", [])
    teacher = figures.notebook_runs(load_profile("smoke"), folder / "97_needs_teachers.ipynb")[0]
    failures = [Failure(teacher.run_id, "RuntimeError: boom", "/x/train.log"),
                Failure("resnet8-kd-s0-abc", teacher=teacher.run_id)]
    monkeypatch.setattr(figures, "pretrain", lambda *args, **kwargs: failures)
    rc = main(["figures", "--profile", "smoke", "--results", str(out), "--notebooks",
               str(folder), "--no-html", "--jobs", "1"])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert rc == 1 and err == [
        f"  {teacher.run_id}: RuntimeError: boom (log: /x/train.log)",
        f"  resnet8-kd-s0-abc: not trained, {teacher.run_id}, which it needs, failed",
        "dctkd figures: error: 1 run failed and 1 was not trained (a run they need failed), each "
        "listed with its log; notebooks not executed: 97_needs_teachers; finished runs are "
        "kept and the same command continues"]
    assert index.read_status(out) == {"97_needs_teachers": "skipped", "98_needs_nothing": "ok"}
    assert "(skipped)" in (out / "index.html").read_text()
