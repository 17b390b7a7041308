"""Profiles and the experiment grid: which runs each notebook needs, and how it labels them.

A profile (`dctkd/profiles/<name>.yaml`) is data: run settings shared by every run and per
role (teacher, student), the datasets, the teacher→student pairs, seeds, method lists and the
settings of each notebook family. The functions here turn it into labelled `RunConfig`s
(`Cell`s). Two notebooks that ask for the same experiment build the same config, hence the
same run id, so the run store trains it once and both read it.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from dctkd.config import MethodConfig, RunConfig, from_dict, to_dict

PROFILE_DIR = Path(__file__).with_name("profiles")
DATA_ENV = "DCTKD_DATA"

METHOD_LABELS = {
    "none": "Baseline",
    "kd": "KD",
    "at": "AT",
    "pkt": "PKT",
    "vid": "VID",
    "crd": "CRD",
    "ckd": "CKD",
    "review": "Review",
    "dct": "DCT",
}
TEACHER = "Teacher"
_TOP_KEYS = {
    "description", "synthetic", "base", "roles", "datasets", "pairs", "seeds",
    "teacher_seed", "methods", "plus_kd", "families",
}


def method_label(name: str) -> str:
    """`"dct+kd"` → `"DCT + KD"`, `"none"` → `"Baseline"`: the row names of the paper's tables."""
    base, _, extra = name.partition("+")
    if base not in METHOD_LABELS or extra not in ("", "kd"):
        raise ValueError(f"unknown method {name!r}; expected one of {sorted(METHOD_LABELS)}"
                         " optionally followed by '+kd'")
    return METHOD_LABELS[base] + (" + KD" if extra else "")


def method_name(label: str) -> str:
    """Inverse of `method_label` (`"AT + KD"` → `"at+kd"`)."""
    base, plus, _ = label.partition(" + KD")
    for name, text in METHOD_LABELS.items():
        if text == base:
            return name + ("+kd" if plus else "")
    raise ValueError(f"unknown method label {label!r}; expected one of "
                     f"{sorted(METHOD_LABELS.values())} optionally followed by ' + KD'")


@dataclass(frozen=True, eq=False)
class Profile:
    """A loaded profile: its YAML `spec` after overrides, and where real datasets live."""

    name: str
    spec: dict
    data_root: str | None = None

    @property
    def synthetic(self) -> bool:
        return bool(self.spec.get("synthetic", False))

    @property
    def description(self) -> str:
        return str(self.spec.get("description", "")).strip()

    @property
    def seeds(self) -> list[int]:
        return list(self.spec["seeds"])

    @property
    def datasets(self) -> dict[str, dict]:
        return self.spec["datasets"]

    def family(self, name: str) -> dict:
        fams = self.spec.get("families", {})
        if name not in fams:
            raise ValueError(f"profile {self.name!r} has no settings for family {name!r}; "
                             f"it defines {sorted(fams)}")
        return fams[name]

    def pairs(self, dataset: str) -> list[tuple[str, str]]:
        """`[(teacher, student), ...]` for `dataset` (its own list, else the profile's)."""
        pairs = self.datasets[dataset].get("pairs", self.spec["pairs"])
        return [(p["teacher"], p["student"]) for p in pairs]

    def title(self, dataset: str) -> str:
        return str(self.datasets[dataset].get("title", dataset))

    def main_methods(self) -> list[str]:
        """Row order of the paper's tables: baseline, methods alone, KD, methods + KD."""
        alone = [m for m in self.spec["methods"] if m != "kd"]
        kd = ["kd"] if "kd" in self.spec["methods"] else []
        return ["none", *alone, *kd, *(f"{m}+kd" for m in self.spec.get("plus_kd", []))]


def list_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))


def load_profile(
    name: str, overrides: Iterable[str] | dict | None = None, data: str | None = None
) -> Profile:
    """Read a built-in profile (or a YAML path) and apply `dotted.key=value` overrides.

    `data` is the folder holding one sub-folder per real dataset; it defaults to the
    `DCTKD_DATA` environment variable, else the project's `data/` folder. Values of
    overrides are parsed as YAML (`seeds=[0]`, `roles.student.optim.epochs=5`).
    """
    path = Path(name) if name.endswith((".yaml", ".yml")) else PROFILE_DIR / f"{name}.yaml"
    if not path.is_file():
        raise ValueError(f"unknown profile {name!r}; expected one of {list_profiles()} "
                         "or the path of a profile YAML file")
    with open(path) as fh:
        spec = yaml.safe_load(fh) or {}
    pairs = list(overrides.items()) if isinstance(overrides, dict) else [
        _split_override(item) for item in (overrides or [])
    ]
    for key, value in pairs:
        _set_path(spec, key, value)
    _validate(spec, path.stem)
    if not data:
        from dctkd.data.scene_datasets import data_home

        data = str(data_home())
    return Profile(path.stem, spec, str(Path(data).expanduser()))


def _split_override(item: str) -> tuple[str, Any]:
    if "=" not in item:
        raise ValueError(f"profile override {item!r} is not of the form key=value")
    key, raw = item.split("=", 1)
    return key.strip(), yaml.safe_load(raw)


def _set_path(spec: dict, key: str, value: Any) -> None:
    parts = key.split(".")
    if parts[0] not in _TOP_KEYS:
        raise ValueError(f"unknown profile key {key!r}; expected one of {sorted(_TOP_KEYS)}")
    node = spec
    for part in parts[:-1]:
        part = _existing_key(node, part)
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ValueError(f"profile key {key!r}: {part!r} is a value, not a section")
        node = child
    node[_existing_key(node, parts[-1])] = value


