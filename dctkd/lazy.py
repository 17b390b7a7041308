"""Code named by `"module:attribute"` strings and imported when first used.

The catalogues (methods, datasets) and the command line must be readable without torch, which
takes seconds to import, so what they point at in torch-heavy modules (a loss class, a dataset
reader) is written as a `"module:attribute"` string and imported only when a run is built.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def imported(ref: str) -> Any:
    """The object `"package.module:name"` names, its module imported now if it is not yet."""
    module, colon, name = ref.partition(":")
    if not colon or not module or not name:
        raise ValueError(f"expected 'module:name', got {ref!r}")
    return getattr(importlib.import_module(module), name)


class Deferred:
    """A function that stands for the one `ref` names and imports it on its first call.

    `Deferred("dctkd.data.cifar:build_cifar100")(...)` is `build_cifar100(...)`; `args` are
    passed before the caller's, like `functools.partial`.
    """

    def __init__(self, ref: str, *args: Any) -> None:
        self.ref, self.args = ref, args
        self._function: Callable | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._function is None:
            self._function = imported(self.ref)
        return self._function(*self.args, *args, **kwargs)

    def __repr__(self) -> str:
        bound = "".join(f", {a!r}" for a in self.args)
        return f"Deferred({self.ref!r}{bound})"


def lazy_names(package: str, names: Mapping[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` (PEP 562) for `package`: `names` maps each public name to the
    submodule that defines it (`"ATLoss": ".at"`), imported when the name is first read."""

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(names[name], package)
        value = getattr(module, name)
        setattr(sys.modules[package], name, value)  # the next read finds it without a call
        return value

    return __getattr__
