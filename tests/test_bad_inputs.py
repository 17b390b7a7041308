"""What a user types wrong, or a crash leaves behind: one line each, or a run that heals itself.

Every case asserts the exact one-line message (`dctkd <command>: error: ...`, exit 2 for a user
error and 1 for a run that failed, no traceback) and that nothing half-written remains: no
orphan run folder, no temporary file, no partly executed notebook in place of a good one.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import torch
from engine_helpers import tiny, tiny_student

from dctkd.cli import main
from dctkd.config import ConfigError, RunConfig, apply_overrides, dump_yaml
from dctkd.engine import Run, runs
from dctkd.engine import checks as checks_module
from dctkd.engine import train as train_module
from dctkd.errors import RunFailed
from dctkd.report import build as figures
from dctkd.report import index, study, tables
from dctkd.report.notebook import manifest_path

REPO = Path(__file__).resolve().parents[1]
FAST = {"optim.epochs": 1, "data.options.train_size": 120, "data.options.test_size": 40}


def fast(**overrides) -> RunConfig:
    """A one-epoch tiny run on 120 scenes: about a second."""
    return tiny(**{**FAST, **overrides})


def error_line(capsys, rc: int, code: int, command: str = "train") -> str:
    """The single error line of a finished command, checked: exit code, one error line,
    the last line on stderr, no traceback."""
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(f"dctkd {command}: error: ")]
    assert rc == code, err
    assert "Traceback" not in err and len(errors) == 1 and lines[-1] == errors[0], err
    return errors[0][len(f"dctkd {command}: error: "):]


def visible(folder: Path) -> list[str]:
    """Files and folders under `folder` that are not hidden (`.locks`), recursively."""
    if not folder.exists():
        return []
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                  if not any(part.startswith(".") for part in p.relative_to(folder).parts))


def leftovers(folder: Path) -> list[Path]:
    """Temporary files: of atomic writes (`.<name>.<random>.tmp`) and of notebooks."""
    return [*folder.rglob(".*.tmp"), *folder.rglob(".*.tmp.ipynb")]


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Run:
    """A finished one-epoch run, copied by the tests that damage it."""
    store = tmp_path_factory.mktemp("finished")
    return runs.ensure(fast(), store)


def copy_run(run: Run, tmp_path: Path) -> Run:
    target = tmp_path / "store" / run.path.name
    shutil.copytree(run.path, target)
    return Run(target)


@pytest.fixture
def read_only():
    """Make a folder read-only: a read-only bind mount as root, file modes otherwise."""
    mounted: list[Path] = []

    def make(path: Path) -> None:
        if os.geteuid() != 0:
            for p in [path, *path.rglob("*")]:
                p.chmod(0o555 if p.is_dir() else 0o444)
            return
        done = subprocess.run(["mount", "--bind", "-o", "ro", str(path), str(path)],
                              capture_output=True)
        if done.returncode != 0:
            pytest.skip("a read-only bind mount needs CAP_SYS_ADMIN")
        mounted.append(path)

    yield make
    for path in mounted:
        subprocess.run(["umount", str(path)], check=True)


# --- typed configs: every value validated and coerced when the config is made


@pytest.mark.parametrize("given, field, value", [
    ("optim.weight_decay=5e-4", "weight_decay", 0.0005),
    ("optim.gamma=1e-1", "gamma", 0.1),
    ("optim.lr=1E6", "lr", 1e6),
    ("optim.lr=.5", "lr", 0.5),
    ("optim.epochs=3.0", "epochs", 3),
])
def test_numbers_yaml_reads_as_text_become_numbers(given, field, value, capsys):
    assert main(["train", "--print-config", given]) == 0
    printed = capsys.readouterr().out
    cfg = apply_overrides(RunConfig(), [given])
    assert getattr(cfg.optim, field) == value and type(getattr(cfg.optim, field)) is type(value)
    assert f"  {field}: {value}\n" in printed


def test_a_bare_off_is_the_word_not_false():
    assert apply_overrides(RunConfig(), ["runtime.amp=off"]).runtime.amp == "off"


def test_a_config_file_with_text_numbers_is_typed(tmp_path):
    (tmp_path / "c.yaml").write_text("optim:\n  lr: 5e-4\n  gamma: 1e-1\n")
    from dctkd.config import load_yaml

    cfg = load_yaml(tmp_path / "c.yaml")
    assert (cfg.optim.lr, cfg.optim.gamma) == (0.0005, 0.1)


@pytest.mark.parametrize("given, message", [
    ("optim.lr=abc", "optim.lr: expected a finite number > 0, got 'abc' (command line)"),
    ("optim.lr=.nan", "optim.lr: expected a finite number > 0, got nan (command line)"),
    ("optim.lr=.inf", "optim.lr: expected a finite number > 0, got inf (command line)"),
    ("optim.lr=-0.1", "optim.lr: expected a finite number > 0, got -0.1 (command line)"),
    ("seed=2.5", "seed: expected an integer >= 0, got 2.5 (command line)"),
    ("seed=true", "seed: expected an integer >= 0, got True (command line)"),
    ("optim.epochs=0", "optim.epochs: expected an integer >= 1, got 0 (command line)"),
    ("optim.momentum=1", "optim.momentum: expected a finite number in [0, 1), got 1 "
     "(command line)"),
    ("optim.gamma=2", "optim.gamma: expected a finite number in (0, 1], got 2 (command line)"),
    ("data.val_fraction=1", "data.val_fraction: expected a finite number in [0, 1), got 1 "
     "(command line)"),
    ("optim.milestones=[10, x]", "optim.milestones.1: expected an integer >= 1, got 'x' "
     "(command line)"),
    ("optim.schedule=cos", "optim.schedule: expected one of 'step', 'multistep' or 'cosine', "
     "got 'cos' (command line)"),
    ("data.augment=crop", "data.augment: expected true, false or 'flip', got 'crop' "
     "(command line)"),
    ("runtime.device=gpu", "runtime.device: expected auto, cpu, mps, cuda or cuda:<index>, "
     "got 'gpu' (command line)"),
    ("runtime.progress=1", "runtime.progress: expected true or false, got 1 (command line)"),
    ("method.alpha=-1", "method.alpha: expected a finite number >= 0, got -1 (command line)"),
    ("data.options=null", "data.options: expected a mapping, got None (command line)"),
    ("data.options.k=abc", "data.options.k: expected an integer, got 'abc' (command line)"),
    ("optim.milestones=[1", "optim.milestones (command line): invalid YAML at line 1, column 3: "
     "expected ',' or ']', but got '<stream end>'"),
    ("optim", "'optim' is not of the form key=value (command line)"),
])
def test_a_bad_value_is_one_line_naming_field_value_and_source(given, message, tmp_path, capsys):
    rc = main(["train", "--store", str(tmp_path), given])
    assert error_line(capsys, rc, 2) == message
    assert visible(tmp_path) == []


def test_a_bad_value_in_the_config_file_names_the_file(tmp_path, capsys):
    file = tmp_path / "c.yaml"
    file.write_text(dump_yaml(fast()).replace("lr: 0.05", "lr: abc"))
    rc = main(["train", "--store", str(tmp_path / "s"), "--config", str(file)])
    assert error_line(capsys, rc, 2) == (
        f"optim.lr: expected a finite number > 0, got 'abc' (in {file})")


def test_a_command_line_mistake_is_not_blamed_on_the_config_file(tmp_path, capsys):
    file = tmp_path / "c.yaml"
    file.write_text(dump_yaml(fast()))
    rc = main(["train", "--store", str(tmp_path / "s"), "--config", str(file), "seed=abc"])
    assert error_line(capsys, rc, 2) == "seed: expected an integer >= 0, got 'abc' (command line)"


def test_a_config_file_with_a_yaml_syntax_error_names_file_and_line(tmp_path, capsys):
    file = tmp_path / "c.yaml"
    file.write_text("optim:\n  lr: [0.1\nseed: 1\n")
    rc = main(["train", "--store", str(tmp_path / "s"), "--config", str(file)])
    assert error_line(capsys, rc, 2) == (
        f"{file}: invalid YAML at line 3, column 5: expected ',' or ']', but got ':'")


def test_a_missing_config_file_is_one_line(tmp_path, capsys):
    rc = main(["train", "--config", str(tmp_path / "nope.yaml")])
    assert error_line(capsys, rc, 2) == (
        f"[Errno 2] No such file or directory: '{tmp_path / 'nope.yaml'}'")


@pytest.mark.parametrize("given, message", [
    (["method.options.variant=v9"], "method.options.variant: expected one of 'v1', 'v2' or "
     "'dct2', got 'v9' (command line)"),
    (["method.options.foo=1"], "method.options.foo: unknown option of method 'dct+kd'; "
     "expected one of ['levels', 'pred_guide', 'reduction', 'variant'] (command line)"),
    (["method.options.levels=[7]"], "method.options: DCT loss levels must be integers in "
     "[-3, 3), got [7] (the student has 3 taps)"),
    (["method.options.levels=x"], "method.options.levels: expected a list of integers, got 'x' "
     "(command line)"),
])
def test_method_options_are_checked_before_the_teacher_trains(given, message, tmp_path, capsys):
    file = tmp_path / "student.yaml"
    file.write_text(dump_yaml(tiny_student("dct+kd", fast())))
    rc = main(["train", "--store", str(tmp_path / "s"), "--config", str(file), *given])
    assert error_line(capsys, rc, 2) == message
    assert visible(tmp_path / "s") == []


def test_ctrl_c_is_one_line_and_the_same_command_resumes(tmp_path, capsys, monkeypatch):
    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_module, "_train_epoch", interrupted)
    rc = main(["train", "--store", str(tmp_path), *_overrides(fast())])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 130 and err[-1] == "dctkd train: interrupted; the same command resumes"
    assert visible(tmp_path) == []


def test_the_debug_flag_shows_the_traceback(tmp_path):
    with pytest.raises(ConfigError, match="optim.lr"):
        main(["--debug", "train", "--store", str(tmp_path), "optim.lr=abc"])
    with pytest.raises(ConfigError, match="optim.lr"):
        main(["train", "--debug", "--store", str(tmp_path), "optim.lr=abc"])


# --- everything checked before the first step


def test_a_dataset_layout_without_its_split_file_stops_before_training(tmp_path, capsys):
    root = tmp_path / "ADEChallengeData2016"
    (root / "images").mkdir(parents=True)
    rc = main(["train", "--store", str(tmp_path / "s"), "data.name=ade20k",
               f"data.root={root}", "data.options={}"])
    assert error_line(capsys, rc, 2) == (
        f"split file {root / 'sceneCategories.txt'} is missing; expected lines "
        "'<image id> <scene label>'")
    assert visible(tmp_path / "s") == []


def test_a_read_only_store_stops_before_training(tmp_path, capsys, read_only):
    store = tmp_path / "store"
    store.mkdir()
    read_only(store)
    rc = main(["train", "--store", str(store), *_overrides(fast())])
    assert error_line(capsys, rc, 2) == (
        f"the run store {store} cannot be written ({store} is read-only or not a folder); "
        "expected a writable folder")


def test_a_store_without_room_for_the_checkpoints_stops_before_training(tmp_path, capsys,
                                                                         monkeypatch):
    monkeypatch.setattr(checks_module, "free_mib", lambda path: 0.4)
    rc = main(["train", "--store", str(tmp_path), *_overrides(fast())])
    need = checks_module.checkpoint_mib("resnet8", 4)
    assert error_line(capsys, rc, 2) == (
        f"the run store {tmp_path} has 0 MiB free, but a resnet8 run needs about {need:.0f} MiB "
        "for its checkpoints; free some space or choose another store")
    assert visible(tmp_path) == []


def _overrides(cfg: RunConfig) -> list[str]:
    """`cfg` as command-line overrides (the fields of a tiny run that differ from defaults)."""
    return ["model=resnet8", f"data.options={json.dumps(dict(cfg.data.options))}",
            f"optim.epochs={cfg.optim.epochs}", f"optim.batch_size={cfg.optim.batch_size}",
            f"optim.lr={cfg.optim.lr}", "runtime.progress=false"]


# --- self-healing run folders


def test_a_truncated_last_pt_is_moved_aside_and_the_run_starts_over(finished, tmp_path):
    run = copy_run(finished, tmp_path)
    last = run.path / "last.pt"
    last.write_bytes(last.read_bytes()[:1000])
    (run.path / "final.json").unlink()
    with pytest.warns(RuntimeWarning, match=r"last.pt could not be read .*; moved it to "
                      r"last.pt.corrupt-\d{8}-\d{6} and the run starts again from epoch 1"):
        healed = runs.ensure(run.config, run.path.parent)
    assert healed.done and len(list(run.path.glob("last.pt.corrupt-*"))) == 1
    assert healed.metrics()["best"] == finished.metrics()["best"]


@pytest.mark.parametrize("content", ["", "{", "{}", '{"best": 1}'])
def test_an_unreadable_final_json_means_not_done(content, finished, tmp_path, monkeypatch):
    run = copy_run(finished, tmp_path)
    (run.path / "final.json").write_text(content)
    assert not run.done
    with pytest.raises(ValueError, match="final.json"):
        run.metrics()
    monkeypatch.setattr(train_module, "_train_epoch", lambda *a: pytest.fail("trained again"))
    again = runs.ensure(run.config, run.path.parent)
    assert again.done and again.metrics()["best"] == finished.metrics()["best"]


def test_temporary_files_of_a_killed_writer_are_swept(finished, tmp_path):
    run = copy_run(finished, tmp_path)
    (run.path / "final.json").unlink()
    (run.path / ".last.pt.k1ll3d.tmp").write_bytes(b"\0" * 4096)
    (run.path / ".best.pt.x.tmp").write_bytes(b"\0" * 4096)
    runs.ensure(run.config, run.path.parent)
    assert leftovers(run.path) == [] and run.done


def test_provenance_keeps_the_first_start_and_every_resume(finished, tmp_path):
    run = copy_run(finished, tmp_path)
    first = run.provenance()["start_time"]
    for _ in range(2):
        (run.path / "final.json").unlink()
        runs.ensure(run.config, run.path.parent)
    prov = run.provenance()
    assert prov["start_time"] == first and len(prov["resumes"]) == 2 and "end_time" in prov


def test_a_damaged_config_yaml_is_one_line_for_evaluate_and_rewritten_by_train(finished, tmp_path,
                                                                             capsys):
    run = copy_run(finished, tmp_path)
    (run.path / "config.yaml").write_text("model: [resnet8\n")
    rc = main(["evaluate", str(run.path)])
    assert error_line(capsys, rc, 2, "evaluate") == (
        f"{run.path / 'config.yaml'}: invalid YAML at line 2, column 1: expected ',' or ']', "
        "but got '<stream end>'")
    (run.path / "config.yaml").write_text("optim: {lr: abc}\n")
    rc = main(["evaluate", str(run.path)])
    assert error_line(capsys, rc, 2, "evaluate") == (
        f"optim.lr: expected a finite number > 0, got 'abc' (in {run.path / 'config.yaml'})")
    (run.path / "final.json").unlink()
    with pytest.warns(RuntimeWarning, match="config.yaml was unreadable and is rewritten"):
        runs.ensure(finished.config, run.path.parent)
    assert Run(run.path).config == finished.config


# --- divergence reported truthfully


def test_a_run_diverging_in_epoch_1_keeps_no_checkpoint_and_says_so(tmp_path, capsys):
    cfg = fast(**{"optim.lr": 1e6})
    file = tmp_path / "c.yaml"
    file.write_text(dump_yaml(cfg))
    with pytest.warns(RuntimeWarning, match="in epoch 1; training stops and the run has no "
                      "usable checkpoint"):
        assert main(["train", "--store", str(tmp_path / "s"), "--config", str(file)]) == 0
    out, err = capsys.readouterr()
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["diverged_epoch"] == 1 and summary["best_epoch"] == 0
    assert summary["best"] == {"top1": None, "top5": None, "mca": None} == summary["last"]
    assert err.strip().splitlines()[-1] == (
        "dctkd train: warning: training diverged (non-finite loss) in epoch 1; there is no "
        "usable checkpoint and no metrics (lower optim.lr or method.alpha)")
    run = Run(tmp_path / "s" / cfg.run_id)
    assert not (run.path / "best.pt").exists()
    final = json.loads((run.path / "final.json").read_text(), parse_constant=pytest.fail)
    assert final["best_val_top1"] is None and final["best"]["top1"] is None
    assert math.isnan(run.metrics()["best"]["top1"])
    with pytest.raises(RunFailed, match="diverged in epoch 1 and has no usable checkpoint"):
        run.load_model("best")
    per_class = pd.read_csv(run.path / "per_class_best.csv")
    assert per_class["accuracy"].isna().all() and per_class["support"].sum() == 40


def test_a_student_of_a_teacher_without_a_checkpoint_fails_in_one_line(tmp_path, capsys):
    teacher = fast(**{"optim.lr": 1e6})
    file = tmp_path / "c.yaml"
    file.write_text(dump_yaml(tiny_student("kd", teacher, **FAST)))
    with pytest.warns(RuntimeWarning, match="in epoch 1"):
        rc = main(["train", "--store", str(tmp_path / "s"), "--config", str(file)])
    assert error_line(capsys, rc, 1) == (
        f"the teacher run {teacher.run_id} diverged in epoch 1 and has no usable checkpoint, so "
        f"{tiny_student('kd', teacher, **FAST).run_id} cannot train; lower teacher.optim.lr and "
        "run again")


def test_captions_tell_a_run_without_checkpoint_from_one_before_divergence():
    df = pd.DataFrame({
        "run_id": ["a", "b", "c", "d"], "label": ["DCT", "DCT", "AT", "AT"],
        "diverged_epoch": [None, 3, 1, None], "best_epoch": [5, 2, 0, 5]})
    assert tables.diverged_note(df) == (
        " Training diverged (non-finite loss) for DCT (1 of 2) runs; they report the best "
        "checkpoint before the divergence, not a result of the method. Training diverged in "
        "epoch 1 for AT (1 of 2) runs, which have no usable checkpoint and are left blank.")


class _FakeRun:
    def __init__(self, best_epoch: int, diverged: int | None):
        self.final = {"best_epoch": best_epoch, "diverged_epoch": diverged}

    @property
    def usable(self) -> bool:
        return self.final["best_epoch"] != 0

    def metrics(self) -> dict:
        return self.final

    def load_model(self, which: str):
        return torch.nn.Linear(1, 1)


def test_attention_figures_skip_a_model_without_checkpoint_and_flag_a_diverged_one():
    from dctkd.report.grid import Cell

    cells = [Cell("attention", "scenes", "t", "s", label, 0, fast(seed=i))
             for i, label in enumerate(["Teacher", "DCT", "AT"])]
    fake = {cells[0].run_id: _FakeRun(3, None), cells[1].run_id: _FakeRun(0, 1),
            cells[2].run_id: _FakeRun(2, 3)}
    members = study.load(cells, fake)
    assert [(m.label, m.diverged) for m in members] == [("Teacher", False), ("AT", True)]
    assert study.divergence_note(cells, fake) == (
        "Not shown: DCT (seed 0), whose training diverged in epoch 1 and left no usable "
        "checkpoint. Shown as the best checkpoint before the divergence: AT (seed 0), diverged "
        "in epoch 3.")
    fake[cells[0].run_id] = _FakeRun(0, 1)
    with pytest.raises(RunFailed, match="teacher run .* diverged in epoch 1"):
        study.load(cells, fake)


# --- one line for every user error


def _folder_dataset(root: Path, truncated: str | None = None) -> Path:
    """A tiny ImageFolder tree (2 classes, 8 + 3 JPEGs each); `truncated` names a damaged one."""
    from PIL import Image

    for split, n in (("train", 8), ("test", 3)):
        for c in ("a", "b"):
            (root / split / c).mkdir(parents=True)
            for i in range(n):
                colour = (200, 30 * i, 0) if c == "a" else (0, 30 * i, 200)
                Image.new("RGB", (20, 20), colour).save(root / split / c / f"{i}.jpg")
    if truncated:
        file = root / truncated
        file.write_bytes(file.read_bytes()[:200])
    return root


def test_a_corrupt_jpeg_found_mid_epoch_is_one_line(tmp_path, capsys):
    root = _folder_dataset(tmp_path / "data", truncated="train/b/3.jpg")
    rc = main(["train", "--store", str(tmp_path / "s"), "data.name=folder", f"data.root={root}",
               "data.options={image_size: 16}", "optim.epochs=1", "runtime.progress=false"])
    assert re.fullmatch(
        rf"cannot decode image {root / 'train/b/3.jpg'} \([^)]+\); replace or "
        r"remove it \(data.options.verify=full decodes every image before training\)",
        error_line(capsys, rc, 2))
    assert visible(tmp_path / "s") == []


def test_evaluate_refuses_a_checkpoint_of_another_architecture(finished, tmp_path, capsys):
    run = copy_run(finished, tmp_path)
    other = runs.ensure(fast(model="resnet14"), tmp_path / "other")
    shutil.copy(other.path / "best.pt", run.path / "best.pt")
    rc = main(["evaluate", str(run.path)])
    assert error_line(capsys, rc, 2, "evaluate") == (
        f"The checkpoint {run.path / 'best.pt'} holds a resnet14 with 4 classes, but resnet8 was "
        "requested.")
    assert not list(run.path.glob("eval_*"))


class _Payload:
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_evaluate_refuses_a_pickle_that_is_not_weights(finished, tmp_path, capsys):
    run = copy_run(finished, tmp_path)
    payload = _Payload()
    payload.marker = tmp_path / "pwned"
    torch.save({"arch": payload}, run.path / "best.pt")
    rc = main(["evaluate", str(run.path)])
    assert error_line(capsys, rc, 2, "evaluate") == (
        f"{run.path / 'best.pt'} could not be read as a weights-only torch checkpoint (refused "
        "by weights_only: Trying to load unsupported GLOBAL posix.system whose module posix is "
        "blocked).")
    assert not payload.marker.exists()


def test_evaluate_of_a_read_only_run_prints_the_result_and_warns(finished, tmp_path, capsys,
                                                                read_only):
    run = copy_run(finished, tmp_path)
    read_only(run.path)
    assert main(["evaluate", str(run.path)]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["top1"] == finished.metrics()["best"]["top1"]
    assert err.strip().splitlines() == [
        f"dctkd evaluate: warning: the result above is not saved: {run.path} cannot be written "
        f"({'Read-only file system' if os.geteuid() == 0 else 'Permission denied'})"]


def test_evaluate_with_an_unknown_device_is_one_line(finished, capsys):
    rc = main(["evaluate", str(finished.path), "--device", "gpu"])
    assert error_line(capsys, rc, 2, "evaluate") == (
        "unknown device 'gpu'; expected auto, cpu, mps, cuda or cuda:<index>")


@pytest.fixture
def small_file_limit():
    """Files of at most 64 KiB for this process (its soft limit, restored after): a write
    beyond fails as it does on a full disk."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (65536, hard))
    yield
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    signal.signal(signal.SIGXFSZ, handler)


