"""Variational information distillation (Ahn et al., 2019) as RepDistiller codes it.

See `docs/baselines.md#vid`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .at import pool_to_smaller
from .base import DistillTerm, Outputs, float32_math, network_input


class VIDRegressor(nn.Module):
    """Gaussian model of one teacher map given the student's: a mean and a per-channel variance.

    Mean: 1x1 conv `C_s -> C_t`, ReLU, 1x1 `C_t -> C_t`, ReLU, 1x1 `C_t -> C_t` (no biases).
    Variance: `softplus(log_scale) + eps`, initialised so that it starts at `init_var`.
    """

    def __init__(self, in_channels: int, out_channels: int, init_var: float, eps: float):
        super().__init__()
        self.mean = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
            nn.ReLU(),
            nn.Conv2d(out_channels, out_channels, 1, bias=False),
            nn.ReLU(),
            nn.Conv2d(out_channels, out_channels, 1, bias=False),
        )
        start = math.log(math.expm1(init_var - eps))
        self.log_scale = nn.Parameter(torch.full((out_channels,), start))
        self.eps = eps

    def variance(self) -> torch.Tensor:
        """`(C_t,)` predicted variance per teacher channel."""
        return F.softplus(self.log_scale) + self.eps

    def forward(self, fs: torch.Tensor, ft: torch.Tensor) -> torch.Tensor:
        """Mean over `(B, C_t, H, W)` of the Gaussian negative log-likelihood (without log 2pi).

        The mean network runs in the caller's precision (as the student does); the
        likelihood is computed in float32.
        """
        mu = self.mean(network_input(fs, self.mean))
        with float32_math(mu.device):
            var = self.variance().float().view(1, -1, 1, 1)
            return (0.5 * ((mu.float() - ft.float()).pow(2) / var + var.log())).mean()


class VIDLoss(DistillTerm):
    """Sum over taps 2..L of the VID negative log-likelihood.

    Taps `features[1:]` are the original's `f[1:-1]` (its tuple ends with the pooled vector;
    ours holds spatial maps only). One trainable `VIDRegressor` per tap; maps of different
    sizes are pooled to the smaller one. Options: `init_var` (5.0), `eps` (1e-5).
    """

    first_tap = 1

    def __init__(
        self,
        student_channels: list[int],
        teacher_channels: list[int],
        init_var: float = 5.0,
        eps: float = 1e-5,
    ):
        super().__init__()
        if init_var <= eps:
            raise ValueError(f"VID init_var must exceed eps={eps}; got {init_var}")
        self.regressors = nn.ModuleList(
            VIDRegressor(cs, ct, init_var, eps)
            for cs, ct in zip(student_channels, teacher_channels, strict=True)
        )

    @classmethod
    def build(
        cls,
        *,
        student_shapes,
        teacher_shapes,
        num_samples=None,
        num_classes=None,
        batch_size=None,
        init_var: float = 5.0,
        eps: float = 1e-5,
    ) -> VIDLoss:
        if len(student_shapes) != len(teacher_shapes) or len(student_shapes) <= cls.first_tap:
            raise ValueError(
                f"VID needs the same number (at least 2) of student and teacher taps; got "
                f"{len(student_shapes)} and {len(teacher_shapes)}"
            )
        return cls(
            [s[0] for s in student_shapes[cls.first_tap :]],
            [t[0] for t in teacher_shapes[cls.first_tap :]],
            init_var=init_var,
            eps=eps,
        )

    def distill(
        self,
        student: Outputs,
        teacher: Outputs,
        targets: torch.Tensor,
        index: torch.Tensor | None = None,
    ) -> torch.Tensor:
        taps_s = student.features[self.first_tap :]
        taps_t = teacher.features[self.first_tap :]
        if len(taps_s) != len(self.regressors) or len(taps_t) != len(self.regressors):
            raise ValueError(
                f"VID was built for {len(self.regressors) + self.first_tap} taps per network; "
                f"got {len(student.features)} student and {len(teacher.features)} teacher maps"
            )
        total = taps_s[0].new_zeros((), dtype=torch.float32)
        for reg, fs, ft in zip(self.regressors, taps_s, taps_t, strict=True):
            fs, ft = pool_to_smaller(fs, ft.detach())
            total = total + reg(fs, ft)
        return total
