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
import torch.nn.functional as F
from torch import Tensor

# An activation map's units are arbitrary, so its threshold only rules out dead (all-zero) maps
# while keeping 1/eps**2 finite in float32 (the reciprocal's gradient).
AM_EPS = 1e-12

# Bytes of `F**2` a CPU squares at a time: small enough to stay in its cores' caches. Larger
# chunks would mean fewer ops, but on a 2-core CPU shared with other jobs 16 MB chunks made the
# maps 1.5x slower than 4 MB ones, and whole taps (up to 100 MB at batch 32) far slower still.
_CHUNK_BYTES = 4 << 20


def accumulation_dtype(dtype: torch.dtype) -> torch.dtype:
    """float64 stays float64; everything else (bf16, fp16, fp32) is computed in float32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def launch_bound(device: torch.device) -> bool:
    """Whether an op on `device` costs its launch more than its bytes: on a GPU the maps and
    spectra here are too small to keep it busy, so fewer ops is what speeds them up; on a CPU
    (False) ops are cheap and bytes are dear.

    So off the CPU a map is one `vector_norm` per tap, which reduces the strided channel dim
    at full speed and needs no temporary; on a CPU, where that reduction is several times
    slower than squaring and summing, squares are summed in chunks of `_CHUNK_BYTES`.
    """
    return device.type != "cpu"


def _sum_squares_into(f: Tensor, out: Tensor) -> Tensor:
    """`Σ_c f**2` of `f (B, C, H, W)` written into `out (B, H, W)` (any strides; its dtype is the
    accumulation dtype), a few samples at a time so the squared temporary stays in cache.

    A CPU reduces into rows of a strided `out` (a map inside a wider canvas) several times
    slower than into contiguous ones, so such a map is reduced apart and copied in.
    """
    target = out if out.is_contiguous() else torch.empty(out.shape, dtype=out.dtype)
    per_sample = max(1, math.prod(f.shape[1:]) * torch.finfo(out.dtype).bits // 8)
    step = max(1, _CHUNK_BYTES // per_sample)
    for i in range(0, f.shape[0], step):
        chunk = f[i : i + step]
        sq = chunk.to(out.dtype).square() if chunk.dtype != out.dtype else chunk.square()
        torch.sum(sq, 1, out=target[i : i + step])
    return out if target is out else out.copy_(target)


def _norms_into(f: Tensor, out: Tensor) -> Tensor:
    """`‖f‖₂` over channels of `f (B, C, H, W)` written into `out (B, H, W)`, in out's dtype."""
    return torch.linalg.vector_norm(f, 2, dim=1, dtype=out.dtype, out=out)


class _MeanSquare(torch.autograd.Function):
    """Mean over channels of `F**2` whose backward is the single product `2 F g / C`."""

    @staticmethod
    def forward(ctx, f: Tensor) -> Tensor:
        ctx.save_for_backward(f)
        out = f.new_empty((f.shape[0], *f.shape[2:]), dtype=accumulation_dtype(f.dtype))
        if launch_bound(f.device):
            _norms_into(f, out).square_()
        else:
            _sum_squares_into(f, out)
        return out.div_(f.shape[1])

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


class _PairedMaps(torch.autograd.Function):
    """`½ Σ_c F²` of every level's student and teacher taps in one zero-padded canvas.

    Forward: `(n, *students, *teachers)` -> `(canvas, *levels)`: `canvas (L, 2, B, H_max, W_max)`
    (level, student/teacher, sample) holds each map in its top-left `H_l × W_l` corner, zeros
    elsewhere, and carries no gradient; `levels[l]` is the `(2, B, H_l, W_l)` view of level `l`.
    One allocation and one scaling for all maps, and a backward that is one product per level.
    """

    @staticmethod
    def forward(ctx, n: int, *feats: Tensor) -> tuple[Tensor, ...]:
        students, teachers = feats[:n], feats[n:]
        b = students[0].shape[0]
        h_max = max(f.shape[2] for f in students)
        w_max = max(f.shape[3] for f in students)
        dtype = accumulation_dtype(students[0].dtype)
        canvas = students[0].new_zeros((n, 2, b, h_max, w_max), dtype=dtype)
        one_pass = launch_bound(canvas.device)
        levels = []
        for level, pair in enumerate(zip(students, teachers, strict=True)):
            h, w = pair[0].shape[2:]
            for side, f in enumerate(pair):
                out = canvas[level, side, :, :h, :w]
                _norms_into(f, out) if one_pass else _sum_squares_into(f, out)
            levels.append(canvas[level, :, :, :h, :w])
        if one_pass:
            canvas.square_()
        canvas.mul_(0.5)
        ctx.save_for_backward(*students)
        ctx.mark_non_differentiable(canvas)
        ctx.set_materialize_grads(False)
        return (canvas, *levels)

    @staticmethod
    def backward(ctx, _canvas: None, *grads: Tensor | None) -> tuple[Tensor | None, ...]:
        students = ctx.saved_tensors
        student_grads = [
            None if g is None or not needed else f * g[0].unsqueeze(1).to(f.dtype)
            for f, g, needed in zip(students, grads, ctx.needs_input_grad[1:], strict=False)
        ]
        return (None, *student_grads, *[None] * len(students))


def paired_maps(students: list[Tensor], teachers: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
    """Each level's student and teacher activation maps, scaled by `C_l / 2`, in one canvas.

    `students[l] (B, C_l, H_l, W_l)` and `teachers[l] (B, C'_l, H_l, W_l)` -> `(canvas, levels)`:
    `canvas (L, 2, B, H_max, W_max)` without gradient, zero outside each `H_l × W_l` corner, and
    `levels[l] (2, B, H_l, W_l)`, its differentiable view of level `l` (index 0 the student).
    Each map is `½ Σ_c F²`, `C/2` times the activation map of docs/method.md#activation-map: a
    positive factor that every normalised spectrum removes, chosen so the backward is `F · g`.
    Float32 (float64 for float64 students); gradient flows into the student taps only.
    """
    if torch.compiler.is_compiling():
        return _traced_paired_maps(students, teachers)
    canvas, *levels = _PairedMaps.apply(len(students), *students, *teachers)
    return canvas, levels


def _traced_paired_maps(
    students: list[Tensor], teachers: list[Tensor]
) -> tuple[Tensor, list[Tensor]]:
    """`paired_maps` as plain differentiable ops, for `torch.compile`: it cannot trace writes
    into strided views, and needs no custom backward, since it fuses the square into the
    reduction (no `F**2` temporary) and the backward into one kernel."""
    dtype = accumulation_dtype(students[0].dtype)
    h_max = max(f.shape[2] for f in students)
    w_max = max(f.shape[3] for f in students)
    levels = [
        torch.stack([f.to(dtype).square().sum(1).mul(0.5) for f in pair])
        for pair in zip(students, teachers, strict=True)
    ]
    canvas = torch.stack([
        F.pad(a.detach(), (0, w_max - a.shape[-1], 0, h_max - a.shape[-2])) for a in levels
    ])
    return canvas, levels


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
