"""The rehearsal of the paper path: the `rehearsal` profile keeps the `paper` profile's
structure (datasets read from their distributed layouts, the torchvision pairs with
ImageNet-initialised teachers, the families, the published columns) on tiny datasets written
by tests/paper_layouts.py, with random "ImageNet" weights in a temporary torch hub cache.

- the profile mirrors the paper's, and the paper-profile details (ReviewKD's fusion width
  keyed by student, the CRD negatives cap named in captions) hold in both;
- a default-suite slice trains one teacher and one student per reader and per backbone
  through the real readers, evaluates one with ten crops and builds the published tables;
- a `slow` test runs the whole `dctkd figures --profile rehearsal` build (every notebook)
  and checks every artefact (`pytest -m slow tests/test_rehearsal.py`).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from dctkd.cli import main as cli
from dctkd.engine import ensure_all
from dctkd.losses import TEACHER_LABEL as TEACHER
from dctkd.losses import label as method_label
from dctkd.models import weights as W
from dctkd.report import build as figures
from dctkd.report import grid as E
from dctkd.report import notebook, tables
from dctkd.report.fetch_weights import profile_models
from dctkd.report.notebooks import for_profile
from dctkd.report.profile import check_data, load_profile

SCENES = ("ade20k", "sun397", "mit67")


@pytest.fixture
def offline_hub(paper_home, monkeypatch) -> Path:
    """`$TORCH_HOME` at the fixture's cache, and no download allowed: the cache path only."""
    monkeypatch.setenv("TORCH_HOME", str(paper_home / "torch"))

    def no_network(url, dst):
        raise AssertionError(f"the rehearsal must not download {url}")

    monkeypatch.setattr(W, "download", no_network)
    return paper_home / "torch"


# ------------------------------------------------------------------ the profile


def test_rehearsal_keeps_the_structure_of_the_paper_profile():
    paper = load_profile("paper", data="/datasets")
    reh = load_profile("rehearsal", data="/datasets")
    assert list(reh.datasets) == list(paper.datasets)
    for ds in paper.datasets:
        assert reh.datasets[ds]["data"]["name"] == paper.datasets[ds]["data"]["name"]
        assert (reh.published(ds), reh.subdir(ds)) == (paper.published(ds), paper.subdir(ds))
        assert set(reh.pairs(ds)) <= set(paper.pairs(ds))
    assert reh.pairs("ade20k") == paper.pairs("ade20k") and len(reh.pairs("ade20k")) == 3
    assert set(reh.main_methods()) <= set(paper.main_methods())
    assert {"none", "kd", "at", "crd", "review", "dct", "dct+kd"} <= set(reh.main_methods())
    assert reh.spec["families"].keys() == paper.spec["families"].keys()
    for fam, settings in paper.spec["families"].items():
        for key in ("dataset", "datasets", "pair", "method"):
            assert reh.spec["families"][fam].get(key) == settings.get(key), (fam, key)
    assert reh.spec["method_options_by_student"] == paper.spec["method_options_by_student"]
    for cell in E.teachers(reh):
        assert cell.cfg.pretrained == (None if cell.dataset == "cifar100" else "imagenet")
    assert profile_models("rehearsal") == profile_models("paper") == ["resnet152", "resnet50"]
    small = E.main(reh)
    assert {c.cfg.optim.epochs for c in small} == {1}
    assert {c.cfg.data.options.get("image_size") for c in small if c.dataset in SCENES} == {64}


def test_review_fusion_width_is_keyed_by_student_in_paper_and_rehearsal():
    for name in ("paper", "rehearsal"):
        prof = load_profile(name, data="/datasets")
        review = [c for c in E.main(prof) if c.cfg.method.name.split("+")[0] == "review"]
        assert {c.student for c in review} >= {"mobilenet_v2", "resnet18", "resnet20"}
        for cell in review:
            width = cell.cfg.method.options.get("mid_channels")
            assert width == (256 if cell.student == "mobilenet_v2" else None), cell.run_id
    own = {"datasets.mit67.method_options": {"review": {"mid_channels": 64}}}
    prof = load_profile("paper", own, data="/datasets")
    pair = ("resnet50", "mobilenet_v2")
    assert E.student_config(prof, "mit67", pair, "review", 0).method.options == {
        "mid_channels": 64}  # the dataset's own options win over the per-student ones
    assert E.student_config(prof, "ade20k", pair, "review", 0, options={"mid_channels": 8}
                            ).method.options == {"mid_channels": 8}
    with pytest.raises(ValueError, match=r"method_options_by_student.resnet18 names unknown"):
        load_profile("paper", {"method_options_by_student": {"resnet18": {"fitnet": {}}}})


