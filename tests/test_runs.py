"""The run store: train once, resume after a crash, lock against a second process, read back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from engine_helpers import tiny, tiny_student

from dctkd.engine import ensure_all, runs
from dctkd.engine import train as train_module
from dctkd.engine.runtime import ConfigError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    store = tmp_path_factory.mktemp("store")
    teacher = tiny(**{"optim.epochs": 3})
    return store, teacher, runs.ensure(tiny_student("dct", teacher, **{"optim.epochs": 3}), store)


def test_a_finished_run_has_every_record(done):
    store, teacher, run = done
    names = {p.name for p in run.path.iterdir()}
    assert {"config.yaml", "provenance.json", "metrics.csv", "last.pt", "best.pt", "final.json",
            "predictions_best.npz", "predictions_last.npz", "per_class_best.csv",
            "confusion_last.csv"} <= names
    assert not [n for n in names if n.endswith(".tmp")]
    assert (store / teacher.run_id / "final.json").is_file()
    assert runs.Run(run.path).config == run.config
    prov = run.provenance()
    assert prov["seed"] == 0 and "torch" in prov["packages"] and prov["end_time"]
    hist = run.history()
    assert list(hist["epoch"]) == [1, 2, 3]
    assert {"loss_ce", "loss_dct", "train_top1", "val_top1", "lr", "images_per_s"} <= set(hist)


def test_saved_predictions_and_models_agree_with_final_metrics(done):
    _, _, run = done
    final = run.metrics()
    for which in ("best", "last"):
        pred = run.predictions(which)
        top1 = 100 * np.mean(pred["top5"][:, 0] == pred["targets"])
        assert top1 == pytest.approx(final[which]["top1"])
    model = run.load_model("last")
    assert model.arch == "resnet8" and not model.training
    assert run.load_model("best").num_classes == 4
    with pytest.raises(ValueError, match="best' or 'last"):
        run.load_model("middle")


def test_ensure_twice_trains_once(done, monkeypatch):
    store, _, run = done
    monkeypatch.setattr(train_module, "train", lambda *a, **k: pytest.fail("trained again"))
    again = runs.ensure(run.config, store)
    assert again.path == run.path


def test_bad_config_leaves_nothing_behind(tmp_path):
    cfg = tiny(**{"data.name": "mit67", "data.options": {}, "data.root": str(tmp_path / "absent")})
    with pytest.raises(ConfigError, match="absent"):
        runs.ensure(cfg, tmp_path / "store")
    assert not (tmp_path / "store" / cfg.run_id).exists()


def test_a_folder_of_another_experiment_is_refused(tmp_path):
    cfg = tiny()
    folder = tmp_path / cfg.run_id
    folder.mkdir()
    (folder / "config.yaml").write_text("model: resnet14\n")
    with pytest.raises(ValueError, match="different experiment"):
        runs.ensure(cfg, tmp_path)


def test_a_crash_mid_run_resumes_from_the_last_epoch(tmp_path, monkeypatch):
    cfg = tiny(**{"optim.epochs": 3})
    real = train_module._train_epoch

    def crash_in_epoch_2(s, model, loaders, opt, scaler, epoch):
        if epoch == 1:
            raise KeyboardInterrupt
        return real(s, model, loaders, opt, scaler, epoch)

    monkeypatch.setattr(train_module, "_train_epoch", crash_in_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        runs.ensure(cfg, tmp_path)
    folder = tmp_path / cfg.run_id
    assert (folder / "last.pt").is_file() and not (folder / "final.json").exists()
    assert torch.load(folder / "last.pt", weights_only=True)["epoch"] == 1
    monkeypatch.setattr(train_module, "_train_epoch", real)
    run = runs.ensure(cfg, tmp_path)
    assert list(run.history()["epoch"]) == [1, 2, 3] and run.metrics()["epochs"] == 3


CHILD = textwrap.dedent("""
    import sys
    import dctkd.engine.train as T
    from dctkd.engine import runs
    from dctkd.config import load_yaml
    real = T.train
    def counted(*args, **kwargs):
        with open(sys.argv[3], "a") as fh:
            fh.write("trained\\n")
        return real(*args, **kwargs)
    T.train = counted
    print(runs.ensure(load_yaml(sys.argv[1]), sys.argv[2]).metrics()["best"]["top1"])
""")


def test_two_processes_asking_at_once_train_once(tmp_path):
    from dctkd.config import dump_yaml

    cfg = tiny(**{"optim.epochs": 2})
    (tmp_path / "cfg.yaml").write_text(dump_yaml(cfg))
    log = tmp_path / "log.txt"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    args = [sys.executable, "-c", CHILD, str(tmp_path / "cfg.yaml"), str(tmp_path / "s"), str(log)]
    procs = [subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    assert log.read_text().count("trained") == 1
    assert outs[0][0] == outs[1][0]


def test_ensure_all_trains_teachers_first_in_worker_processes(tmp_path):
    teacher = tiny(**{"optim.epochs": 2})
    cfgs = [tiny_student(m, teacher, **{"optim.epochs": 2}) for m in ("kd", "at")]
    got = ensure_all(cfgs, tmp_path, workers=2)
    assert [r.config for r in got] == cfgs and all(r.done for r in got)
    teacher_end = json.loads((tmp_path / teacher.run_id / "provenance.json").read_text())
    for r in got:
        assert r.provenance()["start_time"] >= teacher_end["end_time"]


def test_a_run_records_its_commit_when_gits_dirty_check_is_slow(tmp_path):
    """A fresh clone's first `git status` runs the clean filter (nbstripout) on each notebook:
    when that outlasts the timeout the commit is still recorded, and only `dirty` is unknown."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True,
                              text=True).stdout.strip()

    git("init", "-q")
    git("config", "user.email", "a@b"), git("config", "user.name", "a")
    (tmp_path / ".gitattributes").write_text("*.ipynb filter=slow\n")
    (tmp_path / "a.ipynb").write_text("{}\n")
    git("add", "."), git("commit", "-qm", "x")
    git("config", "filter.slow.clean", "sleep 3; cat")
    git("config", "filter.slow.required", "true")
    os.utime(tmp_path / "a.ipynb", (1, 1))  # same content, new stat: git must clean it again
    head = git("rev-parse", "HEAD")
    assert runs.git_state(tmp_path, timeout=1.0) == (head, None)
    assert runs.git_state(tmp_path) == (head, False)  # given the time, it is clean
    (tmp_path / "a.ipynb").write_text("{ }\n")
    assert runs.git_state(tmp_path) == (head, True)
    assert runs.git_state(tmp_path.parent / "not-a-repo-anywhere") == (None, None)


@pytest.mark.parametrize(("amp", "recorded"), [("off", "off"), ("bf16", "bfloat16")])
def test_provenance_records_the_autocast_a_run_trained_under(amp, recorded):
    # Not part of the run's id (`runtime`), so the file is where a mixed store shows.
    cfg = tiny(**{"runtime.amp": amp, "runtime.device": "cpu"})
    assert runs.provenance(cfg)["autocast"] == recorded
