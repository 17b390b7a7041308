"""Checks that run before anything trains: a config that cannot work stops in seconds.

`check` reads no image and builds no network: it resolves the method against the catalogue,
checks model and dataset names and options, the dataset's folder, split files and labels,
the optimiser settings, the run its weights start from and the teacher (recursively),
whether the method can pair the two networks' feature taps with its options, and, given the
run store, that the store can be written and has room for a run's checkpoints.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

from dctkd.config import RunConfig
from dctkd.errors import ConfigError
from dctkd.files import free_mib
from dctkd.losses import method, resolve


def check(cfg: RunConfig, store: str | os.PathLike | None = None) -> None:
    """Reject a configuration that cannot train, reading no images (ConfigError).

    Covers unknown method/model/dataset names, bad optimiser settings, a dataset whose files
    are not where they should be, a missing or mismatched teacher, feature taps a
    map-comparing method cannot pair, and (with `store`) a store that cannot be written or
    is too full for the run's checkpoints. The teacher's chain is checked the same way.
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
        if cfg.init is not None:
            _check_init(cfg, info.image_size)
        if cfg.pretrained == "imagenet":  # offline without the cached file: one line, now
            from dctkd.models.weights import ensure_weights

            ensure_weights(cfg.model)
        _check_files(cfg.data.name, cfg.data.root, json.dumps(cfg.data.options, sort_keys=True))
        if cfg.init is not None:
            check(cfg.init, store)
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
            check(teacher, store)
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
                shapes = (tap_shapes(cfg.model, info.image_size),
                          tap_shapes(teacher.model, info.image_size))
                check_taps(objective.term, *shapes)
                _check_pair(objective.term, cfg.method.options, *shapes)
        if store is not None:
            check_store(cfg, store, info.num_classes)
    except ConfigError:
        raise
    except (ValueError, KeyError, OSError) as err:
        from dctkd.errors import one_line

        raise ConfigError(one_line(err)) from err


def _check_init(cfg: RunConfig, image_size: int) -> None:
    """The run that starts `cfg`'s weights must be the same network at the same image size
    (only its classifier is replaced), and published weights cannot start it as well."""
    from dctkd.data import dataset_info

    init = cfg.init
    if cfg.pretrained is not None:
        raise ValueError(f"pretrained={cfg.pretrained!r} and init both start the weights; "
                         "expected one of them")
    if init.model != cfg.model:
        raise ValueError(f"init is a {init.model} run but model is {cfg.model}; expected the "
                         "same architecture (only the classifier is replaced)")
    size = dataset_info(init.data.name, init.data.options, root=init.data.root).image_size
    if size != image_size:
        raise ValueError(f"init was trained on {size}-px images of {init.data.name} but this "
                         f"run trains on {image_size} px; expected the same image size")


def _check_pair(term: str, options: dict, student_shapes: list, teacher_shapes: list) -> None:
    try:
        method(term).check_pair(options, student_shapes, teacher_shapes)
    except ValueError as err:
        raise ValueError(f"method.options: {err} (the student has {len(student_shapes)} "
                         "taps)") from err


@functools.lru_cache(maxsize=64)
def _check_files(name: str, root: str | None, options: str) -> None:
    """The dataset's folder, split files and labels, checked once per process and setting."""
    from dctkd.data import dataset

    entry = dataset(name)
    if entry.check_files is not None:
        entry.check_files(entry.parse_options(json.loads(options)), root)


def check_store(cfg: RunConfig, store: str | os.PathLike, num_classes: int) -> None:
    """The store (and the run's folder, if it exists) can be written and has room for the
    run's checkpoints (ConfigError)."""
    store = Path(store)
    folder = store / cfg.run_id
    for place in (folder, store) if folder.exists() else (store,):
        existing = place
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
            raise ConfigError(f"the run store {store} cannot be written ({existing} is "
                              "read-only or not a folder); expected a writable folder")
    need, free = checkpoint_mib(cfg.model, num_classes), free_mib(store)
    if free < need:
        raise ConfigError(f"the run store {store} has {free:.0f} MiB free, but a {cfg.model} "
                          f"run needs about {need:.0f} MiB for its checkpoints; free some space "
                          "or choose another store")


@functools.lru_cache(maxsize=32)
def checkpoint_mib(model: str, num_classes: int) -> float:
    """MiB a run's checkpoints take, about: `last.pt` (weights and SGD momentum) and
    `best.pt` in float32, plus a MiB of the rest, counted on a network built on the meta
    device."""
    import torch

    from dctkd.models import build_model

    with torch.device("meta"):
        params = sum(p.numel() for p in build_model(model, num_classes).parameters())
    return 3 * 4 * params / 2**20 + 1


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
    if o.schedule not in ("step", "multistep", "cosine"):
        raise ValueError(f"unknown optim.schedule {o.schedule!r}; expected 'step', 'multistep' "
                         "or 'cosine'")
    if not 0 <= cfg.data.val_fraction < 1:
        raise ValueError(f"data.val_fraction must be in [0, 1), got {cfg.data.val_fraction}")
    if cfg.runtime.amp not in ("auto", "bf16", "fp16", "off"):
        raise ValueError(
            f"unknown runtime.amp {cfg.runtime.amp!r}; expected auto, bf16, fp16 or off"
        )



__all__ = ["ConfigError", "check", "check_store", "check_taps", "checkpoint_mib"]
