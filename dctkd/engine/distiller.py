"""The student, its frozen teacher and the weighted objective as one module (mdistiller style).

`Distiller.forward` returns the student logits and the *weighted* loss terms, whose sum is
what the optimiser minimises. The teacher cannot leave eval mode, has no gradients and runs
under `no_grad` on the same (augmented) batch as the student, or is replaced by its cached
outputs (`engine.teacher_cache`). The networks may run under autocast, a term's trainable
parts included; all loss math is computed with autocast off, in float32.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dctkd.losses import DistillTerm, Objective, Outputs, build_term, kd_loss

from .checks import check_taps


class Distiller(nn.Module):
    """`beta*CE(z_s, y) + alpha*term(student, teacher) + delta*KD_T(z_s, z_t)`
    (docs/method.md#objective).

    `student`/`teacher` return `(logits (B, K), [features (B, C_l, H_l, W_l)])`; `teacher` may
    be None only when the objective needs none. `term`'s trainable parts are sub-modules of
    this one, so `trainable_parameters()` hands them to the optimiser with the student's.
    """

    def __init__(
        self,
        student: nn.Module,
        teacher: nn.Module | None,
        objective: Objective,
        term: DistillTerm | None = None,
        num_samples: int | None = None,
    ):
        super().__init__()
        if objective.needs_teacher and teacher is None:
            raise ValueError(
                f"method {objective.term or 'kd'!r} needs a teacher; set `teacher` in the config"
            )
        if (objective.term is None) != (term is None):
            raise ValueError(
                f"objective term {objective.term!r} does not match the given term {term!r}"
            )
        self.student = student
        self.teacher = teacher
        self.term = term
        self.objective = objective
        # Training items are keyed `index + view * N` (`engine.train.Indexed`): the terms
        # address their memories by sample, `key % N`.
        self.num_samples = num_samples
        # Precomputed teacher outputs by training-sample index (`teacher_cache`), or None.
        self.teacher_outputs = None
        if teacher is not None:
            teacher.requires_grad_(False)
            teacher.eval()

    def train(self, mode: bool = True) -> Distiller:
        super().train(mode)
        if self.teacher is not None:
            self.teacher.eval()
        return self

    def trainable_parameters(self) -> list[nn.Parameter]:
        """Student parameters, then the term's (never the teacher's)."""
        params = list(self.student.parameters())
        if self.term is not None:
            params += [p for p in self.term.parameters() if p.requires_grad]
        return params

    def trainable_state(self) -> dict:
        """What a checkpoint must hold besides optimiser state: student and term weights/buffers."""
        state = {"student": self.student.state_dict()}
        if self.term is not None:
            state["term"] = self.term.state_dict()
        return state

    def forward(
        self, images: torch.Tensor, targets: torch.Tensor, index: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """`images (B, 3, H, W)`, `targets (B,)`, `index (B,)` item keys `i + view * N`
        (the cached teacher outputs' rows; CRD's memory takes the sample `i`)."""
        s_logits, s_feats = self.student(images)
        losses: dict[str, torch.Tensor] = {}
        obj = self.objective
        t_out = None
        if self.teacher_outputs is not None and index is not None and self.training:
            t_out = self.teacher_outputs.lookup(index, images.device)
        elif self.teacher is not None and obj.needs_teacher:
            with torch.no_grad():
                t_logits, t_feats = self.teacher(images)
            t_out = Outputs(t_logits, list(t_feats))
        if self.term is not None:
            # Under the caller's autocast: a term's trainable parts (regressors, fusion
            # modules) run in the student's precision; every term computes its math in float32.
            sample = index % self.num_samples if index is not None and self.num_samples else index
            value = self.term.distill(Outputs(s_logits, list(s_feats)), t_out, targets, sample)
            losses[obj.term] = obj.alpha * value.float()
        with torch.autocast(images.device.type, enabled=False):
            logits32 = s_logits.float()
            losses["ce"] = obj.beta * F.cross_entropy(logits32, targets)
            if obj.delta > 0:
                losses["kd"] = losses.get("kd", 0) + obj.delta * kd_loss(
                    logits32, t_out.logits.float(), obj.temperature
                )
        return s_logits, losses


def build_distiller(
    student: nn.Module,
    teacher: nn.Module | None,
    objective: Objective,
    *,
    student_shapes: list[tuple[int, int, int]],
    teacher_shapes: list[tuple[int, int, int]] | None,
    num_samples: int,
    num_classes: int,
    batch_size: int,
    train_targets: list[int] | None = None,
) -> Distiller:
    """A `Distiller` whose term is sized from the tap shapes `(C, H, W)` of both networks.

    `train_targets` are the training labels (for methods that need them, e.g. CRD).

    Raises ValueError before any training when a method that compares maps tap by tap gets
    taps that cannot be paired (different count, or different `(H, W)` where required).
    """
    term = None
    if objective.term is not None:
        check_taps(objective.term, student_shapes, teacher_shapes or [])
        term = build_term(
            objective.term,
            student_shapes=student_shapes,
            teacher_shapes=teacher_shapes,
            num_samples=num_samples,
            num_classes=num_classes,
            batch_size=batch_size,
            options=objective.options,
            temperature=objective.temperature,
            train_targets=train_targets,
        )
    return Distiller(student, teacher, objective, term, num_samples)


__all__ = ["Distiller", "build_distiller"]
