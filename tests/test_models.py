"""Backbones: tap geometry, taps are the stage outputs, init, files (ImageNet weights:
tests/test_weights.py).

See `docs/protocol.md#architectures`.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

from dctkd.models import (
    MODEL_NAMES,
    TappedModel,
    build_model,
    load_model,
    load_state_into,
    model_family,
    save_model,
    tap_shapes,
)
from dctkd.models.cifar import CIFAR_SPECS
from dctkd.models.imagenet import IMAGENET_SPECS
from dctkd.models.io import load_checkpoint
from dctkd.models.names import CIFAR_MODELS, IMAGENET_MODELS

IMAGENET = ["resnet18", "resnet34", "resnet50", "resnet152", "mobilenet_v2"]
CIFAR = ["resnet8", "resnet14", "resnet20", "resnet32", "resnet44", "resnet56", "resnet110",
         "resnet8x4", "resnet32x4"]  # fmt: skip

# docs/method.md#taps, written out rather than computed, so the architecture is checked against the
# paper.
EXPECTED = {
    "resnet18": [(64, 56), (128, 28), (256, 14), (512, 7)],
    "resnet34": [(64, 56), (128, 28), (256, 14), (512, 7)],
    "resnet50": [(256, 56), (512, 28), (1024, 14), (2048, 7)],
    "resnet152": [(256, 56), (512, 28), (1024, 14), (2048, 7)],
    "mobilenet_v2": [(24, 56), (32, 28), (96, 14), (1280, 7)],
    **{n: [(16, 32), (32, 16), (64, 8)] for n in CIFAR if not n.endswith("x4")},
    "resnet8x4": [(64, 32), (128, 16), (256, 8)],
    "resnet32x4": [(64, 32), (128, 16), (256, 8)],
}
PAIRS = [("resnet50", "resnet18"), ("resnet152", "resnet34"), ("resnet50", "mobilenet_v2"),
         ("resnet56", "resnet20"), ("resnet110", "resnet20"), ("resnet110", "resnet32"),
         ("resnet32x4", "resnet8x4")]  # fmt: skip


def native(name: str) -> int:
    return 224 if model_family(name) == "imagenet" else 32


def test_names_and_families() -> None:
    assert sorted(MODEL_NAMES) == sorted(IMAGENET + CIFAR)
    # the names config validation reads without torch are the ones the builders know
    assert set(IMAGENET_MODELS) == set(IMAGENET_SPECS) and set(CIFAR_MODELS) == set(CIFAR_SPECS)
    assert {model_family(n) for n in IMAGENET} == {"imagenet"}
    assert {model_family(n) for n in CIFAR} == {"cifar"}


@pytest.mark.parametrize("name", IMAGENET + CIFAR)
def test_forward_gives_documented_shapes(name: str) -> None:
    model = build_model(name, num_classes=7).eval()
    size = native(name)
    with torch.no_grad():
        logits, feats = model(torch.randn(1, 3, size, size))
    assert isinstance(model, TappedModel) and model.arch == name and model.num_classes == 7
    assert logits.shape == (1, 7)
    got = [(f.shape[1], f.shape[2]) for f in feats]
    assert got == EXPECTED[name]
    assert all(f.shape[2] == f.shape[3] for f in feats)
    assert [tuple(f.shape[1:]) for f in feats] == tap_shapes(name, size)
    assert len(model.tap_names) == len(feats)


@pytest.mark.parametrize("teacher,student", PAIRS)
def test_spec_pairs_have_matching_tap_sizes(teacher: str, student: str) -> None:
    size = native(teacher)
    assert model_family(teacher) == model_family(student)
    t, s = tap_shapes(teacher, size), tap_shapes(student, size)
    assert len(t) == len(s)
    assert [hw[1:] for hw in t] == [hw[1:] for hw in s]


def test_tap_shapes_follow_the_input_size() -> None:
    assert tap_shapes("resnet18", 64) == [(64, 16, 16), (128, 8, 8), (256, 4, 4), (512, 2, 2)]
    assert tap_shapes("resnet20", 48) == [(16, 48, 48), (32, 24, 24), (64, 12, 12)]


@pytest.mark.parametrize("name,stages", [
    ("resnet18", ["layer2", "layer3", "layer4"]),
    ("resnet20", ["layer2", "layer3"]),
    ("mobilenet_v2", [slice(4, 7), slice(7, 14), slice(14, 19)]),
])  # fmt: skip
def test_taps_are_stage_outputs_and_embedding_feeds_the_head(name: str, stages: list) -> None:
    """Each tap is the previous tap pushed through the next stage of the untouched network
    (docs/method.md#taps's slicing), and the logits are the head applied to the pooled last tap."""
    torch.manual_seed(0)
    model = build_model(name, num_classes=5).eval()
    with torch.no_grad():
        logits, feats = model(torch.randn(2, 3, 64, 64))
        for prev, stage, tap in zip(feats[:-1], stages, feats[1:], strict=True):
            module = (
                model.net.features[stage]
                if name == "mobilenet_v2"
                else model.net.get_submodule(stage)
            )
            torch.testing.assert_close(module(prev), tap)
        torch.testing.assert_close(model.head(feats[-1].mean((2, 3))), logits)
        torch.testing.assert_close(model.net(torch.randn(2, 3, 64, 64)).shape, logits.shape)


@pytest.mark.parametrize("name", ["resnet18", "resnet20", "mobilenet_v2"])
def test_taps_are_post_activation(name: str) -> None:
    model = build_model(name, num_classes=3).eval()
    with torch.no_grad():
        _, feats = model(torch.randn(2, 3, 64, 64))
    if name == "mobilenet_v2":
        assert feats[0].min() < 0  # linear bottleneck (docs/method.md#taps)
        assert 0 <= feats[-1].min() and feats[-1].max() <= 6  # after the final ReLU6
    else:
        assert all(f.min() >= 0 for f in feats)


def test_init_follows_spec() -> None:
    torch.manual_seed(0)
    cifar = build_model("resnet32x4", num_classes=10).net
    conv = cifar.layer3[0].conv2.weight  # (256, 256, 3, 3): fan_out = 256 * 9
    assert conv.std().item() == pytest.approx(math.sqrt(2 / (256 * 9)), rel=0.05)
    bns = [m for m in cifar.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert all(bool((m.weight == 1).all() and (m.bias == 0).all()) for m in bns)
    mnv2 = build_model("mobilenet_v2", num_classes=100)
    assert mnv2.head.weight.std().item() == pytest.approx(0.01, rel=0.05)
    assert mnv2.net.classifier[0].p == 0.2


def test_channels_last_gives_the_same_outputs() -> None:
    model = build_model("resnet8", num_classes=4).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        ref_logits, ref_feats = model(x)
        model = model.to(memory_format=torch.channels_last)
        logits, feats = model(x.to(memory_format=torch.channels_last))
    torch.testing.assert_close(logits, ref_logits)
    for f, r in zip(feats, ref_feats, strict=True):
        torch.testing.assert_close(f, r)


def test_hooks_on_stages_fire_once_and_copies_are_independent() -> None:
    model = build_model("resnet18", num_classes=4).eval()
    model.net.layer1.train()
    calls = []
    handle = model.net.layer4[-1].register_forward_hook(lambda *args: calls.append(args[2]))
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        _, feats = model(x)
    handle.remove()
    assert len(calls) == 1 and torch.equal(calls[0], feats[-1])
    twin = copy.deepcopy(model)
    assert [m.training for m in twin.modules()] == [m.training for m in model.modules()]
    with torch.no_grad():
        twin.net.fc.weight.add_(1.0)
        assert not torch.equal(twin(x)[0], model(x)[0])
    assert model.state_dict().keys() == twin.state_dict().keys()


def test_training_mode_backpropagates_through_every_tap() -> None:
    model = build_model("resnet8", num_classes=4)
    assert model.training
    logits, feats = model(torch.randn(2, 3, 32, 32))
    sum(f.mean() for f in feats).backward()
    assert model.net.layer1[0].conv1.weight.grad.abs().sum() > 0
    assert model.net.fc.weight.grad is None


@pytest.mark.parametrize("call", [
    lambda: build_model("resnet19", 10),
    lambda: model_family("vgg16"),
    lambda: tap_shapes("wrn40_2", 32),
])  # fmt: skip
def test_unknown_name_lists_known_names(call) -> None:
    with pytest.raises(ValueError, match="expected one of resnet18, .*resnet32x4"):
        call()


def test_bad_arguments_are_refused() -> None:
    for bad in (0, 2.0, True, "10"):
        with pytest.raises(ValueError, match="num_classes must be a positive integer"):
            build_model("resnet8", bad)
    with pytest.raises(ValueError, match="image_size must be a positive integer"):
        tap_shapes("resnet8", 32.0)
    assert build_model("resnet8", np.int64(3)).num_classes == 3
    with pytest.raises(ValueError, match="Unknown pretrained='cifar100'"):
        build_model("resnet18", 10, pretrained="cifar100")
    with pytest.raises(ValueError, match="CIFAR ResNet and has no imagenet weights"):
        build_model("resnet20", 10, pretrained="imagenet")


def test_save_load_round_trip(tmp_path) -> None:
    torch.manual_seed(0)
    model = build_model("resnet8", num_classes=6)
    model(torch.randn(4, 3, 32, 32))  # move BN running statistics off their defaults
    model.eval()
    path = save_model(model, tmp_path / "sub" / "m.pt", extra={"epoch": 3, "top1": 0.5})
    assert [p.name for p in path.parent.iterdir()] == ["m.pt"]  # no temporary left behind
    loaded = load_model(path, expected_arch="resnet8", expected_classes=6)
    assert (loaded.arch, loaded.num_classes, loaded.tap_names) == ("resnet8", 6, model.tap_names)
    assert not loaded.training
    assert all(not t.is_meta and t.requires_grad for t in loaded.parameters())
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        a, fa = model(x)
        b, fb = loaded(x)
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(fa[-1], fb[-1])
    ckpt = load_checkpoint(path)
    assert ckpt["epoch"] == 3 and ckpt["top1"] == 0.5


def test_load_errors(tmp_path) -> None:
    path = save_model(build_model("resnet8", 10), tmp_path / "m.pt")
    with pytest.raises(FileNotFoundError, match="No model checkpoint at .*missing.pt"):
        load_model(tmp_path / "missing.pt")
    with pytest.raises(ValueError, match=r"holds a resnet8 with 10 classes, but resnet20 was"):
        load_model(path, expected_arch="resnet20")
    with pytest.raises(ValueError, match=r"holds a resnet8 with 10 classes, but 100 classes were"):
        load_model(path, expected_classes=100)
    foreign = tmp_path / "foreign.pt"
    torch.save({"model": {}}, foreign)
    with pytest.raises(ValueError, match="is not a dctkd model checkpoint"):
        load_model(foreign)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="could not be read"):
        load_model(garbage)
    with pytest.raises(ValueError, match="reserved checkpoint keys"):
        save_model(build_model("resnet8", 10), tmp_path / "x.pt", extra={"arch": "resnet20"})
    with pytest.raises(ValueError, match="expects a TappedModel"):
        save_model(torch.nn.Linear(2, 2), tmp_path / "x.pt")


def test_load_state_into_accepts_wrapped_and_plain_names() -> None:
    source = build_model("resnet8", 10)
    target = build_model("resnet8", 10)
    wrapped = {f"_orig_mod.{k}": v for k, v in source.state_dict().items()}
    load_state_into(target, wrapped)
    torch.testing.assert_close(target.state_dict(), source.state_dict())
    plain = {k.removeprefix("net."): v for k, v in source.state_dict().items()}
    load_state_into(build_model("resnet8", 10), plain)
    with pytest.raises(
        ValueError, match=r"do not fit resnet8: 2 of another shape \(e.g. \['net.fc.bias'"
    ):
        load_state_into(build_model("resnet8", 11), source.state_dict())


@pytest.mark.slow
def test_torch_compile_fullgraph_matches_eager() -> None:
    model = build_model("resnet8", num_classes=4).eval()
    x = torch.randn(2, 3, 32, 32)
    ref_logits, ref_feats = model(x)
    logits, feats = torch.compile(model, fullgraph=True)(x)
    torch.testing.assert_close(logits, ref_logits)
    torch.testing.assert_close(feats[-1], ref_feats[-1])
