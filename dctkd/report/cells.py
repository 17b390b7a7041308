"""One labelled run of a report: how its config is layered from a profile, and its label.

`role_config` lays a profile's settings over the `RunConfig` defaults; `teacher_config` and
`student_config` add the pair, the method and the teacher; `stretched` trains a config for a
multiple of its budget; a `Cell` is a config with the row and column it fills in a notebook.
The experiment families of `grid` are built from these.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import Any

from dctkd.config import MethodConfig, RunConfig, from_dict, to_dict
from dctkd.losses import TEACHER_LABEL as TEACHER
from dctkd.losses import label as method_label
from dctkd.losses import method as catalogue_entry

from .profile import Profile, dataset_root


def merge_layers(base: dict, layer: dict | None) -> dict:
    out = copy.deepcopy(base)
    for key, value in (layer or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_layers(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def role_config(
    profile: Profile, dataset: str, role: str, model: str, seed: int,
    variant: dict | None = None,
) -> RunConfig:
    """A run of `model` in `role` on `dataset`, without teacher or method.

    Layers, later winning: RunConfig defaults, `base`, the dataset's `data`, the role, the
    dataset's own role settings, then `variant` (`{options, roles}` of a k-study entry). A
    layer's `init: <dataset>` starts the run from a `pretrain` run of the same model on that
    dataset (the profile's `teacher_seed`; one for every run that names it), as the paper's
    teachers start from ImageNet (docs/protocol.md#pre-training).
    """
    if role not in ("teacher", "student", "pretrain"):
        raise ValueError(f"role must be 'teacher', 'student' or 'pretrain', got {role!r}")
    ds = profile.datasets[dataset]
    variant = variant or {}
    d = to_dict(RunConfig())
    for layer in (
        profile.spec.get("base"),
        {"data": ds["data"]},
        profile.spec.get("roles", {}).get(role),
        ds.get("roles", {}).get(role),
        {"data": {"options": variant.get("options", {})}},
        variant.get("roles", {}).get(role),
    ):
        d = merge_layers(d, layer)
    d.update(model=model, seed=seed)
    d["data"]["root"] = dataset_root(profile, dataset)
    pool = d.pop("init", None)
    if pool is not None:
        d["init"] = to_dict(role_config(profile, pool, "pretrain", model,
                                        int(profile.spec.get("teacher_seed", 0))))
    return from_dict(RunConfig, d)


def teacher_config(
    profile: Profile, dataset: str, teacher: str, variant: dict | None = None
) -> RunConfig:
    return role_config(profile, dataset, "teacher", teacher,
                       int(profile.spec.get("teacher_seed", 0)), variant)


def student_config(
    profile: Profile, dataset: str, pair: tuple[str, str], method: str, seed: int,
    alpha: float | None = None, options: dict | None = None, variant: dict | None = None,
    settings: dict | None = None,
) -> RunConfig:
    """A student of `pair` trained with `method` (`"none"` = the baseline, no teacher).

    Every student, the one trained alone included, holds out its val split with its
    teacher's seed: the teacher's training images are then the students' training pool,
    and no student selects its checkpoint on images its teacher learnt. `settings` are run
    fields of this student's own (a control row's LR, a regime's image count), laid over
    everything else.
    """
    method_label(method)
    cfg = role_config(profile, dataset, "student", pair[1], seed, variant)
    teacher = teacher_config(profile, dataset, pair[0], variant)
    if teacher.seed != seed:
        cfg = replace(cfg, data=replace(cfg.data, holdout_seed=teacher.seed))
    layers = [profile.method_settings(method) if method != "none" else {}, settings or {}]
    if any(layers):
        cfg = from_dict(RunConfig, merge_layers(merge_layers(to_dict(cfg), layers[0]), layers[1]))
    if method == "none":
        return cfg
    base = method.split("+")[0]
    opts = {**profile.method_options(dataset, pair[1], base), **(options or {})}
    m = MethodConfig(name=method, alpha=alpha, options=opts)
    return replace(cfg, teacher=teacher, method=m)


def stretched(cfg: RunConfig, factor: float) -> RunConfig:
    """`cfg` trained for `factor` × its epochs with every LR milestone (or step) moved in
    proportion: the same schedule, longer or shorter. Its teacher is left as it is.

    The test of a plateau is more budget: a student has converged when twice its epochs gain
    at most a couple of points (docs/protocol.md#convergence).
    """
    o = cfg.optim
    changes: dict[str, Any] = {"epochs": max(1, round(o.epochs * factor))}
    if o.schedule == "multistep":
        changes["milestones"] = tuple(max(1, round(m * factor)) for m in o.milestones)
    elif o.schedule == "step":
        changes["step_size"] = max(1, round(o.step_size * factor))
    return replace(cfg, optim=replace(o, **changes))


def default_alpha(name: str) -> float:
    """The published alpha of method `name` (the catalogue's `Method.alpha`)."""
    return float(catalogue_entry(name).alpha)


@dataclass(frozen=True, eq=False)
class Cell:
    """One labelled run of a notebook: where it sits in a table or figure, and its config.

    `teacher`/`student` name the pair the cell belongs to (a teacher's own cell carries its
    pair too, for the column it heads); `param`/`value` the ablated quantity, if any.
    """

    family: str
    dataset: str
    teacher: str | None
    student: str
    label: str
    seed: int
    cfg: RunConfig
    param: str | None = None
    value: Any = None

    @property
    def run_id(self) -> str:
        return self.cfg.run_id

    @property
    def pair(self) -> str:
        return f"{self.teacher} → {self.student}" if self.teacher else self.student

    def row(self) -> dict:
        return {
            "family": self.family, "dataset": self.dataset, "pair": self.pair,
            "teacher": self.teacher, "student": self.student, "label": self.label,
            "model": self.cfg.model,
            "pretrained": self.cfg.pretrained or (self.cfg.init.run_id if self.cfg.init else None),
            "method": "teacher" if self.label == TEACHER else self.cfg.method.name,
            "seed": self.seed, "param": self.param, "value": self.value, "run_id": self.run_id,
        }


def pair_of(profile: Profile, dataset: str, index: int) -> tuple[str, str]:
    pairs = profile.pairs(dataset)
    if not 0 <= index < len(pairs):
        raise ValueError(f"pair index {index} is out of range for dataset {dataset!r}, "
                         f"which has {len(pairs)} pair(s)")
    return pairs[index]


def teacher_cell(profile: Profile, family: str, dataset: str, pair: tuple[str, str],
                  variant: dict | None = None, param: str | None = None,
                  value: Any = None) -> Cell:
    cfg = teacher_config(profile, dataset, pair[0], variant)
    return Cell(family, dataset, pair[0], pair[1], TEACHER, cfg.seed, cfg, param, value)


def student_cell(profile: Profile, family: str, dataset: str, pair: tuple[str, str],
                  method: str, seed: int, param: str | None = None, value: Any = None,
                  label: str | None = None, **kwargs) -> Cell:
    cfg = student_config(profile, dataset, pair, method, seed, **kwargs)
    return Cell(family, dataset, pair[0], pair[1], label or method_label(method), seed, cfg,
                param, value)


def control_cells(profile: Profile, family: str, dataset: str, pair: tuple[str, str],
                   seed: int, controls: dict | None) -> list[Cell]:
    """The rows a family adds beside its methods, each a method under settings of its own:
    `{label: {method, alpha, options, settings}}` (e.g. KD at the + KD rows' weight, CRD with
    the original's uncapped K, the student alone at SemCKD's LR)."""
    return [student_cell(profile, family, dataset, pair, spec["method"], seed, label=label,
                          alpha=spec.get("alpha"), options=spec.get("options"),
                          settings=spec.get("settings"))
            for label, spec in (controls or {}).items()]


def rescaled(cell: Cell, family: str, factor: float) -> Cell:
    """`cell` trained with `factor` × its budget (`stretched`), labelled by the factor."""
    return replace(cell, family=family, cfg=stretched(cell.cfg, factor), param="budget",
                   value=float(factor))
