"""Exact and legacy (batch-weighted, all-class) accuracies on cases worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from dctkd.engine.evaluate import evaluate, metrics, predict, scalars

PRED = [0, 0, 1, 1, 2, 2, 0, 1, 2, 0]
TRUE = [0, 1, 1, 1, 2, 0, 0, 1, 2, 2]


def one_hot_logits(pred: list[int], k: int) -> torch.Tensor:
    logits = torch.zeros(len(pred), k)
    logits[torch.arange(len(pred)), torch.tensor(pred)] = 5.0
    return logits


def test_exact_and_legacy_numbers_of_a_constructed_case():
    # Class 3 never occurs; hits 1011 | 1011 | 10 in chunks of the nominal batch 4.
    out = metrics(one_hot_logits(PRED, 4), torch.tensor(TRUE), num_classes=4, nominal_batch=4)
    assert out["top1"] == pytest.approx(70.0)
    assert out["legacy_top1"] == pytest.approx((75 + 75 + 50) / 3)
    per_class = [200 / 3, 75.0, 200 / 3]
    assert out["mca"] == pytest.approx(np.mean(per_class))
    assert out["legacy_mca"] == pytest.approx(sum(per_class) / 4, abs=1e-6)
    assert out["classes_present"] == 3 and out["n"] == 10
    assert math.isnan(out["per_class"][3])
    assert out["confusion"].sum() == 10 and out["confusion"][1, 0] == 1


def test_legacy_equals_exact_when_batches_are_full_or_nominal_missing():
    logits, truth = one_hot_logits(PRED, 4), torch.tensor(TRUE)
    assert metrics(logits, truth, 4, nominal_batch=5)["legacy_top1"] == pytest.approx(70.0)
    assert metrics(logits, truth, 4)["legacy_top1"] == pytest.approx(70.0)


def test_top5_counts_a_target_ranked_fifth_but_not_sixth():
    logits = torch.tensor([[6.0, 5, 4, 3, 2, 1, 0], [6.0, 5, 4, 3, 2, 1, 0]])
    out = metrics(logits, torch.tensor([4, 5]), num_classes=7)
    assert out["top1"] == 0.0 and out["top5"] == pytest.approx(50.0)


def test_mca_ignores_absent_classes_but_counts_predictions_into_them():
    # Every sample of class 0 is predicted as the absent class 2.
    out = metrics(one_hot_logits([2, 2, 1, 1], 3), torch.tensor([0, 0, 1, 1]), num_classes=3)
    assert out["mca"] == pytest.approx(50.0)
    assert out["legacy_mca"] == pytest.approx(100 / 3, abs=1e-6)


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="expected logits"):
        metrics(torch.zeros(3, 4), torch.zeros(2, dtype=torch.long), 4)


class Fixed(nn.Module):
    """Logits that depend on the mean of the first channel, plus a tapped-model style tuple."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.tensor([1.0, -1.0, 0.5]))

    def forward(self, x):
        return self.w * x[:, 0].mean((1, 2))[:, None], []


def test_evaluate_uses_the_loader_batch_as_nominal_and_restores_mode():
    x = torch.randn(10, 3, 8, 8)
    logits = Fixed()(x)[0].detach()
    y = logits.argmax(1)
    y[-1] = (y[-1] + 1) % 3  # the one miss sits in the last, 2-sample batch
    loader = DataLoader(TensorDataset(x, y), batch_size=4)
    model = Fixed().train()
    out = evaluate(model, loader, num_classes=3)
    assert model.training
    assert out["top1"] == pytest.approx(90.0)
    assert out["legacy_top1"] == pytest.approx((100 + 100 + 50) / 3)
    assert set(scalars(out)) >= {"top1", "top5", "mca", "legacy_top1", "legacy_mca", "n"}
    assert "confusion" not in scalars(out)


def test_ten_crop_averages_softmax_over_crops():
    x = torch.randn(3, 3, 14, 14)
    loader = DataLoader(TensorDataset(x, torch.zeros(3, dtype=torch.long)), batch_size=2)
    logp, _ = predict(Fixed(), loader, ten_crop=True)
    assert logp.shape == (3, 3)
    assert torch.allclose(logp.exp().sum(1), torch.ones(3), atol=1e-5)
    # Already-cropped (B, n, 3, H, W) batches give the mean of the per-crop softmax.
    crops = torch.randn(2, 4, 3, 6, 6)
    loader = DataLoader(TensorDataset(crops, torch.zeros(2, dtype=torch.long)), batch_size=2)
    logp, _ = predict(Fixed(), loader)
    per_crop = Fixed()(crops.flatten(0, 1))[0].softmax(1).view(2, 4, 3).mean(1)
    assert torch.allclose(logp.exp(), per_crop.detach(), atol=1e-5)