def test_a_full_disk_while_writing_a_checkpoint_is_one_line(tmp_path, capsys, small_file_limit):
    store = tmp_path / "s"
    rc = main(["train", "--store", str(store), *_overrides(fast())])
    assert re.fullmatch(rf"could not write {store}/resnet8-none-s0-\w+/best.pt: the file system "
                        r"refused the data \(a full disk or a file-size limit; \d+ MiB free "
                        r"there\)", error_line(capsys, rc, 2))
    assert visible(store) == [] and leftovers(store) == []


# --- profiles and `dctkd figures`


@pytest.mark.parametrize("setting, message", [
    ("seeds=5", "seeds: expected a list of integers, got 5 (--set)"),
    ("seeds=abc", "seeds: expected a list of integers, got 'abc' (--set)"),
    ("seeds=[0", "--set seeds: invalid YAML at line 1, column 3: expected ',' or ']', but got "
     "'<stream end>'"),
    ("families.alpha.alphaz=[1]", "families.alpha.alphaz: unknown key; expected one of "
     "['alphas', 'dataset', 'method', 'pair', 'seed', 'seeds'] (--set)"),
    ("families.atention={}", "families.atention: unknown experiment family; expected one of "
     "['alpha', 'attention', 'baseline_alpha', 'baselines', 'budget', 'curves', 'design', "
     "'kstudy', 'main', 'method', 'per_class', 'regime', 'teachers'] (--set)"),
    ("base.optim.lr=abc", "profile 'smoke': optim.lr: expected a finite number > 0, got 'abc'"),
])
def test_a_bad_profile_setting_is_one_line(setting, message, tmp_path, capsys):
    rc = main(["figures", "--profile", "smoke", "--nb", "01", "--results", str(tmp_path),
               "--set", setting])
    assert error_line(capsys, rc, 2, "figures") == message
    assert visible(tmp_path) == []


