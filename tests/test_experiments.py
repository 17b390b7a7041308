"""Profiles and the experiment grid: loading, overrides, run sharing, data checks, budget."""

from __future__ import annotations

import pytest

from dctkd.engine.launch import needed_first
from dctkd.losses import TEACHER_LABEL, resolve
from dctkd.losses import label as method_label
from dctkd.losses.catalogue import name_of
from dctkd.report import grid as E
from dctkd.report.profile import check_data, load_profile


@pytest.mark.parametrize("name", ["smoke", "quick", "full", "layout", "paper"])
def test_every_family_of_every_profile_builds(name):
    prof = load_profile(name, data="/nowhere")
    controls = {label for fam in ("main", "kstudy")
                for label in (prof.spec["families"].get(fam) or {}).get("controls") or {}}
    for family in sorted(E.defined_families(prof)):
        cells = E.grid(prof, [family])
        assert cells, family
        for cell in cells:
            assert cell.cfg.run_id == cell.run_id
            if cell.label == TEACHER_LABEL:
                assert cell.cfg.teacher is None and cell.cfg.model == cell.teacher
            elif cell.label == "Baseline" or cell.cfg.method.name == "none":
                assert cell.cfg.teacher is None and cell.cfg.method.name == "none"
            else:
                assert cell.cfg.teacher.model == cell.teacher
                assert method_label(cell.cfg.method.name) == cell.label or cell.label in controls


@pytest.mark.parametrize("name, amp", [("quick", "off"), ("layout", "off"), ("full", "auto")])
def test_each_cpu_profile_states_its_precision(name, amp):
    # `auto` means bf16 autocast on a CPU with avx512_bf16 and float32 elsewhere: quick
    # reads the same on any CPU; full buys its grid's time with it, and says so.
    prof = load_profile(name)
    cells = E.grid(prof, sorted(E.defined_families(prof)))
    configs = [c for cell in cells for c in (cell.cfg, *needed_first(cell.cfg))]
    assert {cfg.runtime.amp for cfg in configs} == {amp}
    if amp != "off":
        assert "bf16" in prof.description


def test_the_gpu_profile_leaves_autocast_to_the_hardware():
    cells = E.grid(load_profile("paper", data="/nowhere"), ["main"])
    assert {c.cfg.runtime.amp for c in cells} == {"auto"}


def test_unknown_profile_and_bad_override_are_clear():
    with pytest.raises(ValueError, match="unknown profile 'nope'"):
        load_profile("nope")
    with pytest.raises(ValueError, match="unknown profile key 'sedes'"):
        load_profile("smoke", ["sedes=[0]"])
    with pytest.raises(ValueError, match="not of the form key=value"):
        load_profile("smoke", ["seeds"])
    with pytest.raises(ValueError, match="names dataset 'cifar'"):
        load_profile("smoke", ["families.alpha.dataset=cifar"])


def test_overrides_reach_runs_and_integer_keys():
    prof = load_profile("layout", [
        "seeds=[7]", "families.kstudy.teacher_seeds=[7]", "roles.student.optim.epochs=3",
        "families.kstudy.ks={1: {options: {k: 1}}, 3: {methods: {kd: {optim: {epochs: 640}}}}}",
        "families.kstudy.rules={presence: {}}", "families.kstudy.ks.1.options.distractors=2"])
    students = [c for c in E.kstudy(prof) if c.label != TEACHER_LABEL and c.param == "k"]
    assert {c.seed for c in students} == {7}
    # A role's setting reaches every student except those whose own layer sets it (k = 3's
    # KD students train 640 epochs): the more specific layer wins.
    epochs = {(c.value, c.label): c.cfg.optim.epochs for c in students}
    assert epochs.pop((3, "KD")) == 640
    assert set(epochs.values()) == {3} and {k for k, _ in epochs} == {1, 3}
    k1 = [c for c in E.kstudy(prof) if c.value == 1]
    assert {c.cfg.data.options["distractors"] for c in k1} == {2}
    assert all(c.cfg.data.options["k"] == 1 for c in k1)