def _existing_key(node: dict, part: str) -> Any:
    # YAML mappings such as `ks: {1: ...}` have integer keys; `ks.1` on the command line is text.
    if part not in node and part.lstrip("-").isdigit() and int(part) in node:
        return int(part)
    return part


def _validate(spec: dict, name: str) -> None:
    unknown = set(spec) - _TOP_KEYS
    if unknown:
        raise ValueError(f"profile {name!r} has unknown key(s) {sorted(unknown)}; "
                         f"expected some of {sorted(_TOP_KEYS)}")
    for key in ("datasets", "pairs", "seeds", "methods", "families"):
        if not spec.get(key):
            raise ValueError(f"profile {name!r} must define a non-empty {key!r}")
    for fam, settings in spec["families"].items():
        for ds in settings.get("datasets", [settings.get("dataset")]):
            if ds is not None and ds not in spec["datasets"]:
                raise ValueError(f"profile {name!r} family {fam!r} names dataset {ds!r}; "
                                 f"the profile defines {sorted(spec['datasets'])}")


# ----------------------------------------------------------------------------- data roots


def dataset_root(profile: Profile, dataset: str) -> str | None:
    """Where `dataset` is read from: its explicit `data.root`, else `<data>/<subdir>`.

    Generated datasets (no `subdir`) have no root.
    """
    ds = profile.datasets[dataset]
    if ds["data"].get("root"):
        return str(ds["data"]["root"])
    if ds.get("subdir") is None or profile.data_root is None:
        return None
    return os.path.join(profile.data_root, ds["subdir"])


def check_data(profile: Profile, cells: Iterable[Cell]) -> None:
    """Stop before any training when a dataset the cells need has no folder on disk."""
    for dataset in sorted({c.dataset for c in cells}):
        ds = profile.datasets[dataset]
        if ds.get("subdir") is None and not ds["data"].get("root"):
            continue
        root = dataset_root(profile, dataset)
        if root is None:
            raise FileNotFoundError(
                f"dataset {profile.title(dataset)!r} needs a data folder: pass --data DIR "
                f"(or set {DATA_ENV}) to a folder that holds {ds['subdir']}/")
        if not os.path.isdir(root):
            raise FileNotFoundError(
                f"dataset {profile.title(dataset)!r} expected at {root}, which is not a "
                f"folder; put the dataset there or point --data / {DATA_ENV} elsewhere")


# ----------------------------------------------------------------------------- configs


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
    opts = {**profile.datasets[dataset].get("method_options", {}).get(base, {}), **(options or {})}
    m = canonical_method(MethodConfig(name=method, alpha=alpha, options=opts))
    return replace(cfg, teacher=teacher_config(profile, dataset, pair[0], variant), method=m)


def canonical_method(method: MethodConfig) -> MethodConfig:
    """Drop an alpha or option that equals the published default, so the run is shared.

    `alpha=1` for DCT is the same experiment as `alpha=None`; writing it out would change the
    config hash and train the run twice.
    """
    from dctkd.methods import resolve

    default = resolve(MethodConfig(name=method.name))
    alpha = method.alpha
    if alpha is not None and default.alpha is not None and math.isclose(alpha, default.alpha):
        alpha = None
    defaults = dict(getattr(default, "options", None) or {})
    options = {k: v for k, v in method.options.items() if k not in defaults or defaults[k] != v}
    return replace(method, alpha=alpha, options=options)


def default_alpha(method: str) -> float:
    """The published alpha of `method` (SPEC B.1), from `dctkd.methods`."""
    from dctkd.methods import resolve

    return float(resolve(MethodConfig(name=method)).alpha)


# ----------------------------------------------------------------------------- cells


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
    """One teacher per dataset and pair of the main table (SPEC G1)."""
    datasets = profile.spec["families"].get("teachers", profile.family("main"))["datasets"]
    return [_teacher_cell(profile, "teachers", ds, pair)
            for ds in datasets for pair in profile.pairs(ds)]


def baselines(profile: Profile) -> list[Cell]:
    """The students trained alone, per dataset, pair and seed (SPEC G2)."""
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
    """A teacher and a DCT student whose maps and spectra illustrate the method (SPEC A)."""
    return _selected(profile, "method")


def per_class(profile: Profile) -> list[Cell]:
    """G13: teacher and a few students whose per-class accuracy and confusions are shown."""
    return _selected(profile, "per_class")


def attention(profile: Profile) -> list[Cell]:
    """Teacher and the students whose attention is compared with the teacher's (F.6, F.8)."""
    return _selected(profile, "attention")


def kstudy(profile: Profile) -> list[Cell]:
    """Multi- vs single-attention: scenes with k class-defining objects, a teacher per k."""
    f = profile.family("kstudy")
    ds, pair = f["dataset"], _pair(profile, f["dataset"], f.get("pair", 0))
    out = []
    for k, variant in sorted(f["ks"].items()):
        variant = _merge({"options": {"k": int(k)}}, variant or {})
        out.append(_teacher_cell(profile, "kstudy", ds, pair, variant, "k", int(k)))
        out += [_student_cell(profile, "kstudy", ds, pair, m, seed, "k", int(k), variant=variant)
                for m in f["methods"] for seed in f.get("seeds", profile.seeds)]
    return out


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


def frame(cells: Iterable[Cell]):
    """A `pandas.DataFrame` with one row per cell (labels and run id, no metrics)."""
    import pandas as pd

    return pd.DataFrame([c.row() for c in cells])
