"""Notebooks: every `.py` source and its `.ipynb` are a clean, linted pair; notebooks 01–08 run
under `smoke`, write their artefacts, and show numbers that match the run files; the `paper`
grid holds every published cell (docs/experiments.md#main-tables)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import numpy as np
import pandas as pd
import pytest

from dctkd.engine import Run
from dctkd.losses import label as method_label
from dctkd.losses import resolve
from dctkd.report import build as figures
from dctkd.report import grid as E
from dctkd.report import index, notebook, tables
from dctkd.report.profile import load_profile

NOTEBOOKS = figures.list_notebooks()
NAMES = [p.stem for p in NOTEBOOKS]
# 09-13: tests/test_attention_study.py
RESULT_NOTEBOOKS = [n for n in NAMES if n < "09" or n == "14_regime"]


def test_notebooks_exist():
    assert {"01_method", "03_main_results", "04_ablation_alpha", "08_per_class"} <= set(NAMES)
    assert len(RESULT_NOTEBOOKS) == 9


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_source_and_notebook_are_a_clean_pair(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    source = jupytext.read(path.with_suffix(".py"))
    assert [(c.cell_type, c.source) for c in nb.cells] == [
        (c.cell_type, c.source) for c in source.cells
    ], f"{path.name} differs from {path.stem}.py: run `jupytext --sync notebooks/*.py`"
    assert nb.metadata["dctkd"] == source.metadata["dctkd"]
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, path.name
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    meta = nb.metadata["dctkd"]
    # The default profile, or the smallest one that defines the notebook's experiments.
    default = next(name for name in ("quick", "full", "layout") if set(
        meta.get("families", [])) <= E.defined_families(load_profile(name)))
    assert len(tagged) == 1 and f'profile = "{default}"' in tagged[0].source
    assert meta.get("outputs") and meta.get("title")
    assert set(meta.get("families", [])) <= set(E.FAMILIES)


def test_notebook_sources_pass_the_linter():
    folder = figures.notebook_dir()
    ruff = Path(sys.executable).with_name("ruff")
    done = subprocess.run([str(ruff), "check", "--quiet", str(folder)], capture_output=True,
                          text=True, cwd=folder.parent)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("name", RESULT_NOTEBOOKS)
def test_notebook_runs_under_smoke_and_writes_its_artefacts(name, smoke_out):
    index_html = figures.build("smoke", [name], results=smoke_out, workers=1, log=lambda _: None)
    nb = next(p for p in NOTEBOOKS if p.stem == name)
    expected = figures.notebook_meta(nb)["outputs"]
    for kind, suffixes in (("figures", (".png", ".pdf")), ("tables", (".csv", ".md"))):
        for pattern in expected.get(kind, []):
            for suffix in suffixes:
                hits = list((smoke_out / kind).glob(pattern + suffix))
                assert hits, f"{name} wrote no {kind[:-1]} {pattern}{suffix}"
                assert all(p.stat().st_size > 0 for p in hits)
    executed = smoke_out / "notebooks" / f"{name}.ipynb"
    assert (smoke_out / "notebooks" / f"{name}.html").stat().st_size > 0
    outputs = [o for c in nbformat.read(executed, as_version=4).cells
               for o in c.get("outputs", [])]
    assert outputs and not any(o.output_type == "error" for o in outputs)
    html = index_html.read_text()
    assert f"notebooks/{name}.html" in html
    manifest = next(m for m in notebook.read_manifests(smoke_out) if m["notebook"] == name)
    for entry in manifest["figures"] + manifest["tables"]:
        assert "Synthetic data" in entry["caption"]
    CHECKS[name](smoke_out, load_profile("smoke"))


# --- the numbers each notebook shows, recomputed from the run files alone


def _table(out: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(out / "tables" / f"{name}.csv", dtype=str, keep_default_na=False)


def _top1(out: Path, cells, which: str = "best") -> dict[str, list[float]]:
    """Per cell label, the Top-1 of each of its runs as `final.json` says."""
    got: dict[str, list[float]] = {}
    for cell in cells:
        got.setdefault(cell.label, []).append(
            Run(out / "runs" / cell.run_id).metrics()[which]["top1"])
    return got


def _check_method(out, prof):
    facts = _table(out, "method_facts")
    fft = facts[facts["variant"] != "DCT-II"]
    assert (pd.to_numeric(fft["point symmetry error"]) < 1e-4).all()
    assert (pd.to_numeric(facts["DC / max coefficient"]) < 1e-4).all()
    dist = _table(out, "method_level_distance")
    assert (pd.to_numeric(dist["distance mean"]) <= pd.to_numeric(dist["bound sqrt(HW)"])).all()


def _check_teachers_baselines(out, prof):
    table = _table(out, "teachers_baselines")
    cells = E.grid(prof, ["teachers", "baselines"])
    assert {c.dataset for c in cells} == set(table["dataset"])  # the pre-training pool too
    for cell in cells:
        role = "teacher" if cell.label == "Teacher" else "student alone"
        row = table[(table["model"] == cell.cfg.model) & (table["role"] == role)
                    & (table["dataset"] == cell.dataset)]
        values = _top1(out, [c for c in cells if c.cfg.model == cell.cfg.model
                             and c.label == cell.label and c.dataset == cell.dataset])[cell.label]
        assert row["Top-1 (val-selected)"].iloc[0] == tables.mean_std(values)


def _check_main(out, prof):
    table = _table(out, "main_scenes").set_index("method")
    for label, values in _top1(out, E.main(prof)).items():
        assert table.loc[label, "Top-1 (val-selected)"] == tables.mean_std(values), label


def _check_alpha(out, prof):
    table = _table(out, "alpha_ablation").set_index("alpha")
    cells = [c for c in E.alpha(prof) if c.param == "alpha"]
    for a in {c.value for c in cells}:
        values = _top1(out, [c for c in cells if c.value == a])["DCT"]
        assert table.loc[f"{a:g}", "Top-1"] == tables.mean_std(values)


def _check_design(out, prof):
    table = _table(out, "design_ablation")
    cells = [c for c in E.design(prof) if c.param]
    for group, setting in {(c.param, c.value) for c in cells}:
        row = table[(table["ablation"] == group) & (table["setting"] == setting)]
        values = [v for vs in _top1(out, [c for c in cells if (c.param, c.value)
                                           == (group, setting)]).values() for v in vs]
        assert row["Top-1"].iloc[0] == tables.mean_std(values), (group, setting)


def _check_baseline_alpha(out, prof):
    table = _table(out, "baseline_alpha").set_index("method")
    cells = [c for c in E.baseline_alpha(prof) if c.param == "change"]
    for cell in cells:
        values = _top1(out, [c for c in cells if (c.label, c.value) == (cell.label, cell.value)])
        col = f"{100 * float(cell.value):+.0f}%"
        assert table.loc[cell.label, col] == tables.mean_std(values[cell.label])


def _check_curves(out, prof):
    table = _table(out, "val_curves_summary").set_index("method")
    best: dict[str, list[float]] = {}
    for cell in E.curves(prof):
        hist = Run(out / "runs" / cell.run_id).history()
        if hist["val_top1"].notna().any():
            best.setdefault(cell.label, []).append(hist["val_top1"].max())
    for label, values in best.items():
        assert table.loc[label, "best val Top-1"] == tables.mean_std(values), label


def _check_budget(out, prof):
    """Notebook 07's budget test: each row's Top-1 at 1x and 2x is its runs' final.json, and the
    verdict follows the 2-point rule; the main table marks the same verdict beside the row."""
    table = _table(out, "budget_test").set_index("method")
    cells = E.budget(prof)
    assert {c.label for c in cells} == {c.label for c in E.main(prof)}
    for label in table.index:
        at = {f: _top1(out, [c for c in cells if c.label == label and c.value == f])[label]
              for f in (1.0, 2.0)}
        assert float(table.loc[label, "Top-1 at 1×"]) == round(np.mean(at[1.0]), 2)
        assert float(table.loc[label, "Top-1 at 2×"]) == round(np.mean(at[2.0]), 2)
        gain = np.mean(at[2.0]) - np.mean(at[1.0])
        expected = ("converged" if abs(gain) <= 2.0 else
                    "not converged" if gain > 0 else "past its plateau")
        assert table.loc[label, "verdict"] == expected
    main = _table(out, "main_scenes").set_index("method")
    for label in table.index.drop("Teacher", errors="ignore"):
        said = table.loc[label, "verdict"]
        assert main.loc[label, "budget test (2× epochs)"].startswith(
            "NOT converged" if said == "not converged" else said)


def _check_curves_and_budget(out, prof):
    _check_curves(out, prof)
    _check_budget(out, prof)


def _check_regime(out, prof):
    table = _table(out, "regime").set_index("method")
    f = prof.family("regime")
    cells = [c for c in E.regime(prof) if c.value == 1.0]
    for label, values in _top1(out, cells).items():
        assert table.loc[label, f["title"]] == tables.mean_std(values), label
    for label, values in _top1(out, [c for c in E.main(prof) if c.label in table.index]).items():
        assert table.loc[label, "main table"] == tables.mean_std(values), label


def _check_per_class(out, prof):
    table = _table(out, "per_class")
    rows = table[table["class"] != ""]
    for cell in E.per_class(prof):
        saved = pd.read_csv(out / "runs" / cell.run_id / "per_class_best.csv")
        assert np.allclose(pd.to_numeric(rows[cell.label]), saved["accuracy"], equal_nan=True)


CHECKS = {
    "01_method": _check_method,
    "02_teachers_baselines": _check_teachers_baselines,
    "03_main_results": _check_main,
    "04_ablation_alpha": _check_alpha,
    "05_ablation_design": _check_design,
    "06_baseline_alpha": _check_baseline_alpha,
    "07_val_curves": _check_curves_and_budget,
    "08_per_class": _check_per_class,
    "14_regime": _check_regime,
}


def _write_notebook(path: Path, *sources: str) -> None:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('profile = "smoke"')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, *(nbformat.v4.new_code_cell(s) for s in sources)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, path)


@pytest.mark.parametrize("jobs", [1, 2])
def test_failing_notebook_stops_the_build_with_its_name_and_error(tmp_path, jobs):
    folder = tmp_path / "nbs"
    folder.mkdir()
    _write_notebook(folder / "98_fine.ipynb", "x = 1")
    _write_notebook(folder / "99_broken.ipynb", "x = 1", "raise ValueError('no such table')")
    expected = r"99_broken failed in cell 3 \(`raise ValueError.*\): ValueError: no such table"
    with pytest.raises(figures.NotebookError, match=expected):
        figures.build("smoke", results=tmp_path / "out", notebook_folder=folder,
                      html_export=jobs == 2, log=lambda _: None, jobs=jobs)
    assert index.read_status(tmp_path / "out") == {"98_fine": "ok", "99_broken": "failed"}
    assert "(failed)" in (tmp_path / "out" / "index.html").read_text()


def test_missing_data_root_stops_the_paper_build_before_training(tmp_path, capsys):
    from dctkd.cli import main

    assert main(["figures", "--profile", "paper", "--data", str(tmp_path), "--nb", "04",
                 "--results", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "ADE20K" in err and str(tmp_path / "ADEChallengeData2016") in err
    assert not (tmp_path / "out" / "runs").exists()


def test_plan_lists_runs_without_training(tmp_path, capsys):
    args = _parser().parse_args(["--profile", "paper", "--plan",
                                 "--results", str(tmp_path)])
    assert figures.main(args) == 0
    out = capsys.readouterr().out
    assert "03_main_results" in out and "missing" in out
    assert not any(tmp_path.iterdir())


def _parser():
    import argparse

    parser = argparse.ArgumentParser()
    figures.add_arguments(parser)
    return parser


# --- docs/experiments.md#main-tables coverage


def test_paper_grid_holds_every_published_table_cell():
    prof = load_profile("paper", data="/datasets")
    by_name = {prof.published(k): k for k in prof.datasets if prof.published(k)}
    cells = E.main(prof)
    index: dict = {}
    for c in cells:
        index.setdefault((c.dataset, c.teacher, c.student, c.label), []).append(c)
    pub = tables.published_results()
    assert len(pub) == 3 * 3 * 15 - 2 * 3 * 2  # CKD rows exist for ADE20K only
    for row in pub.itertuples():
        label = method_label(row.method)
        found = index.get((by_name[row.dataset], row.teacher, row.student, label))
        assert found, f"no run for {row.dataset} {row.teacher}->{row.student} {row.method}"
        for c in found:
            cfg = c.cfg
            assert cfg.data.name == by_name[row.dataset]
            assert (cfg.optim.epochs, cfg.optim.batch_size, cfg.optim.step_size) == (70, 128, 25)
            if row.method == "teacher":
                assert cfg.model == row.teacher and cfg.pretrained == "imagenet"
                assert cfg.optim.lr == 0.01
            else:
                assert cfg.model == row.student and cfg.pretrained is None
                assert cfg.optim.lr == 0.1
                assert cfg.method.name == row.method
                assert (cfg.teacher.model if cfg.teacher else None) == (
                    None if row.method == "none" else row.teacher)
        if row.method != "teacher":
            assert len({c.seed for c in found}) >= 3


def test_paper_grid_holds_every_published_alpha():
    prof = load_profile("paper", data="/datasets")
    cells = E.alpha(prof)
    assert all((c.dataset, c.teacher, c.student) == ("ade20k", "resnet50", "resnet18")
               for c in cells)
    trained = {resolve(c.cfg.method).alpha for c in cells if c.label == "DCT"}
    for value in tables.published_alpha()["alpha"]:
        if value == "baseline":
            assert any(c.label == "Baseline" for c in cells)
        else:
            assert any(abs(a - float(value)) < 1e-12 for a in trained), value
