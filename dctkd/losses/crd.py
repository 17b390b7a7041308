"""Contrastive representation distillation (Tian et al., 2020) with a momentum memory.

See `docs/baselines.md#crd`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .base import DistillTerm, Outputs, float32_math


class Embed(nn.Module):
    """`(B, D)` -> `(B, dim)`: a linear map onto the unit sphere."""

    def __init__(self, dim_in: int, dim_out: int):
        super().__init__()
        self.linear = nn.Linear(dim_in, dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.linear(x), dim=1)


def _dots(bank: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """`(B, 1+K, D)` memory rows and `(B, D)` embeddings -> `(B, 1+K)` inner products."""
    return torch.bmm(bank, v.unsqueeze(2)).squeeze(2)


def nce_loss(scores: torch.Tensor, num_samples: int, eps: float = 1e-7,
             counts: torch.Tensor | None = None, k: int | None = None) -> torch.Tensor:
    """NCE loss of `(B, 1 + M)` normalised scores, the positive in column 0 (CRD eq. 18).

    With noise probability `Pn = 1/N` and `m = K`: `-(sum_b log(P_b0 / (P_b0 + m Pn + eps))
    + sum_{b,k} log(m Pn / (P_bk + m Pn + eps))) / B`. Each of the M columns is one negative
    draw, or, with `counts (B, M)`, a distinct sample drawn `counts` times out of `k` draws.
    """
    m = scores.shape[1] - 1 if counts is None else int(k)
    noise = m / num_samples
    log_pos = torch.log(scores[:, 0] / (scores[:, 0] + noise + eps))
    log_neg = torch.log(noise / (scores[:, 1:] + noise + eps))
    if counts is not None:
        log_neg = log_neg * counts
    return -(log_pos.sum() + log_neg.sum()) / scores.shape[0]


def _mean_score(scores: torch.Tensor, counts: torch.Tensor | None, k: int) -> torch.Tensor:
    """Mean of `(B, 1 + M)` scores over the positive and the K draws (`counts`, if given)."""
    if counts is None:
        return scores.mean()
    drawn = scores[:, 0].sum() + (scores[:, 1:] * counts).sum()
    return drawn / (scores.shape[0] * (1 + k))


class CRDLoss(DistillTerm):
    """CRD: NCE between student and teacher embeddings against a memory of past embeddings.

    Student and teacher pooled embeddings `(B, D_s)`, `(B, D_t)` go through trainable `Embed`s
    to `feat_dim` (128). Two memories `(N, feat_dim)` (buffers, never trained) hold a momentum
    average (0.5) of each training sample's unit embedding. For every sample the scores
    against its own memory slot (positive) and `K` negatives are `exp(<v, m>/T) / Z` with T=0.07
    and `Z` fixed on the first call to `N * mean(score)`; the loss is `NCE(student side) +
    NCE(teacher side)`. `index` (the batch's training-set indices `(B,)`) is required.

    Differences from the scene-recognition original, and why:
    - Negatives. The original built its per-class sample lists with a loop over the class
      count instead of the samples, so only the first `num_classes` training images ever served as
      negatives (docs/deviations.md#crd-negatives). Here, given `train_targets` (one label per
      training index), negatives are drawn uniformly with replacement from all training samples of
      *other classes*, which is what RepDistiller's CRD ("exact" mode) intended; this also keeps
      same-class images from being pushed apart. Without `train_targets` they are drawn uniformly
      from all samples other than the positive itself.
    - `K` (default 16384) is capped at `N - 1`: sampling is with replacement so a larger K
      would work, but it would only repeat samples while inflating the noise mass `K/N`.
      `cap_k=False` draws the original's K whatever N, so the two can be set side by side.
    - Embeddings are normalised with `F.normalize` (norm clamped at 1e-12) instead of an
      unguarded division, and `Z` is kept as a buffer without a host sync.
    - The memory is updated only in training mode. Under DDP each process keeps and updates
      its own copy from its own batches; copies are not synchronised.
    """

    def __init__(
        self,
        student_dim: int,
        teacher_dim: int,
        num_samples: int,
        feat_dim: int = 128,
        nce_k: int = 16384,
        nce_t: float = 0.07,
        momentum: float = 0.5,
        train_targets: Sequence[int] | torch.Tensor | None = None,
        cap_k: bool = True,
    ):
        super().__init__()
        if num_samples < 2:
            raise ValueError(f"CRD needs at least 2 training samples; got {num_samples}")
        if nce_k < 1 or nce_t <= 0 or not 0.0 <= momentum < 1.0:
            raise ValueError(
                f"CRD expects nce_k >= 1, nce_t > 0 and 0 <= momentum < 1; got {nce_k}, "
                f"{nce_t}, {momentum}"
            )
        self.num_samples = num_samples
        self.k = min(int(nce_k), num_samples - 1) if cap_k else int(nce_k)
        # K draws from N < K samples repeat samples: scoring each distinct sample once,
        # weighted by how often it was drawn, is the same loss at O(N) instead of O(K).
        self.counted = self.k >= num_samples
        self.temperature = float(nce_t)
        self.momentum = float(momentum)
        self.embed_s = Embed(student_dim, feat_dim)
        self.embed_t = Embed(teacher_dim, feat_dim)
        bound = 1.0 / math.sqrt(feat_dim / 3)
        self.register_buffer("memory_s", torch.rand(num_samples, feat_dim) * 2 * bound - bound)
        self.register_buffer("memory_t", torch.rand(num_samples, feat_dim) * 2 * bound - bound)
        self.register_buffer("z", torch.full((2,), -1.0))
        self.by_class = train_targets is not None
        if self.by_class:
            self._index_classes(train_targets)

    def _index_classes(self, train_targets) -> None:
        """Sort the training indices by class so each class is one contiguous block.

        `order (N,)` lists indices class by class; `block_start (N,)` and `block_len (N,)` give,
        for each training index, where its class's block starts in `order` and how long it is.
        """
        labels = torch.as_tensor(train_targets, dtype=torch.long).flatten()
        if labels.numel() != self.num_samples:
            raise ValueError(
                f"CRD train_targets must hold one label per training sample ({self.num_samples}); "
                f"got {labels.numel()}"
            )
        order = torch.argsort(labels, stable=True)
        classes, counts = torch.unique(labels, return_counts=True)
        if classes.numel() < 2:
            raise ValueError("CRD train_targets must hold at least two classes to draw negatives")
        starts = torch.cumsum(counts, 0) - counts
        slot = torch.searchsorted(classes, labels)
        self.register_buffer("order", order, persistent=False)
        self.register_buffer("block_start", starts[slot], persistent=False)
        self.register_buffer("block_len", counts[slot], persistent=False)

    @classmethod
    def build(
        cls,
        *,
        student_shapes,
        teacher_shapes,
        num_samples,
        num_classes=None,
        batch_size=None,
        feat_dim: int = 128,
        nce_k: int = 16384,
        nce_t: float = 0.07,
        momentum: float = 0.5,
        train_targets: Sequence[int] | torch.Tensor | None = None,
        cap_k: bool = True,
    ) -> CRDLoss:
        return cls(
            student_shapes[-1][0],
            teacher_shapes[-1][0],
            num_samples,
            feat_dim=feat_dim,
            nce_k=nce_k,
            nce_t=nce_t,
            momentum=momentum,
            train_targets=train_targets,
            cap_k=cap_k,
        )

    def sample_negatives(self, index: torch.Tensor) -> torch.Tensor:
        """`(B,)` training indices -> `(B, K)` negatives, uniform over the allowed pool.

        The pool of sample `i` is every index outside one contiguous block of a sorted list:
        its class's block (with `train_targets`) or `i` alone. Drawing `r` uniform in
        `[0, N - len)` and stepping over the block maps `r` onto that pool exactly.
        """
        if self.by_class:
            start, length = self.block_start[index], self.block_len[index]
        else:
            start, length = index, torch.ones_like(index)
        high = (self.num_samples - length).unsqueeze(1).to(torch.float64)
        u = torch.rand(index.shape[0], self.k, dtype=torch.float64, device=index.device)
        r = torch.minimum((u * high).long(), high.long() - 1)
        r = r + length.unsqueeze(1) * (r >= start.unsqueeze(1))
        return self.order[r] if self.by_class else r

    def distill(
        self,
        student: Outputs,
        teacher: Outputs,
        targets: torch.Tensor,
        index: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if index is None:
            raise ValueError("CRD needs the batch's training-set indices (index=...); got None")
        es = student.embedding
        if index.dim() != 1 or index.shape[0] != es.shape[0]:
            raise ValueError(
                f"CRD index must be a 1-D tensor of {es.shape[0]} training indices; got shape "
                f"{tuple(index.shape)}"
            )
        index = index.to(device=self.memory_s.device, dtype=torch.long)
        with float32_math(es.device):
            vs = self.embed_s(es)
            vt = self.embed_t(teacher.embedding.detach())
            negatives = self.sample_negatives(index)
            counts = None
            # Student embeddings are scored against the teacher memory and vice versa.
            if self.counted:
                counts = torch.zeros(len(index), self.num_samples, device=negatives.device)
                counts.scatter_add_(1, negatives, torch.ones_like(negatives, dtype=counts.dtype))
                scores_s = self._score_all(self.memory_t, vs, index)
                scores_t = self._score_all(self.memory_s, vt, index)
            else:
                idx = torch.cat([index.unsqueeze(1), negatives], dim=1)
                scores_s = torch.exp(_dots(self.memory_t[idx], vs) / self.temperature)
                scores_t = torch.exp(_dots(self.memory_s[idx], vt) / self.temperature)
            with torch.no_grad():
                first = torch.stack([_mean_score(scores_s, counts, self.k),
                                     _mean_score(scores_t, counts, self.k)]) * self.num_samples
                self.z.copy_(torch.where(self.z < 0, first, self.z))
                z = self.z.clone()
            loss = nce_loss(scores_s / z[0], self.num_samples, counts=counts, k=self.k) + nce_loss(
                scores_t / z[1], self.num_samples, counts=counts, k=self.k
            )
            if self.training:
                self._update_memory(index, vs.detach(), vt.detach())
            return loss

    def _score_all(self, memory: torch.Tensor, v: torch.Tensor, index: torch.Tensor
                   ) -> torch.Tensor:
        """`(B, 1 + N)` scores: each sample's own slot, then every slot of the memory."""
        # A copy: the memory is updated in place after this batch's scores are taken.
        every = torch.exp(v @ memory.t().clone() / self.temperature)
        return torch.cat([every.gather(1, index.unsqueeze(1)), every], dim=1)

    @torch.no_grad()
    def _update_memory(self, index: torch.Tensor, vs: torch.Tensor, vt: torch.Tensor) -> None:
        """Momentum-average the batch's embeddings into their slots, back onto the unit sphere."""
        for memory, v in ((self.memory_s, vs), (self.memory_t, vt)):
            mixed = memory[index] * self.momentum + v * (1.0 - self.momentum)
            memory.index_copy_(0, index, F.normalize(mixed, dim=1))
