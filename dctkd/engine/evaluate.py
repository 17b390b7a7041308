"""Top-1 / Top-5 / mean class accuracy, exactly, and the original's biased numbers beside them.

The original averaged per-batch accuracies weighted by the *nominal* batch size (so the last,
smaller batch counts as a full one) and averaged class recalls over *all* classes, absent ones
scoring 0 (docs/protocol.md#metrics). Here `top1`, `top5` are micro accuracies over every sample and
`mca` averages recall over the classes present in the evaluated split; `legacy_*` recompute
the original's numbers from the same predictions so published tables can be compared.
All accuracies are percentages.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


@torch.no_grad()
def predict(
    model: nn.Module,
    loader,
    *,
    ten_crop: bool = False,
    amp_dtype: torch.dtype | None = None,
    channels_last: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits `(N, K)` float32 and targets `(N,)` on the CPU, in loader order.

    Batches are `(images, targets[, index])`; images `(B, 3, H, W)` or already-cropped
    `(B, n_crops, 3, H, W)`. With `ten_crop`, 4-D batches are enlarged by 8/7 (the 256/224 of
    the scene protocol) and ten-cropped back to `(H, W)`; crops are combined by averaging
    softmax and returned as log-probabilities, which keeps the same argmax/top-k.
    """
    was_training = model.training
    model.eval()
    device = _device_of(model)
    autocast = (
        torch.autocast(device.type, dtype=amp_dtype) if amp_dtype else contextlib.nullcontext()
    )
    logits, targets = [], []
    try:
        for batch in loader:
            images, target = batch[0], batch[1]
            images = images.to(device, non_blocking=True)
            if ten_crop and images.dim() == 4:
                images = _ten_crop(images)
            with autocast:
                if images.dim() == 5:
                    b, n = images.shape[:2]
                    flat = _forward(model, _layout(images.flatten(0, 1), channels_last))
                    probs = flat.float().softmax(1).view(b, n, -1).mean(1)
                    out = probs.clamp_min(1e-12).log()
                else:
                    out = _forward(model, _layout(images, channels_last)).float()
            logits.append(out.cpu())
            targets.append(torch.as_tensor(target).cpu())
    finally:
        model.train(was_training)
    if not logits:
        raise ValueError("evaluate got an empty loader; expected at least one batch")
    return torch.cat(logits), torch.cat(targets).long()


def metrics(
    logits: torch.Tensor, targets: torch.Tensor, num_classes: int, nominal_batch: int | None = None
) -> dict:
    """Exact and legacy accuracies from `logits (N, K)` and `targets (N,)`.

    `nominal_batch` is the batch size whose chunks the legacy average weighs equally (the
    original's eval batch, 256); None means one chunk, making `legacy_top1 == top1`.
    Returns scalars plus `confusion (K, K)` (rows: true class) and `per_class (K,)` recall in %
    (NaN for classes absent from the split).
    """
    if logits.dim() != 2 or logits.shape[0] != targets.shape[0]:
        raise ValueError(
            f"expected logits (N, K) and targets (N,), got {tuple(logits.shape)} and "
            f"{tuple(targets.shape)}"
        )
    n = targets.numel()
    k = min(5, logits.shape[1])
    top = logits.topk(k, dim=1).indices
    hit1 = top[:, 0] == targets
    hit5 = (top == targets[:, None]).any(1)
    pred = top[:, 0].numpy()
    truth = targets.numpy()
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(confusion, (truth, pred), 1)
    support = confusion.sum(1)
    present = support > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.where(present, 100.0 * np.diag(confusion) / support, np.nan)
    chunk = nominal_batch or n
    out = {
        "top1": 100.0 * hit1.double().mean().item(),
        "top5": 100.0 * hit5.double().mean().item(),
        "mca": float(np.nanmean(per_class[present])),
        "n": int(n),
        "classes_present": int(present.sum()),
        "legacy_top1": _chunk_mean(hit1, chunk),
        "legacy_top5": _chunk_mean(hit5, chunk),
        "legacy_mca": float(np.mean(100.0 * np.diag(confusion) / (support + 1e-9))),
        "confusion": confusion,
        "per_class": per_class,
    }
    return out


def evaluate(
    model: nn.Module,
    loader,
    num_classes: int,
    ten_crop: bool = False,
    nominal_batch: int | None = None,
    *,
    amp_dtype: torch.dtype | None = None,
    channels_last: bool = False,
) -> dict:
    """`metrics(predict(model, loader))`; the legacy chunk defaults to the loader's batch size."""
    logits, targets = predict(
        model, loader, ten_crop=ten_crop, amp_dtype=amp_dtype, channels_last=channels_last
    )
    nominal = nominal_batch or getattr(loader, "batch_size", None)
    return metrics(logits, targets, num_classes, nominal)


def scalars(result: dict) -> dict:
    """The JSON-safe part of a `metrics` result (drops the confusion matrix and per-class array)."""
    return {k: v for k, v in result.items() if isinstance(v, (int, float, str))}


def _chunk_mean(hits: torch.Tensor, chunk: int) -> float:
    """Mean of per-chunk accuracies: what an AverageMeter fed the nominal batch size gives."""
    return float(np.mean([100.0 * c.double().mean().item() for c in hits.split(chunk)]))


def _forward(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    out = model(images)
    return out[0] if isinstance(out, (tuple, list)) else out


def _layout(images: torch.Tensor, channels_last: bool) -> torch.Tensor:
    return images.contiguous(memory_format=torch.channels_last) if channels_last else images


def _ten_crop(images: torch.Tensor) -> torch.Tensor:
    """`(B, 3, H, W)` -> `(B, 10, 3, H, W)`: corners, centre and mirrors of an 8/7 enlargement."""
    from torchvision.transforms.v2 import functional as TF

    h, w = images.shape[-2:]
    big = F.interpolate(
        images.float(), size=(round(h * 8 / 7), round(w * 8 / 7)), mode="bilinear",
        antialias=True, align_corners=False,
    ).to(images.dtype)
    return torch.stack(TF.ten_crop(big, [h, w]), dim=1)


def _device_of(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


__all__ = ["evaluate", "metrics", "predict", "scalars"]
