"""The teacher-output cache: the same numbers as running the teacher online, computed once,
and never used when the training inputs are augmented."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest
import torch
from engine_helpers import tiny, tiny_student

from dctkd.engine import runs
from dctkd.engine import teacher_cache as tc
from dctkd.engine.train import train


@pytest.fixture(scope="module")
def teacher_run(tmp_path_factory):
    return runs.ensure(tiny(**{"model": "resnet14", "optim.epochs": 2}),
                       tmp_path_factory.mktemp("store"))


def _student(teacher_run, method: str, cache: bool, augment: bool = False):
    cfg = tiny_student(method, teacher_run.config, deterministic=True,
                       **{"data.augment": augment, "optim.epochs": 2})
    return replace(cfg, runtime=replace(cfg.runtime, teacher_cache=cache))


@pytest.mark.parametrize("method, augment", [("dct+kd", False), ("vid", False),
                                             ("dct+kd", "flip"), ("crd", "flip")])
def test_cached_teacher_trains_bit_identically_to_the_online_teacher(teacher_run, tmp_path,
                                                                     method, augment):
    net = teacher_run.load_model("best")
    online = train(_student(teacher_run, method, cache=False, augment=augment),
                   tmp_path / "online", net)
    before = set((teacher_run.path / tc.FOLDER).glob("*.pt"))
    cached = train(_student(teacher_run, method, cache=True, augment=augment),
                   tmp_path / "cached", net, teacher_run.path)
    assert set((teacher_run.path / tc.FOLDER).glob("*.pt")) - before or method != "dct+kd"
    assert cached["best"] == online["best"] and cached["last"] == online["last"]
    a = pd.read_csv(tmp_path / "online" / "metrics.csv").filter(like="loss")
    b = pd.read_csv(tmp_path / "cached" / "metrics.csv").filter(like="loss")
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_outputs_are_computed_once_and_looked_up_as_the_online_forward(teacher_run, tmp_path):
    from dctkd.engine import dataset_of

    cfg = _student(teacher_run, "dct", cache=True)
    data = dataset_of(cfg, "train")
    net = teacher_run.load_model("best")
    device = torch.device("cpu")
    key = tc.cache_key(cfg, torch.bfloat16, True, device, len(data))
    path = tc.cache_path(tmp_path, key)
    calls = []

    def build():
        calls.append(1)
        return tc.compute(net, data, 64, torch.bfloat16, True, device)

    first = tc.load_or_build(path, key, build)
    again = tc.load_or_build(path, key, build)
    assert len(calls) == 1 and torch.equal(first.logits, again.logits)
    index = torch.tensor([5, 0, 17, 3])
    images = torch.stack([data[i][0] for i in index.tolist()])
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        logits, feats = net.to(memory_format=torch.channels_last)(
            images.contiguous(memory_format=torch.channels_last))
    got = again.lookup(index, device)
    assert torch.equal(got.logits, logits)
    assert all(torch.equal(g, f) and g.stride() == f.stride()
               for g, f in zip(got.features, feats, strict=True))
    other = {**key, "seed": 99}
    assert tc.load_or_build(path, other, build) is not None and len(calls) == 2


def test_flipped_inputs_are_looked_up_as_their_own_view(teacher_run):
    from dctkd.data import build_dataset
    from dctkd.engine.indexed import Indexed

    d = _student(teacher_run, "dct", cache=True, augment="flip").data
    data = build_dataset(d.name, "train", options=d.options, augment="flip",
                         train_size=d.train_size, seed=0)
    n, items = len(data), Indexed(data)
    net = teacher_run.load_model("best").to(memory_format=torch.channels_last)
    outputs = tc.compute(net, data, 64, None, True, torch.device("cpu"))
    assert data.views == 2 and outputs.logits.shape[0] == 2 * n
    torch.manual_seed(0)
    keys = [items[i][2] for i in range(40)]
    assert {k // n for k in keys} == {0, 1} and all(k % n == i for i, k in enumerate(keys))
    mirrored = next(k for k in keys if k >= n)
    image = data.view_image(mirrored - n, 1)
    assert torch.equal(image, data.view_image(mirrored - n, 0).flip(-1))
    with torch.no_grad():
        logits, _ = net(image[None].contiguous(memory_format=torch.channels_last))
    got = outputs.lookup(torch.tensor([mirrored]), torch.device("cpu"))
    assert torch.allclose(got.logits, logits, atol=1e-5)


def test_augmented_inputs_never_use_the_cache(teacher_run):
    assert tc.applies(_student(teacher_run, "dct", cache=True))
    assert tc.applies(_student(teacher_run, "dct", cache=True, augment="flip"))
    assert not tc.applies(_student(teacher_run, "dct", cache=True, augment=True))
    assert not tc.applies(_student(teacher_run, "dct", cache=False))
    assert not tc.applies(tiny())
