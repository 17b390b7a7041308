"""Distillation terms and the method catalogue.

Every term is an `nn.Module` usable on its own (`DCTLoss()(student_feats, teacher_feats,
teacher_logits, targets)`) and a `DistillTerm` the engine calls with both networks' `Outputs`.
The catalogue (`catalogue.Method`, the built-ins in `builtin.py`) holds each method's facts;
`build_term` sizes a term for a teacher/student pair from them. The catalogue's names are
imported with the package; the terms, which need torch, when first used (PEP 562), so the
command line and config validation read the catalogue without importing torch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from dctkd.lazy import lazy_names

from . import builtin  # noqa: F401  (registers the built-in methods)
from .catalogue import (
    METHODS,
    TEACHER_LABEL,
    Method,
    Needs,
    Objective,
    Options,
    canonical_method,
    label,
    method,
    method_names,
    register,
    resolve,
)

if TYPE_CHECKING:  # what a type checker and an editor see; nothing is imported at run time
    from .at import ATLoss
    from .base import DistillTerm, Outputs
    from .ckd import CKDLoss
    from .crd import CRDLoss
    from .dct import DCTLoss, dct_kd_loss, spectrum
    from .kd import KDLoss, kd_loss
    from .pkt import PKTLoss
    from .review import ReviewLoss
    from .vid import VIDLoss

__getattr__ = lazy_names(__name__, {
    "ATLoss": ".at", "DistillTerm": ".base", "Outputs": ".base", "CKDLoss": ".ckd",
    "CRDLoss": ".crd", "DCTLoss": ".dct", "dct_kd_loss": ".dct", "spectrum": ".dct",
    "KDLoss": ".kd", "kd_loss": ".kd", "PKTLoss": ".pkt", "ReviewLoss": ".review",
    "VIDLoss": ".vid",
})


def build_term(
    name: str,
    *,
    student_shapes: Sequence[tuple[int, int, int]],
    teacher_shapes: Sequence[tuple[int, int, int]],
    num_samples: int,
    num_classes: int,
    batch_size: int,
    options: Mapping[str, Any] | None = None,
    temperature: float = 4.0,
    train_targets: Sequence[int] | None = None,
) -> DistillTerm:
    """The term of method `name` sized for a pair, from its validated `options`.

    `*_shapes` are the `(C, H, W)` of each feature tap; `num_samples` is the training-set size
    (CRD's memory), `batch_size` the per-process training batch (SemCKD's relation
    embedding), `train_targets` the training labels (CRD's negatives), `temperature` KD's.
    """
    entry = method(name)
    if entry.term is None:
        raise ValueError(f"method {name!r} has no distillation term")
    context: dict[str, Any] = {}
    if entry.needs.train_targets:
        context["train_targets"] = train_targets
    if entry.name == "kd":
        context["temperature"] = temperature
    return entry.term_class.build(
        student_shapes=list(student_shapes),
        teacher_shapes=list(teacher_shapes),
        num_samples=num_samples,
        num_classes=num_classes,
        batch_size=batch_size,
        **entry.parse_options(options).model_dump(),
        **context,
    )

__all__ = [
    "ATLoss",
    "CKDLoss",
    "CRDLoss",
    "DCTLoss",
    "DistillTerm",
    "KDLoss",
    "METHODS",
    "Method",
    "Needs",
    "Objective",
    "Options",
    "Outputs",
    "PKTLoss",
    "ReviewLoss",
    "TEACHER_LABEL",
    "VIDLoss",
    "build_term",
    "canonical_method",
    "dct_kd_loss",
    "kd_loss",
    "label",
    "method",
    "method_names",
    "register",
    "resolve",
    "spectrum",
]
