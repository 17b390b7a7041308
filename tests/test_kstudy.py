"""The k-study's design and statistics: students paired with one of several teachers per k,
the budget check's stretched runs, intervals over teachers, the trend fitted on one point
per k, and the share of the teacher − student gap each method closes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from dctkd.analysis import kstudy, stats
from dctkd.report import claims, study
from dctkd.report import grid as E
from dctkd.report.profile import load_profile


def _kprofile(*extra: str):
    """The layout profile narrowed to a k-study of the presence rule: three teachers, one
    student per teacher and method, seed 0's budget check, the ks `extra` sets."""
    return load_profile("layout", [
        "families.kstudy.rules={presence: {}}", "families.kstudy.controls={}",
        "families.kstudy.methods=[none, at, kd, dct]", "seeds=[0, 1, 2]",
        "families.kstudy.teacher_seeds=[0, 1, 2]",
        "families.kstudy.budget={factor: 2, seeds: [0]}", *extra])


def test_each_k_gets_its_teachers_and_its_own_layers():
    prof = _kprofile("families.kstudy.ks={1: {options: {k: 1}}, 2: {options: {k: 2}, roles: "
                     "{student: {data: {train_size: 200}}}}, 4: {options: {k: 4}, methods: "
                     "{kd: {optim: {epochs: 640, milestones: [384, 480, 576]}}}}}")
    cells = E.kstudy(prof)
    main = [c for c in cells if c.param == "k"]
    assert len(main) == 3 * (3 + 4 * 3)
    for k in (1, 2, 4):
        part = [c for c in main if c.value == k]
        assert sorted(c.seed for c in part if c.label == "Teacher") == [0, 1, 2]
        for c in part:
            assert c.cfg.data.options["k"] == k
            if c.cfg.teacher is not None:
                assert c.cfg.teacher.seed == c.seed % 3
                assert c.cfg.teacher.data.options == c.cfg.data.options
    sizes = {c.value: c.cfg.data.train_size for c in main if c.label == "Baseline"}
    assert sizes == {1: None, 2: 200, 4: None}  # k = 2's students: 200 of the images
    epochs = {(c.value, c.label): c.cfg.optim.epochs for c in main if c.label != "Teacher"}
    assert epochs.pop((4, "KD")) == 640 and set(epochs.values()) == {80}


def test_the_budget_check_stretches_seed_0_and_its_teacher_at_every_k():
    cells = E.kstudy(_kprofile("families.kstudy.ks={2: {options: {k: 2}}, 3: {}}"))
    longer = [c for c in cells if c.param == "budget"]
    assert len(longer) == 2 * 5 and {c.seed for c in longer} == {0}
    for c in longer:
        own = next(o for o in cells if o.param == "k" and o.value == c.value
                   and o.seed == c.seed and o.label == c.label)
        assert c.cfg.optim.epochs == 2 * own.cfg.optim.epochs
        assert c.cfg.optim.milestones == tuple(2 * m for m in own.cfg.optim.milestones)
        assert c.cfg.teacher == own.cfg.teacher  # the student distils from the 1x teacher
    assert {c.label for c in longer} == {"Teacher", "Baseline", "AT", "KD", "DCT"}
    assert cells[:len(longer)] == longer  # listed first: a (k, label, seed) lookup ends on 1x


def test_the_study_has_its_own_profile_and_smoke_stays_tiny():
    # Its teachers alone (one per seed and rule) cost more than the default's time budget.
    assert "kstudy" not in E.defined_families(load_profile("quick"))
    assert E.defined_families(load_profile("layout")) == {"kstudy"}
    smoke = E.kstudy(load_profile("smoke"))
    assert all(c.cfg.optim.epochs == 1 for c in smoke) and len(smoke) <= 20


class _Run:
    def __init__(self, top1: float) -> None:
        self.top1 = top1

    def metrics(self) -> dict:
        return {"best": {"top1": self.top1}}


def test_kstudy_budget_pairs_each_longer_run_with_its_own_run():
    prof = _kprofile("families.kstudy.ks={1: {options: {k: 1}}}")
    cells = E.kstudy(prof)
    runs = {c.run_id: _Run(70.0 + (c.param == "budget") * (3.0 if c.label == "KD" else 1.0))
            for c in cells}
    got = study.kstudy_budget(cells, runs).set_index("method")
    assert sorted(got.index) == ["AT", "Baseline", "DCT", "KD", "Teacher"]
    assert (got["epochs_longer"] == 2 * got["epochs"]).all()
    checked = kstudy.budget_check(got.reset_index()).set_index("method")["passes"]
    assert not checked["KD"] and checked.drop("KD").all()
    accuracy = study.kstudy_accuracy(cells, runs)
    assert len(accuracy) == 3 + 4 * 3 and (accuracy["top1"] == 70.0).all()
    assert accuracy.set_index(["method", "seed"])["teacher_seed"][("Baseline", 1)] == 1


