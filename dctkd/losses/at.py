"""Attention transfer (Zagoruyko & Komodakis, 2017), as RepDistiller codes it.

See `docs/baselines.md#at`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import DistillTerm, Outputs, float32_math


def pool_to_smaller(fs: torch.Tensor, ft: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Average-pool whichever of two `(B, C, H, W)` maps is larger to the other's `H x W`.

    The original compares heights only and pools to a square; this takes the smaller height
    and width separately, which is the same thing for the square maps every backbone yields.
    """
    size = (min(fs.shape[2], ft.shape[2]), min(fs.shape[3], ft.shape[3]))
    if tuple(fs.shape[2:]) != size:
        fs = F.adaptive_avg_pool2d(fs, size)
    if tuple(ft.shape[2:]) != size:
        ft = F.adaptive_avg_pool2d(ft, size)
    return fs, ft


def attention_map(f: torch.Tensor, p: float = 2.0) -> torch.Tensor:
    """`(B, C, H, W)` -> `(B, H*W)`: `mean_c f^p`, L2-normalised over the spatial positions."""
    return F.normalize(f.pow(p).mean(1).flatten(1), dim=1)


class ATLoss(DistillTerm):
    """Sum over the spatial taps of `mean_{b,hw} (at(f_s) - at(f_t))^2`.

    Every tap pair is used (all stage maps, `f[:-1]` of the original's tuple). Maps of
    different sizes are pooled to the smaller one. `p` (default 2, the published value) is
    the power of the channel aggregation.
    """

    def __init__(self, num_taps: int, p: float = 2.0):
        super().__init__()
        self.num_taps = num_taps
        self.p = float(p)

    @classmethod
    def build(
        cls,
        *,
        student_shapes,
        teacher_shapes,
        num_samples=None,
        num_classes=None,
        batch_size=None,
        p: float = 2.0,
    ) -> ATLoss:
        if len(student_shapes) != len(teacher_shapes) or not student_shapes:
            raise ValueError(
                f"AT pairs student and teacher taps one to one; got {len(student_shapes)} "
                f"student and {len(teacher_shapes)} teacher taps"
            )
        return cls(len(student_shapes), p=p)

    def distill(
        self,
        student: Outputs,
        teacher: Outputs,
        targets: torch.Tensor,
        index: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if len(student.features) != self.num_taps or len(teacher.features) != self.num_taps:
            raise ValueError(
                f"AT was built for {self.num_taps} taps per network; got "
                f"{len(student.features)} student and {len(teacher.features)} teacher maps"
            )
        with float32_math(student.features[0].device):
            total = student.features[0].new_zeros((), dtype=torch.float32)
            for fs, ft in zip(student.features, teacher.features, strict=True):
                fs, ft = pool_to_smaller(fs.float(), ft.detach().float())
                diff = attention_map(fs, self.p) - attention_map(ft, self.p)
                total = total + diff.pow(2).mean()
            return total
