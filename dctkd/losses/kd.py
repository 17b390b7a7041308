"""Hinton knowledge distillation on logits (DistillKL, docs/method.md#objective)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import DistillTerm, Outputs, float32_math


def kd_loss(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float
) -> torch.Tensor:
    """`T^2 / B * sum_b KL(softmax(z_t/T) || softmax(z_s/T))` for logits `(B, K)`.

    Summed over classes and samples then divided by the batch size, as the original's
    `F.kl_div(size_average=False) * T**2 / B`. The teacher side carries no gradient.
    """
    if student_logits.shape != teacher_logits.shape or student_logits.dim() != 2:
        raise ValueError(
            f"kd_loss expects student and teacher logits of one shape (B, K); got "
            f"{tuple(student_logits.shape)} and {tuple(teacher_logits.shape)}"
        )
    with float32_math(student_logits.device):
        t = float(temperature)
        log_p_s = F.log_softmax(student_logits.float() / t, dim=1)
        p_t = F.softmax(teacher_logits.detach().float() / t, dim=1)
        kl = F.kl_div(log_p_s, p_t, reduction="sum")
        return kl * (t * t) / student_logits.shape[0]


class KDLoss(DistillTerm):
    """Hinton KD as a distillation term: `kd_loss` with the term's `temperature` (default 4)."""

    def __init__(self, temperature: float = 4.0):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"KD temperature must be positive; got {temperature}")
        self.temperature = float(temperature)

    @classmethod
    def build(
        cls,
        *,
        student_shapes=None,
        teacher_shapes=None,
        num_samples=None,
        num_classes=None,
        batch_size=None,
        temperature: float = 4.0,
    ) -> KDLoss:
        return cls(temperature=temperature)

    def distill(
        self,
        student: Outputs,
        teacher: Outputs,
        targets: torch.Tensor,
        index: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return kd_loss(student.logits, teacher.logits, self.temperature)