def test_same_experiment_in_two_notebooks_is_one_run():
    prof = load_profile("full")
    main_ids = {c.run_id for c in E.main(prof)}
    alpha_default = [c for c in E.alpha(prof) if c.value == 1.0]
    assert alpha_default and all(c.run_id in main_ids for c in alpha_default)
    assert alpha_default[0].cfg.method.alpha == 1.0  # written out, yet the same run
    zero = [c for c in E.baseline_alpha(prof) if c.param == "change" and c.value == 0.0]
    assert zero and all(c.run_id in main_ids for c in zero)
    v1 = [c for c in E.design(prof) if c.value == "V1"]
    assert all(c.run_id in main_ids for c in v1)
    assert {c.run_id for c in E.curves(prof) if c.label != TEACHER_LABEL} <= main_ids
    budget_ones = {c.run_id for c in E.budget(prof) if c.value == 1.0}
    assert budget_ones <= main_ids | {c.run_id for c in E.main(prof)}


def test_ablated_settings_are_distinct_runs_with_the_right_weights():
    prof = load_profile("full")
    sweep = [c for c in E.alpha(prof) if c.param == "alpha"]
    assert len({c.run_id for c in sweep}) == len(sweep)
    for c in sweep:
        assert resolve(c.cfg.method).alpha == pytest.approx(c.value)
    for c in E.baseline_alpha(prof):
        if c.param == "change":
            base = resolve(type(c.cfg.method)(name=c.cfg.method.name)).alpha
            assert resolve(c.cfg.method).alpha == pytest.approx(base * (1 + c.value))
    opts = {c.value: c.cfg.method.options for c in E.design(prof) if c.param == "transform"}
    assert opts["V2"] == {"variant": "v2"} and opts["DCT-II"] == {"variant": "dct2"}


def test_unique_configs_put_every_teacher_before_its_students():
    prof = load_profile("full")
    cells = E.grid(prof, E.defined_families(prof))
    cfgs = E.unique_configs(cells)
    ids = [c.run_id for c in cfgs]
    needed = {p.run_id for c in cells for p in needed_first(c.cfg)}
    assert len(ids) == len(set(ids)) == len({c.run_id for c in cells} | needed)
    for pos, cfg in enumerate(cfgs):
        for before in cfg.prerequisites:  # teachers, and the runs whose weights start them
            assert ids.index(before.run_id) < pos


def test_quick_profile_stays_within_its_run_budget():
    # `make figures` must run on a 2-core CPU in under 45 minutes; sized from measurements.
    prof = load_profile("quick")
    cfgs = E.unique_configs(E.grid(prof, E.defined_families(prof)))
    assert len(cfgs) <= 90
    assert len(prof.seeds) >= 3
    smoke = load_profile("smoke")
    assert len(E.unique_configs(E.grid(smoke, E.defined_families(smoke)))) <= 80


def test_paper_cifar_runs_follow_their_own_protocol():
    prof = load_profile("paper", data="/d")
    cifar = [c for c in E.main(prof) if c.dataset == "cifar100"]
    assert {(c.teacher, c.student) for c in cifar} >= {("resnet56", "resnet20"),
                                                       ("resnet32x4", "resnet8x4")}
    for c in cifar:
        assert c.cfg.optim.schedule == "multistep" and c.cfg.optim.epochs == 240
        assert c.cfg.pretrained is None
        if c.cfg.method.name.startswith("dct"):
            assert c.cfg.method.options == {"pred_guide": False}
    assert {c.cfg.data.root for c in cifar} == {"/d/cifar100"}


def test_missing_dataset_root_stops_before_training(tmp_path):
    prof = load_profile("paper", data=str(tmp_path))
    cells = E.alpha(prof)
    with pytest.raises(FileNotFoundError, match="ADEChallengeData2016"):
        check_data(prof, cells)
    (tmp_path / "ADEChallengeData2016").mkdir()
    check_data(prof, cells)
    check_data(prof, E.kstudy(prof))  # generated scenes need no folder


def test_method_labels_round_trip():
    for name in ("none", "kd", "dct", "dct+kd", "ckd+kd", "review"):
        assert name_of(method_label(name)) == name
    assert method_label("at+kd") == "AT + KD"
    with pytest.raises(ValueError, match="unknown method"):
        method_label("fitnet")
