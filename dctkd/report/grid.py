"""The experiment grid: which runs each notebook needs, and how it labels them.

Each family (`main`, `alpha`, `design`, ...) turns a `Profile` into labelled `Cell`s, each
holding the `RunConfig` of one run. Two notebooks that ask for the same experiment build the
same config, hence the same run id, so the run store trains it once and both read it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from dctkd.config import MethodConfig, RunConfig, from_dict, to_dict
from dctkd.losses import TEACHER_LABEL as TEACHER
from dctkd.losses import label as method_label
from dctkd.losses import method as catalogue_entry

from .profile import Profile, dataset_root


def _merge(base: dict, layer: dict | None) -> dict:
    out = copy.deepcopy(base)
    for key, value in (layer or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def role_config(
    profile: Profile, dataset: str, role: str, model: str, seed: int,
    variant: dict | None = None,
) -> RunConfig:
    """A run of `model` in `role` on `dataset`, without teacher or method.

    Layers, later winning: RunConfig defaults, `base`, the dataset's `data`, the role, the
    dataset's own role settings, then `variant` (`{options, roles}` of a k-study entry).
    """
    if role not in ("teacher", "student"):
        raise ValueError(f"role must be 'teacher' or 'student', got {role!r}")
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
        d = _merge(d, layer)
    d.update(model=model, seed=seed)
    d["data"]["root"] = dataset_root(profile, dataset)
    return from_dict(RunConfig, d)


def teacher_config(
    profile: Profile, dataset: str, teacher: str, variant: dict | None = None
) -> RunConfig:
    return role_config(profile, dataset, "teacher", teacher,
                       int(profile.spec.get("teacher_seed", 0)), variant)


def student_config(
    profile: Profile, dataset: str, pair: tuple[str, str], method: str, seed: int,
    alpha: float | None = None, options: dict | None = None, variant: dict | None = None,
) -> RunConfig:
    """A student of `pair` trained with `method` (`"none"` = the baseline, no teacher)."""
    method_label(method)
    cfg = role_config(profile, dataset, "student", pair[1], seed, variant)
    if method == "none":
        return cfg
    base = method.split("+")[0]
    opts = {**profile.method_options(dataset, pair[1], base), **(options or {})}
    m = MethodConfig(name=method, alpha=alpha, options=opts)
    settings = profile.method_settings(method)
    if settings:
        cfg = from_dict(RunConfig, _merge(to_dict(cfg), settings))
    return replace(cfg, teacher=teacher_config(profile, dataset, pair[0], variant), method=m)


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
            "model": self.cfg.model, "pretrained": self.cfg.pretrained,
            "method": "teacher" if self.label == TEACHER else self.cfg.method.name,
            "seed": self.seed, "param": self.param, "value": self.value, "run_id": self.run_id,
        }


def _pair(profile: Profile, dataset: str, index: int) -> tuple[str, str]:
    pairs = profile.pairs(dataset)
    if not 0 <= index < len(pairs):
        raise ValueError(f"pair index {index} is out of range for dataset {dataset!r}, "
                         f"which has {len(pairs)} pair(s)")
    return pairs[index]


def _teacher_cell(profile: Profile, family: str, dataset: str, pair: tuple[str, str],
                  variant: dict | None = None, param: str | None = None,
                  value: Any = None) -> Cell:
    cfg = teacher_config(profile, dataset, pair[0], variant)
    return Cell(family, dataset, pair[0], pair[1], TEACHER, cfg.seed, cfg, param, value)


def _student_cell(profile: Profile, family: str, dataset: str, pair: tuple[str, str],
                  method: str, seed: int, param: str | None = None, value: Any = None,
                  **kwargs) -> Cell:
    cfg = student_config(profile, dataset, pair, method, seed, **kwargs)
    return Cell(family, dataset, pair[0], pair[1], method_label(method), seed, cfg, param, value)


def teachers(profile: Profile) -> list[Cell]:
    """The teacher of each dataset and pair of the main table, and, with `seeds`, the same
    teacher recipe trained with other seeds: its spread (the students distil from the
    `teacher_seed` one). See `docs/experiments.md#teachers-and-baselines`.
    """
    f = profile.spec["families"].get("teachers", profile.family("main"))
    main_seed = int(profile.spec.get("teacher_seed", 0))
    out = []
    for ds in f["datasets"]:
        for pair in profile.pairs(ds):
            out.append(_teacher_cell(profile, "teachers", ds, pair))
            for seed in f.get("seeds", []):
                if int(seed) != main_seed:
                    cfg = role_config(profile, ds, "teacher", pair[0], int(seed))
                    out.append(Cell("teachers", ds, pair[0], pair[1], TEACHER, cfg.seed, cfg))
    return out


def baselines(profile: Profile) -> list[Cell]:
    """The students trained alone, per dataset, pair and seed.

    See `docs/experiments.md#teachers-and-baselines`.
    """
    datasets = profile.family("main")["datasets"]
    return [_student_cell(profile, "baselines", ds, pair, "none", seed)
            for ds in datasets for pair in profile.pairs(ds) for seed in profile.seeds]


def main(profile: Profile) -> list[Cell]:
    """Tables F.1–F.3: teacher, baseline, every method alone and + KD, per pair and seed."""
    out = []
    for ds in profile.family("main")["datasets"]:
        for pair in profile.pairs(ds):
            out.append(_teacher_cell(profile, "main", ds, pair))
            out += [_student_cell(profile, "main", ds, pair, m, seed)
                    for m in profile.main_methods() for seed in profile.seeds]
    return out


def alpha(profile: Profile) -> list[Cell]:
    """F.4: the DCT weight swept, beside the baseline and teacher of that pair."""
    f = profile.family("alpha")
    ds, pair, method = f["dataset"], _pair(profile, f["dataset"], f.get("pair", 0)), f["method"]
    out = [_teacher_cell(profile, "alpha", ds, pair)]
    for seed in f.get("seeds", profile.seeds):
        out.append(_student_cell(profile, "alpha", ds, pair, "none", seed))
        out += [_student_cell(profile, "alpha", ds, pair, method, seed, "alpha", float(a),
                              alpha=float(a)) for a in f["alphas"]]
    return out


DESIGN_GROUPS = ("transform", "pred_guide", "levels")


def design(profile: Profile) -> list[Cell]:
    """Design ablations of the DCT term: transform, teacher-prediction guidance, levels.

    Spatial AT joins the transform group as the no-transform reference.
    """
    f = profile.family("design")
    ds, pair = f["dataset"], _pair(profile, f["dataset"], f.get("pair", 0))
    out = [_teacher_cell(profile, "design", ds, pair)]
    for seed in f.get("seeds", profile.seeds):
        out.append(_student_cell(profile, "design", ds, pair, "none", seed))
        for group in DESIGN_GROUPS:
            for value, options in (f.get(group) or {}).items():
                out.append(_student_cell(profile, "design", ds, pair, "dct", seed, group,
                                         str(value), options=options or {}))
        if f.get("transform"):
            out.append(_student_cell(profile, "design", ds, pair, "at", seed, "transform",
                                     "AT (spatial)"))
    return out


def baseline_alpha(profile: Profile) -> list[Cell]:
    """F.5: each baseline's alpha scaled by (1 + p); p = 0 is the main table's run."""
    f = profile.family("baseline_alpha")
    ds, pair = f["dataset"], _pair(profile, f["dataset"], f.get("pair", 0))
    changes = sorted({0.0, *(float(p) for p in f["changes"])})
    out = [_teacher_cell(profile, "baseline_alpha", ds, pair)]
    for seed in f.get("seeds", profile.seeds):
        out.append(_student_cell(profile, "baseline_alpha", ds, pair, "none", seed))
        out.append(_student_cell(profile, "baseline_alpha", ds, pair, "dct", seed))
        for m in f["methods"]:
            a0 = default_alpha(m)
            out += [_student_cell(profile, "baseline_alpha", ds, pair, m, seed, "change", p,
                                  alpha=a0 * (1 + p)) for p in changes]
    return out


def curves(profile: Profile) -> list[Cell]:
    """F.7: every run of one pair whose per-epoch validation accuracy is plotted."""
    f = profile.family("curves")
    ds, pair = f["dataset"], _pair(profile, f["dataset"], f.get("pair", 0))
    out = [_teacher_cell(profile, "curves", ds, pair)]
    out += [_student_cell(profile, "curves", ds, pair, m, seed)
            for m in profile.main_methods() for seed in f.get("seeds", profile.seeds)]
    return out


def _selected(profile: Profile, family: str) -> list[Cell]:
    f = profile.family(family)
    ds, pair = f["dataset"], _pair(profile, f["dataset"], f.get("pair", 0))
    seeds = [f["seed"]] if "seed" in f else f.get("seeds", profile.seeds)
    out = [_teacher_cell(profile, family, ds, pair)]
    out += [_student_cell(profile, family, ds, pair, m, seed)
            for m in f["methods"] for seed in seeds]
    return out


def method(profile: Profile) -> list[Cell]:
    """A teacher and a DCT student whose maps and spectra illustrate the method."""
    return _selected(profile, "method")


def per_class(profile: Profile) -> list[Cell]:
    """G13: teacher and a few students whose per-class accuracy and confusions are shown."""
    return _selected(profile, "per_class")


def attention(profile: Profile) -> list[Cell]:
    """Teacher and the students whose attention is compared with the teacher's (F.6, F.8)."""
    return _selected(profile, "attention")


