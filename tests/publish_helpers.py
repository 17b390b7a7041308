"""A whole build in seconds, for the publishing tests: two notebooks that train nothing (no
experiment families, so every profile keeps them), each saving a figure and a table through
`Report`, built by the real `dctkd figures` machinery into a temporary folder."""

from __future__ import annotations

from pathlib import Path

import nbformat

NAMES = ("01_line", "02_bars")
PROFILE = "smoke"

_PARAMETERS = ('profile = "smoke"\nresults = None\ndata = None\noverrides = []\n')
_BODY = """import matplotlib.pyplot as plt
import pandas as pd

from dctkd.report import Report

R = Report("{name}", profile, results, data, overrides)
fig, ax = plt.subplots(figsize=(3, 2))
ax.plot([0, 1, 2], [0, 1, 4])
R.figure(fig, "{name}_curve", "A curve.")
R.table(pd.DataFrame({{"x": [1, 2], "y": [0.5, 0.25]}}), "{name}_numbers", "Two numbers.")
fig"""


def write_notebooks(folder: Path) -> Path:
    """The notebooks, in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in NAMES:
        nb = nbformat.v4.new_notebook()
        params = nbformat.v4.new_code_cell(_PARAMETERS)
        params.metadata["tags"] = ["parameters"]
        nb.cells = [nbformat.v4.new_markdown_cell(f"# {name}"), params,
                    nbformat.v4.new_code_cell(_BODY.format(name=name))]
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                     "language": "python"}
        nb.metadata["dctkd"] = {"families": [], "title": f"Test report {name}",
                                "outputs": {"figures": [f"{name}_curve"],
                                            "tables": [f"{name}_numbers"]}}
        nbformat.write(nb, folder / f"{name}.ipynb")
    return folder


def make_build(base: Path) -> tuple[Path, Path]:
    """`(results, notebooks folder)` of a finished build of the notebooks."""
    from dctkd.report.build import build

    folder = write_notebooks(base / "notebooks")
    results = base / "results"
    build(PROFILE, results=results, notebook_folder=folder, workers=1, jobs=1,
          log=lambda _: None)
    return results, folder
