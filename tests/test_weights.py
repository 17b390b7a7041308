"""ImageNet weights without network: read from the torch hub cache, one line when missing
(before anything trains), and `dctkd fetch-weights` with the download replaced.

No test reaches the network: `dctkd.models.weights.download` is replaced in every test that
could call it, by a function that fails as an offline machine would, or writes the file.
"""

from __future__ import annotations

import urllib.error
from pathlib import Path

import pytest
import torch
import torchvision
from engine_helpers import tiny

from dctkd.cli import main
from dctkd.engine import ConfigError, check
from dctkd.models import build_model
from dctkd.models import weights as W
from dctkd.report import fetch_weights


@pytest.fixture
def hub(monkeypatch, tmp_path) -> Path:
    """An empty torch hub cache ($TORCH_HOME) and a network that is down."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))

    def offline(url, dst):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(W, "download", offline)
    return tmp_path / "torch" / "hub" / "checkpoints"


def _cache(hub: Path, name: str, state: dict) -> Path:
    hub.mkdir(parents=True, exist_ok=True)
    path = hub / W.weight_file(name)
    torch.save(state, path)
    return path


def test_file_names_are_torchvisions():
    assert W.weight_file("resnet50") == "resnet50-0676ba61.pth"
    assert W.weight_file("mobilenet_v2") == "mobilenet_v2-b0353104.pth"
    with pytest.raises(ValueError, match="resnet20 has no ImageNet weights"):
        W.weight_file("resnet20")


@pytest.mark.parametrize("name,builder", [
    ("resnet18", torchvision.models.resnet18),
    ("mobilenet_v2", torchvision.models.mobilenet_v2),
])  # fmt: skip
def test_cached_weights_load_offline_with_a_fresh_head(hub, name, builder):
    torch.manual_seed(1)
    reference = builder().state_dict()
    assert W.cached_path(name) == hub / W.weight_file(name)
    _cache(hub, name, reference)
    model = build_model(name, 3, pretrained="imagenet")
    first = next(iter(reference))
    torch.testing.assert_close(model.state_dict()[f"net.{first}"], reference[first])
    assert model.head.weight.shape[0] == 3


def test_offline_without_cache_is_one_line_naming_file_and_folder(hub):
    with pytest.raises(W.MissingWeights) as err:
        build_model("resnet50", 10, pretrained="imagenet")
    text = str(err.value)
    assert "\n" not in text
    assert "place resnet50-0676ba61.pth (from https://download.pytorch.org/models/" in text
    assert f"in {hub}/" in text and "dctkd fetch-weights --profile paper" in text
    assert "Temporary failure in name resolution" in text


def test_a_missing_download_is_fetched_into_the_cache(hub, monkeypatch):
    calls = []

    def fake(url, dst):
        calls.append(url)
        torch.save(torchvision.models.resnet18().state_dict(), dst)

    monkeypatch.setattr(W, "download", fake)
    assert W.ensure_weights("resnet18") == hub / "resnet18-f37072fd.pth"
    assert W.ensure_weights("resnet18").is_file() and len(calls) == 1


def test_the_checks_stop_before_training(hub, tmp_path, capsys):
    teacher = tiny(model="resnet50", pretrained="imagenet")
    student = tiny(**{"model": "resnet18", "method.name": "at"})
    from dataclasses import replace

    with pytest.raises(ConfigError, match="ImageNet weights of resnet50 are not in the torch"):
        check(replace(student, teacher=teacher))
    store = tmp_path / "runs"
    rc = main(["train", "--store", str(store), "model=resnet50", "pretrained=imagenet",
               "data.options.image_size=16", "runtime.progress=false"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1
    assert err.startswith("dctkd train: error: ImageNet weights of resnet50 are not in")
    assert not store.exists()


def _fetch(*argv: str) -> int:
    import argparse

    parser = argparse.ArgumentParser()
    fetch_weights.add_arguments(parser)
    return fetch_weights.main(parser.parse_args(list(argv)))


def test_fetch_weights_lists_downloads_and_then_finds_them(hub, monkeypatch, capsys):
    assert fetch_weights.profile_models("paper") == ["resnet152", "resnet50"]
    assert _fetch("--profile", "paper", "--dry-run") == 1
    out = capsys.readouterr().out
    assert "resnet50: resnet50-0676ba61.pth missing; would download https://" in out
    assert "resnet152: resnet152-394f9c45.pth missing" in out and not hub.exists()

    assert _fetch("--profile", "paper") == 1  # offline: each failure named, exit 1
    assert "resnet50: ImageNet weights of resnet50 are not in" in capsys.readouterr().out

    fetched = []
    monkeypatch.setattr(W, "download", lambda url, dst: (fetched.append(url), dst.touch()))
    assert _fetch("--profile", "paper", "--model", "resnet18") == 0
    out = capsys.readouterr().out
    assert len(fetched) == 3 and "resnet18: downloading https://" in out
    assert "all 3 weight file(s) of profile 'paper' are in the cache" in out

    assert _fetch("--profile", "paper") == 0 and len(fetched) == 3
    assert "resnet50: resnet50-0676ba61.pth already present in" in capsys.readouterr().out


def test_fetch_weights_of_a_profile_without_pretrained_runs(hub, capsys):
    assert main(["fetch-weights", "--profile", "smoke"]) == 0
    assert "starts no run from ImageNet weights: nothing to fetch" in capsys.readouterr().out
    assert main(["fetch-weights", "--profile", "smoke", "--model", "resnet8"]) == 2
    assert "resnet8 has no ImageNet weights" in capsys.readouterr().err
