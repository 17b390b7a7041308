"""Typed, frozen experiment configs: YAML in and out, `key=value` overrides, a stable hash.

A `RunConfig` says everything that decides a run's result. Its hash (`run_id`) names the run
folder, so the same experiment asked for twice — by two notebooks, or by the CLI and a
notebook — maps to the same run. Fields that do not change the result (where the data lives,
which device, worker count) sit in `Runtime` and `DataConfig.root` and stay out of the hash.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields, is_dataclass, replace
from typing import Any, get_type_hints

import yaml


@dataclass(frozen=True)
class DataConfig:
    """Which dataset and how it is read.

    `options` are the dataset's own parameters (for `scenes`: k, num_classes, image_size,
    train_size, test_size, distractors, seed). `train_size` subsamples the training split
    (seeded) to make a data-limited student; `val_fraction` of train is held out for
    checkpoint selection, never the test split.
    """

    name: str = "scenes"
    root: str | None = None
    options: dict = field(default_factory=dict)
    train_size: int | None = None
    val_fraction: float = 0.1
    augment: bool = True


@dataclass(frozen=True)
class OptimConfig:
    """SGD with a per-epoch schedule: `step` for scene datasets, `multistep` for CIFAR.

    See `docs/deviations.md#teacher-lr`.
    """

    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    epochs: int = 70
    batch_size: int = 128
    eval_batch_size: int = 256
    schedule: str = "step"
    step_size: int = 25
    milestones: tuple[int, ...] = (150, 180, 210)
    gamma: float = 0.1


@dataclass(frozen=True)
class MethodConfig:
    """The distillation objective `beta*CE + alpha*method + delta*KD_T` (docs/method.md#objective).

    `name` is a registered method (`none`, `kd`, `at`, `pkt`, `vid`, `crd`, `ckd`, `review`,
    `dct`) optionally suffixed `+kd`. `None` weights resolve to the published defaults of
    that method (see `dctkd.methods`); `alphas="retuned"` picks the later retuned alphas.
    `options` go to the method's term (e.g. DCT `variant`, `pred_guide`, `levels`).
    """

    name: str = "none"
    alpha: float | None = None
    beta: float | None = None
    delta: float | None = None
    temperature: float = 4.0
    alphas: str = "paper"
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Runtime:
    """How a run executes; none of it changes the result's identity.

    `device`: `auto` (CUDA when available), `cpu`, `cuda`, `cuda:N`. `amp`: `auto` (bf16
    autocast on GPUs and on CPUs with native bf16, else off), `bf16`, `fp16` (with a grad
    scaler) or `off`; the loss terms always compute in float32. `num_workers`: DataLoader
    processes (0 suits the in-memory datasets). `progress`: tqdm bars and per-epoch lines.
    """

    device: str = "auto"
    amp: str = "auto"
    channels_last: bool = True
    compile: bool = False
    num_workers: int = 0
    progress: bool = True


@dataclass(frozen=True)
class RunConfig:
    """One training run. A teacher is itself a `RunConfig`, found in the run store by hash."""

    model: str = "resnet8"
    data: DataConfig = field(default_factory=DataConfig)
    pretrained: str | None = None
    teacher: RunConfig | None = None
    method: MethodConfig = field(default_factory=MethodConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    seed: int = 0
    deterministic: bool = False
    runtime: Runtime = field(default_factory=Runtime)

    @property
    def run_id(self) -> str:
        """`<model>-<method>-s<seed>-<hash8>`: readable, and unique per identity."""
        method = self.method.name.replace("+", "_")
        return f"{self.model}-{method}-s{self.seed}-{config_hash(self)[:8]}"


# Fields that never enter the hash: they say where or how, not what.
_NOT_IDENTITY = {("DataConfig", "root"), ("RunConfig", "runtime")}


def to_dict(cfg: Any, identity_only: bool = False) -> Any:
    """Plain nested dicts/lists, YAML- and JSON-safe."""
    if is_dataclass(cfg):
        out = {}
        for f in fields(cfg):
            if identity_only and (type(cfg).__name__, f.name) in _NOT_IDENTITY:
                continue
            out[f.name] = to_dict(getattr(cfg, f.name), identity_only)
        return out
    if isinstance(cfg, (list, tuple)):
        return [to_dict(v, identity_only) for v in cfg]
    if isinstance(cfg, dict):
        return {str(k): to_dict(v, identity_only) for k, v in sorted(cfg.items())}
    return cfg


def identity(cfg: RunConfig) -> dict:
    """The fields that decide `cfg`'s result, with every default left out of the free-form parts.

    Method weights and options and dataset options equal to their defaults are dropped, so
    `method.alpha=1` for DCT and no alpha, or `data.options.k=3` and no `k`, are the same
    experiment and the same run. Where and how a run executes (`runtime`, `data.root`) is
    not part of it.
    """
    from dctkd.data import canonical_options
    from dctkd.losses import canonical_method

    data = replace(cfg.data, options=canonical_options(cfg.data.name, cfg.data.options))
    teacher = identity(cfg.teacher) if cfg.teacher is not None else None
    out = to_dict(replace(cfg, data=data, method=canonical_method(cfg.method), teacher=None),
                  identity_only=True)
    out["teacher"] = teacher
    return out


def config_hash(cfg: RunConfig) -> str:
    """SHA-1 of the canonical JSON of `identity(cfg)` (stable across Python sessions)."""
    blob = json.dumps(identity(cfg), sort_keys=True, separators=(",", ":"))
    return hashlib.sha1(blob.encode()).hexdigest()


def from_dict(cls: type, data: dict | None) -> Any:
    """Inverse of `to_dict`; unknown keys stop with the list of known ones."""
    if data is None:
        return None
    if not isinstance(data, dict):
        raise ValueError(f"expected a mapping for {cls.__name__}, got {data!r}")
    hints = get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise ValueError(
            f"unknown {cls.__name__} field(s) {sorted(unknown)}; expected some of {sorted(known)}"
        )
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _coerce(hints[name], value, f"{cls.__name__}.{name}")
    return cls(**kwargs)


def _coerce(hint: Any, value: Any, where: str) -> Any:
    text = str(hint)
    if value is None:
        return None
    for sub in (DataConfig, OptimConfig, MethodConfig, Runtime, RunConfig):
        if hint is sub or sub.__name__ in text.split("|")[0]:
            return from_dict(sub, value)
    if "tuple" in text:
        return tuple(value) if isinstance(value, (list, tuple)) else (value,)
    if "dict" in text:
        if not isinstance(value, dict):
            raise ValueError(f"{where} expects a mapping, got {value!r}")
        return dict(value)
    if "bool" in text:
        if not isinstance(value, bool):
            raise ValueError(f"{where} expects true or false, got {value!r}")
        return value
    if "float" in text and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if "int" in text and "float" not in text:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{where} expects an integer, got {value!r}")
        return value
    if "str" in text and not isinstance(value, str):
        raise ValueError(f"{where} expects a string, got {value!r}")
    return value


def apply_overrides(cfg: RunConfig, overrides: list[str] | dict) -> RunConfig:
    """Apply `dotted.key=value` overrides; values are parsed as YAML (`0.1`, `true`, `[1, 2]`).

    `teacher.model=resnet56` reaches into the teacher's config; `method.options.variant=v2`
    into a dict field.
    """
    if isinstance(overrides, dict):
        pairs = list(overrides.items())
    else:
        pairs = []
        for item in overrides:
            if "=" not in item:
                raise ValueError(f"override {item!r} is not of the form key=value")
            key, raw = item.split("=", 1)
            pairs.append((key.strip(), yaml.safe_load(raw)))
    data = to_dict(cfg)
    for key, value in pairs:
        _set_path(data, key.split("."), value, key)
    return from_dict(RunConfig, data)


def _set_path(data: dict, path: list[str], value: Any, full: str, free: bool = False) -> None:
    # Inside an `options` mapping any key is allowed; elsewhere keys must be config fields.
    head, rest = path[0], path[1:]
    if head not in data and not free:
        raise ValueError(f"unknown config key {full!r}; expected one of {sorted(data)}")
    if not rest:
        data[head] = value
        return
    child = data.get(head)
    if child is None:
        child = to_dict(RunConfig()) if head == "teacher" else {}
        data[head] = child
    if not isinstance(child, dict):
        raise ValueError(f"config key {full!r}: {head!r} is not a section")
    _set_path(child, rest, value, full, free=free or head == "options")


def load_yaml(path: str) -> RunConfig:
    with open(path) as fh:
        return from_dict(RunConfig, yaml.safe_load(fh) or {})


def dump_yaml(cfg: RunConfig) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)


__all__ = [
    "DataConfig",
    "MethodConfig",
    "OptimConfig",
    "RunConfig",
    "Runtime",
    "apply_overrides",
    "config_hash",
    "dump_yaml",
    "from_dict",
    "identity",
    "load_yaml",
    "replace",
    "to_dict",
]
