"""Distillation terms, registered by name.

`build_term(name, **context)` constructs the term for a teacher/student pair; the context
carries what some terms need to size their trainable parts (tap shapes, dataset size).
"""

from __future__ import annotations

from collections.abc import Callable

from .base import DistillTerm, Outputs

_REGISTRY: dict[str, Callable[..., DistillTerm]] = {}


def register(name: str):
    """Class decorator: make a `DistillTerm` buildable as `build_term(name, ...)`."""

    def wrap(cls):
        _REGISTRY[name] = cls
        return cls

    return wrap


def method_names() -> list[str]:
    _import_all()
    return sorted(_REGISTRY)


def build_term(
    name: str,
    *,
    student_shapes: list[tuple[int, int, int]],
    teacher_shapes: list[tuple[int, int, int]],
    num_samples: int,
    num_classes: int,
    batch_size: int,
    **options,
) -> DistillTerm:
    """Build the registered term `name`.

    `*_shapes` are the `(C, H, W)` of each feature tap; `num_samples` is the training-set
    size (CRD's memory); `batch_size` the training batch (SemCKD's relation embedding).
    Each term's constructor takes the context keywords it needs and ignores the rest.
    """
    _import_all()
    if name not in _REGISTRY:
        raise ValueError(
            f"unknown distillation method {name!r}; expected one of {sorted(_REGISTRY)}"
        )
    return _REGISTRY[name].build(
        student_shapes=student_shapes,
        teacher_shapes=teacher_shapes,
        num_samples=num_samples,
        num_classes=num_classes,
        batch_size=batch_size,
        **options,
    )


def _import_all() -> None:
    # Importing the modules runs their @register decorators.
    from . import at, ckd, crd, dct, kd, pkt, review, vid  # noqa: F401


__all__ = ["DistillTerm", "Outputs", "build_term", "method_names", "register"]