def kstudy_pairing(f: dict, profile: Profile) -> dict[int, int]:
    """`{student seed: teacher seed}` of the k-study: the i-th of `seeds` distils from the
    (i mod T)-th of `teacher_seeds` (default: the profile's `teacher_seed`), so the students
    of one k spread evenly over that k's T teachers and a gain can be averaged per teacher."""
    teachers = [int(t) for t in f.get("teacher_seeds") or [profile.spec.get("teacher_seed", 0)]]
    seeds = [int(s) for s in f.get("seeds", profile.seeds)]
    return {s: teachers[i % len(teachers)] for i, s in enumerate(seeds)}


def _kstudy_student(profile: Profile, ds: str, pair: tuple[str, str], method: str, seed: int,
                    t: int, variant: dict) -> RunConfig:
    """A student distilled from its own teacher (seed `t`), its val split held out with
    that teacher's seed like every student's (`student_config`)."""
    cfg = student_config(profile, ds, pair, method, seed, variant=variant)
    if hasattr(cfg.data, "holdout_seed"):
        cfg = replace(cfg, data=replace(cfg.data, holdout_seed=None if t == seed else t))
    teacher = role_config(profile, ds, "teacher", pair[0], t, variant)
    return cfg if method == "none" else replace(cfg, teacher=teacher)


