"""`dctkd train` / `dctkd evaluate`: help, resolved config, one-line errors, a real round trip."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from engine_helpers import tiny

from dctkd.cli import config_keys, main
from dctkd.config import RunConfig, dump_yaml, load_yaml, to_dict

REPO = Path(__file__).resolve().parents[1]


def test_help_lists_every_config_field(capsys):
    with pytest.raises(SystemExit) as code:
        main(["train", "--help"])
    assert code.value.code == 0
    text = capsys.readouterr().out
    for key in ("optim.milestones", "method.options", "runtime.amp", "runtime.teacher_cache",
                "data.val_fraction",
                "teacher.<key>", "deterministic"):
        assert key in text
    assert all(key in text for key, _, _ in config_keys())  # every field, whatever their count


def test_print_config_resolves_file_and_overrides(tmp_path, capsys):
    (tmp_path / "c.yaml").write_text(dump_yaml(tiny()))
    rc = main(["train", "--config", str(tmp_path / "c.yaml"), "--print-config",
               "method.name=dct+kd", "method.options.variant=v2", "teacher.model=resnet14",
               "optim.milestones=[1, 2]"])
    assert rc == 0
    out = capsys.readouterr().out
    (tmp_path / "out.yaml").write_text(out)
    cfg = load_yaml(tmp_path / "out.yaml")
    assert out.startswith(f"# run_id: {cfg.run_id}")
    assert cfg.method.options == {"variant": "v2"} and cfg.teacher.model == "resnet14"
    assert cfg.optim.milestones == (1, 2) and cfg.data.options["image_size"] == 16


@pytest.mark.parametrize(
    "args, message",
    [
        (["method.name=fitnet"], "unknown method 'fitnet'"),
        (["model=resnet9"], "unknown model 'resnet9'"),
        (["data.name=places"], "unknown dataset 'places'"),
        (["optim.lr_decay=3"], "unknown config key 'optim.lr_decay'"),
        (["method.name=dct", "teacher.model=resnet18"], "3 taps and the teacher 4"),
        (["method.name=kd", "teacher.model=resnet14", "teacher.data.options.num_classes=7"],
         "expected the same dataset"),
        (["data.name=sun397", "data.root=/no/such/folder"], "/no/such/folder"),
        (["optim.epochs=many"], "optim.epochs: expected an integer >= 1, got 'many' (command "
         "line)"),
    ],
)
def test_bad_configuration_is_one_line_and_exit_2(args, message, tmp_path, capsys):
    rc = main(["train", "--store", str(tmp_path), *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert err[-1].startswith("dctkd train: error: ") and message in err[-1]
    assert "Traceback" not in "\n".join(err)
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == []


def test_unknown_command_and_no_command(capsys):
    assert main(["fly"]) == 2
    assert "unknown command 'fly'" in capsys.readouterr().err
    assert main([]) == 2


def test_train_then_evaluate_by_folder_and_by_config(tmp_path, capsys):
    cfg = tiny(**{"optim.epochs": 2})
    (tmp_path / "c.yaml").write_text(dump_yaml(cfg))
    store = tmp_path / "store"
    assert main(["train", "--config", str(tmp_path / "c.yaml"), "--store", str(store)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    run_dir = store / cfg.run_id
    assert summary["run"] == str(run_dir)
    final = json.loads((run_dir / "final.json").read_text())
    assert summary["best"]["top1"] == pytest.approx(final["best"]["top1"], abs=1e-3)

    assert main(["evaluate", str(run_dir)]) == 0
    by_dir = json.loads(capsys.readouterr().out)
    assert by_dir["top1"] == pytest.approx(final["best"]["top1"])
    assert json.loads((run_dir / "eval_test_best.json").read_text())["n"] == final["best"]["n"]

    rc = main(["evaluate", "--config", str(tmp_path / "c.yaml"), "--store", str(store),
               "--which", "last", "--split", "val", "--ten-crop"])
    assert rc == 0
    val = json.loads(capsys.readouterr().out)
    assert (val["split"], val["which"], val["ten_crop"]) == ("val", "last", True)
    assert (run_dir / "eval_val_last_tencrop.json").is_file()


def test_evaluate_of_a_missing_run_is_a_clean_error(tmp_path, capsys):
    assert main(["evaluate", "--store", str(tmp_path), "seed=7"]) == 2
    assert "error:" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "nowhere")]) == 2


def test_console_script_reports_bad_config_without_traceback(tmp_path):
    exe = Path(sys.executable).with_name("dctkd")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "dctkd.cli"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([*cmd, "train", "--store", str(tmp_path), "method.name=fitnet"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "unknown method" in out.stderr


def test_every_field_is_reachable_by_an_override():
    from dctkd.config import apply_overrides

    # teacher.<key> and init.<key> stand for a whole RunConfig of their own.
    flat = {k: v for k, _, v in config_keys() if not k.startswith(("teacher.", "init."))}
    # Text fields take one of their accepted values; numbers stay inside their ranges.
    other = {"model": "resnet14", "data.name": "cifar100", "method.name": "kd",
             "method.alphas": "retuned", "optim.schedule": "multistep", "runtime.device": "cpu",
             "runtime.amp": "off"}
    changed = {}
    for key, value in flat.items():
        if isinstance(value, bool):
            changed[key] = not value
        elif isinstance(value, int):
            changed[key] = value + 1
        elif isinstance(value, float):
            changed[key] = value / 2
        elif isinstance(value, str):
            changed[key] = other[key]
    cfg = apply_overrides(RunConfig(), [f"{k}={v}" for k, v in changed.items()])
    data = to_dict(cfg)
    for key, value in changed.items():
        node = data
        for part in key.split("."):
            node = node[part]
        assert node == value, key
