"""Checks that run before anything trains: a config that cannot work stops in seconds.

`check` reads no image and builds no network: it resolves the method against the catalogue,
checks model and dataset names and options, the optimiser settings, the teacher (recursively)
and whether the method can pair the two networks' feature taps.
"""

from __future__ import annotations

from dctkd.config import RunConfig
from dctkd.losses import method, resolve

from .runtime import ConfigError


def check(cfg: RunConfig) -> None:
    """Reject a configuration that cannot train, reading no images (ConfigError).

    Covers unknown method/model/dataset names, bad optimiser settings, a missing or
    mismatched teacher, and feature taps a map-comparing method cannot pair.
    """
    from dctkd.data import dataset_info
    from dctkd.models import MODEL_NAMES, tap_shapes

    try:
        objective = resolve(cfg.method)
        if cfg.model not in MODEL_NAMES:
            raise ValueError(
                f"unknown model {cfg.model!r}; expected one of {', '.join(MODEL_NAMES)}"
            )
        _check_optim(cfg)
        info = dataset_info(cfg.data.name, cfg.data.options, root=cfg.data.root)
        teacher = cfg.teacher
        if objective.needs_teacher and teacher is None:
            raise ValueError(
                f"method {cfg.method.name!r} needs a teacher; set teacher.model (and its data)"
            )
        if teacher is not None and not objective.needs_teacher:
            raise ValueError(
                f"method {cfg.method.name!r} uses no teacher; remove the teacher from the config"
            )
        if teacher is not None:
            check(teacher)
            t_info = dataset_info(teacher.data.name, teacher.data.options, root=teacher.data.root)
            if (teacher.data.name, t_info.num_classes, t_info.image_size) != (
                cfg.data.name, info.num_classes, info.image_size
            ):
                raise ValueError(
                    f"the teacher was trained on {teacher.data.name} ({t_info.num_classes} "
                    f"classes, {t_info.image_size} px) but the student trains on "
                    f"{cfg.data.name} ({info.num_classes} classes, {info.image_size} px); "
                    "expected the same dataset"
                )
            if objective.term is not None:
                check_taps(
                    objective.term,
                    tap_shapes(cfg.model, info.image_size),
                    tap_shapes(teacher.model, info.image_size),
                )
    except ConfigError:
        raise
    except (ValueError, KeyError) as err:
        raise ConfigError(str(err).strip("'\"")) from err


def check_taps(
    term: str,
    student_shapes: list[tuple[int, int, int]],
    teacher_shapes: list[tuple[int, int, int]],
) -> None:
    """Stop early when method `term` cannot pair the student's and the teacher's feature taps.

    Shapes are `(C, H, W)` per tap; the method's catalogue entry says what it needs.
    """
    taps = method(term).needs.taps
    if taps == "any":
        return
    if len(student_shapes) != len(teacher_shapes):
        raise ValueError(
            f"method {term!r} pairs feature maps tap by tap, but the student has "
            f"{len(student_shapes)} taps and the teacher {len(teacher_shapes)}; pick a teacher "
            "of the same family"
        )
    if taps == "same_size":
        for i, (s, t) in enumerate(zip(student_shapes, teacher_shapes, strict=True)):
            if tuple(s[1:]) != tuple(t[1:]):
                raise ValueError(
                    f"method {term!r} needs equal map sizes at every tap, but tap {i} is "
                    f"{s[1]}x{s[2]} in the student and {t[1]}x{t[2]} in the teacher"
                )


def _check_optim(cfg: RunConfig) -> None:
    o = cfg.optim
    if o.epochs < 1 or o.batch_size < 1 or o.eval_batch_size < 1:
        raise ValueError("optim.epochs, optim.batch_size and optim.eval_batch_size must be >= 1")
    if o.lr <= 0:
        raise ValueError(f"optim.lr must be positive, got {o.lr}")
    if o.schedule not in ("step", "multistep"):
        raise ValueError(f"unknown optim.schedule {o.schedule!r}; expected 'step' or 'multistep'")
    if not 0 <= cfg.data.val_fraction < 1:
        raise ValueError(f"data.val_fraction must be in [0, 1), got {cfg.data.val_fraction}")
    if cfg.runtime.amp not in ("auto", "bf16", "fp16", "off"):
        raise ValueError(
            f"unknown runtime.amp {cfg.runtime.amp!r}; expected auto, bf16, fp16 or off"
        )



__all__ = ["ConfigError", "check", "check_taps"]