def test_clustered_interval_is_the_interval_of_the_teacher_means():
    values, clusters = [1.0, 3.0, 2.0, 6.0, 5.0, 7.0], [0, 0, 1, 1, 2, 2]
    mean, low, high, n = stats.clustered(values, clusters)
    means = np.array([2.0, 4.0, 6.0])
    half = sps.t.ppf(0.975, 2) * means.std(ddof=1) / np.sqrt(3)
    assert (mean, n) == (4.0, 3) and (low, high) == pytest.approx((4 - half, 4 + half))
    assert np.isnan(stats.clustered([1.0, 2.0], [0, 0])[1])  # one teacher: no interval


def _accuracy(slope: float, noise: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for k in (1, 2, 3, 4):
        for t in (0, 1, 2):
            rows.append({"k": k, "method": "Teacher", "seed": t, "teacher_seed": t,
                         "top1": 90.0})
            for seed in (t, t + 3):
                e = noise * rng.normal()
                for m, top1 in (("Baseline", 60.0), ("AT", 62.0), ("KD", 66.0),
                                ("DCT", 62.0 + slope * k + e)):
                    rows.append({"k": k, "method": m, "seed": seed, "teacher_seed": t,
                                 "top1": top1})
    return pd.DataFrame(rows)


def test_gap_closed_difficulty_and_the_trend_verdicts():
    acc = _accuracy(slope=2.0, noise=0.3)
    gap = kstudy.gap_closed(acc).groupby("method")["fraction"].mean()
    assert gap["AT"] == pytest.approx(2 / 30) and gap["KD"] == pytest.approx(6 / 30)
    hard = kstudy.difficulty(acc).set_index(["k", "quantity"])
    assert hard.loc[(2, "gap"), "mean"] == 30.0 and hard.loc[(2, "teacher"), "teachers"] == 3
    gains = kstudy.kstudy_gains(acc, ("top1",), against=("AT", "Baseline"))
    per_k = kstudy.by_k(gains, "gain", ["comparison"])
    assert (per_k["teachers"] == 3).all() and (per_k["runs"] == 6).all()
    trend = claims.kstudy_trend(per_k).set_index("comparison")
    assert trend.loc["DCT − AT", "verdict"] == "grows with k"
    assert trend.loc["DCT − AT", "slope per k"] == pytest.approx(2.0, abs=0.3)
    flat = claims.kstudy_trend(kstudy.by_k(kstudy.kstudy_gains(
        _accuracy(slope=0.0, noise=1.0), ("top1",)), "gain", ["comparison"]))
    assert set(flat["verdict"]) <= {"unresolved", "grows with k", "shrinks with k"}
    two = per_k[per_k["k"] <= 2]
    assert set(claims.kstudy_trend(two)["verdict"]) == {"too few k"}
    table = claims.kstudy_claims(acc, {1: 100.0, 2: 50.0, 3: 30.0, 4: 25.0},
                                 [("DCT", "AT"), ("DCT", "KD")]).set_index("k")
    assert table.loc[1, "teacher Top-1"] == "90.00 [90.00, 90.00]"
    assert table.loc[1, "DCT − AT 95% interval"].startswith("[")


def test_the_trend_counts_each_k_once_whatever_its_seeds():
    per_k = pd.DataFrame({"k": [1, 2, 3, 4], "comparison": "c", "mean": [0.0, 1.0, 2.0, 3.5]})
    got = kstudy.trend_in_k(per_k).iloc[0]
    fit = sps.linregress([1, 2, 3, 4], [0.0, 1.0, 2.0, 3.5])
    assert got["ks"] == 4 and got["slope"] == pytest.approx(fit.slope)
    assert got["ci_high"] - got["slope"] == pytest.approx(sps.t.ppf(0.975, 2) * fit.stderr)


def test_budget_check_flags_runs_that_gain_more_than_the_tolerance():
    b = pd.DataFrame({"k": [1, 1], "method": ["DCT", "AT"], "seed": [0, 0],
                      "top1": [60.0, 60.0], "top1_longer": [61.5, 63.0]})
    got = kstudy.budget_check(b, 2.0)
    assert got["passes"].tolist() == [True, False] and got["gain"].tolist() == [1.5, 3.0]


def test_kstudy_hardest_names_each_models_least_accurate_classes(tmp_path):
    prof = _kprofile("families.kstudy.ks={1: {options: {k: 1}}}")
    cells = [c for c in E.kstudy(prof) if c.param == "k"]
    runs = {}
    for c in cells:
        path = tmp_path / c.run_id
        path.mkdir(exist_ok=True)
        low = 40.0 + c.seed if c.label == "Teacher" else 70.0  # one weak class per teacher
        rows = [f"{i},kind-{i},100,0,{low if i == 3 else 100.0}" for i in range(10)]
        (path / "per_class_best.csv").write_text(
            "class,name,support,correct,accuracy\n" + "\n".join(rows) + "\n")
        runs[c.run_id] = type("R", (), {"path": path})()
    got = study.kstudy_hardest(cells, runs, n=2).set_index("model")
    assert list(got.index) == ["Teacher", "Baseline"] and got.loc["Teacher", "seeds"] == 3
    assert got.loc["Teacher", "least accurate classes"] == "kind-3 41, kind-0 100"
    assert got.loc["Teacher", "mean over classes"] == pytest.approx(94.1)
    assert got.loc["Baseline", "least accurate classes"].startswith("kind-3 70")


def test_more_student_seeds_than_teachers_spread_over_the_teachers():
    prof = _kprofile("seeds=[0,1,2,3,4,5]", "families.kstudy.ks={2: {options: {k: 2}}}")
    assert E.kstudy_pairing(prof.family("kstudy"), prof) == {0: 0, 1: 1, 2: 2, 3: 0, 4: 1, 5: 2}
    cells = [c for c in E.kstudy(prof) if c.param == "k" and c.value == 2 and c.label == "KD"]
    assert {c.seed: c.cfg.teacher.seed for c in cells} == {0: 0, 1: 1, 2: 2, 3: 0, 4: 1, 5: 2}
    assert {c.seed: c.cfg.data.holdout_seed for c in cells} == {
        0: None, 1: None, 2: None, 3: 0, 4: 1, 5: 2}


def test_the_design_table_names_how_each_k_trains():
    layers = ("families.kstudy.ks={1: {options: {k: 1}, roles: {teacher: {optim: {epochs: 96, "
              "milestones: [56, 72, 88]}}}}, 2: {options: {k: 2}, roles: {student: {data: "
              "{train_size: 200}}}}, 4: {options: {k: 4}, methods: {kd: {optim: {epochs: 640, "
              "milestones: [384, 480, 576]}}}}}")
    prof = _kprofile(layers)
    design = study.kstudy_design(E.kstudy(prof)).set_index("k")
    teacher = E.role_config(prof, "scenes", "teacher", "resnet20", 0)
    assert design["teacher epochs"].to_dict() == {1: 96, 2: teacher.optim.epochs,
                                                  4: teacher.optim.epochs}
    assert design["student epochs"].to_dict() == {1: "80", 2: "80", 4: "80; KD 640"}
    generated = teacher.data.options["train_size"]
    shared = generated - round(teacher.data.val_fraction * generated)  # the teacher's images
    assert design["student images"].to_dict() == {1: shared, 2: 200, 4: shared}
    note = study.kstudy_epochs_note(design.reset_index())
    assert "k = 4 (80; KD 640)" in note and "k = 1" not in note
    alike = study.kstudy_design(E.kstudy(_kprofile(layers, "families.kstudy.ks.4.methods={}")))
    assert study.kstudy_epochs_note(alike) == ""
    assert (design["objects needed (fewest)"] <= design.index).all()


def test_a_k_can_set_one_methods_students_apart_and_a_stray_method_is_refused():
    prof = _kprofile("families.kstudy.ks={2: {options: {k: 2}, methods: {at: {optim: "
                     "{epochs: 90}}}}}")
    cells = [c for c in E.kstudy(prof) if c.param == "k" and c.value == 2]
    epochs = {(c.label, c.seed): c.cfg.optim.epochs for c in cells if c.label != "Teacher"}
    assert {n for (label, _), n in epochs.items() if label == "AT"} == {90}
    assert {n for (label, _), n in epochs.items() if label != "AT"} == {80}
    at = next(c for c in cells if c.label == "AT")
    kd = next(c for c in cells if c.label == "KD" and c.seed == at.seed)
    assert at.cfg.teacher == kd.cfg.teacher  # the layer leaves the k's teachers alone
    with pytest.raises(ValueError, match=r"ks\.2\.methods names \['pkt'\]"):
        _kprofile("families.kstudy.ks={2: {methods: {pkt: {}}}}")


def test_a_misspelt_key_of_a_k_stops_at_load():
    from dctkd.errors import ConfigError

    with pytest.raises(ConfigError, match=r"families\.kstudy\.ks\.3\.metods"):
        load_profile("layout", ["families.kstudy.ks.3.metods={kd: {}}"])
