"""The attention study: image choice, overlap per method and seed, embeddings and k-study
tables on tiny constructed inputs; notebooks 09–13 executed under `smoke` with their figures
and tables written and their numbers traceable to the runs (their sources are checked with
every other notebook in tests/test_notebooks.py)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import nbformat
import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dctkd import analysis
from dctkd.analysis import kstudy
from dctkd.report import build as figures
from dctkd.report import grid as E
from dctkd.report import image_figures, notebook, study
from dctkd.report.profile import load_profile

NAMES = ["09_attention_maps", "10_attention_overlap", "11_gradcam", "12_embeddings",
         "13_layout_study"]
STUDENTS = ["Baseline", "AT", "DCT", "DCT + KD", "KD", "ReviewKD"]
"""The attention family's students in the order of the figures' rows and tables."""


class Tiny(nn.Module):
    """A two-level `(logits, [(B, 4, H, W), (B, 4, H/2, W/2)])` model; `favour` forces its
    prediction to one class through a large logit bias."""

    def __init__(self, seed: int, favour: int | None = None, classes: int = 3) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, classes)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=gen))
        bias = torch.zeros(classes)
        if favour is not None:
            bias[favour] = 100.0
        self.register_buffer("bias", bias)

    def forward(self, x: torch.Tensor):
        f1 = torch.relu(self.conv(x))
        f2 = F.avg_pool2d(f1, 2)
        return self.fc(f2.mean((2, 3))) + self.bias, [f1, f2]


def _samples(targets, masks: bool = True) -> analysis.Samples:
    n = len(targets)
    images = torch.randn(n, 3, 8, 8, generator=torch.Generator().manual_seed(3))
    m = torch.zeros(n, 8, 8, dtype=torch.bool)
    m[:, :4, :4] = True
    return analysis.Samples(images, torch.as_tensor(targets), m if masks else None)


def _members(teacher: nn.Module, students: dict[tuple[str, int], nn.Module]):
    out = [analysis.Trained("Teacher", 0, teacher)]
    return out + [analysis.Trained(label, seed, model) for (label, seed), model in students.items()]


# ----------------------------------------------------------------------------- image choice


def test_choose_images_takes_the_strictest_rule_first_then_fills_up():
    correct = {
        "Teacher": np.array([1, 1, 1, 0, 1, 1], bool),
        "Baseline": np.array([0, 1, 0, 0, 0, 1], bool),
        "DCT": np.array([0, 1, 1, 1, 0, 1], bool),
    }
    chosen = analysis.choose_images(correct, n=4)
    assert chosen["position"].tolist() == [2, 0, 4, 1]
    assert chosen["rule"].tolist() == [
        "teacher right, baseline wrong, DCT right",
        "teacher right, baseline wrong",
        "teacher right, baseline wrong",
        "teacher right",
    ]
    assert len(analysis.choose_images(correct, n=10)) == 6  # "any" adds the rest, no repeats


def test_choose_images_skips_rules_about_absent_models_and_checks_lengths():
    chosen = analysis.choose_images({"Teacher": np.array([0, 1, 1], bool)}, n=1)
    assert chosen.to_dict("records") == [{"position": 1, "rule": "teacher right"}]
    with pytest.raises(ValueError, match="same samples"):
        analysis.choose_images({"Teacher": np.ones(3, bool), "DCT": np.ones(4, bool)})


def test_one_seed_keeps_the_teacher_and_orders_rows_like_the_figure():
    t, a, b = Tiny(0), Tiny(1), Tiny(2)
    members = _members(t, {("DCT", 1): a, ("Baseline", 1): b, ("DCT", 0): Tiny(3)})
    models = analysis.one_seed(members, 1)
    assert models == {"Teacher": t, "DCT": a, "Baseline": b}
    assert list(analysis.am_rows(models, torch.randn(2, 3, 8, 8))) == ["Baseline", "Teacher", "DCT"]
    assert set(analysis.one_seed(members)) == {"Teacher", "DCT"}  # smallest seed: 0
    with pytest.raises(ValueError, match="seed 5"):
        analysis.one_seed(members, 5)


def test_samples_subset_keeps_dataset_indices_and_image_table_marks_predictions():
    s = analysis.Samples(
        torch.randn(4, 3, 8, 8),
        torch.tensor([0, 1, 2, 1]),
        indices=np.array([10, 11, 12, 13]),
        classes=["a", "b", "c"],
    )
    sub = s.subset([3, 1])
    assert sub.indices.tolist() == [13, 11] and sub.targets.tolist() == [1, 1]
    chosen = pd.DataFrame({"position": [3], "rule": ["any"]})
    table = analysis.image_table(s, chosen, {"Teacher": np.array([0, 0, 0, 1])})
    assert table.to_dict("records") == [
        {"image": 13, "rule": "any", "class": "b", "Teacher": "b (right)"}
    ]
    with pytest.raises(ValueError, match="display"):
        s.image(0)


# ----------------------------------------------------------------------------- overlap


def test_overlap_of_a_student_identical_to_its_teacher_is_maximal():
    t = Tiny(0, favour=0)
    samples = _samples([0, 1, 0, 2])
    frame = analysis.overlap_frame(_members(t, {("DCT", 0): t, ("AT", 0): Tiny(5)}), samples)
    assert sorted(frame["sample"].unique()) == [0, 2]  # the teacher is right on these only
    assert (frame["kept"] == "teacher-correct samples").all()
    same = frame[frame["method"] == "DCT"]
    for m in ("ssim", "pearson", "iou"):
        assert np.allclose(same[m], 1.0, atol=1e-5)
    assert np.allclose(same["mass_on_objects"], same["mass_teacher"])
    other = frame[frame["method"] == "AT"]
    assert (other["pearson"] < 0.999).all()


def test_overlap_keeps_every_sample_when_the_teacher_is_never_right():
    t = Tiny(0, favour=0)
    frame = analysis.overlap_frame(_members(t, {("DCT", 0): Tiny(1)}), _samples([1, 2, 1]))
    assert len(frame) == 3 * 2 and frame["kept"].iloc[0].endswith("right on none)")
    with pytest.raises(ValueError, match="at least one student"):
        analysis.overlap_frame(_members(t, {}), _samples([0, 1]))


def test_gradcam_overlap_of_a_student_identical_to_its_teacher_is_maximal():
    t = Tiny(0)
    frame = analysis.overlap_frame(
        _members(t, {("DCT", 0): t}), _samples([0, 1, 2, 0]), kind="gradcam", keep="all"
    )
    assert frame["level"].unique().tolist() == [1]
    assert np.allclose(frame[["ssim", "iou"]], 1.0, atol=1e-5)  # a zero CAM has Pearson 0
    cams = analysis.gradcam_maps({"Teacher": t}, torch.randn(2, 3, 8, 8), torch.tensor([0, 1]))
    assert cams["Teacher"].shape == (2, 4, 4) and (cams["Teacher"] >= 0).all()


def _per_sample() -> pd.DataFrame:
    rows = []
    for method, seed, ssim in (
        ("DCT", 0, [0.5, 0.7]),
        ("DCT", 1, [0.8, 0.8]),
        ("AT", 0, [0.2, 0.4]),
    ):
        for sample, value in enumerate(ssim):
            rows.append(
                {
                    "method": method,
                    "seed": seed,
                    "level": 0,
                    "sample": sample,
                    "ssim": value,
                    "mass_on_objects": 0.5,
                    "mass_teacher": 0.6,
                    "mask_area": 0.25,
                }
            )
    return pd.DataFrame(rows)


def test_seed_means_and_table_give_mean_and_std_over_seeds():
    per_seed = analysis.seed_means(_per_sample())
    dct = per_seed[per_seed["method"] == "DCT"].sort_values("seed")
    assert np.allclose(dct["ssim"], [0.6, 0.8]) and dct["n"].tolist() == [2, 2]
    table = study.overlap_table(per_seed).set_index("method")
    assert table.loc["DCT", "SSIM"] == f"0.700 ± {np.std([0.6, 0.8], ddof=1):.3f}"
    assert table.loc["AT", "SSIM"] == "0.300" and table.loc["DCT", "seeds"] == 2
    assert table.loc["Teacher", "mass on objects"] == "0.600"
    assert table.loc[analysis.CHANCE, "mass on objects"] == "0.250"
    assert table.loc["Teacher", "SSIM"] == "" and (table["level"] == 1).all()
    assert list(table.index) == ["Teacher", "AT", "DCT", analysis.CHANCE]
    diff = analysis.compare(per_seed, "ssim", "DCT", "AT")
    assert np.isclose(diff.loc[1, "DCT − AT"], 0.4)


def test_chance_is_a_reference_line_on_the_mass_panel():
    per_seed = analysis.seed_means(_per_sample())
    measures = ["ssim", "mass_on_objects"]
    fig = image_figures.overlap_plot(image_figures.plot_frame(per_seed), measures)
    before = len(fig.axes[1].lines)
    image_figures.mark_chance(fig, per_seed, measures)
    assert len(fig.axes[1].lines) == before + 1
    assert np.allclose(fig.axes[1].lines[-1].get_ydata(), [0.25])
    assert analysis.CHANCE not in set(image_figures.plot_frame(per_seed)["method"])
    plt.close(fig)


def test_silhouette_per_model_and_seed():
    samples = _samples([0, 1, 2] * 4, masks=False)
    members = _members(Tiny(0), {("DCT", 0): Tiny(1), ("DCT", 1): Tiny(2)})
    frame = analysis.silhouette_frame(members, samples)
    assert frame[["method", "seed"]].values.tolist() == [["Teacher", 0], ["DCT", 0], ["DCT", 1]]
    assert frame["silhouette"].between(-1, 1).all()
    table = study.silhouette_table(frame).set_index("method")
    assert table.loc["DCT", "seeds"] == 2 and " ± " in table.loc["DCT", "silhouette"]


# ----------------------------------------------------------------------------- k-study


def _kframe() -> pd.DataFrame:
    rows = []
    for k in (1, 2):
        for seed in (0, 1, 2):
            for method, top1, ssim in (
                ("DCT", 60 + k + seed, 0.6),
                ("AT", 58 + seed, 0.5),
                ("Baseline", 55, 0.4 + 0.1 * seed),
            ):
                rows.append({"k": k, "method": method, "seed": seed, "top1": top1, "ssim": ssim})
        rows.append({"k": k, "method": "Teacher", "seed": 0, "top1": 80.0, "ssim": np.nan})
    rows.append({"k": 2, "method": "DCT", "seed": 7, "top1": 0.0, "ssim": 0.0})  # unpaired
    return pd.DataFrame(rows)


def test_kstudy_gains_are_paired_by_seed():
    gains = kstudy.kstudy_gains(_kframe())
    top1 = gains[(gains["quantity"] == "Top-1 (%)") & (gains["comparison"] == "DCT − AT")]
    assert top1.set_index(["k", "seed"])["gain"].to_dict() == {
        (1, 0): 3.0,
        (1, 1): 3.0,
        (1, 2): 3.0,
        (2, 0): 4.0,
        (2, 1): 4.0,
        (2, 2): 4.0,
    }
    base = gains[(gains["quantity"] == "SSIM") & (gains["comparison"] == "DCT − Baseline")]
    assert np.allclose(base.sort_values(["k", "seed"])["gain"], [0.2, 0.1, 0.0] * 2)
    frame = _kframe()
    with pytest.raises(ValueError, match="no seed trained for both DCT and AT"):
        kstudy.kstudy_gains(frame[~((frame["k"] == 2) & (frame["method"] == "AT"))])


def test_kstudy_tables_and_accuracy_frame():
    frame = _kframe()
    table = study.kstudy_table(kstudy.kstudy_gains(frame), {1: 100.0, 2: 50.0}).set_index("k")
    assert table.loc[2, "one-object ceiling (%)"] == "50.0"
    assert table.loc[2, "DCT − AT: Top-1 (%)"] == "4.00 ± 0.00"
    assert table.loc[1, "DCT − Baseline: SSIM"] == "0.100 ± 0.100"
    models = study.kstudy_models_table(frame[frame["seed"] != 7])
    assert models[models["k"] == 1]["method"].tolist() == ["Baseline", "Teacher", "AT", "DCT"]
    acc = kstudy.accuracy_vs_k(frame, {1: 100.0, 2: 50.0})
    ceil = acc[acc["series"] == "one-object ceiling"]
    assert ceil.set_index("k")["Top-1 (%)"].to_dict() == {1: 100.0, 2: 50.0}


def test_first_samples_and_ceilings_from_the_smoke_scenes():
    prof = load_profile("smoke", ["families.kstudy.rules={presence: {}}",
                                  "families.kstudy.ks={1: {options: {k: 1}}, 2: {}}"])
    cells = E.kstudy(prof)
    cfg = next(c for c in cells if c.label == "Teacher" and c.value == 2).cfg
    s = analysis.first_samples(cfg, n=5)
    from dctkd.engine import dataset_of

    ds = dataset_of(cfg, "test")
    assert s.indices.tolist() == [0, 1, 2, 3, 4] and len(s) == 5
    assert torch.equal(s.masks, ds.masks[:5]) and torch.equal(s.images[2], ds[2][0])
    picked = analysis.first_samples(cfg, indices=[7, 3])
    assert torch.equal(picked.images[0], ds[7][0]) and torch.equal(picked.masks[1], ds.masks[3])
    assert picked.image(0).dtype == torch.uint8 and picked.image(0).shape == (3, 16, 16)
    with pytest.raises(ValueError, match="indices"):
        analysis.first_samples(cfg, indices=[len(ds)])
    ceiling = study.ceilings(cells)
    assert list(ceiling) == [1, 2] and ceiling[1] == 100.0 and ceiling[2] <= 50.0


# ----------------------------------------------------------------------------- notebooks


def test_attention_notebooks_exist():
    assert set(NAMES) <= {p.stem for p in figures.list_notebooks()}


def test_load_family_picks_the_smallest_seed_and_names_its_models(smoke_out):
    report = notebook.Report("09_attention_maps", "smoke", smoke_out, workers=1)
    cells = report.cells("attention")
    family = study.load_family(cells, report.ensure(cells))
    seeds = sorted({m.seed for m in analysis.students(family.members)})
    assert family.seed == seeds[0] and family.teacher_cell.label == "Teacher"
    assert set(family.models) == {"Teacher", *STUDENTS}
    assert str(family).startswith("models: ") and "(seed " in str(family)
    with pytest.raises(ValueError, match="no student was trained with seed 99"):
        study.load_family(cells, report.ensure(cells), seed=99)


def _table(out: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(out / "tables" / f"{name}.csv", dtype=str, keep_default_na=False)


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_under_smoke_and_writes_its_artefacts(name, smoke_out):
    figures.build(
        "smoke", [name], results=smoke_out, workers=1, html_export=False, log=lambda _: None
    )
    nb = figures.notebook_dir() / f"{name}.ipynb"
    expected = figures.notebook_meta(nb)["outputs"]
    for kind, suffixes in (("figures", (".png", ".pdf")), ("tables", (".csv", ".md"))):
        for pattern in expected[kind]:
            for suffix in suffixes:
                hits = list((smoke_out / kind).glob(pattern + suffix))
                assert hits and all(p.stat().st_size > 0 for p in hits), pattern + suffix
    manifest = next(m for m in notebook.read_manifests(smoke_out) if m["notebook"] == name)
    assert all("Synthetic data" in e["caption"] for e in manifest["figures"] + manifest["tables"])
    executed = nbformat.read(smoke_out / "notebooks" / f"{name}.ipynb", as_version=4)
    assert not any(o.output_type == "error" for c in executed.cells for o in c.get("outputs", []))
    _check_numbers(name, smoke_out)


def _check_numbers(name: str, out: Path) -> None:
    prof = load_profile("smoke")
    students = STUDENTS
    if name == "09_attention_maps":
        info = _table(out, "attention_maps_images")
        assert len(info) == 3 and len(list((out / "figures").glob("attention_maps_*.png"))) == 3
        assert {"Teacher", *students} <= set(info.columns)
    elif name in ("10_attention_overlap", "11_gradcam"):
        table = _table(out, "attention_overlap" if name.startswith("10") else "gradcam_overlap")
        levels = [1, 2, 3] if name.startswith("10") else [3]
        assert sorted(table["level"].astype(int).unique()) == levels
        for level in levels:
            rows = table[table["level"].astype(int) == level]
            assert rows["method"].tolist() == [
                *students[:1],
                "Teacher",
                *students[1:],
                analysis.CHANCE,
            ]
        ssim = pd.to_numeric(table[table["method"].isin(students)]["SSIM"])
        assert ssim.between(-1, 1).all()
        if name.startswith("10"):
            _check_claims(_table(out, "attention_overlap_claims"), table, "SSIM", levels)
    elif name == "12_embeddings":
        table = _table(out, "embeddings_silhouette")
        assert table["method"].tolist() == [students[0], "Teacher", *students[1:]]
        assert pd.to_numeric(table["silhouette"]).between(-1, 1).all()
        _check_claims(_table(out, "embeddings_silhouette_claims"), table, "silhouette")
    elif name == "13_layout_study":
        from dctkd.engine import Run
        from dctkd.report.layout_study import rule_of

        top1 = {}
        for cell in E.kstudy(prof):
            run = Run(out / "runs" / cell.run_id)
            top1[(rule_of(cell), cell.value, cell.label, cell.seed)] = run.metrics()["best"]["top1"]
        seeds = list(E.kstudy_pairing(prof.family("kstudy"), prof))
        gain = {(r, k): [top1[(r, k, "DCT", s)] - top1[(r, k, "AT", s)] for s in seeds]
                for r, k, _, _ in top1}
        claims = _table(out, "layout_claims")
        for _, row in claims[claims["comparison"] == "DCT − AT"].iterrows():
            mean = sum(gain[(row["rule"], int(row["k"]))]) / len(seeds)
            assert float(row["difference"]) == pytest.approx(mean, abs=0.006)
        inter = _table(out, "layout_interaction").iloc[0]  # the primary endpoint comes first
        assert inter["comparison"] == "(DCT − AT)_layout − (DCT − AT)_presence"
        assert inter["primary"] == "True" and int(inter["seeds"]) == len(seeds)
        k = int(inter["k"])
        expected = (sum(gain[("layout", k)]) - sum(gain[("presence", k)])) / len(seeds)
        assert float(inter["difference"]) == pytest.approx(expected, abs=0.006)


def _check_claims(found: pd.DataFrame, table: pd.DataFrame, measure: str,
                  levels: list[int] | None = None) -> None:
    """The paired claims under smoke: DCT against AT, the student alone, KD and ReviewKD at
    every level, one seed (no interval, verdict "too few seeds"), and each side's value the
    one of the mean table for the same model and level."""
    comparisons = [f"DCT − {other}" for other in ("AT", "Baseline", "KD", "ReviewKD")]
    part = found[found["measure"] == measure]
    for level in levels or [None]:
        rows = part if level is None else part[part["level"].astype(int) == level]
        means = table if level is None else table[table["level"].astype(int) == level]
        means = means.set_index("method")[measure]
        assert rows["comparison"].tolist() == comparisons
        assert (rows["seeds"] == "1").all() and (rows["ci_low"] == "").all()
        assert set(rows["verdict"]) == {"too few seeds"} and set(rows["better"]) == {"higher"}
        for _, row in rows.iterrows():
            other = row["comparison"].split(" − ")[1]
            assert float(row["A"]) == pytest.approx(float(means["DCT"]), abs=1e-3)
            assert float(row["B"]) == pytest.approx(float(means[other]), abs=1e-3)
