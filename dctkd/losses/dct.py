"""The paper's DCT-driven attention distillation term (docs/method.md#activation-map).

Per level, both networks' activation maps become normalised spectra `D`; the term is the
Euclidean distance between student and teacher spectra, summed over levels and averaged over
the batch, optionally only over samples the teacher classifies correctly (PRED_GUIDE).

Three spectra are offered because the paper's history has two and neither is a DCT (H.1):
- `v1`: `|Re FFT2|`, normalised by `max` — the version behind the published numbers;
- `v2`: signed `Re FFT2`, min-max normalised — the later code (main HEAD);
- `dct2`: the exact orthonormal DCT-II, min-max normalised like `v2`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from ..attention import (
    AM_EPS,
    centred,
    launch_bound,
    normalise_by_max,
    normalise_min_max,
    paired_maps,
)
from ..dct import dct2, dct_matrix, fft_real
from .base import DistillTerm, Outputs, float32_math
from .catalogue import METHODS

VARIANTS = ("v1", "v2", "dct2")
REDUCTIONS = ("mean", "mean_kept", "none")

# Spectra are taken of maps already scaled to unit range, so a spectrum spanning less than
# this carries no contrast float32 can resolve; it normalises to zeros instead of noise.
SPECTRUM_EPS = 1e-6


def transform(am: Tensor, variant: str = "v1") -> Tensor:
    """`(B, H, W)` activation maps -> `(B, H, W)` spectra before their final normalisation.

    The map is normalised (`v1`: by max; otherwise min-max) and its mean removed, so the
    DC coefficient is zero; then `v1` takes `|Re FFT2|`, `v2` `Re FFT2` and `dct2` the DCT-II.
    """
    _check_variant(variant)
    if variant == "v1":
        return fft_real(centred(am, by="max"), absolute=True)
    x = centred(am, by="range")
    return fft_real(x) if variant == "v2" else dct2(x)


def spectrum(am: Tensor, variant: str = "v1") -> Tensor:
    """`(B, H, W)` activation maps -> the normalised spectra `D (B, H, W)` the loss compares.

    `v1`: `(S - min S) / max S` with `S = |Re FFT2(x)|`; `v2`, `dct2`: min-max of the signed
    coefficients (docs/method.md#normalisations). A map without contrast (constant or zero) gives
    all zeros.
    """
    s = transform(am, variant)
    if variant == "v1":
        return normalise_by_max(s, SPECTRUM_EPS)
    return normalise_min_max(s, SPECTRUM_EPS)


def _check_variant(variant: str) -> None:
    if variant not in VARIANTS:
        raise ValueError(f"DCT loss variant must be one of {VARIANTS}, got {variant!r}")


def _resolve_levels(levels: Sequence[int] | None, n: int) -> list[int]:
    if levels is None:
        return list(range(n))
    out = []
    for level in levels:
        if isinstance(level, bool) or not isinstance(level, int) or not -n <= level < n:
            raise ValueError(f"DCT loss levels must be integers in [{-n}, {n}), got {list(levels)}")
        out.append(level % n)
    if not out or len(set(out)) != len(out):
        raise ValueError(f"DCT loss levels must be a non-empty list without repeats, got {levels}")
    return out


class _Layout(NamedTuple):
    """Constants of one set of level shapes, built once per shapes, device and dtype.

    Spectra live in a canvas `(L, 2, B, H_s, W_s)`: the full `H_max × W_max` grid for `dct2`, and
    for the FFT variants the half grid `rfft2` returns, `W_s = W_max // 2 + 1`: their spectra are
    point-symmetric (docs/method.md#fft-symmetry), so the half holds every coefficient's value.
    """

    map_eps: Tensor  # (L, 2, 1, 1, 1): AM_EPS in the canvas's units, C_l / 2 per level and side
    map_outside: Tensor  # (L, 1, 1, H_max, W_max) bool: the canvas around each level's map
    keep_ac: Tensor  # (H_s, W_s): 0 at the DC coefficient, 1 elsewhere
    weight_root: Tensor  # (L, 1, H_s, W_s): sqrt of how often a cell counts in the distance
    dct: tuple[tuple[Tensor, Tensor], ...]  # dct2: per level (H_max, H_l) and (W_max, W_l)


@functools.lru_cache(maxsize=64)
def _layout(
    sizes: tuple[tuple[int, int], ...],
    channels: tuple[tuple[int, int], ...],
    variant: str,
    device: torch.device,
    dtype: torch.dtype,
) -> _Layout:
    # Built outside inference mode so the cached tensors can be saved for backward later.
    with torch.inference_mode(False), torch.no_grad():
        h_max, w_max = max(h for h, _ in sizes), max(w for _, w in sizes)
        half = variant != "dct2"
        w_s = w_max // 2 + 1 if half else w_max
        map_eps = torch.tensor(channels, dtype=torch.float64).mul(AM_EPS / 2)
        outside = torch.ones(len(sizes), h_max, w_max, dtype=torch.bool)
        weight = torch.zeros(len(sizes), h_max, w_s, dtype=torch.float64)
        for level, (h, w) in enumerate(sizes):
            outside[level, :h, :w] = False
            if not half:
                weight[level, :h, :w] = 1.0
                continue
            # rfft2 keeps columns 0..w//2; each column strictly inside stands for itself and its
            # mirror image, columns 0 and w/2 (even w) only for themselves.
            weight[level, :h, : w // 2 + 1] = 2.0
            weight[level, :h, 0] = 1.0
            if w % 2 == 0:
                weight[level, :h, w // 2] = 1.0
        keep_ac = torch.ones(h_max, w_s, dtype=dtype)
        keep_ac[0, 0] = 0.0
        dct = ()
        if not half:
            dct = tuple(
                (_padded_rows(dct_matrix(h, dtype=torch.float64), h_max),
                 _padded_rows(dct_matrix(w, dtype=torch.float64), w_max))
                for h, w in sizes
            )
        return _Layout(
            map_eps=map_eps.view(len(sizes), 2, 1, 1, 1).to(device, dtype),
            map_outside=outside.view(len(sizes), 1, 1, h_max, w_max).to(device),
            keep_ac=keep_ac.to(device),
            weight_root=weight.sqrt().view(len(sizes), 1, h_max, w_s).to(device, dtype),
            dct=tuple((a.to(device, dtype), b.to(device, dtype)) for a, b in dct),
        )


def _padded_rows(d: Tensor, rows: int) -> Tensor:
    """`d (n, n)` with zero rows appended up to `rows`: its products come out zero padded."""
    return torch.cat([d, d.new_zeros(rows - d.shape[0], d.shape[1])])


def _spectra(levels: Sequence[Tensor], variant: str, layout: _Layout) -> Tensor:
    """Each level's `(2, B, H_l, W_l)` maps -> their transforms in one zero-padded canvas
    `(L, 2, B, H_s, W_s)`, the DC coefficient set to zero (`v1`: the magnitudes).

    Zeroing the DC coefficient is subtracting each map's mean first (docs/method.md#normalisations):
    the transforms are linear, and a constant map has no other coefficient.
    """
    h_s, w_s = layout.keep_ac.shape
    if variant == "dct2":
        parts = [rows @ a @ cols.T for a, (rows, cols) in zip(levels, layout.dct, strict=True)]
    else:
        parts = []
        for a in levels:
            r = torch.fft.rfft2(a).real
            if r.shape[-2:] != (h_s, w_s):
                r = F.pad(r, (0, w_s - r.shape[-1], 0, h_s - r.shape[-2]))
            parts.append(r)
    s = torch.stack(parts)
    return (s.abs() if variant == "v1" else s) * layout.keep_ac


def _normalised(s: Tensor, limit: Tensor, signed: bool) -> Tensor:
    """Spectra `(L, 2, B, H_s, W_s)` -> `D`: `S / max S` (V1: `S ≥ 0` and its DC is exactly 0, the
    minimum), or min-max (`signed`). Where the divisor is at most `limit`, all zeros with zero
    gradient. Padding holds zeros, which lie within every map's range (its DC is 0)."""
    hi = s.amax(dim=(-2, -1), keepdim=True)
    if signed:
        lo = s.amin(dim=(-2, -1), keepdim=True)
        span, s = hi - lo, s - lo
    else:
        span = hi
    # 0 where the divisor is too small; clamping at `limit` keeps its gradient finite there.
    return s * ((span > limit) / span.clamp_min(limit))


def _divisor_limit(canvas: Tensor, variant: str, layout: _Layout) -> Tensor:
    """`(L, 2, B, 1, 1)`: the spectrum divisor each map needs to be normalised, `inf` for a dead
    map (docs/method.md#numerical-safety).

    The original normalises the map first, by `s = max A` (V1) or `max A - min A`; a map with
    `s ≤ AM_EPS` becomes zeros, and a spectrum of the normalised map spanning `≤ SPECTRUM_EPS`
    too. The spectra here are of the unnormalised map, `s` times larger, so the limit is
    `SPECTRUM_EPS · s`, and `inf` where `s` is at most AM_EPS.
    """
    s = canvas.amax(dim=(-2, -1), keepdim=True)
    if variant != "v1":
        s = s - canvas.masked_fill(layout.map_outside, math.inf).amin(dim=(-2, -1), keepdim=True)
    return s.masked_fill(s <= layout.map_eps, math.inf) * SPECTRUM_EPS


def _level_distances(
    students: Sequence[Tensor], teachers: Sequence[Tensor], variant: str
) -> Tensor:
    """`(B,)`: the distances between normalised spectra, summed over the given levels
    (docs/method.md#distance).

    Where ops cost their launch (`launch_bound`: a GPU), all levels and both networks share one
    canvas. A CPU takes one canvas per level, which wastes nothing on padding: there bytes
    count and ops are cheap.
    """
    if launch_bound(students[0].device):
        return _canvas_distances(students, teachers, variant).sum(0)
    total = None
    for s, t in zip(students, teachers, strict=True):
        d = _canvas_distances([s], [t], variant)[0]
        total = d if total is None else total + d
    return total


def _canvas_distances(
    students: Sequence[Tensor], teachers: Sequence[Tensor], variant: str
) -> Tensor:
    """`(L, B)`: each given level's distances, its levels and both networks in one canvas."""
    canvas, levels = paired_maps(list(students), list(teachers))
    layout = _layout(
        tuple(tuple(f.shape[2:]) for f in students),
        tuple((s.shape[1], t.shape[1]) for s, t in zip(students, teachers, strict=True)),
        variant,
        canvas.device,
        canvas.dtype,
    )
    d = _normalised(
        _spectra(levels, variant, layout), _divisor_limit(canvas, variant, layout),
        signed=variant != "v1",
    )
    d_student, d_teacher = d.unbind(1)
    return torch.linalg.vector_norm((d_student - d_teacher) * layout.weight_root, 2, dim=(-2, -1))


def dct_kd_loss(
    student_feats: Sequence[Tensor],
    teacher_feats: Sequence[Tensor],
    teacher_logits: Tensor | None = None,
    targets: Tensor | None = None,
    *,
    variant: str = "v1",
    pred_guide: bool = True,
    reduction: str = "mean",
    levels: Sequence[int] | None = None,
) -> Tensor:
    """The DCT distillation term from lists of `(B, C_l, H_l, W_l)` features.

    Student and teacher may differ in channels `C_l` but not in `H_l, W_l`. Gradient flows
    into the student only. Computed in float32 (float64 if the student is float64) with
    autocast off. `reduction`: `mean` divides by the full batch as the paper does, also when
    PRED_GUIDE masks samples; `mean_kept` by the number of kept samples; `none` returns the
    per-sample `(B,)` vector (masked samples 0).

    Equal to `spectrum` and the Euclidean distance per level and sample, summed over levels;
    computed with a fixed number of ops for all levels at once on a GPU (`_level_distances`).
    """
    _check_variant(variant)
    if reduction not in REDUCTIONS:
        raise ValueError(f"DCT loss reduction must be one of {REDUCTIONS}, got {reduction!r}")
    if len(student_feats) != len(teacher_feats):
        raise ValueError(
            f"DCT loss needs one teacher feature map per student map, got "
            f"{len(student_feats)} student and {len(teacher_feats)} teacher levels"
        )
    chosen = _resolve_levels(levels, len(student_feats))
    for level in chosen:
        s, t = student_feats[level], teacher_feats[level]
        if s.dim() != 4 or t.dim() != 4 or s.shape[0] != t.shape[0] or s.shape[2:] != t.shape[2:]:
            raise ValueError(
                f"DCT loss level {level}: student features {tuple(s.shape)} and teacher "
                f"features {tuple(t.shape)} must both be (B, C, H, W) with the same B, H and W"
            )
    batch = student_feats[chosen[0]].shape[0]
    if any(student_feats[level].shape[0] != batch for level in chosen):
        raise ValueError(
            f"DCT loss needs the same batch at every level, got "
            f"{[student_feats[level].shape[0] for level in chosen]}"
        )
    drop = None
    if pred_guide:
        if teacher_logits is None or targets is None:
            raise ValueError(
                "DCT loss with pred_guide=True needs teacher_logits (B, K) and targets (B,)"
            )
        if teacher_logits.shape[0] != batch or targets.shape != (batch,):
            raise ValueError(
                f"DCT loss pred_guide expects teacher_logits (B, K) and targets (B,) with "
                f"B={batch}, got {tuple(teacher_logits.shape)} and {tuple(targets.shape)}"
            )
        drop = teacher_logits.argmax(1) != targets

    device = student_feats[chosen[0]].device
    with float32_math(device):
        total = _level_distances(
            [student_feats[level] for level in chosen],
            [teacher_feats[level].detach() for level in chosen],
            variant,
        )
        if drop is not None:
            total = total.masked_fill(drop.to(total.device), 0.0)
        if reduction == "none":
            return total
        if reduction == "mean_kept" and drop is not None:
            return total.sum() / (batch - drop.sum()).clamp_min(1).to(total.dtype)
        return total.mean()


class DCTLoss(DistillTerm):
    """DCT-driven attention distillation (docs/method.md); returns the unweighted term.

    `variant`: `v1` (published), `v2` or `dct2`; `pred_guide`: distil only samples the teacher
    classifies correctly; `reduction`: `mean`, `mean_kept` or `none`; `levels`: which feature
    taps to distil (None = all).
    """

    compiles = True

    def __init__(
        self,
        variant: str = "v1",
        pred_guide: bool = True,
        reduction: str = "mean",
        levels: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        _check_variant(variant)
        if reduction not in REDUCTIONS:
            raise ValueError(f"DCT loss reduction must be one of {REDUCTIONS}, got {reduction!r}")
        if not isinstance(pred_guide, bool):
            raise ValueError(f"DCT loss pred_guide must be True or False, got {pred_guide!r}")
        if levels is not None:
            levels = list(levels)
            if (
                not levels
                or len(set(levels)) != len(levels)
                or any(isinstance(x, bool) or not isinstance(x, int) for x in levels)
            ):
                raise ValueError(
                    f"DCT loss levels must be a non-empty list of distinct integers, got {levels}"
                )
        self.variant = variant
        self.pred_guide = pred_guide
        self.reduction = reduction
        self.levels = levels

    @classmethod
    def build(
        cls,
        *,
        student_shapes: Sequence[tuple[int, int, int]],
        teacher_shapes: Sequence[tuple[int, int, int]],
        num_samples: int | None = None,
        num_classes: int | None = None,
        batch_size: int | None = None,
        **options,
    ) -> DCTLoss:
        """Check the pair's taps line up spatially and build the term from method `options`."""
        options = METHODS["dct"].parse_options(options).model_dump()
        cls.check_pair(options, student_shapes, teacher_shapes)
        return cls(**options)

    @classmethod
    def check_pair(cls, options: dict, student_shapes: Sequence[tuple[int, int, int]],
                   teacher_shapes: Sequence[tuple[int, int, int]]) -> None:
        """The chosen levels exist in both networks and have equal map sizes (ValueError)."""
        if len(student_shapes) != len(teacher_shapes):
            raise ValueError(
                f"DCT loss needs as many student taps as teacher taps, got "
                f"{len(student_shapes)} and {len(teacher_shapes)}"
            )
        levels = _resolve_levels(options.get("levels"), len(student_shapes))
        for level in levels:
            s, t = tuple(student_shapes[level]), tuple(teacher_shapes[level])
            if s[1:] != t[1:]:
                raise ValueError(
                    f"DCT loss level {level}: student tap (C, H, W)={s} and teacher tap {t} "
                    f"differ in spatial size"
                )

    def forward(
        self,
        student_feats: Sequence[Tensor],
        teacher_feats: Sequence[Tensor],
        teacher_logits: Tensor | None = None,
        targets: Tensor | None = None,
    ) -> Tensor:
        return dct_kd_loss(
            student_feats,
            teacher_feats,
            teacher_logits,
            targets,
            variant=self.variant,
            pred_guide=self.pred_guide,
            reduction=self.reduction,
            levels=self.levels,
        )

    def distill(
        self,
        student: Outputs,
        teacher: Outputs,
        targets: Tensor,
        index: Tensor | None = None,
    ) -> Tensor:
        return self(student.features, teacher.features, teacher.logits, targets)

    def extra_repr(self) -> str:
        return (
            f"variant={self.variant!r}, pred_guide={self.pred_guide}, "
            f"reduction={self.reduction!r}, levels={self.levels}"
        )