def test_a_figures_build_into_a_read_only_folder_stops_before_training(tmp_path, capsys,
                                                                       read_only):
    out = tmp_path / "out"
    out.mkdir()
    read_only(out)
    rc = main(["figures", "--profile", "smoke", "--nb", "01", "--results", str(out)])
    assert error_line(capsys, rc, 2, "figures") == (
        f"the run store {out / 'runs'} cannot be written ({out} is read-only or not a folder); "
        "expected a writable folder")


def test_every_experiment_family_has_its_typed_settings():
    from dctkd.report.grid import FAMILIES
    from dctkd.report.profile import FAMILY_SETTINGS

    assert set(FAMILY_SETTINGS) == set(FAMILIES)


def test_a_profile_file_with_a_misspelled_family_key_names_the_file(tmp_path, capsys):
    text = (REPO / "dctkd/report/profiles/smoke.yaml").read_text()
    file = tmp_path / "mine.yaml"
    file.write_text(text.replace("alpha: {dataset: scenes, pair: 0, method: dct, alphas:",
                                 "alpha: {dataset: scenes, pair: 0, method: dct, alpha:"))
    rc = main(["figures", "--profile", str(file), "--plan"])
    assert error_line(capsys, rc, 2, "figures") == (
        f"families.alpha.alpha: unknown key; expected one of ['alphas', 'dataset', 'method', "
        f"'pair', 'seed', 'seeds'] (in {file})")
    file.write_text(text.replace("seeds: [0]\nteacher_seed", "seeds: [0\nteacher_seed"))
    rc = main(["figures", "--profile", str(file), "--plan"])
    assert error_line(capsys, rc, 2, "figures").startswith(f"{file}: invalid YAML at line ")


