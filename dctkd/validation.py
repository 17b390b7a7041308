"""Typed values and the one line each problem is shown as.

Configs and profiles declare their fields with these types (`Positive`, `Count`, ...), which
pydantic validates and coerces: YAML 1.1 reads `5e-4` as text, a float field makes it a
number, and `true`, NaN and infinity are refused where a number is due. `first_problem`
turns pydantic's report into `expected a finite number > 0, got 'abc'`, stating the declared
bounds; `parse_yaml` names the file, line and column of a syntax error.
"""

from __future__ import annotations

import functools
import typing
from typing import Annotated, Any

import annotated_types
import yaml
from pydantic import BeforeValidator, Field, TypeAdapter, ValidationError
from pydantic_core import PydanticCustomError

from dctkd.errors import ConfigError


def _not_bool(value: Any) -> Any:
    """`true` is not a number (pydantic's lax mode would read it as 1)."""
    if isinstance(value, bool):
        raise PydanticCustomError("bool_not_number", "a boolean is not a number")
    return value


def off_word(value: Any) -> Any:
    """YAML 1.1 reads a bare `off` as false; `runtime.amp=off` means the word."""
    return "off" if value is False else value


Number = Annotated[float, BeforeValidator(_not_bool)]
Integer = Annotated[int, BeforeValidator(_not_bool)]
Positive = Annotated[Number, Field(gt=0)]
NonNegative = Annotated[Number, Field(ge=0)]
Count = Annotated[Integer, Field(ge=1)]
DEVICE_PATTERN = r"^(auto|cpu|mps|(cuda|xpu)(:\d+)?)$"
Device = Annotated[str, Field(pattern=DEVICE_PATTERN)]
# What a pattern accepts, in words, for its error message.
PATTERNS = {DEVICE_PATTERN: "auto, cpu, mps, cuda or cuda:<index>"}


@functools.cache
def adapter(kind: type) -> TypeAdapter:
    return TypeAdapter(kind)


def first_problem(err: ValidationError, owner: Any, what: str = "config key"
                  ) -> tuple[tuple, str]:
    """`(location, what it expected and got)` of the first problem of `err`, an unknown key
    first (a typo also leaves its right key missing); `owner` is the validated type, whose
    declared bounds the message states."""
    unknown = ("extra_forbidden", "unexpected_keyword_argument")
    first = min(err.errors(), key=lambda e: e["type"] not in unknown)
    return _problem(first, owner, what)


def dotted(where: tuple) -> str:
    return ".".join(str(k) for k in where)


def _problem(e: dict, owner: type, what: str = "config key") -> tuple[tuple, str]:
    """Where one pydantic error is (a path of keys under `owner`) and what it says."""
    kind, loc, ctx = e["type"], tuple(e["loc"]), e.get("ctx") or {}
    if kind == "option":
        return loc + tuple(ctx["at"]), ctx["text"]
    if kind in ("unexpected_keyword_argument", "extra_forbidden"):
        known = _keys_at(owner, loc[:-1])
        return loc, (f"unknown {what}; expected one of {known}" if known
                     else f"unknown {what}, which takes none")
    if kind in ("value_error", "assertion_error"):
        return loc, str(ctx.get("error", e["msg"]))
    if kind in ("missing", "missing_argument"):
        return loc, "missing; it has no default"
    got = e.get("input")
    return loc, f"expected {_expected(kind, ctx, _annotation_at(owner, loc))}, got {got!r}"


_EXPECTED = {
    "bool_type": "true or false", "bool_parsing": "true or false", "string_type": "a string",
    "dict_type": "a mapping", "tuple_type": "a list", "list_type": "a list",
    "dataclass_type": "a mapping of fields", "dataclass_exact_type": "a mapping of fields",
}


_PLURALS = {int: "integers", float: "numbers", str: "names"}


def _expected(kind: str, ctx: dict, annotation: Any) -> str:
    if kind == "literal_error":
        return f"one of {ctx['expected']}"
    if kind == "string_pattern_mismatch" and ctx.get("pattern") in PATTERNS:
        return PATTERNS[ctx["pattern"]]
    base, bounds = _leaf(annotation)
    if kind in ("list_type", "tuple_type") and base in _PLURALS:
        return f"a list of {_PLURALS[base]}"
    if kind in _EXPECTED:
        return _EXPECTED[kind]
    if base in (int, float):
        return ("an integer" if base is int else "a finite number") + _range(bounds)
    return kind.replace("_", " ")


def _annotation_at(owner: type, loc: tuple) -> Any:
    """The declared type (with its bounds) of the field at `loc` under `owner`."""
    annotation: Any = owner
    for key in loc:
        cls = _fields_class(annotation)
        known = getattr(cls, "__pydantic_fields__", {}) if cls is not None else {}
        if key not in known:
            continue  # a list position or a free mapping key: stay on the field
        info = known[key]
        annotation = (Annotated[(info.annotation, *info.metadata)] if info.metadata
                      else info.annotation)
    return annotation


def _fields_class(annotation: Any) -> type | None:
    """The config (or options) class inside `annotation` (`RunConfig | None` -> RunConfig)."""
    for kind in (annotation, *typing.get_args(annotation)):
        if isinstance(kind, type) and hasattr(kind, "__pydantic_fields__"):
            return kind
    return None


def _keys_at(owner: type, loc: tuple) -> list[str]:
    cls = _fields_class(_annotation_at(owner, loc))
    return sorted(getattr(cls, "__pydantic_fields__", {}))


def _leaf(annotation: Any) -> tuple[Any, list]:
    """The scalar type under Annotated, Optional and tuple wrappers, and the bounds met."""
    bounds: list = []
    while True:
        args = typing.get_args(annotation)
        if typing.get_origin(annotation) is Annotated:
            for meta in args[1:]:
                bounds += [m for m in getattr(meta, "metadata", [meta])
                           if isinstance(m, annotated_types.BaseMetadata)]
            annotation = args[0]
        elif args:
            annotation = next(a for a in args if a not in (type(None), Ellipsis))
        else:
            return annotation, bounds


def _range(bounds: list) -> str:
    """` > 0`, ` >= 1` or ` in [0, 1)` from annotated_types bounds."""
    lo = next(((b.gt, "(") for b in bounds if isinstance(b, annotated_types.Gt)), None) or next(
        ((b.ge, "[") for b in bounds if isinstance(b, annotated_types.Ge)), None)
    hi = next(((b.lt, ")") for b in bounds if isinstance(b, annotated_types.Lt)), None) or next(
        ((b.le, "]") for b in bounds if isinstance(b, annotated_types.Le)), None)
    if lo and hi:
        return f" in {lo[1]}{lo[0]:g}, {hi[0]:g}{hi[1]}"
    if lo:
        return f" {'>' if lo[1] == '(' else '>='} {lo[0]:g}"
    if hi:
        return f" {'<' if hi[1] == ')' else '<='} {hi[0]:g}"
    return ""


def parse_yaml(text: str, source: str) -> Any:
    """`yaml.safe_load(text)`; a syntax error is one line naming `source`, line and column."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"{source}: invalid YAML{at}: {problem}") from None


__all__ = ["Count", "DEVICE_PATTERN", "Device", "Integer", "NonNegative", "Number", "Positive",
           "adapter", "dotted", "first_problem", "off_word", "parse_yaml"]
