"""ReviewKD (Chen et al., CVPR 2021): attention-based fusion and the HCL loss.

See `docs/baselines.md#reviewkd`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import DistillTerm, Outputs, float32_math, network_input

PYRAMID = (4, 2, 1)


class ABF(nn.Module):
    """Attention-based fusion of one student level with the fused result of the deeper levels.

    `x (B, C_in, H, W)` -> 1x1 conv + BN to `mid`; if `fuse`, the deeper residual
    `(B, mid, h, w)` is upsampled (nearest) to `H x W` and mixed with `x` by two sigmoid maps
    from a 1x1 conv on both. The mix (resized to the teacher's size if it differs) is the
    residual passed up; a 3x3 conv + BN of it to `C_out` is this level's output.
    """

    def __init__(self, in_channels: int, mid_channels: int, out_channels: int, fuse: bool):
        super().__init__()
        self.conv1 = nn.Sequential(
            nn.Conv2d(in_channels, mid_channels, 1, bias=False), nn.BatchNorm2d(mid_channels)
        )
        self.conv2 = nn.Sequential(
            nn.Conv2d(mid_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
        )
        self.att = nn.Sequential(nn.Conv2d(2 * mid_channels, 2, 1), nn.Sigmoid()) if fuse else None
        nn.init.kaiming_uniform_(self.conv1[0].weight, a=1)
        nn.init.kaiming_uniform_(self.conv2[0].weight, a=1)

    def forward(
        self, x: torch.Tensor, residual: torch.Tensor | None, out_size: tuple[int, int]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.conv1(network_input(x, self.conv1))
        if self.att is not None:
            residual = F.interpolate(residual, size=tuple(x.shape[2:]), mode="nearest")
            w = self.att(torch.cat([x, residual], dim=1))
            x = x * w[:, 0:1] + residual * w[:, 1:2]
        if tuple(x.shape[2:]) != tuple(out_size):
            x = F.interpolate(x, size=tuple(out_size), mode="nearest")
        return self.conv2(x), x


def hcl(fs: torch.Tensor, ft: torch.Tensor) -> torch.Tensor:
    """Hierarchical context loss of one level `(B, C, H, W)`.

    `(mse + sum_l w_l * mse(pool_l)) / (1 + sum_l w_l)` over pyramid sizes 4, 2, 1 smaller
    than `H`, with weights 1/2, 1/4, 1/8 taken in that order among the sizes used.
    """
    loss = F.mse_loss(fs, ft)
    weight, total = 1.0, 1.0
    for size in PYRAMID:
        if size >= fs.shape[2]:
            continue
        weight /= 2.0
        pooled = F.mse_loss(F.adaptive_avg_pool2d(fs, size), F.adaptive_avg_pool2d(ft, size))
        loss = loss + weight * pooled
        total += weight
    return loss / total


class ReviewLoss(DistillTerm):
    """ReviewKD: student levels fused deepest-first by ABFs, each matched to the teacher's by HCL.

    Levels are the spatial taps plus the pooled embedding as a `(B, C, 1, 1)` map (the
    original's 5 features for ImageNet-style nets, 4 for CIFAR nets), for both networks;
    the teacher's levels are the targets as they are. One trainable ABF per level maps
    student channels to teacher channels (the deepest does not fuse). The loss is the sum of
    `hcl` over levels. Option `mid_channels`: the fusion width; None gives
    `min(512, C_last)` of the student (512 for ResNet-18/34, 64 for resnet20, as the
    ReviewKD code); the scene-recognition runs used 256 for a MobileNetV2 student.
    """

    def __init__(
        self,
        student_shapes: list[tuple[int, int, int]],
        teacher_shapes: list[tuple[int, int, int]],
        mid_channels: int | None = None,
    ):
        super().__init__()
        mid = mid_channels if mid_channels else min(512, student_shapes[-1][0])
        levels = len(student_shapes) + 1
        in_ch = [s[0] for s in student_shapes] + [student_shapes[-1][0]]
        out_ch = [t[0] for t in teacher_shapes] + [teacher_shapes[-1][0]]
        self.abfs = nn.ModuleList(
            ABF(in_ch[i], mid, out_ch[i], fuse=i < levels - 1) for i in range(levels)
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
        mid_channels: int | None = None,
    ) -> ReviewLoss:
        if len(student_shapes) != len(teacher_shapes) or not student_shapes:
            raise ValueError(
                f"ReviewKD pairs student and teacher taps one to one; got {len(student_shapes)} "
                f"student and {len(teacher_shapes)} teacher taps"
            )
        return cls(list(student_shapes), list(teacher_shapes), mid_channels=mid_channels)

    @staticmethod
    def levels(out: Outputs) -> list[torch.Tensor]:
        """The spatial taps followed by the embedding as a 1x1 map."""
        emb = out.embedding
        return [*out.features, emb.view(*emb.shape, 1, 1)]

    def fuse(self, levels: list[torch.Tensor], out_sizes: list[tuple[int, int]]):
        """Student levels -> one output per level in teacher channels and sizes, shallow first."""
        outs = [None] * len(levels)
        residual = None
        for i in reversed(range(len(levels))):
            outs[i], residual = self.abfs[i](levels[i], residual, out_sizes[i])
        return outs

    def distill(
        self,
        student: Outputs,
        teacher: Outputs,
        targets: torch.Tensor,
        index: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if len(student.features) + 1 != len(self.abfs) or len(teacher.features) + 1 != len(
            self.abfs
        ):
            raise ValueError(
                f"ReviewKD was built for {len(self.abfs) - 1} taps per network; got "
                f"{len(student.features)} student and {len(teacher.features)} teacher maps"
            )
        # The fusion modules run in the caller's precision, as the student does; the loss in
        # float32.
        ts = [t.detach() for t in self.levels(teacher)]
        outs = self.fuse(self.levels(student), [tuple(t.shape[2:]) for t in ts])
        with float32_math(student.features[0].device):
            return sum(hcl(o.float(), t.float()) for o, t in zip(outs, ts, strict=True))
