"""The budget family's shared prefix: a run with twice the epochs continues from its 1× run's
state at the first LR drop, with the numbers of training it from scratch."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest
from engine_helpers import tiny

from dctkd.engine import ensure, prefix
from dctkd.engine.launch import _startable
from dctkd.report.cells import stretched


def _pair():
    short = tiny(**{"optim.schedule": "multistep", "optim.milestones": [2, 3],
                    "optim.epochs": 4, "deterministic": True, "runtime.share_prefix": True})
    return short, stretched(short, 2.0)


def test_only_the_schedules_length_may_differ():
    short, long = _pair()
    assert prefix.shares(long, short) and not prefix.shares(short, long)
    other = replace(long, seed=1)
    assert not prefix.shares(other, short)
    cosine = replace(long, optim=replace(long.optim, schedule="cosine"))
    assert prefix.family_key(cosine) is None and not prefix.shares(cosine, short)
    # Same first drop, different length: one order only, so neither waits for the other.
    later = replace(short, optim=replace(short.optim, milestones=(2, 5), epochs=6))
    assert prefix.shares(later, short) != prefix.shares(short, later)


def test_a_longer_run_continues_from_the_shorter_runs_prefix_bit_for_bit(tmp_path):
    short, long = _pair()
    scratch = ensure(long, tmp_path / "alone")
    assert scratch.metrics()["prefix_from"] is None
    first = ensure(short, tmp_path / "shared")
    assert (first.path / prefix.FILE).is_file() and (first.path / prefix.BEST).is_file()
    shared = ensure(long, tmp_path / "shared")
    assert shared.metrics()["prefix_from"] == short.run_id
    for key in ("best", "last"):
        assert shared.metrics()[key] == scratch.metrics()[key]
    columns = ["epoch", "lr", "loss", "train_top1", "val_top1"]
    pd.testing.assert_frame_equal(shared.history()[columns], scratch.history()[columns])
    assert len(shared.history()) == long.optim.epochs


def test_without_share_prefix_nothing_is_kept_or_taken(tmp_path):
    short, long = (replace(c, runtime=replace(c.runtime, share_prefix=False)) for c in _pair())
    assert not (ensure(short, tmp_path).path / prefix.FILE).exists()
    assert ensure(long, tmp_path).metrics()["prefix_from"] is None


@pytest.mark.parametrize("share", [True, False])
def test_the_launcher_starts_the_longer_run_after_the_shorter_one(share):
    short, long = (replace(c, runtime=replace(c.runtime, share_prefix=share)) for c in _pair())
    pending = {long.run_id: long, short.run_id: short}
    first = _startable(pending, {}, {}, free=2)
    assert [c.run_id for c in first] == ([short.run_id] if share else [long.run_id,
                                                                          short.run_id])
