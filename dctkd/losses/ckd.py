"""SemCKD (Chen et al., AAAI 2021): cross-layer KD with semantic calibration.

See `docs/baselines.md#semckd`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .at import pool_to_smaller
from .base import DistillTerm, Outputs, float32_math, network_input


class MLPEmbed(nn.Module):
    """`(B, D)` -> `(B, dim_out)`: Linear `D -> 2*dim_out`, ReLU, Linear, L2 normalisation."""

    def __init__(self, dim_in: int, dim_out: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(dim_in, 2 * dim_out), nn.ReLU(), nn.Linear(2 * dim_out, dim_out)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.net(x), dim=1)


class AAEmbed(nn.Sequential):
    """Student map `(B, C_s, H, W)` -> teacher space `(B, C_t, H, W)`.

    1x1 conv to `mid`, BN, ReLU, 3x3 conv, BN, ReLU, 1x1 conv to `C_t` (no conv biases);
    `mid` is `2 * C_t` in the original.
    """

    def __init__(self, in_channels: int, out_channels: int, mid_channels: int):
        super().__init__(
            nn.Conv2d(in_channels, mid_channels, 1, bias=False),
            nn.BatchNorm2d(mid_channels),
            nn.ReLU(),
            nn.Conv2d(mid_channels, mid_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(mid_channels),
            nn.ReLU(),
            nn.Conv2d(mid_channels, out_channels, 1, bias=False),
        )


class CKDLoss(DistillTerm):
    """SemCKD on taps 2..L of both networks (the original's `f[1:-1]`).

    For each network and tap, the batch relation matrix `R = F F^T` (`F` the flattened maps,
    `(B, B)`) is embedded row-wise by an `MLPEmbed` (`batch_size -> batch_size / factor`):
    student taps give queries, teacher taps keys. `softmax_j <q_i, k_j>` per sample weighs
    how much student tap `i` imitates teacher tap `j`. An `AAEmbed` per pair `(i, j)` maps
    the student map (pooled to the smaller of the two sizes) into the teacher's channels;
    the loss is `sum_{b,i,j} w_bij * mean_{chw}(AAEmbed_ij(s_i) - t_j)^2 / (B * n_student)`.

    Differences from the original, and why:
    - Train/eval mode. The original's validation called `.eval()` on this module and nothing
      called `.train()` again, so from epoch 2 the AAEmbed BatchNorms trained on frozen running
      statistics (docs/deviations.md#ckd-train-mode). This term keeps no mode of its own: as a
      sub-module of the Distiller it is switched by `Distiller.train()` / `.eval()` together with
      the student, and nothing in it calls `.eval()`.
    - Batch size. The relation embedding's input width is the training batch size, so the
      original dropped every last partial batch. Here a batch of `B' < batch_size` samples
      has its relation rows zero-padded to `batch_size` columns: exactly the original for
      full batches, and a smaller batch reads as if the missing samples had zero similarity
      (which the MLP sees as "no neighbours"), so no training sample is skipped. A batch
      larger than `batch_size` (an evaluation batch, say) is split into chunks of at most
      `batch_size`, each with its own relations, and the loss averages over all samples.

    Options: `factor` (4: the embedding width is `batch_size // factor`) and `mid_channels`
    (None: `2 * C_t` as the original; the R50 teacher's 2048-channel tap then gives 3x3 convs
    of 4096 channels, about 0.6 G parameters over all pairs, so a smaller value may be set).
    """

    first_tap = 1

    def __init__(
        self,
        student_channels: list[int],
        teacher_channels: list[int],
        batch_size: int,
        factor: int = 4,
        mid_channels: int | None = None,
    ):
        super().__init__()
        if factor < 1 or batch_size // factor < 1:
            raise ValueError(
                f"CKD needs batch_size // factor >= 1; got batch_size={batch_size}, factor={factor}"
            )
        self.batch_size = batch_size
        dim = batch_size // factor
        self.query = nn.ModuleList(MLPEmbed(batch_size, dim) for _ in student_channels)
        self.key = nn.ModuleList(MLPEmbed(batch_size, dim) for _ in teacher_channels)
        self.regressors = nn.ModuleList(
            nn.ModuleList(
                AAEmbed(cs, ct, mid_channels if mid_channels else 2 * ct) for ct in teacher_channels
            )
            for cs in student_channels
        )

    @classmethod
    def build(
        cls,
        *,
        student_shapes,
        teacher_shapes,
        num_samples=None,
        num_classes=None,
        batch_size,
        factor: int = 4,
        mid_channels: int | None = None,
    ) -> CKDLoss:
        if len(student_shapes) <= cls.first_tap or len(teacher_shapes) <= cls.first_tap:
            raise ValueError(
                f"CKD needs at least 2 taps per network; got {len(student_shapes)} student "
                f"and {len(teacher_shapes)} teacher taps"
            )
        return cls(
            [s[0] for s in student_shapes[cls.first_tap :]],
            [t[0] for t in teacher_shapes[cls.first_tap :]],
            batch_size,
            factor=factor,
            mid_channels=mid_channels,
        )

    def relations(self, f: torch.Tensor) -> torch.Tensor:
        """`(B, C, H, W)` -> `(B, batch_size)`: rows of `F F^T`, zero-padded past column B."""
        flat = f.flatten(1)
        rel = flat @ flat.t()
        return F.pad(rel, (0, self.batch_size - rel.shape[1]))

    def distill(
        self,
        student: Outputs,
        teacher: Outputs,
        targets: torch.Tensor,
        index: torch.Tensor | None = None,
    ) -> torch.Tensor:
        taps_s = list(student.features[self.first_tap :])
        taps_t = [f.detach() for f in teacher.features[self.first_tap :]]
        if len(taps_s) != len(self.query) or len(taps_t) != len(self.key):
            raise ValueError(
                f"CKD was built for {len(self.query) + self.first_tap} student and "
                f"{len(self.key) + self.first_tap} teacher taps; got {len(student.features)} "
                f"and {len(teacher.features)}"
            )
        batch = taps_s[0].shape[0]
        total = taps_s[0].new_zeros((), dtype=torch.float32)
        for start in range(0, batch, self.batch_size):
            part = slice(start, start + self.batch_size)
            total = total + self._weighted_errors(
                [f[part] for f in taps_s], [f[part] for f in taps_t]
            )
        return total / (batch * len(taps_s))

    def _weighted_errors(
        self, taps_s: list[torch.Tensor], taps_t: list[torch.Tensor]
    ) -> torch.Tensor:
        """`sum_{b,i,j} w_bij * err_bij` for one batch of at most `batch_size` samples.

        Relations, attention weights and errors are float32; the regressors run in the
        caller's precision, as the student does.
        """
        device = taps_s[0].device
        with float32_math(device):
            q = [m(self.relations(f.float())) for m, f in zip(self.query, taps_s, strict=True)]
            k = [m(self.relations(f.float())) for m, f in zip(self.key, taps_t, strict=True)]
            # (B, n_s, d) x (B, d, n_t): per-sample affinity of each student tap to each teacher tap
            weights = F.softmax(torch.bmm(torch.stack(q, 1), torch.stack(k, 2)), dim=-1)
        errors = []
        for row, fs in zip(self.regressors, taps_s, strict=True):
            for reg, ft in zip(row, taps_t, strict=True):
                s_in, t_in = pool_to_smaller(fs, ft)
                mapped = reg(network_input(s_in, reg))
                with float32_math(device):
                    errors.append((mapped.float() - t_in.float()).pow(2).flatten(1).mean(1))
        with float32_math(device):
            errors = torch.stack(errors, 1).view(weights.shape)
            return (weights * errors).sum()
