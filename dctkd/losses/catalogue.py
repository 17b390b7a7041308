"""The method catalogue: each distillation method's facts, declared once.

A `Method` holds the method's name, the label and colour every table and figure uses, its
published and retuned weights, what it needs from the two networks, its typed options and
its term (the `DistillTerm` class, or a `"module:Class"` string imported when a run builds
the term). Everything else (the objective's weights, run hashing, profiles, the CLI, tables
and figures) reads them here. The built-in methods are declared in `builtin.py` with their
terms as strings, so reading the catalogue imports no torch; adding a method is one
`register(Method(...))` call, in a new file of `dctkd/losses/` (discovered automatically) or
anywhere else.

The objective is `beta * CE + alpha * term + delta * KD_T` (docs/method.md#objective): a method
alone uses its own `beta` (1, or 0.1 for KD alone) and `delta = 0`; `<method>+kd` adds the
logit KD term with `beta = 0.1, delta = 1, T = 4`, as the original code does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from pydantic import ValidationError

from dctkd.lazy import imported
from dctkd.options import Options, first_error

PLUS_KD = "+kd"
PLUS_KD_BETA, PLUS_KD_DELTA = 0.1, 1.0
ALPHA_SETS = ("paper", "retuned")
TEACHER_LABEL, TEACHER_COLOUR = "Teacher", "#222222"


class NoOptions(Options):
    """For methods without options."""


@dataclass(frozen=True)
class Needs:
    """What a term reads of the two networks, checked before anything trains.

    `taps`: `"any"` (it sizes itself from whatever taps there are), `"paired"` (one teacher
    tap per student tap) or `"same_size"` (paired, and equal `H x W` at every tap).
    `train_targets`: the engine passes the training labels (CRD's negatives).
    `full_batches`: the term's modules are sized by the batch (SemCKD), so a partial last
    batch is handled by the term itself.
    """

    taps: Literal["any", "paired", "same_size"] = "any"
    train_targets: bool = False
    full_batches: bool = False


@dataclass(frozen=True)
class Method:
    """One row of the catalogue. `term` is the `DistillTerm` class or its `"module:Class"`
    name (None for the baseline); `term_class` is the class either way."""

    name: str
    label: str
    colour: str
    term: type | str | None = None
    alpha: float = 0.0
    retuned_alpha: float | None = None
    beta: float = 1.0
    options: type[Options] = NoOptions
    needs: Needs = field(default_factory=Needs)
    source: str = ""
    docs: str = ""
    order: int = 100  # position in listings and default tables (the paper's order)

    @property
    def term_class(self) -> type | None:
        """The `DistillTerm` class, its module imported now when `term` names it."""
        return imported(self.term) if isinstance(self.term, str) else self.term

    def weight(self, alphas: str = "paper") -> float:
        """The published (`paper`) or retuned weight alpha."""
        if alphas == "retuned" and self.retuned_alpha is not None:
            return self.retuned_alpha
        return self.alpha

    def parse_options(self, options: Mapping[str, Any] | None) -> Options:
        """Validate `method.options` against this method's typed options (ValueError)."""
        try:
            return self.options.model_validate(dict(options or {}))
        except ValidationError as err:
            raise ValueError(
                f"method {self.name!r}: {first_error(err, self.options.model_fields)}"
            ) from None

    def check_pair(self, options: Mapping[str, Any] | None, student_shapes: list,
                   teacher_shapes: list) -> None:
        """Stop before training when the term cannot be built for this pair with these
        options (ValueError); the term's classmethod `check_pair`, if it has one, says."""
        hook = getattr(self.term_class, "check_pair", None)
        if hook is not None:
            hook(self.parse_options(options).model_dump(), student_shapes, teacher_shapes)


METHODS: dict[str, Method] = {}


def register(method: Method) -> Method:
    """Add `method` to the catalogue (replacing an entry of the same name)."""
    if not method.name or PLUS_KD in method.name or not method.name.islower():
        raise ValueError(f"method names are lower-case and cannot contain '+': {method.name!r}")
    METHODS[method.name] = method
    return method


# Modules of this folder that `_load_all` does not import while looking for new methods.
_NO_METHOD = {"base", "builtin", "catalogue"}


def _load_all() -> None:
    """Register the built-in methods, then import every other module of this folder, whose
    `register` call adds its method; the built-ins' loss modules, which import torch, are
    left for `Method.term_class` to import when a run builds their term."""
    import importlib
    import pkgutil
    from pathlib import Path

    importlib.import_module(f"{__package__}.builtin")
    named = {m.term.partition(":")[0] for m in METHODS.values() if isinstance(m.term, str)}
    for info in pkgutil.iter_modules([str(Path(__file__).parent)]):
        module = f"{__package__}.{info.name}"
        if info.name not in _NO_METHOD and module not in named:
            importlib.import_module(module)


_loaded = False


def _catalogue() -> dict[str, Method]:
    global _loaded
    if not _loaded:
        _loaded = True
        _load_all()
    return METHODS


register(Method("none", "Baseline", "#8c8c8c", docs="docs/method.md#objective"))


def split_name(name: str) -> tuple[Method, bool]:
    """`"dct+kd"` -> (the `dct` entry, True); unknown names stop with the list of known ones."""
    base, plus = (name[: -len(PLUS_KD)], True) if name.endswith(PLUS_KD) else (name, False)
    entry = _catalogue().get(base)
    if entry is None or (plus and entry.term is None) or (plus and base == "kd"):
        raise ValueError(
            f"unknown method {name!r}; expected one of {', '.join(method_names())}"
        )
    return entry, plus


def method(name: str) -> Method:
    """The catalogue entry of `name` (a `+kd` name gives its base method's entry)."""
    return split_name(name)[0]


def method_names(plus_kd: bool = True) -> list[str]:
    """Every accepted `method.name`: `none`, each term, then each term with `+kd`."""
    terms = sorted((m for m in _catalogue().values() if m.term is not None),
                   key=lambda m: m.order)
    names = ["none", *(m.name for m in terms)]
    if plus_kd:
        names += [f"{m.name}{PLUS_KD}" for m in terms if m.name != "kd"]
    return names


def label(name: str) -> str:
    """Display name of a method or of the teacher: `"dct+kd"` -> `"DCT + KD"`."""
    if name.lower() == "teacher":
        return TEACHER_LABEL
    entry, plus = split_name(name)
    return entry.label + (" + KD" if plus else "")


def name_of(display: str) -> str:
    """Inverse of `label` (`"AT + KD"` -> `"at+kd"`, `"Teacher"` -> `"teacher"`)."""
    if display == TEACHER_LABEL:
        return "teacher"
    base, plus, _ = display.partition(" + KD")
    for entry in _catalogue().values():
        if entry.label == base:
            return entry.name + (PLUS_KD if plus else "")
    raise ValueError(f"unknown method label {display!r}")


def colour(name: str) -> str:
    """The fixed colour of a method (its `+kd` variant shares it) or of the teacher."""
    if name.lower() == "teacher":
        return TEACHER_COLOUR
    return split_name(name)[0].colour


def uses_kd(name: str) -> bool:
    """True for KD alone and every `+kd` method: figures draw them dashed or hatched."""
    entry, plus = split_name(name)
    return plus or entry.name == "kd"


@dataclass(frozen=True)
class Objective:
    """Resolved weights of `beta*CE + alpha*term + delta*KD_T` and the term's full options."""

    term: str | None
    alpha: float
    beta: float
    delta: float
    temperature: float
    options: dict = field(default_factory=dict)

    @property
    def needs_teacher(self) -> bool:
        return self.term is not None or self.delta > 0


def resolve(cfg: Any) -> Objective:
    """The weights of a `MethodConfig` with the catalogue's defaults filled in (ValueError)."""
    entry, plus = split_name(cfg.name)
    if cfg.alphas not in ALPHA_SETS:
        raise ValueError(f"unknown method.alphas {cfg.alphas!r}; expected one of {ALPHA_SETS}")
    if not cfg.temperature > 0:
        raise ValueError(f"method.temperature must be positive, got {cfg.temperature}")
    if entry.term is None:
        alpha, beta, delta = 0.0, 1.0, 0.0
    else:
        alpha = entry.weight(cfg.alphas)
        beta, delta = (PLUS_KD_BETA, PLUS_KD_DELTA) if plus else (entry.beta, 0.0)
    options = entry.parse_options(cfg.options).model_dump()
    return Objective(
        term=entry.name if entry.term is not None else None,
        alpha=_pick(cfg.alpha, alpha),
        beta=_pick(cfg.beta, beta),
        delta=_pick(cfg.delta, delta),
        temperature=float(cfg.temperature),
        options=options,
    )


def canonical_method(cfg: Any) -> Any:
    """`cfg` with every value that equals the method's default left unset.

    Two configs that mean the same experiment (`alpha=1` for DCT and no alpha; an option
    written out at its default value; a temperature of a method that uses none) become equal,
    so they hash to the same run.
    """
    plain = type(cfg)(name=cfg.name)
    got, default = resolve(cfg), resolve(plain)
    uses_temperature = got.delta > 0 or got.term == "kd"
    defaults = method(cfg.name).options().model_dump()
    return replace(
        cfg,
        alpha=None if math.isclose(got.alpha, default.alpha) else got.alpha,
        beta=None if math.isclose(got.beta, default.beta) else got.beta,
        delta=None if math.isclose(got.delta, default.delta) else got.delta,
        temperature=cfg.temperature if uses_temperature else plain.temperature,
        alphas=plain.alphas,
        options={k: v for k, v in got.options.items() if defaults.get(k) != v},
    )


def _pick(explicit: float | None, default: float) -> float:
    return float(default if explicit is None else explicit)


__all__ = [
    "ALPHA_SETS",
    "METHODS",
    "Method",
    "Needs",
    "NoOptions",
    "Objective",
    "Options",
    "TEACHER_LABEL",
    "canonical_method",
    "colour",
    "label",
    "method",
    "method_names",
    "name_of",
    "register",
    "resolve",
    "split_name",
    "uses_kd",
]
