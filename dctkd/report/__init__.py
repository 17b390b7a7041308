"""The reports: from a profile to executed notebooks, figures and tables.

`profile` (what a report trains, as data) → `grid` (the labelled runs each notebook needs) →
`notebook.Report` (a notebook's handle: it trains what is missing and saves every figure and
table with its caption) → `tables`, `figures`, `image_figures`, `study` (built from run files
only, drawn in the one house `style`) → `build` (`dctkd figures`: train, execute with
papermill, export HTML, write `index.html`).

Every name below is imported when first used, not with the package: the CLI finds its
commands here, and `dctkd --help` must not wait for matplotlib, seaborn and torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what a type checker and an editor see; nothing is imported at run time
    from . import budget, figures, grid, image_figures, study, tables
    from .notebook import Report
    from .profile import Profile, list_profiles, load_profile

# name -> (module, attribute or None for the module itself)
_LAZY = {
    "budget": (".budget", None),
    "figures": (".figures", None),
    "grid": (".grid", None),
    "image_figures": (".image_figures", None),
    "study": (".study", None),
    "tables": (".tables", None),
    "Report": (".notebook", "Report"),
    "Profile": (".profile", "Profile"),
    "list_profiles": (".profile", "list_profiles"),
    "load_profile": (".profile", "load_profile"),
}

__all__ = [
    "Profile",
    "Report",
    "budget",
    "figures",
    "grid",
    "image_figures",
    "list_profiles",
    "load_profile",
    "study",
    "tables",
]


def __getattr__(name: str) -> Any:
    """PEP 562: import a public name on first use and keep it, so the next use is free."""
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, attribute = _LAZY[name]
    value = importlib.import_module(module, __name__)
    value = value if attribute is None else getattr(value, attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
