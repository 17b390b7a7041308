"""Typed options: the one base class for method and dataset options, and its error message.

Options are pydantic models, so `"5e-4"` becomes a float, an integer refuses `2.5`, NaN and
infinity are refused, and an unknown key stops with the list of known ones.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, ValidationError


class Options(BaseModel):
    """Options of a method or a dataset: unknown keys, wrong types and NaN are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def first_error(err: ValidationError, known: Iterable[str] = ()) -> str:
    """One line for the first problem pydantic found: the option, what it expected, the value.

    `known` are the accepted option names, listed when an unknown one is given.
    """
    e = err.errors()[0]
    if e["type"] == "value_error" and "error" in e.get("ctx", {}):
        return str(e["ctx"]["error"])
    where = ".".join(str(x) for x in e["loc"]) or "options"
    if e["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
        return f"unknown option {where!r}; expected some of {sorted(known)}"
    got = "" if e["type"] == "missing" else f" (got {e.get('input')!r})"
    return f"option {where}: {e['msg'][:1].lower()}{e['msg'][1:]}{got}"


__all__ = ["Options", "first_error"]