def test_crd_note_names_the_capped_number_of_negatives():
    df = pd.DataFrame({
        "run_id": ["a", "b", "c", "d", "a"],
        "method": ["crd", "crd+kd", "dct", "crd", "crd"],
        "num_train": [4824, 4824, 10, 20000, 4824],
    })
    note = tables.crd_note(df)
    assert note.startswith(" CRD drew K = N − 1 = 4,823 negatives per sample instead of 16,384")
    assert "docs/deviations.md#crd-k-cap" in note
    assert tables.crd_note(df[df["run_id"] == "d"]) == ""  # 19,999 >= 16,384: no cap
    assert tables.crd_note(df[df["method"] == "dct"]) == ""
    assert tables.crd_note(df.drop(columns="num_train")) == ""
    assert "K = N − 1 = 9 " in tables.crd_note(df.assign(num_train=10))


# ------------------------------------------------------------------ the default slice

# One teacher and one student per reader and per backbone; the method of each is one whose
# paper-profile detail shows (ReviewKD's width for MobileNetV2, CRD's cap, DCT without
# PRED_GUIDE on CIFAR-100). One batch holds every training image: one step per run.
SLICE = [
    ("ade20k", "resnet152", "resnet34", "dct+kd"),
    ("sun397", "resnet50", "resnet18", "crd"),
    ("mit67", "resnet50", "mobilenet_v2", "review"),
    ("cifar100", "resnet56", "resnet20", "dct"),
]
SLICE_SET = ["base.optim.batch_size=64"]


def _slice_cells(prof) -> list[E.Cell]:
    out = []
    for ds, teacher, student, method in SLICE:
        t = E.teacher_config(prof, ds, teacher)
        s = E.student_config(prof, ds, (teacher, student), method, 0)
        out.append(E.Cell("slice", ds, teacher, student, TEACHER, t.seed, t))
        out.append(E.Cell("slice", ds, teacher, student, method_label(method), 0, s))
    return out


def test_default_slice_trains_every_reader_and_backbone(paper_home, offline_hub, tmp_path,
                                                       monkeypatch, capsys):
    loaded = []
    read = W.load_imagenet_state
    monkeypatch.setattr(W, "load_imagenet_state", lambda name: loaded.append(name) or read(name))
    prof = load_profile("rehearsal", SLICE_SET, data=str(paper_home / "data"))
    cells = _slice_cells(prof)
    check_data(prof, cells)
    runs = {r.config.run_id: r for r in ensure_all(E.unique_configs(cells), tmp_path / "runs")}
    df = tables.collect(cells, runs)
    by = {(c.dataset, c.label): runs[c.run_id] for c in cells}

    # The real readers: each tree's own classes and splits, a 4-class head on the scenes.
    for ds in SCENES:
        final = by[ds, TEACHER].metrics()
        assert final["num_train"] + final["num_val"] == 24 and final["epochs"] == 1
        assert by[ds, TEACHER].load_model().num_classes == (5 if ds == "ade20k" else 4)
    assert by["cifar100", TEACHER].metrics()["num_test"] == 20

    # Every scene teacher started from its cached "ImageNet" file (no download: offline_hub).
    assert sorted(loaded) == ["resnet152", "resnet50", "resnet50"]

    # Paper-profile details: ReviewKD at 256 for MobileNetV2, CRD's cap in the caption.
    assert by["mit67", "ReviewKD"].metrics()["method"]["options"]["mid_channels"] == 256
    num_train = by["sun397", "CRD"].metrics()["num_train"]
    assert f"K = N − 1 = {num_train - 1} " in tables.crd_note(df[df["dataset"] == "sun397"])

    # The published Top-1 beside the reproduced one, for teacher and student.
    published = tables.published_results()
    order = tables.label_order(prof.main_methods())
    for ds, teacher, student, method in SLICE[:3]:
        table = tables.main_table(df, ds, order, published=prof.published(ds)).set_index("method")
        pub = published[(published.dataset == prof.published(ds)) & (published.teacher == teacher)
                        & (published.student == student)].set_index("method")["value"]
        assert table.loc[TEACHER, "published Top-1"] == f"{pub['teacher']:.2f}"
        expected = f"{pub[method]:.2f}" if method in pub.index else ""  # no ReviewKD row
        assert table.loc[method_label(method), "published Top-1"] == expected
        assert table.loc[TEACHER, "Top-1 (val-selected)"] != ""

    # Ten-crop evaluation through the command line, on a scene student.
    run = by["mit67", "ReviewKD"]
    assert cli(["evaluate", str(run.path), "--ten-crop", "--device", "cpu"]) == 0
    out = json.loads((run.path / "eval_test_best_tencrop.json").read_text())
    assert out["ten_crop"] is True and 0.0 <= out["top1"] <= 100.0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["top1"] == out["top1"]