def test_an_unknown_profile_exits_2_like_every_config_error(capsys):
    rc = main(["figures", "--profile", "nosuch", "--plan"])
    assert error_line(capsys, rc, 2, "figures").startswith("unknown profile 'nosuch'")


def test_a_run_failing_in_a_figures_build_is_one_line_and_exit_1(tmp_path, capsys,
                                                                 monkeypatch):
    def boom(*args):
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    monkeypatch.setattr(train_module, "_train_epoch", boom)
    rc = main(["figures", "--profile", "smoke", "--nb", "01", "--results", str(tmp_path),
               "--workers", "1"])
    assert error_line(capsys, rc, 1, "figures") == (
        "1 run failed and 2 were not trained (a run they need failed), each listed with its log; "
        "notebooks not executed: 01_method; finished runs are kept and the same command "
        "continues")
    # The first run to train fails: the teacher's pre-training run, so neither the teacher
    # nor its student trains.
    first, *files = visible(tmp_path / "runs")
    assert re.fullmatch(r"resnet14-none-s0-\w+", first)
    assert files == [f"{first}/failed.json", f"{first}/train.log"]
    marker = json.loads((tmp_path / "runs" / files[0]).read_text())
    assert marker["reason"] == "CUDA error: an illegal memory access was encountered"
    assert "Traceback" in (tmp_path / "runs" / files[1]).read_text()


