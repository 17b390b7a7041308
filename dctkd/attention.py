"""Activation maps: one `(H, W)` map per sample saying where a layer's features are strong.

`activation_map` is the channel aggregation of docs/method.md#activation-map. The per-sample
normalisations the DCT loss needs (docs/method.md#normalisations) are here too, each safe on maps
without contrast: the original divides by `max` or `max - min` with no epsilon, which turns a
constant or all-zero map into NaN. Here a map whose divisor is at most `eps` normalises to all
zeros, with zero gradient.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

# An activation map's units are arbitrary, so its threshold only rules out dead (all-zero) maps
# while keeping 1/eps**2 finite in float32 (the reciprocal's gradient).
AM_EPS = 1e-12

# Bytes of one batch slice squared at a time on CPU: small enough to stay in cache.
_CHUNK_BYTES = 4 << 20


def accumulation_dtype(dtype: torch.dtype) -> torch.dtype:
    """float64 stays float64; everything else (bf16, fp16, fp32) is computed in float32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def _sum_squares(f: Tensor) -> Tensor:
    """`(B, C, H, W) -> (B, H, W)` sum over channels of `f**2`, in the accumulation dtype.

    `f.pow(2).sum(1)` writes a temporary as large as `f`, and `vector_norm` reduces over a
    strided dim slowly on CPU; squaring a few samples at a time keeps the temporary in cache.
    """
    acc = accumulation_dtype(f.dtype)
    if f.device.type != "cpu":
        return torch.linalg.vector_norm(f, 2, dim=1, dtype=acc).square()
    b = f.shape[0]
    per_sample = max(1, math.prod(f.shape[1:]) * torch.finfo(acc).bits // 8)
    step = max(1, _CHUNK_BYTES // per_sample)
    out = torch.empty((b, *f.shape[2:]), dtype=acc, device=f.device)
    for i in range(0, b, step):
        chunk = f[i : i + step]
        sq = chunk.to(acc).square() if chunk.dtype != acc else chunk.square()
        torch.sum(sq, 1, out=out[i : i + step])
    return out


class _MeanSquare(torch.autograd.Function):
    """Mean over channels of `F**2` whose backward is the single product `2 F g / C`."""

    @staticmethod
    def forward(ctx, f: Tensor) -> Tensor:
        ctx.save_for_backward(f)
        return _sum_squares(f).div_(f.shape[1])

    @staticmethod
    def backward(ctx, g: Tensor) -> Tensor:
        (f,) = ctx.saved_tensors
        scale = (g * (2.0 / f.shape[1])).unsqueeze(1).to(f.dtype)
        return f * scale


def activation_map(features: Tensor, p: float = 2) -> Tensor:
    """`(B, C, H, W) -> (B, H, W)`: mean over channels of `|F|^p` (docs/method.md#activation-map
    uses p = 2).

    Returned in float32 (float64 for float64 input) whatever the feature dtype, because the
    normalisations downstream divide by small differences that bf16 cannot resolve.
    Differentiable; `p = 2` takes a path that never materialises `F**2` at full size.
    """
    if features.dim() != 4:
        raise ValueError(
            f"activation_map expects features shaped (B, C, H, W), got {tuple(features.shape)}"
        )
    if not features.is_floating_point():
        raise ValueError(f"activation_map expects floating-point features, got {features.dtype}")
    if p <= 0:
        raise ValueError(f"activation_map needs a positive power p, got {p}")
    if p == 2:
        return _MeanSquare.apply(features)
    return features.to(accumulation_dtype(features.dtype)).abs().pow(p).mean(1)


def spatial_min_max(a: Tensor) -> tuple[Tensor, Tensor]:
    """Per-map minimum and maximum over the last two dims of `(..., H, W)`, each `(..., 1, 1)`.

    Tied extremes share the gradient equally. `amin` and `amax` rather than the one-pass
    `aminmax`: torch 2.11 (found on a GPU node) has no derivative for `aminmax`, and these maps
    are small enough that the second pass costs nothing measurable.
    """
    return a.amin(dim=(-2, -1), keepdim=True), a.amax(dim=(-2, -1), keepdim=True)


def remove_mean(a: Tensor) -> Tensor:
    """Subtract each map's spatial mean, so the DC coefficient of its spectrum is zero."""
    return a - a.mean(dim=(-2, -1), keepdim=True)


def safe_reciprocal(d: Tensor, eps: float) -> Tensor:
    """`1 / d` where `d > eps`, else 0 — with a zero (not NaN) gradient in the else branch."""
    ok = d > eps
    return torch.where(ok, torch.where(ok, d, torch.ones_like(d)).reciprocal(), 0.0)


def normalise_by_max(a: Tensor, eps: float = AM_EPS) -> Tensor:
    """`(A - min A) / max A` per map: the original code's V1 normalisation
    (docs/method.md#normalisations).

    It divides by `max`, not `max - min`, so the result tops out at `1 - min/max`. Meant for
    non-negative maps (activation maps, spectrum magnitudes).
    """
    lo, hi = spatial_min_max(a)
    return (a - lo) * safe_reciprocal(hi, eps)


def normalise_min_max(a: Tensor, eps: float = AM_EPS) -> Tensor:
    """`(A - min A) / (max A - min A)` per map, into `[0, 1]` (docs/method.md#normalisations)."""
    lo, hi = spatial_min_max(a)
    return (a - lo) * safe_reciprocal(hi - lo, eps)


def centred(a: Tensor, by: str = "range", eps: float = AM_EPS) -> Tensor:
    """Normalised map with its mean removed: `N(A) - mean N(A)` for `N` = `normalise_*`.

    The min shift inside `N` cancels against the mean, so this is `(A - mean A) / max A`
    (`by="max"`, V1) or `(A - mean A) / (max A - min A)` (`by="range"`, V2), in fewer passes.
    """
    if by == "max":
        scale = safe_reciprocal(a.amax(dim=(-2, -1), keepdim=True), eps)
    elif by == "range":
        lo, hi = spatial_min_max(a)
        scale = safe_reciprocal(hi - lo, eps)
    else:
        raise ValueError(f"centred normalises by 'max' or 'range', got {by!r}")
    return remove_mean(a) * scale
