"""Profiles: what a report trains, as data (`dctkd/report/profiles/<name>.yaml`).

A profile holds run settings shared by every run and per role (teacher, student), the
datasets, the teacher→student pairs, seeds, the method lists and the settings of each
notebook family. `load_profile` reads one, applies `key=value` overrides and checks every
method and dataset name against the catalogues, so a typo stops before anything trains.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import (
    TypeAdapter,
    ValidationError,
)

from dctkd.data import dataset as dataset_entry
from dctkd.errors import ConfigError
from dctkd.losses import method_names
from dctkd.validation import dotted, first_problem, parse_yaml

from .paths import PROFILE_DIR, list_profiles
from .profile_schema import FAMILY_SETTINGS, TOP_TYPES

DATA_ENV = "DCTKD_DATA"
_TOP_KEYS = {
    "description", "synthetic", "base", "roles", "datasets", "pairs", "seeds",
    "teacher_seed", "methods", "plus_kd", "families", "method_options_by_student",
    "method_settings", "slurm", "claims",
}


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
        """The dataset's title: the profile's own, else the catalogue's."""
        ds = self.datasets[dataset]
        return str(ds.get("title") or dataset_entry(ds["data"]["name"]).title)

    def subdir(self, dataset: str) -> str | None:
        """Folder of `dataset` under the data home: the profile's own, else the catalogue's."""
        ds = self.datasets[dataset]
        return ds["subdir"] if "subdir" in ds else dataset_entry(ds["data"]["name"]).subdir

    def published(self, dataset: str) -> str | None:
        """The dataset's name in the published tables (None if the paper has none)."""
        ds = self.datasets[dataset]
        return ds["published"] if "published" in ds else dataset_entry(
            ds["data"]["name"]).published

    def method_options(self, dataset: str, student: str, method: str) -> dict:
        """Options of `method` for `student` on `dataset`: the profile's per-student ones
        (`method_options_by_student`, e.g. ReviewKD's fusion width for MobileNetV2), then the
        dataset's own `method_options`, later winning."""
        by_student = self.spec.get("method_options_by_student") or {}
        return {**by_student.get(student, {}).get(method, {}),
                **self.datasets[dataset].get("method_options", {}).get(method, {})}

    def method_settings(self, method: str) -> dict:
        """Run settings a student trained with `method` (or `method+kd`) takes on top of its
        role's, e.g. SemCKD's LR: its published weight belongs with LR 0.05."""
        return (self.spec.get("method_settings") or {}).get(method.split("+")[0], {}) or {}

    @property
    def margin(self) -> float:
        """Points of Top-1 inside which two methods count as the same (`claims.margin`)."""
        return float((self.spec.get("claims") or {}).get("margin", 2.0))

    @property
    def primary(self) -> list[tuple[str, str]]:
        """The primary comparisons `(A, B)` of the main table, by row label; `best` stands
        for the best other method alone, chosen on val (`report.claims.primary_endpoints`)."""
        return [tuple(pair) for pair in (self.spec.get("claims") or {}).get("primary", [])]

    def main_methods(self) -> list[str]:
        """Row order of the paper's tables: baseline, methods alone, KD, methods + KD."""
        alone = [m for m in self.spec["methods"] if m != "kd"]
        kd = ["kd"] if "kd" in self.spec["methods"] else []
        return ["none", *alone, *kd, *(f"{m}+kd" for m in self.spec.get("plus_kd", []))]


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
    spec = _read_spec(path)
    pairs = list(overrides.items()) if isinstance(overrides, dict) else [
        _split_override(item) for item in (overrides or [])
    ]
    for key, value in pairs:
        _set_path(spec, key, value)
    _check_types(spec, path, {key.split(".")[0] for key, _ in pairs})
    _validate(spec, path.stem)
    if not data:
        from dctkd.data import data_home

        data = str(data_home())
    return Profile(path.stem, spec, str(Path(data).expanduser()))


def _read_spec(path: Path, seen: tuple[Path, ...] = ()) -> dict:
    """A profile file's keys, laid over those of the profile it `extends` (mappings merged
    key by key, anything else replaced), so a larger profile states only what it adds."""
    spec = parse_yaml(path.read_text(encoding="utf-8"), str(path)) or {}
    if not isinstance(spec, dict):
        raise ConfigError(f"{path}: expected a mapping of profile keys, got {spec!r}")
    parent = spec.pop("extends", None)
    if parent is None:
        return spec
    base = PROFILE_DIR / f"{parent}.yaml"
    if not base.is_file() or base in (*seen, path):
        raise ConfigError(f"{path}: extends: expected one of {list_profiles()} (and no loop), "
                          f"got {parent!r}")
    return _overlay(_read_spec(base, (*seen, path)), spec)


def _overlay(base: dict, layer: dict) -> dict:
    out = dict(base)
    for key, value in layer.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _overlay(out[key], value)
        else:
            out[key] = value
    return out


