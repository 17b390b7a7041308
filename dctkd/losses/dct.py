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

from collections.abc import Sequence

import torch
from torch import Tensor

from ..attention import activation_map, centred, normalise_by_max, normalise_min_max
from ..dct import dct2, fft_real
from .base import DistillTerm, Outputs
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


def _distance(d_s: Tensor, d_t: Tensor) -> Tensor:
    """Per-sample Euclidean distance `(B, H, W), (B, H, W) -> (B,)`, not squared
    (docs/method.md#distance).

    `vector_norm`'s backward is zero, not `0 * inf`, where the two spectra coincide.
    """
    return torch.linalg.vector_norm(d_s - d_t, 2, dim=(-2, -1))


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
    keep = None
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
        keep = teacher_logits.argmax(1) == targets

    device = student_feats[chosen[0]].device
    with torch.autocast(device_type=device.type, enabled=False):
        total = None
        for level in chosen:
            d_s = spectrum(activation_map(student_feats[level]), variant)
            with torch.no_grad():
                d_t = spectrum(activation_map(teacher_feats[level].detach()), variant)
            d = _distance(d_s, d_t.to(d_s.dtype))
            total = d if total is None else total + d
        if keep is not None:
            total = torch.where(keep.to(total.device), total, 0.0)
        if reduction == "none":
            return total
        if reduction == "mean_kept" and keep is not None:
            return total.sum() / keep.sum().clamp_min(1).to(total.dtype)
        return total.sum() / batch


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
