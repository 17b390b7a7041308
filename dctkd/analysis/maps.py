"""Activation maps of a trained model, brought to image size and drawn over the image.

Maps stay raw (the docs/method.md#activation-map channel mean of squared features) so that any
comparison is made on the network's own values; only `overlay` rescales, because a colour map needs
[0, 1].
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dctkd.attention import activation_map

from .batches import eval_mode, model_device


def _levels(levels: Sequence[int] | None, n: int) -> list[int]:
    if levels is None:
        return list(range(n))
    out = []
    for level in levels:
        if not -n <= level < n:
            raise ValueError(f"level {level} is out of range for a model with {n} taps.")
        out.append(level % n)
    return out


@torch.no_grad()
def forward_maps(
    model: nn.Module, images: torch.Tensor, levels: Sequence[int] | None = None
) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
    """Logits `(B, K)` and raw float32 maps `{tap index: (B, H_l, W_l)}` on the model's device."""
    with eval_mode(model):
        logits, features = model(images.to(model_device(model)))
    picked = _levels(levels, len(features))
    return logits.float(), {i: activation_map(features[i].float(), p=2) for i in picked}


def activation_maps(
    model: nn.Module, images: torch.Tensor, levels: Sequence[int] | None = None
) -> list[torch.Tensor]:
    """Raw activation maps `[(B, H_l, W_l)]` (float32, CPU) of `images (B, 3, H, W)`.

    `levels` index the model's taps (negative allowed); `None` means every tap. The model
    runs in eval mode without gradients and is returned to its previous mode.
    """
    _, maps = forward_maps(model, images, levels)
    return [m.cpu() for m in maps.values()]


def upsample(
    maps: torch.Tensor | Sequence[torch.Tensor], size: int | tuple[int, int]
) -> torch.Tensor | list[torch.Tensor]:
    """Bilinearly resize maps `(B, h, w)` (or `(h, w)`, or a list of either) to `size`."""
    if not torch.is_tensor(maps):
        return [upsample(m, size) for m in maps]
    if maps.dim() not in (2, 3):
        raise ValueError(f"maps must be (B, H, W) or (H, W), got shape {tuple(maps.shape)}.")
    size = (size, size) if isinstance(size, int) else tuple(size)
    x = maps.float()[None] if maps.dim() == 2 else maps.float()
    if tuple(x.shape[-2:]) != size:
        x = F.interpolate(x[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]
    return x[0] if maps.dim() == 2 else x


def minmax(maps: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Per-map min-max scaling of `(..., H, W)` to [0, 1]; a constant map becomes all zeros."""
    flat = maps.float().flatten(-2)
    low = flat.min(-1, keepdim=True).values
    span = flat.max(-1, keepdim=True).values - low
    scaled = torch.where(span > eps, (flat - low) / span.clamp_min(eps), torch.zeros_like(flat))
    return scaled.view_as(maps)


def _hwc_uint8(image: torch.Tensor | np.ndarray) -> np.ndarray:
    arr = image.detach().cpu().numpy() if torch.is_tensor(image) else np.asarray(image)
    if arr.ndim != 3:
        raise ValueError(f"image must be (3, H, W) or (H, W, 3), got shape {arr.shape}.")
    if arr.shape[0] == 3 and arr.shape[-1] != 3:
        arr = arr.transpose(1, 2, 0)
    if arr.dtype != np.uint8:
        raise ValueError(f"image must be uint8 for display, got {arr.dtype}.")
    return arr


def overlay(
    image_uint8: torch.Tensor | np.ndarray,
    map: torch.Tensor | np.ndarray,
    alpha: float = 0.5,
    cmap: str = "jet",
) -> np.ndarray:
    """The house overlay (docs/experiments.md#activation-map-figures): map resized to the image,
    min-max scaled, coloured, blended.

    `image_uint8` is `(3, H, W)` or `(H, W, 3)`; `map` is `(h, w)`. Returns `(H, W, 3)` uint8
    equal to `alpha * colour(map) + (1 - alpha) * image`.
    """
    import matplotlib

    image = _hwc_uint8(image_uint8)
    heat = torch.as_tensor(np.asarray(map) if not torch.is_tensor(map) else map)
    if heat.dim() != 2:
        raise ValueError(f"map must be (H, W), got shape {tuple(heat.shape)}.")
    heat = minmax(upsample(heat, image.shape[:2])).numpy()
    colour = matplotlib.colormaps[cmap](heat)[..., :3] * 255.0
    blended = alpha * colour + (1.0 - alpha) * image.astype(np.float64)
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)


def am_rows(
    models: Mapping[str, nn.Module], images: torch.Tensor, levels: Sequence[int] | None = None
) -> dict[str, list[torch.Tensor]]:
    """Raw activation maps `{label: [(B, h_l, w_l) per level]}` of each model, in order."""
    return {
        label: activation_maps(models[label], images, levels) for label in models
    }


def row_of(rows: Mapping[str, Sequence[torch.Tensor]], i: int) -> dict[str, list[torch.Tensor]]:
    """Sample `i` of every model's maps: `{label: [(h_l, w_l) per level]}` for `am_grid`."""
    return {label: [m[i] for m in maps] for label, maps in rows.items()}
