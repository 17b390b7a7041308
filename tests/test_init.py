"""A run started from another run's weights (`RunConfig.init`): pre-training on a separate
task, as ImageNet pre-training is for the paper's teachers."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from engine_helpers import TINY_SCENES, tiny, tiny_student

from dctkd.config import ConfigError, apply_overrides, config_hash, identity
from dctkd.engine import ensure
from dctkd.engine.checks import check
from dctkd.engine.launch import missing_runs, needed_first, with_teachers
from dctkd.models import build_model, load_backbone, save_model

POOL = {**TINY_SCENES, "seed": 7, "num_classes": 3}


def pool_run(**overrides):
    """A ResNet-8 trained on another scene task (another data seed, another label set)."""
    return tiny(**{"data.options": dict(POOL), "optim.epochs": 2, **overrides})


def test_the_backbone_is_copied_and_the_classifier_left_fresh(tmp_path):
    torch.manual_seed(0)
    source = build_model("resnet8", 3)
    save_model(source, tmp_path / "best.pt")
    target = build_model("resnet8", 4)
    fresh_head = target.head.weight.detach().clone()
    load_backbone(target, tmp_path / "best.pt")
    own, theirs = target.state_dict(), source.state_dict()
    head = f"net.{target.head_name}."
    copied = [k for k in own if not k.startswith(head)]
    assert copied and all(torch.equal(own[k], theirs[k]) for k in copied)
    assert torch.equal(target.head.weight, fresh_head)


def test_the_backbone_of_another_architecture_is_refused(tmp_path):
    save_model(build_model("resnet14", 3), tmp_path / "best.pt")
    with pytest.raises(ValueError, match="holds a resnet14.*same architecture"):
        load_backbone(build_model("resnet8", 4), tmp_path / "best.pt")


def test_init_enters_the_identity_only_when_set():
    plain = tiny()
    started = replace(plain, init=pool_run())
    assert "init" not in identity(plain)  # runs stored before the field keep their ids
    assert identity(started)["init"] == identity(pool_run())
    assert config_hash(started) != config_hash(plain)
    assert apply_overrides(plain, {"init.model": "resnet8"}).init is not None


@pytest.mark.parametrize("change, expected", [
    ({"model": "resnet14"}, "init is a resnet8 run but model is resnet14"),
    ({"pretrained": "imagenet", "model": "resnet18"}, "pretrained='imagenet' and init"),
])
def test_a_run_that_cannot_start_from_its_init_stops_in_one_line(change, expected):
    cfg = replace(tiny(**change), init=pool_run(**{"model": "resnet8"}))
    with pytest.raises(ConfigError, match=expected):
        check(cfg)


def test_an_init_of_another_image_size_is_refused():
    init = pool_run(**{"data.options": {**POOL, "image_size": 32}})
    with pytest.raises(ConfigError, match="32-px images .* 16 px"):
        check(replace(tiny(), init=init))


def test_prerequisites_come_first_at_every_depth(tmp_path):
    teacher = replace(tiny(), init=pool_run())
    student = tiny_student("kd", teacher)
    assert [c.run_id for c in needed_first(student)] == [teacher.init.run_id, teacher.run_id]
    order = list(missing_runs([student], tmp_path))
    assert order == [teacher.init.run_id, teacher.run_id, student.run_id]
    assert [c.run_id for c in with_teachers([student])] == order


def test_a_teacher_started_from_a_pool_run_trains_it_first(tmp_path):
    # A learning rate too small to move the weights: the trained network still holds the
    # pool run's features, and a classifier of its own task's classes.
    still = {"optim.epochs": 1, "optim.lr": 1e-12, "optim.weight_decay": 0.0}
    teacher = replace(tiny(**still), init=pool_run())
    run = ensure(teacher, tmp_path)
    pool = ensure(teacher.init, tmp_path)
    assert run.done and pool.done
    mine, theirs = run.load_model().state_dict(), pool.load_model().state_dict()
    assert torch.allclose(mine["net.conv1.weight"], theirs["net.conv1.weight"], atol=1e-9)
    assert mine["net.fc.weight"].shape[0] == TINY_SCENES["num_classes"]
    assert theirs["net.fc.weight"].shape[0] == POOL["num_classes"]


def test_a_profiles_teachers_start_from_one_pool_run_and_students_from_scratch():
    from dctkd.report import grid as E
    from dctkd.report.profile import load_profile

    prof = load_profile("quick")
    cells = E.main(prof)
    teachers = {c.cfg.run_id: c.cfg for c in cells if c.label == "Teacher"}
    pools = {t.init.run_id for t in teachers.values()}
    assert len(pools) == 1
    pool = next(iter(teachers.values())).init
    assert pool.data.options == prof.datasets["pool"]["data"]["options"]
    assert pool.optim.epochs == prof.spec["roles"]["pretrain"]["optim"]["epochs"]
    assert pool.model == next(iter(teachers.values())).model and pool.init is None
    students = [c.cfg for c in cells if c.label != "Teacher"]
    assert all(s.init is None for s in students)
    # Teacher and students learn from the same images with the same augmentation.
    t = next(iter(teachers.values()))
    assert {(s.data.options["train_size"], s.data.val_fraction, s.data.augment)
            for s in students} == {(t.data.options["train_size"], t.data.val_fraction,
                                    t.data.augment)}
    assert {s.data.train_size for s in students} == {None}
    assert pool.run_id in {c.run_id for c in E.unique_configs(cells)}


def test_a_pre_training_pool_the_profile_does_not_define_is_refused():
    from dctkd.report.profile import load_profile

    with pytest.raises(ValueError, match="roles.teacher.init names dataset 'imagenet'"):
        load_profile("quick", ["roles.teacher.init=imagenet"])
