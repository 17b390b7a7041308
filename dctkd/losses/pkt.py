"""Probabilistic knowledge transfer (Passalis & Tefas, 2018) on pooled embeddings.

See `docs/baselines.md#pkt`.
"""

from __future__ import annotations

import torch

from .base import DistillTerm, Outputs, float32_math


def _similarity_distribution(x: torch.Tensor, eps: float) -> torch.Tensor:
    """`(B, D)` -> `(B, B)`: cosine similarities mapped to [0, 1], each row summing to 1."""
    x = x / (x.norm(dim=1, keepdim=True) + eps)
    x = torch.nan_to_num(x, nan=0.0)
    sim = (x @ x.t() + 1.0) / 2.0
    return sim / sim.sum(dim=1, keepdim=True)


class PKTLoss(DistillTerm):
    """`mean_{ij} t_ij * log((t_ij + eps) / (s_ij + eps))` over the batch similarity laws.

    Reads `Outputs.embedding` (the pooled vector, `f[-1]` of the original) of both networks;
    the embedding widths may differ. `eps` defaults to the original's 1e-7.
    """

    def __init__(self, eps: float = 1e-7):
        super().__init__()
        self.eps = float(eps)

    @classmethod
    def build(
        cls,
        *,
        student_shapes=None,
        teacher_shapes=None,
        num_samples=None,
        num_classes=None,
        batch_size=None,
        eps: float = 1e-7,
    ) -> PKTLoss:
        return cls(eps=eps)

    def distill(
        self,
        student: Outputs,
        teacher: Outputs,
        targets: torch.Tensor,
        index: torch.Tensor | None = None,
    ) -> torch.Tensor:
        es = student.embedding
        with float32_math(es.device):
            s = _similarity_distribution(es, self.eps)
            t = _similarity_distribution(teacher.embedding.detach(), self.eps)
            return (t * torch.log((t + self.eps) / (s + self.eps))).mean()