# ------------------------------------------------------------------ the whole build

FREE_GB = 30  # the build writes about 18 GB of checkpoints (torchvision students, last.pt)


@pytest.mark.slow
def test_rehearsal_build_runs_every_notebook_and_writes_every_artefact(paper_home, offline_hub):
    scratch = Path(tempfile.mkdtemp(prefix="dctkd-rehearsal-"))
    if shutil.disk_usage(scratch).free < FREE_GB * 2**30:
        shutil.rmtree(scratch)
        pytest.skip(f"the rehearsal build needs about {FREE_GB} GB of free disk")
    try:
        _build_and_check(paper_home / "data", scratch / "results")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _build_and_check(data: Path, out: Path) -> None:
    index = figures.build("rehearsal", results=out, data=str(data), workers=2, jobs=2)
    assert index.is_file()
    prof = load_profile("rehearsal", data=str(data))
    # The notebooks whose experiments the profile defines, chosen as the build chooses them.
    built = for_profile(prof, figures.list_notebooks(), log=lambda _: None)
    for nb in figures.list_notebooks():
        if nb in built:
            _check_notebook(out, nb)
        else:
            assert not (out / "notebooks" / nb.name).exists(), nb.stem
    manifests = {m["notebook"]: m for m in notebook.read_manifests(out)}
    assert set(manifests) == {nb.stem for nb in built}
    for m in manifests.values():
        for entry in m["figures"] + m["tables"]:
            assert "Profile `rehearsal`" in entry["caption"], entry["name"]
    captions = {t["name"]: t["caption"] for t in manifests["03_main_results"]["tables"]}
    for ds in SCENES + ("cifar100",):
        table = pd.read_csv(out / "tables" / f"main_{ds}.csv", dtype=str, keep_default_na=False)
        published = [c for c in table.columns if c.endswith("published Top-1")]
        assert len(published) == (len(prof.pairs(ds)) if ds in SCENES else 0), ds
        assert all(table[c].str.len().gt(0).any() for c in published)
        assert "CRD drew K = N − 1" in captions[f"main_{ds}"], ds


def _check_notebook(out: Path, nb: Path) -> None:
    expected = figures.notebook_meta(nb)["outputs"]
    for kind, suffixes in (("figures", (".png", ".pdf")), ("tables", (".csv", ".md"))):
        for pattern in expected.get(kind, []):
            for suffix in suffixes:
                hits = list((out / kind).glob(pattern + suffix))
                assert hits and all(p.stat().st_size > 0 for p in hits), (nb.stem, pattern)
    executed = out / "notebooks" / nb.name
    assert (out / "notebooks" / f"{nb.stem}.html").stat().st_size > 0
    outputs = [o for c in nbformat.read(executed, as_version=4).cells
               for o in c.get("outputs", [])]
    assert outputs and not any(o.output_type == "error" for o in outputs), nb.stem
