"""Typed, frozen experiment configs: YAML in and out, `key=value` overrides, a stable hash.

A `RunConfig` says everything that decides a run's result. Its hash (`run_id`) names the run
folder, so the same experiment asked for twice — by two notebooks, or by the CLI and a
notebook — maps to the same run. Fields that do not change the result (where the data lives,
which device, worker count) sit in `Runtime` and `DataConfig.root` and stay out of the hash.

The configs are pydantic dataclasses: every field is validated against its declared type and
range whenever a config is made (from YAML, `key=value` overrides, a profile or in code), and
method and dataset options against the catalogue's typed options. A problem is one
`ConfigError` line naming the dotted field, the value, what was expected and its source.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import field, fields, is_dataclass, replace
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic.dataclasses import dataclass, rebuild_dataclass
from pydantic_core import PydanticCustomError

from dctkd.errors import ConfigError
from dctkd.validation import (
    Count,
    Device,
    Integer,
    NonNegative,
    Number,
    Positive,
    adapter,
    dotted,
    first_problem,
    off_word,
    parse_yaml,
)

# Every field is validated, and coerced to its type, when a config is made: YAML 1.1 reads
# `5e-4` as text, which becomes a float here; NaN, infinity and unknown keys are refused.
_FIELDS = ConfigDict(extra="forbid", allow_inf_nan=False)


def _as_list(value: Any) -> Any:
    """A single milestone may be written without brackets."""
    scalar = isinstance(value, (int, float, str)) and not isinstance(value, bool)
    return [value] if scalar else value


def _augment(value: Any) -> Any:
    """`true`, `false` or `flip`, said in one line when anything else is given."""
    if isinstance(value, bool) or value == "flip":
        return value
    raise ValueError(f"expected true, false or 'flip', got {value!r}")


@dataclass(frozen=True, config=_FIELDS)
class DataConfig:
    """Which dataset and how it is read.

    `options` are the dataset's own parameters (for `scenes`: k, num_classes, image_size,
    train_size, test_size, distractors, seed). `train_size` subsamples the training split
    (seeded) to make a data-limited student; `val_fraction` of train is held out for
    checkpoint selection, never the test split; it is drawn with `holdout_seed` (default: the
    run's seed), which a student sets to its teacher's seed so that it never validates on
    images its teacher trained on (docs/protocol.md#val-split). `augment`: the dataset's training
    augmentation (`true`), none (`false`), or horizontal flips only (`flip`).
    """

    name: str = "scenes"
    root: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    train_size: Count | None = None
    val_fraction: Annotated[Number, Field(ge=0, lt=1)] = 0.1
    holdout_seed: Annotated[Integer, Field(ge=0)] | None = None
    augment: Annotated[StrictBool | Literal["flip"], BeforeValidator(_augment)] = True

    @field_validator("name")
    @classmethod
    def _known_dataset(cls, name: str) -> str:
        from dctkd.data import dataset

        dataset(name)
        return name

    @field_validator("options")
    @classmethod
    def _dataset_options(cls, options: dict, info: ValidationInfo) -> dict:
        if "name" in info.data:
            from dctkd.data import dataset

            _check_options(dataset(info.data["name"]).options, options,
                           f"of dataset {info.data['name']!r}")
        return options


@dataclass(frozen=True, config=_FIELDS)
class OptimConfig:
    """SGD with a per-epoch schedule: `step` for scene datasets, `multistep` for CIFAR,
    `cosine` (annealed to 0 over `epochs`) for short runs that must still reach their plateau.

    See `docs/deviations.md#teacher-lr`.
    """

    lr: Positive = 0.1
    momentum: Annotated[Number, Field(ge=0, lt=1)] = 0.9
    weight_decay: NonNegative = 1e-4
    epochs: Count = 70
    batch_size: Count = 128
    eval_batch_size: Count = 256
    schedule: Literal["step", "multistep", "cosine"] = "step"
    step_size: Count = 25
    milestones: Annotated[tuple[Count, ...], BeforeValidator(_as_list)] = (150, 180, 210)
    gamma: Annotated[Number, Field(gt=0, le=1)] = 0.1


@dataclass(frozen=True, config=_FIELDS)
class MethodConfig:
    """The distillation objective `beta*CE + alpha*method + delta*KD_T` (docs/method.md#objective).

    `name` is a registered method (`none`, `kd`, `at`, `pkt`, `vid`, `crd`, `ckd`, `review`,
    `dct`) optionally suffixed `+kd`. `None` weights resolve to the published defaults of
    that method (the catalogue, `dctkd.losses.catalogue`); `alphas="retuned"` picks the later
    retuned alphas.
    `options` go to the method's term (e.g. DCT `variant`, `pred_guide`, `levels`).
    """

    name: str = "none"
    alpha: NonNegative | None = None
    beta: NonNegative | None = None
    delta: NonNegative | None = None
    temperature: Positive = 4.0
    alphas: Literal["paper", "retuned"] = "paper"
    options: dict[str, Any] = field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _known_method(cls, name: str) -> str:
        from dctkd.losses.catalogue import split_name

        split_name(name)
        return name

    @field_validator("options")
    @classmethod
    def _method_options(cls, options: dict, info: ValidationInfo) -> dict:
        if "name" in info.data:
            from dctkd.losses import method

            _check_options(method(info.data["name"]).options, options,
                           f"of method {info.data['name']!r}")
        return options


@dataclass(frozen=True, config=_FIELDS)
class Runtime:
    """How a run executes; none of it changes the result's identity.

    `device`: `auto` (CUDA when available), `cpu`, `cuda`, `cuda:N`. `amp`: `auto` (bf16
    autocast on GPUs and on CPUs with native bf16, else off), `bf16`, `fp16` (with a grad
    scaler) or `off`; the loss terms always compute in float32. `num_workers`: DataLoader
    processes (0 suits the in-memory datasets). `progress`: tqdm bars and per-epoch lines.
    `teacher_cache`: compute the teacher's outputs once and look them up, when the training
    inputs are not augmented (`data.augment=false`); the numbers are the same either way.
    `tensorboard`: event files beside `metrics.csv`, so `tensorboard --logdir` shows the run.
    `share_prefix`: keep the training state at the first LR drop (`prefix.pt`), and start a
    fresh run from a shorter run's kept state where the two share those epochs
    (`engine.prefix`: the budget test's 2× runs); the numbers are the same either way.
    """

    device: Device = "auto"
    amp: Annotated[Literal["auto", "bf16", "fp16", "off"], BeforeValidator(off_word)] = "auto"
    channels_last: StrictBool = True
    compile: StrictBool = False
    num_workers: Annotated[Integer, Field(ge=0)] = 0
    progress: StrictBool = True
    teacher_cache: StrictBool = True
    tensorboard: StrictBool = True
    share_prefix: StrictBool = False


@dataclass(frozen=True, config=_FIELDS)
class RunConfig:
    """One training run. A teacher is itself a `RunConfig`, found in the run store by hash.

    `init` is another run (same architecture, any dataset) whose val-selected weights start
    this network, all but its classifier: pre-training on a separate task, as ImageNet
    pre-training is for the paper's teachers (docs/protocol.md#pre-training). `pretrained`
    names published weights instead (`imagenet`); a run takes one or neither.
    """

    model: str = "resnet8"
    data: DataConfig = field(default_factory=DataConfig)
    pretrained: str | None = None
    init: RunConfig | None = None
    teacher: RunConfig | None = None
    method: MethodConfig = field(default_factory=MethodConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    seed: Annotated[Integer, Field(ge=0)] = 0
    deterministic: StrictBool = False
    runtime: Runtime = field(default_factory=Runtime)

    @field_validator("model")
    @classmethod
    def _known_model(cls, model: str) -> str:
        from dctkd.models import MODEL_NAMES

        if model not in MODEL_NAMES:
            raise ValueError(f"unknown model {model!r}; expected one of {', '.join(MODEL_NAMES)}")
        return model

    @field_validator("pretrained")
    @classmethod
    def _known_weights(cls, pretrained: str | None) -> str | None:
        from dctkd.models.names import PRETRAINED_CHOICES

        if pretrained is not None and pretrained not in PRETRAINED_CHOICES:
            raise ValueError(f"unknown weights {pretrained!r}; expected null or one of "
                             f"{', '.join(PRETRAINED_CHOICES)}")
        return pretrained

    @property
    def prerequisites(self) -> list[RunConfig]:
        """The runs that must be finished before this one trains: the run its weights start
        from, then its teacher."""
        return [c for c in (self.init, self.teacher) if c is not None]

    @property
    def run_id(self) -> str:
        """`<model>-<method>-s<seed>-<hash8>`: readable, and unique per identity."""
        method = self.method.name.replace("+", "_")
        return f"{self.model}-{method}-s{self.seed}-{config_hash(self)[:8]}"


rebuild_dataclass(RunConfig)  # `teacher` is a RunConfig itself


def _one_line_errors(cls: type) -> None:
    """Make `cls(...)` and `dataclasses.replace` raise a one-line ConfigError, not pydantic's
    multi-line report."""
    init = cls.__init__

    @functools.wraps(init)
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        try:
            init(self, *args, **kwargs)
        except ValidationError as err:
            raise config_error(err, cls) from None

    cls.__init__ = __init__


for _cls in (DataConfig, OptimConfig, MethodConfig, Runtime, RunConfig):
    _one_line_errors(_cls)


def _check_options(model: type, options: dict, owner: str) -> None:
    """Validate a method's or dataset's `options` against its typed options model.

    The config keeps the mapping as given (`identity` drops the defaults from it); a problem
    is reported at its own key, such as `method.options.variant`.
    """
    try:
        adapter(model).validate_python(options)
    except ValidationError as err:
        where, text = first_problem(err, model, f"option {owner}")
        raise PydanticCustomError("option", "{text}", {"text": text, "at": list(where)}) from None


# Fields that never enter the hash: they say where or how, not what.
_NOT_IDENTITY = {("DataConfig", "root"), ("RunConfig", "runtime")}
_NEW_OPTIONAL = ("holdout_seed",)


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
    out = to_dict(replace(cfg, data=data, method=canonical_method(cfg.method), teacher=None,
                          init=None), identity_only=True)
    out["teacher"] = identity(cfg.teacher) if cfg.teacher is not None else None
    out["init"] = identity(cfg.init) if cfg.init is not None else None
    # Fields added after runs were stored enter the hash only when set, so every run made
    # before them keeps its id.
    for key in _NEW_OPTIONAL:
        if out["data"].get(key) is None:
            out["data"].pop(key, None)
    if out["init"] is None:
        del out["init"]
    return out


def config_hash(cfg: RunConfig) -> str:
    """SHA-1 of the canonical JSON of `identity(cfg)` (stable across Python sessions)."""
    blob = json.dumps(identity(cfg), sort_keys=True, separators=(",", ":"))
    return hashlib.sha1(blob.encode()).hexdigest()


def from_dict(cls: type, data: dict | None, source: str | None = None) -> Any:
    """Inverse of `to_dict`: every field validated and coerced to its declared type.

    A problem raises a one-line `ConfigError` naming the dotted field, what it expects, the
    value given and `source` (`command line`, `in <file>`), so the user knows what to fix.
    """
    if data is None:
        return None
    if not isinstance(data, dict):
        raise ConfigError(f"expected a mapping of {cls.__name__} fields, got {data!r}"
                          f"{_from(source)}")
    try:
        return adapter(cls).validate_python(data)
    except ValidationError as err:
        raise config_error(err, cls, source) from None


def config_error(err: ValidationError, owner: type | None = None,
                 source: str | None = None) -> ConfigError:
    """The first problem of a config's `ValidationError` as one line: `optim.lr: expected a
    finite number > 0, got 'abc' (command line)`. `owner` is the validated class."""
    owner = owner or globals().get(err.title, RunConfig)
    where, text = first_problem(err, owner)
    return ConfigError(f"{dotted(where) + ': ' if where else ''}{text}{_from(source)}")


def _from(source: str | None) -> str:
    return f" ({source})" if source else ""


def apply_overrides(cfg: RunConfig, overrides: list[str] | dict,
                    source: str = "command line") -> RunConfig:
    """Apply `dotted.key=value` overrides; values are parsed as YAML (`0.1`, `true`, `[1, 2]`).

    `teacher.model=resnet56` reaches into the teacher's config; `method.options.variant=v2`
    into a dict field. Problems name the key and `source`.
    """
    if isinstance(overrides, dict):
        pairs = list(overrides.items())
    else:
        pairs = []
        for item in overrides:
            if "=" not in item:
                raise ConfigError(f"{item!r} is not of the form key=value{_from(source)}")
            key, raw = item.split("=", 1)
            pairs.append((key.strip(), parse_yaml(raw, f"{key.strip()} ({source})")))
    data = to_dict(cfg)
    for key, value in pairs:
        try:
            _set_path(data, key.split("."), value, key)
        except ValueError as err:
            raise ConfigError(f"{err}{_from(source)}") from None
    return from_dict(RunConfig, data, source)


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
        child = to_dict(RunConfig()) if head in ("teacher", "init") else {}
        data[head] = child
    if not isinstance(child, dict):
        raise ValueError(f"config key {full!r}: {head!r} is not a section")
    _set_path(child, rest, value, full, free=free or head == "options")


def load_yaml(path: str | os.PathLike) -> RunConfig:
    """The `RunConfig` of a YAML file; any problem is one line naming the file."""
    text = Path(path).read_text(encoding="utf-8")
    return from_dict(RunConfig, parse_yaml(text, str(path)) or {}, f"in {path}")


def dump_yaml(cfg: RunConfig) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)


__all__ = [
    "DataConfig",
    "MethodConfig",
    "OptimConfig",
    "RunConfig",
    "Runtime",
    "ConfigError",
    "apply_overrides",
    "config_error",
    "config_hash",
    "dump_yaml",
    "from_dict",
    "identity",
    "load_yaml",
    "parse_yaml",
    "replace",
    "to_dict",
]
