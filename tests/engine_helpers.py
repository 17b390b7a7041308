"""Tiny run configurations shared by the engine tests (16-px scenes, ResNet-8, a few epochs)."""

from __future__ import annotations

from dataclasses import replace

import torch

from dctkd.config import RunConfig, apply_overrides

# One thread per test process: on a shared 2-core machine, OpenMP spinning across two busy
# threads makes small convolutions an order of magnitude slower.
torch.set_num_threads(1)

TINY_SCENES = {
    "k": 1, "num_classes": 4, "image_size": 16, "train_size": 480, "test_size": 120,
    "distractors": 1, "seed": 0,
}


def tiny(**overrides) -> RunConfig:
    """A ResNet-8 trained from scratch on tiny scenes: seconds on one CPU thread."""
    base = {
        "model": "resnet8",
        "data.options": dict(TINY_SCENES),
        "optim.epochs": 4,
        "optim.batch_size": 32,
        "optim.eval_batch_size": 64,
        "optim.lr": 0.05,
        "optim.step_size": 10,
        "runtime.progress": False,
    }
    return apply_overrides(RunConfig(), {**base, **overrides})


def tiny_student(method: str, teacher: RunConfig, **overrides) -> RunConfig:
    """A distilled student of `teacher` on a subsample of its training set."""
    cfg = tiny(**{"method.name": method, "data.train_size": 200, **overrides})
    return replace(cfg, teacher=teacher)
