"""The layout study: its grid (both rules, a teacher per seed, the DCT-II students, the budget
check), its profile's checks, and its verdicts: the interaction (DCT − AT)_layout −
(DCT − AT)_presence paired by seed, the room rule on val, the budget check both ways."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dctkd.analysis import kstudy
from dctkd.errors import ConfigError
from dctkd.report import grid as E
from dctkd.report import layout_study as L
from dctkd.report.profile import load_profile

TEACHER = "Teacher"


def test_the_layout_profile_runs_every_method_under_both_rules_with_a_teacher_per_seed():
    prof = load_profile("layout")
    f = prof.family("kstudy")
    cells = E.kstudy(prof)
    main = [c for c in cells if c.param == "k"]
    seeds = prof.seeds
    labels = {"Baseline", "AT", "DCT", "DCT (DCT-II)", "KD", "DCT + KD"}
    assert {c.label for c in main} == labels | {TEACHER}
    assert len(main) == len(f["ks"]) * 2 * len(seeds) * (len(labels) + 1)
    for rule in L.RULES:
        part = [c for c in main if L.rule_of(c) == rule]
        assert sorted(c.seed for c in part if c.label == TEACHER) == seeds
        for c in part:
            if c.cfg.teacher is not None:
                # Its own seed's teacher, on the same scenes and the same images.
                assert c.cfg.teacher.seed == c.seed
                assert c.cfg.teacher.data.options == c.cfg.data.options
                assert c.cfg.data.holdout_seed in (None, c.seed)
    # The rules differ in the rule (and its classes per kind set) and nothing else a student
    # sees: the same k, image size, distractors, images and budget.
    def student(rule):
        return next(c for c in main if L.rule_of(c) == rule and c.label == "DCT")
    a, b = student("layout").cfg, student("presence").cfg
    same = ("k", "image_size", "distractors", "train_size", "test_size", "seed")
    assert {x: a.data.options[x] for x in same} == {x: b.data.options[x] for x in same}
    assert (a.optim, a.data.val_fraction, a.data.augment) == (
        b.optim, b.data.val_fraction, b.data.augment)
    dct2 = next(c for c in main if c.label == "DCT (DCT-II)")
    assert dct2.cfg.method.name == "dct" and dct2.cfg.method.options == {"variant": "dct2"}
    assert student("layout").cfg.method.options == {}
    # Each rule's teachers start from one pool run of that rule on scenes of another data
    # seed (a shared pool left one rule's teachers far below their ceiling: the profile).
    pools = {}
    for rule in L.RULES:
        inits = {c.cfg.init.run_id: c.cfg.init for c in main
                 if c.label == TEACHER and L.rule_of(c) == rule}
        assert len(inits) == 1
        pools[rule] = inits.popitem()[1]
        assert pools[rule].data.options.get("rule", "presence") == rule
        assert pools[rule].data.options["seed"] != a.data.options["seed"]
    assert pools["layout"].run_id != pools["presence"].run_id


def test_the_budget_check_doubles_the_checked_seeds_runs_under_both_rules():
    prof = load_profile("layout")
    checked = prof.family("kstudy")["budget"]["seeds"]
    cells = E.kstudy(prof)
    longer = [c for c in cells if c.param == "budget"]
    assert {c.seed for c in longer} == set(checked) and checked
    assert {L.rule_of(c) for c in longer} == set(L.RULES)
    for c in longer:
        own = next(o for o in cells if o.param == "k" and o.label == c.label
                   and o.seed == c.seed and L.rule_of(o) == L.rule_of(c))
        assert c.cfg.optim.epochs == 2 * own.cfg.optim.epochs
        assert c.cfg.teacher == own.cfg.teacher
    assert len(E.unique_configs(cells)) == len(cells) + 2  # + the two pool runs


def test_a_rule_is_one_of_the_scene_rules_and_takes_no_method_layers():
    with pytest.raises(ConfigError, match=r"families\.kstudy\.rules\.grid"):
        load_profile("layout", ["families.kstudy.rules.grid={}"])
    with pytest.raises(ConfigError, match=r"families\.kstudy\.rules\.layout\.methods"):
        load_profile("layout", ["families.kstudy.rules.layout.methods={at: {}}"])
    with pytest.raises(ConfigError, match="a rule's key names it"):
        load_profile("layout", ["families.kstudy.rules.layout.options.rule=presence"])
    with pytest.raises(ConfigError, match=r"families\.kstudy\.controls\.X\.metod"):
        load_profile("layout", ["families.kstudy.controls={X: {metod: dct}}"])


def _gains(layout: list[float], presence: list[float], seeds=None) -> pd.DataFrame:
    rows = []
    for rule, values in (("layout", layout), ("presence", presence)):
        for seed, gain in zip(seeds or range(len(values)), values, strict=True):
            rows.append({"rule": rule, "k": 3, "seed": seed, "comparison": "DCT − AT",
                         "quantity": "Top-1 (%)", "gain": gain})
    return pd.DataFrame(rows)


def test_the_interaction_is_paired_by_seed_and_leaves_out_a_seed_one_rule_lacks():
    gains = _gains([5.0, 6.0, 7.0, 9.0], [1.0, 2.0, 2.0], seeds=None)
    gains = gains[~((gains["rule"] == "layout") & (gains["seed"] == 3))]
    got = kstudy.rule_interaction(gains)
    assert got["seed"].tolist() == [0, 1, 2]
    assert got["interaction"].tolist() == [4.0, 4.0, 5.0]


@pytest.mark.parametrize("layout, presence, verdict", [
    ([6.0, 7.0, 5.5, 6.5, 7.5], [1.0, 0.5, 1.5, 0.0, 1.0], "supported"),
    ([0.0, 0.5, 1.0, 0.2, 0.4], [6.0, 5.0, 7.0, 6.5, 5.5], "contradicted"),
    ([1.0, 1.2, 0.9, 1.1, 1.0], [1.1, 0.9, 1.0, 1.2, 0.8], "equivalent"),
    ([9.0, -8.0, 6.0, -7.0, 2.0], [0.0, 0.0, 1.0, 0.0, 0.0], "unresolved"),
])
def test_the_interactions_verdict(layout, presence, verdict):
    got = L.interaction_claims(_gains(layout, presence), ["DCT − AT"], margin=2.0)
    row = got.iloc[0]
    assert row["comparison"] == "(DCT − AT)_layout − (DCT − AT)_presence"
    assert (row["k"], row["seeds"], bool(row["primary"])) == (3, 5, True)
    assert row["difference"] == pytest.approx(np.mean(layout) - np.mean(presence), abs=0.01)
    assert (row["A"], row["B"]) == pytest.approx((np.mean(layout), np.mean(presence)),
                                                 abs=0.01)
    assert row["verdict"] == verdict


def _accuracy(teacher: float, alone: float, at: float, rule: str) -> pd.DataFrame:
    return pd.DataFrame([{"rule": rule, "k": 3, "method": m, "seed": s, "val_top1": v + s}
                         for m, v in ((TEACHER, teacher), ("Baseline", alone), ("AT", at))
                         for s in (0, 1)])


def test_room_needs_both_the_student_alone_and_at_well_below_the_teacher():
    acc = pd.concat([_accuracy(95.0, 70.0, 86.5, "presence"),
                     _accuracy(95.0, 70.0, 87.5, "layout")])
    got = L.room(acc).set_index("rule")
    assert got.loc["layout", "teacher − AT"] == 7.5 and not got.loc["layout", "room"]
    assert got.loc["presence", "teacher − AT"] == 8.5 and got.loc["presence", "room"]
    assert got.loc["presence", "teacher − Baseline"] == 25.0


def test_the_budget_check_fails_both_ways():
    rows = []
    for rule, shift in (("layout", 3.0), ("presence", -3.0)):
        for seed in (0, 1, 2):
            rows.append({"rule": rule, "k": 3, "method": "AT", "seed": seed, "epochs": 80,
                         "epochs_longer": 160, "top1": 70.0 + seed,
                         "top1_longer": 70.0 + seed + shift + 0.1 * seed})
    got = L.convergence(pd.DataFrame(rows)).set_index("rule")
    assert got.loc["layout", "verdict"] == "not converged"
    assert got.loc["presence", "verdict"] == "past its plateau"
    assert (got["seeds"] == 3).all()


def test_the_primary_rows_of_every_k_are_one_holm_family_and_come_first():
    one = _gains([6.0, 2.0, 5.5, 1.5, 4.0], [1.0, 0.5, 1.5, 0.0, 1.0])
    other = one.assign(comparison="DCT − KD")
    gains = pd.concat([one, other, one.assign(k=4)], ignore_index=True)
    got = L.interaction_claims(gains, ["DCT − KD", "DCT − AT"], margin=2.0)
    assert got[["k", "primary"]].values.tolist() == [[3, True], [3, False], [4, True]]
    alone = L.interaction_claims(one, ["DCT − AT"], margin=2.0).iloc[0]
    assert got.iloc[0]["p"] == pytest.approx(min(1.0, 2 * alone["p"]), abs=1e-4)
    assert got.iloc[1]["p"] == pytest.approx(alone["p"], abs=1e-4)  # exploratory: raw
