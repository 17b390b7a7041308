"""Every notebook runs under `smoke` through papermill and writes its artefacts; committed
notebooks carry no outputs; the `paper` grid holds every published cell (SPEC F.1–F.4)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
import pytest

from dctkd import experiments as E
from dctkd import figures, tables
from dctkd.methods import resolve

NOTEBOOKS = figures.list_notebooks()
NAMES = [p.stem for p in NOTEBOOKS]


def test_notebooks_exist():
    assert {"01_method", "03_main_results", "04_ablation_alpha", "08_per_class"} <= set(NAMES)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_committed_notebook_is_clean_and_parametrised(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, path.name
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    assert 'profile = "quick"' in tagged[0].source
    meta = nb.metadata.get("dctkd", {})
    assert meta.get("outputs"), "notebook metadata must list the figures/tables it writes"
    assert set(meta.get("families", [])) <= set(E.FAMILIES)


def _generator():
    spec = importlib.util.spec_from_file_location(
        "generate", figures.notebook_dir() / "generate.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    return gen


# Notebooks 09-13 (notebooks/generate_attention.py) run under smoke in
# tests/test_attention_study.py, which also checks their numbers against the run files.
RESULT_NOTEBOOKS = [n for n in NAMES if n in _generator().NOTEBOOKS]


def test_committed_notebooks_match_their_generator():
    gen = _generator()
    for name in gen.NOTEBOOKS:
        built = gen.build(name)
        committed = nbformat.read(figures.notebook_dir() / f"{name}.ipynb", as_version=4)
        assert [c.source for c in committed.cells] == [c.source for c in built.cells], name


@pytest.mark.parametrize("name", RESULT_NOTEBOOKS)
def test_notebook_runs_under_smoke_and_writes_its_artefacts(name, smoke_out):
    index = figures.build("smoke", [name], results=smoke_out, workers=1, log=lambda _: None)
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
    html = index.read_text()
    assert f"notebooks/{name}.html" in html
    manifest = next(m for m in figures.read_manifests(smoke_out) if m["notebook"] == name)
    for entry in manifest["figures"] + manifest["tables"]:
        assert "Synthetic data" in entry["caption"]
        assert all((smoke_out / f).stat().st_size > 0 for f in entry["files"])
        assert entry["name"] in html


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
    assert figures.read_status(tmp_path / "out") == {"98_fine": "ok", "99_broken": "failed"}
    assert "(failed)" in (tmp_path / "out" / "index.html").read_text()


def test_missing_data_root_stops_the_paper_build_before_training(tmp_path, capsys):
    args = _parser().parse_args(["--profile", "paper", "--data", str(tmp_path),
                              "--nb", "04", "--results", str(tmp_path / "out")])
    assert figures.main(args) == 1
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


# ------------------------------------------------------------------ SPEC F.1–F.4 coverage


def test_paper_grid_holds_every_published_table_cell():
    prof = E.load_profile("paper", data="/datasets")
    by_name = {d["published"]: k for k, d in prof.datasets.items() if d.get("published")}
    cells = E.main(prof)
    index: dict = {}
    for c in cells:
        index.setdefault((c.dataset, c.teacher, c.student, c.label), []).append(c)
    pub = tables.published_results()
    assert len(pub) == 3 * 3 * 15 - 2 * 3 * 2  # CKD rows exist for ADE20K only
    for row in pub.itertuples():
        found = index.get((by_name[row.dataset], row.teacher, row.student, row.method))
        assert found, f"no run for {row.dataset} {row.teacher}->{row.student} {row.method}"
        for c in found:
            cfg = c.cfg
            assert cfg.data.name == by_name[row.dataset]
            assert (cfg.optim.epochs, cfg.optim.batch_size, cfg.optim.step_size) == (70, 128, 25)
            if row.method == "Teacher":
                assert cfg.model == row.teacher and cfg.pretrained == "imagenet"
                assert cfg.optim.lr == 0.01
            else:
                assert cfg.model == row.student and cfg.pretrained is None
                assert cfg.optim.lr == 0.1
                assert cfg.method.name == E.method_name(row.method)
                assert (cfg.teacher.model if cfg.teacher else None) == (
                    None if row.method == "Baseline" else row.teacher)
        if row.method != "Teacher":
            assert len({c.seed for c in found}) >= 3


def test_paper_grid_holds_every_published_alpha():
    prof = E.load_profile("paper", data="/datasets")
    cells = E.alpha(prof)
    assert all((c.dataset, c.teacher, c.student) == ("ade20k", "resnet50", "resnet18")
               for c in cells)
    trained = {resolve(c.cfg.method).alpha for c in cells if c.label == "DCT"}
    for value in tables.published_alpha()["alpha"]:
        if value == "baseline":
            assert any(c.label == "Baseline" for c in cells)
        else:
            assert any(abs(a - float(value)) < 1e-12 for a in trained), value
