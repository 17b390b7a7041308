"""One way to walk over evaluation data, whatever form a notebook hands it in."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, SequentialSampler

Data = Any
"""A `DataLoader` (or any iterable of `(images, targets, ...)` batches), a `Dataset` of
`(image, target)` pairs, or a tuple `(images (N, 3, H, W), targets (N,))` of tensors."""


def iter_batches(data: Data, batch_size: int = 64) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield `(images (B, 3, H, W), targets (B,))` in the data's own order."""
    if isinstance(data, (tuple, list)) and len(data) >= 2 and torch.is_tensor(data[0]):
        images, targets = data[0], torch.as_tensor(data[1])
        if len(images) != len(targets):
            raise ValueError(
                f"images and targets must have the same length, got {len(images)} and "
                f"{len(targets)}."
            )
        for start in range(0, len(images), batch_size):
            yield images[start : start + batch_size], targets[start : start + batch_size]
        return
    if isinstance(data, Dataset) and not isinstance(data, DataLoader):
        data = DataLoader(data, batch_size=batch_size, shuffle=False)
    if not isinstance(data, Iterable):
        raise ValueError(
            "data must be a DataLoader, a Dataset or a tuple (images, targets) of tensors, "
            f"got {type(data).__name__}."
        )
    for batch in data:
        if not isinstance(batch, (tuple, list)) or len(batch) < 2:
            raise ValueError("each batch must be a tuple (images, targets, ...).")
        yield batch[0], torch.as_tensor(batch[1])


def dataset_masks(data: Data) -> torch.Tensor | None:
    """The object masks `(N, H, W)` of a scenes dataset, when the data visits it in order.

    Masks are aligned with samples only if the data is the dataset itself or a loader that
    reads it sequentially; otherwise the caller must pass masks explicitly.
    """
    if isinstance(data, DataLoader):
        if not isinstance(data.sampler, SequentialSampler):
            return None
        data = data.dataset
    masks = getattr(data, "masks", None)
    return torch.as_tensor(masks).bool() if masks is not None else None


def model_device(model: nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


class eval_mode:
    """Put models in eval mode for a block, then restore every sub-module's own mode.

    Restoring module by module (not `train(mode)` on the root) keeps deliberate mixes, such
    as a training student whose frozen BatchNorms stay in eval mode.
    """

    def __init__(self, *models: nn.Module) -> None:
        self.models = models
        self.saved: list[tuple[nn.Module, bool, list[tuple[nn.Module, bool]]]] = []

    def __enter__(self) -> None:
        self.saved = [(m, m.training, [(s, s.training) for s in m.modules()]) for m in self.models]
        for m in self.models:
            m.eval()

    def __exit__(self, *exc: object) -> None:
        for root, mode, modules in self.saved:
            root.train(mode)
            for module, flag in modules:
                module.training = flag