def _split_override(item: str) -> tuple[str, Any]:
    if "=" not in item:
        raise ValueError(f"profile override {item!r} is not of the form key=value")
    key, raw = item.split("=", 1)
    return key.strip(), parse_yaml(raw, f"--set {key.strip()}")


def _check_types(spec: dict, path: Path, overridden: set[str]) -> None:
    """Each typed key and each family's settings against their declared types (ConfigError).

    The message names the key, what it expects, the value, and where it came from: the
    profile file or `--set`.
    """
    checks = [(key, TOP_TYPES[key], spec[key]) for key in TOP_TYPES if key in spec]
    for fam, settings in (spec.get("families") or {}).items():
        if fam not in FAMILY_SETTINGS:
            raise ConfigError(f"families.{fam}: unknown experiment family; expected one of "
                              f"{sorted(FAMILY_SETTINGS)} "
                              f"({_source(path, overridden, 'families')})")
        checks.append((f"families.{fam}", FAMILY_SETTINGS[fam], settings))
    for key, kind, value in checks:
        try:
            TypeAdapter(kind).validate_python(value)
        except ValidationError as err:
            where, text = first_problem(err, kind, "key")
            raise ConfigError(f"{dotted((key, *where))}: {text} "
                              f"({_source(path, overridden, key.split('.')[0])})") from None


def _source(path: Path, overridden: set[str], key: str) -> str:
    return "--set" if key in overridden else f"in {path}"


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
    known = set(method_names(plus_kd=False))
    for key in ("methods", "plus_kd"):
        bad = [m for m in spec.get(key) or [] if m not in known or m == "none"]
        if bad:
            raise ValueError(f"profile {name!r} {key} names unknown method(s) {bad}; expected "
                             f"some of {sorted(known - {'none'})}")
    bad = [m for m in spec.get("method_settings") or {} if m not in known]
    if bad:
        raise ValueError(f"profile {name!r} method_settings names unknown method(s) {bad}; "
                         f"expected some of {sorted(known)}")
    for student, options in (spec.get("method_options_by_student") or {}).items():
        bad = [m for m in options or {} if m not in known]
        if bad:
            raise ValueError(f"profile {name!r} method_options_by_student.{student} names "
                             f"unknown method(s) {bad}; expected some of {sorted(known)}")
    study = (spec.get("families") or {}).get("kstudy") or {}
    layers = [("", spec.get("roles"))] + [
        (f"families.kstudy.{group}.{key}.", (layer or {}).get("roles"))
        for group in ("rules", "ks") for key, layer in (study.get(group) or {}).items()]
    for where, roles in layers:
        for role, layer in (roles or {}).items():
            pool = (layer or {}).get("init")
            if pool is not None and pool not in spec["datasets"]:
                raise ValueError(f"profile {name!r} {where}roles.{role}.init names dataset "
                                 f"{pool!r}; the profile defines {sorted(spec['datasets'])}")
    for key, ds in spec["datasets"].items():
        if not isinstance(ds, dict) or not isinstance(ds.get("data"), dict):
            raise ValueError(f"profile {name!r} dataset {key!r} needs a 'data' section")
        dataset_entry(ds["data"].get("name", "scenes"))
    for fam, settings in spec["families"].items():
        for ds in settings.get("datasets", [settings.get("dataset")]):
            if ds is not None and ds not in spec["datasets"]:
                raise ValueError(f"profile {name!r} family {fam!r} names dataset {ds!r}; "
                                 f"the profile defines {sorted(spec['datasets'])}")


def dataset_root(profile: Profile, dataset: str) -> str | None:
    """Where `dataset` is read from: its explicit `data.root`, else `<data>/<subdir>`.

    Generated datasets (no `subdir`) have no root.
    """
    ds = profile.datasets[dataset]
    if ds["data"].get("root"):
        return str(ds["data"]["root"])
    subdir = profile.subdir(dataset)
    if subdir is None or profile.data_root is None:
        return None
    return os.path.join(profile.data_root, subdir)


def check_data(profile: Profile, cells: Iterable) -> None:
    """Stop before any training when a dataset the cells need has no folder on disk."""
    for dataset in sorted({c.dataset for c in cells}):
        ds = profile.datasets[dataset]
        if profile.subdir(dataset) is None and not ds["data"].get("root"):
            continue
        root = dataset_root(profile, dataset)
        if root is None:
            raise FileNotFoundError(
                f"dataset {profile.title(dataset)!r} needs a data folder: pass --data DIR "
                f"(or set {DATA_ENV}) to a folder that holds {profile.subdir(dataset)}/")
        if not os.path.isdir(root):
            raise FileNotFoundError(
                f"dataset {profile.title(dataset)!r} expected at {root}, which is not a "
                f"folder; put the dataset there or point --data / {DATA_ENV} elsewhere")