def _notebook(path: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('profile = "smoke"\nresults = None')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, *(nbformat.v4.new_code_cell(s) for s in sources)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, path)
    return path


def test_a_failed_notebook_keeps_the_last_good_report_and_drops_its_stale_figures(tmp_path,
                                                                                  capsys):
    folder, out = tmp_path / "nbs", tmp_path / "out"
    folder.mkdir()
    _notebook(folder / "99_broken.ipynb", "raise ValueError('no such table')")
    good = out / "notebooks" / "99_broken.ipynb"
    good.parent.mkdir(parents=True)
    good.write_text("the last good report")
    good.with_suffix(".html").write_text("<p>the last good report</p>")
    (out / "figures").mkdir()
    (out / "figures" / "old.png").write_bytes(b"png")
    manifest_path(out, "99_broken").parent.mkdir()
    manifest_path(out, "99_broken").write_text(json.dumps(
        {"notebook": "99_broken", "figures": [{"name": "old", "caption": "",
                                               "files": ["figures/old.png"]}], "tables": []}))
    rc = main(["figures", "--profile", "smoke", "--results", str(out), "--notebooks",
               str(folder), "--no-pretrain", "--jobs", "1"])
    assert error_line(capsys, rc, 1, "figures") == (
        "notebook 99_broken failed in cell 2 (`raise ValueError('no such table')`): ValueError: "
        f"no such table (executed copy: {out / 'notebooks' / '99_broken.failed.ipynb'})")
    assert good.read_text() == "the last good report"
    assert good.with_suffix(".html").read_text() == "<p>the last good report</p>"
    assert (out / "notebooks" / "99_broken.failed.html").is_file()
    assert not (out / "figures" / "old.png").exists()
    assert not manifest_path(out, "99_broken").exists()
    assert index.read_status(out) == {"99_broken": "failed"} and leftovers(out) == []


