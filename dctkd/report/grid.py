"""The experiment grid: which runs each notebook needs, and how it labels them.

Each family (`main`, `alpha`, `design`, ...) turns a `Profile` into labelled `Cell`s, each
holding the `RunConfig` of one run. Two notebooks that ask for the same experiment build the
same config, hence the same run id, so the run store trains it once and both read it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace

from dctkd.config import RunConfig
from dctkd.engine.launch import needed_first
from dctkd.losses import TEACHER_LABEL as TEACHER
from dctkd.losses import label as method_label

from .cells import (  # noqa: F401 - re-exported: notebooks and tests build cells through grid
    Cell,
    control_cells,
    default_alpha,
    merge_layers,
    pair_of,
    rescaled,
    role_config,
    stretched,
    student_cell,
    student_config,
    teacher_cell,
    teacher_config,
)
from .profile import Profile


def teachers(profile: Profile) -> list[Cell]:
    """The teacher of each dataset and pair of the main table (after the pre-training run it
    starts from, if any, on the pool it trained on), and, with `seeds`, the same teacher
    recipe trained with other seeds: its spread (the students distil from the `teacher_seed`
    one). See `docs/experiments.md#teachers-and-baselines`.
    """
    f = profile.spec["families"].get("teachers", profile.family("main"))
    main_seed = int(profile.spec.get("teacher_seed", 0))
    pool = ((profile.spec.get("roles") or {}).get("teacher") or {}).get("init")
    out = []
    for ds in f["datasets"]:
        for pair in profile.pairs(ds):
            cell = teacher_cell(profile, "teachers", ds, pair)
            if cell.cfg.init is not None:  # the pre-training run, on its own task
                out.append(replace(cell, dataset=pool, cfg=cell.cfg.init))
            out.append(cell)
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
    return [student_cell(profile, "baselines", ds, pair, "none", seed)
            for ds in datasets for pair in profile.pairs(ds) for seed in profile.seeds]


def main(profile: Profile) -> list[Cell]:
    """Tables F.1–F.3: teacher, baseline, every method alone and + KD, per pair and seed."""
    out = []
    for ds in profile.family("main")["datasets"]:
        for pair in profile.pairs(ds):
            out.append(teacher_cell(profile, "main", ds, pair))
            out += [student_cell(profile, "main", ds, pair, m, seed)
                    for m in profile.main_methods() for seed in profile.seeds]
            out += [c for seed in profile.seeds for c in control_cells(
                profile, "main", ds, pair, seed, profile.family("main").get("controls"))]
    return out


def alpha(profile: Profile) -> list[Cell]:
    """F.4: the DCT weight swept, beside the baseline and teacher of that pair."""
    f = profile.family("alpha")
    ds, pair, method = f["dataset"], pair_of(profile, f["dataset"], f.get("pair", 0)), f["method"]
    out = [teacher_cell(profile, "alpha", ds, pair)]
    for seed in f.get("seeds", profile.seeds):
        out.append(student_cell(profile, "alpha", ds, pair, "none", seed))
        out += [student_cell(profile, "alpha", ds, pair, method, seed, "alpha", float(a),
                              alpha=float(a)) for a in f["alphas"]]
    return out


DESIGN_GROUPS = ("transform", "pred_guide", "levels")


def design(profile: Profile) -> list[Cell]:
    """Design ablations of the DCT term: transform, teacher-prediction guidance, levels.

    Spatial AT joins the transform group as the no-transform reference.
    """
    f = profile.family("design")
    ds, pair = f["dataset"], pair_of(profile, f["dataset"], f.get("pair", 0))
    out = [teacher_cell(profile, "design", ds, pair)]
    for seed in f.get("seeds", profile.seeds):
        out.append(student_cell(profile, "design", ds, pair, "none", seed))
        for group in DESIGN_GROUPS:
            for value, options in (f.get(group) or {}).items():
                out.append(student_cell(profile, "design", ds, pair, "dct", seed, group,
                                         str(value), options=options or {}))
        if f.get("transform"):
            out.append(student_cell(profile, "design", ds, pair, "at", seed, "transform",
                                     "AT (spatial)"))
    return out


def baseline_alpha(profile: Profile) -> list[Cell]:
    """F.5: each baseline's alpha scaled by (1 + p); p = 0 is the main table's run."""
    f = profile.family("baseline_alpha")
    ds, pair = f["dataset"], pair_of(profile, f["dataset"], f.get("pair", 0))
    changes = sorted({0.0, *(float(p) for p in f["changes"])})
    out = [teacher_cell(profile, "baseline_alpha", ds, pair)]
    for seed in f.get("seeds", profile.seeds):
        out.append(student_cell(profile, "baseline_alpha", ds, pair, "none", seed))
        out.append(student_cell(profile, "baseline_alpha", ds, pair, "dct", seed))
        for m in f["methods"]:
            a0 = default_alpha(m)
            out += [student_cell(profile, "baseline_alpha", ds, pair, m, seed, "change", p,
                                  alpha=a0 * (1 + p)) for p in changes]
    return out


def curves(profile: Profile) -> list[Cell]:
    """F.7: every run of one pair whose per-epoch validation accuracy is plotted."""
    f = profile.family("curves")
    ds, pair = f["dataset"], pair_of(profile, f["dataset"], f.get("pair", 0))
    out = [teacher_cell(profile, "curves", ds, pair)]
    out += [student_cell(profile, "curves", ds, pair, m, seed)
            for m in profile.main_methods() for seed in f.get("seeds", profile.seeds)]
    return out


def budget(profile: Profile) -> list[Cell]:
    """Convergence shown by budget: every row of the main table, the teacher included,
    re-trained with `check` × its epochs (schedule stretched); the `methods` also at each of
    `factors`, for accuracy against budget. Factor 1 is the main table's own run.

    See `docs/protocol.md#convergence`.
    """
    f = profile.family("budget")
    ds, pair = f["dataset"], pair_of(profile, f["dataset"], f.get("pair", 0))
    check = float(f.get("check", 2.0))
    seeds = f.get("seeds", profile.seeds)
    curve_labels = {method_label(m) for m in f.get("methods", [])}
    out = []
    for cell in main(profile):
        if (cell.dataset, cell.teacher, cell.student) != (ds, *pair) or (
                cell.label != TEACHER and cell.seed not in seeds):
            continue
        factors = {1.0, check}
        if cell.label in curve_labels:
            factors |= {float(x) for x in f.get("factors", [])}
        out += [rescaled(cell, "budget", factor) for factor in sorted(factors)]
    return out


def regime(profile: Profile) -> list[Cell]:
    """The headline methods in a second regime (`teacher`, `student`: role settings laid over
    the profile's, e.g. a teacher trained from scratch on more images than its students, or
    students on more images), each row also re-trained at `check` × its budget for seed
    `seeds[0]`: does the ordering of the main table hang on the regime?"""
    f = profile.family("regime")
    ds, pair = f["dataset"], pair_of(profile, f["dataset"], f.get("pair", 0))
    seeds = f.get("seeds", profile.seeds)
    check = float(f.get("check", 2.0))
    variant = {"roles": {"teacher": f.get("teacher") or {}, "student": f.get("student") or {}}}
    out = [teacher_cell(profile, "regime", ds, pair, variant)]
    for seed in seeds:
        for m in f["methods"]:
            cell = student_cell(profile, "regime", ds, pair, m, seed, "budget", 1.0,
                                 variant=variant)
            out.append(cell)
            if seed == seeds[0]:
                out.append(rescaled(cell, "regime", check))
    return out


def _selected(profile: Profile, family: str) -> list[Cell]:
    f = profile.family(family)
    ds, pair = f["dataset"], pair_of(profile, f["dataset"], f.get("pair", 0))
    seeds = [f["seed"]] if "seed" in f else f.get("seeds", profile.seeds)
    out = [teacher_cell(profile, family, ds, pair)]
    out += [student_cell(profile, family, ds, pair, m, seed)
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
                    t: int, variant: dict, **kwargs) -> RunConfig:
    """A student distilled from its own teacher (seed `t`), its val split held out with
    that teacher's seed like every student's (`student_config`; `kwargs` its alpha and
    options)."""
    cfg = student_config(profile, ds, pair, method, seed, variant=variant, **kwargs)
    if hasattr(cfg.data, "holdout_seed"):
        cfg = replace(cfg, data=replace(cfg.data, holdout_seed=None if t == seed else t))
    teacher = role_config(profile, ds, "teacher", pair[0], t, variant)
    return cfg if method == "none" else replace(cfg, teacher=teacher)


def kstudy(profile: Profile) -> list[Cell]:
    """Multi- vs single-attention: scenes whose classes need k objects, under each of
    `rules` (`{rule: layer}`: the scenes' `rule` option, presence or layout, and settings
    of its own; without `rules`, the dataset's rule alone),
    for each k and rule the teachers of `teacher_seeds` and every method's students, each
    paired with one teacher (`kstudy_pairing`). `controls` (`{label: {method, alpha,
    options, settings}}`) adds labelled students beside the methods (a DCT variant). A k's
    `methods: {method: layer}` sets one method's students apart (the layer is merged over
    their role settings). With `budget: {factor, seeds}`, the runs of those seeds (their
    teachers included) also re-trained with `factor` x the epochs (`stretched`): cells of
    param `"budget"` with their run's label, listed first, the study's convergence check.
    Every cell's value is its k; its rule is its data's (`study.rule_of`).
    """
    f = profile.family("kstudy")
    ds, pair = f["dataset"], pair_of(profile, f["dataset"], f.get("pair", 0))
    pairing = kstudy_pairing(f, profile)
    budget = f.get("budget") or {}
    factor = float(budget.get("factor", 2.0))
    checked = [int(s) for s in budget.get("seeds", [])]
    students = [(method_label(m), m, {}, {}) for m in f["methods"]] + [
        (label, c["method"], {"alpha": c.get("alpha"), "options": c.get("options")},
         c.get("settings") or {}) for label, c in (f.get("controls") or {}).items()]
    out: list[Cell] = []
    for k, k_layer in sorted(f["ks"].items()):
        for rule, rule_layer in (f.get("rules") or {None: {}}).items():
            named = {"options": {"k": int(k)} | ({"rule": rule} if rule else {})}
            variant = merge_layers(merge_layers(named, k_layer or {}), rule_layer or {})
            by_method = variant.pop("methods", None) or {}  # names checked at profile load
            for t in dict.fromkeys(pairing.values()):
                cfg = role_config(profile, ds, "teacher", pair[0], t, variant)
                out.append(Cell("kstudy", ds, pair[0], pair[1], TEACHER, t, cfg, "k", int(k)))
            for label, m, kwargs, settings in students:
                # A method's own layer over its students' settings (e.g. the budget at which
                # it reaches its plateau); the teachers stay the k's.
                own = merge_layers(variant, {"roles": {"student": merge_layers(
                    by_method.get(m) or {}, settings)}})
                out += [Cell("kstudy", ds, pair[0], pair[1], label, seed, _kstudy_student(
                    profile, ds, pair, m, seed, t, own, **kwargs), "k", int(k))
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
    "budget": budget,
    "regime": regime,
}


# Families a profile need not list: they read another family's settings.
_DERIVED = {"baselines": "main", "teachers": "main"}


def defined_families(profile: Profile) -> set[str]:
    """The families `profile` can build: those it sets, and those derived from them."""
    have = set(profile.spec.get("families", {}))
    return have | {name for name, base in _DERIVED.items() if base in have}


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
    """The distinct runs behind `cells`, the runs each needs first (teachers, the runs whose
    weights start them; at any depth) before it."""
    seen: dict[str, RunConfig] = {}
    students: dict[str, RunConfig] = {}
    for cell in cells:
        for before in needed_first(cell.cfg):
            seen.setdefault(before.run_id, before)
        target = seen if cell.label == TEACHER else students
        target.setdefault(cell.run_id, cell.cfg)
    return list(seen.values()) + [c for rid, c in students.items() if rid not in seen]
