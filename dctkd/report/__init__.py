"""The reports: from a profile to executed notebooks, figures and tables.

`profile` (what a report trains, as data) → `grid` (the labelled runs each notebook needs) →
`notebook.Report` (a notebook's handle: it trains what is missing and saves every figure and
table with its caption) → `tables`, `figures`, `image_figures`, `study` (built from run files
only, drawn in the one house `style`) → `build` (`dctkd figures`: train, execute with
papermill, export HTML, write `index.html`).
"""

from . import figures, grid, image_figures, study, tables
from .notebook import Report
from .profile import Profile, list_profiles, load_profile

__all__ = [
    "Profile",
    "Report",
    "figures",
    "grid",
    "image_figures",
    "list_profiles",
    "load_profile",
    "study",
    "tables",
]