def test_a_running_status_whose_build_is_gone_reads_interrupted(tmp_path):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    index.set_status(tmp_path, "98_slow", "running")
    index.set_status(tmp_path, "97_live", "running")
    file = tmp_path / "status" / "98_slow.json"
    file.write_text(file.read_text().replace(str(os.getpid()), gone.stdout.strip()))
    (tmp_path / "status" / "96_torn.json").write_text('{"state": "ru')
    assert index.read_status(tmp_path) == {"96_torn": "interrupted", "97_live": "running",
                                           "98_slow": "interrupted"}


@pytest.mark.slow
def test_a_killed_build_leaves_the_last_good_report_and_reads_interrupted(tmp_path):
    folder, out = tmp_path / "nbs", tmp_path / "out"
    folder.mkdir()
    _notebook(folder / "98_slow.ipynb", "import time\ntime.sleep(120)")
    good = out / "notebooks" / "98_slow.ipynb"
    good.parent.mkdir(parents=True)
    good.write_text("the last good report")
    script = ("import sys\nfrom dctkd.report.build import build\n"
              "build('smoke', results=sys.argv[1], notebook_folder=sys.argv[2], jobs=1, "
              "train_first=False, html_export=False, log=lambda _: None)\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", script, str(out), str(folder)], env=env,
                            start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list(good.parent.glob(".98_slow.*.tmp.ipynb")) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert index.read_status(out) == {"98_slow": "running"}
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert good.read_text() == "the last good report"
    assert index.read_status(out) == {"98_slow": "interrupted"}
    figures.write_index(out, figures.load_profile("smoke"))
    assert "(interrupted)" in (out / "index.html").read_text()

