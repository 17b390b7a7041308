"""A run's TensorBoard events, read back as TensorBoard reads them: one point per epoch for every
metrics.csv column, the config as text, the test metrics as hparams, and no duplicate steps
after a kill and a resume."""

from __future__ import annotations

import csv
import math
import os
import socket
import time

import pytest
from engine_helpers import tiny
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2
from torch.utils.tensorboard import SummaryWriter

from dctkd.engine import board
from dctkd.engine import train as train_module
from dctkd.engine.train import train

EPOCHS = 3


def _events(run_dir) -> EventAccumulator:
    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    return acc


def _rows(run_dir) -> list[dict]:
    with open(run_dir / "metrics.csv") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    cfg = tiny(**{"method.name": "none", "optim.epochs": EPOCHS, "seed": 3})
    run_dir = tmp_path_factory.mktemp("tb") / cfg.run_id
    return cfg, run_dir, train(cfg, run_dir)


def test_every_metrics_column_is_a_scalar_per_epoch(finished):
    cfg, run_dir, _ = finished
    acc, rows = _events(run_dir), _rows(run_dir)
    columns = [c for c in rows[0] if c != "epoch" and rows[0][c] != ""]
    assert {"loss_ce", "lr", "train_top1", "val_top1", "images_per_s"} <= set(columns)
    for column in columns:
        points = acc.Scalars(board.tag(column))
        assert [p.step for p in points] == [int(r["epoch"]) for r in rows], column
        assert [p.value for p in points] == pytest.approx([float(r[column]) for r in rows],
                                                          rel=1e-5), column


def test_config_text_and_test_metrics_as_hparams(finished):
    cfg, run_dir, final = finished
    acc = _events(run_dir)
    (text,) = acc.Tensors("config/text_summary")
    assert cfg.run_id in text.tensor_proto.string_val[0].decode()
    (top1,) = acc.Scalars("test/top1_best")
    assert top1.step == EPOCHS and math.isclose(top1.value, final["best"]["top1"], rel_tol=1e-6)
    raw = acc.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    start = plugin_data_pb2.HParamsPluginData.FromString(raw).session_start_info
    assert start.hparams["method"].string_value == "none"
    assert start.hparams["seed"].number_value == 3
    assert start.hparams["model"].string_value == cfg.model


def test_a_resumed_run_has_each_epoch_once(tmp_path, monkeypatch):
    cfg = tiny(**{"method.name": "none", "optim.epochs": EPOCHS, "deterministic": True})
    real = train_module.checkpoint.save_checkpoint

    def killed_after_logging_epoch_2(path, run_id, distiller, state, *args):
        if state["epoch"] == 2:  # its events are written, its checkpoint is not
            raise KeyboardInterrupt
        return real(path, run_id, distiller, state, *args)

    monkeypatch.setattr(train_module.checkpoint, "save_checkpoint", killed_after_logging_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path)
    assert [p.step for p in _events(tmp_path).Scalars("loss/total")] == [1, 2]
    monkeypatch.setattr(train_module.checkpoint, "save_checkpoint", real)
    train(cfg, tmp_path)
    acc = _events(tmp_path)
    assert [p.step for p in acc.Scalars("loss/total")] == [1, 2, 3]
    assert len(acc.Tensors("config/text_summary")) == 1


def test_a_new_event_file_sorts_after_those_already_there(tmp_path):
    # TensorBoard reads a folder's event files in name order. Opened in the same second as an
    # earlier one, a file would be ordered by its writer's per-process count, compared as
    # text: "...10" before "...9", so a resumed run's events could be read first.
    now = int(time.time())
    earlier = tmp_path / f"events.out.tfevents.{now:010d}.{socket.gethostname()}.{os.getpid()}.9"
    earlier.write_bytes(b"")
    board._open_after_earlier_files(tmp_path)
    SummaryWriter(str(tmp_path)).close()
    (newest,) = [p for p in tmp_path.glob("events.out.tfevents.*") if p != earlier]
    assert sorted([earlier, newest])[-1] == newest


def test_off_and_other_ranks_write_nothing(tmp_path):
    cfg = tiny(**{"runtime.tensorboard": False, "optim.epochs": 1})
    train(cfg, tmp_path / "off")
    assert not list((tmp_path / "off").glob("events.out.tfevents.*"))
    assert board.Board(tiny(), tmp_path / "rank1", main=False, start_epoch=0).writer is None
    assert not (tmp_path / "rank1").exists()