def kstudy(profile: Profile) -> list[Cell]:
    """Multi- vs single-attention: scenes whose classes need k objects, for each k the
    teachers of `teacher_seeds` and every method's students, each paired with one teacher
    (`kstudy_pairing`). With `budget: {factor, seeds}`, the runs of those seeds (their
    teachers included) also re-trained with `factor` x the epochs (`stretched`): cells of
    param `"budget"` with their run's label, listed first, the study's convergence check.
    """
    f = profile.family("kstudy")
    ds, pair = f["dataset"], _pair(profile, f["dataset"], f.get("pair", 0))
    pairing = kstudy_pairing(f, profile)
    budget = f.get("budget") or {}
    factor = float(budget.get("factor", 2.0))
    checked = [int(s) for s in budget.get("seeds", [])]
    out: list[Cell] = []
    for k, variant in sorted(f["ks"].items()):
        variant = _merge({"options": {"k": int(k)}}, variant or {})
        for t in dict.fromkeys(pairing.values()):
            cfg = role_config(profile, ds, "teacher", pair[0], t, variant)
            out.append(Cell("kstudy", ds, pair[0], pair[1], TEACHER, t, cfg, "k", int(k)))
        for m in f["methods"]:
            out += [Cell("kstudy", ds, pair[0], pair[1], method_label(m), seed,
                         _kstudy_student(profile, ds, pair, m, seed, t, variant), "k", int(k))
                    for seed, t in pairing.items()]
    their_teachers = {pairing[s] for s in checked if s in pairing}
    longer = [c for c in out if c.seed in (their_teachers if c.label == TEACHER else checked)]
    return [replace(c, param="budget", cfg=stretched(c.cfg, factor)) for c in longer] + out


FAMILIES: dict[str, Callable[[Profile], list[Cell]]] = {
    "teachers": teachers,
    "baselines": baselines,
    "main": main,
    "method": method,
    "alpha": alpha,
    "design": design,
    "baseline_alpha": baseline_alpha,
    "curves": curves,
    "per_class": per_class,
    "attention": attention,
    "kstudy": kstudy,
}


def grid(profile: Profile, families: Iterable[str]) -> list[Cell]:
    """Every cell of the named families, in order."""
    out = []
    for name in families:
        if name not in FAMILIES:
            raise ValueError(f"unknown experiment family {name!r}; expected one of "
                             f"{sorted(FAMILIES)}")
        out += FAMILIES[name](profile)
    return out


def unique_configs(cells: Iterable[Cell]) -> list[RunConfig]:
    """The distinct runs behind `cells`, teachers (at any depth) before their students."""
    seen: dict[str, RunConfig] = {}
    students: dict[str, RunConfig] = {}
    for cell in cells:
        cfg = cell.cfg
        chain = []
        while cfg.teacher is not None:
            chain.append(cfg.teacher)
            cfg = cfg.teacher
        for t in reversed(chain):
            seen.setdefault(t.run_id, t)
        target = seen if cell.label == TEACHER else students
        target.setdefault(cell.run_id, cell.cfg)
    return list(seen.values()) + [c for rid, c in students.items() if rid not in seen]
