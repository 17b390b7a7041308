"""Offline-safe ImageNet weights: torchvision's files in the torch hub cache, found before training.

`pretrained=imagenet` reads torchvision's ImageNet-1k V1 file of a model from
`torch.hub.get_dir()/checkpoints/` (moved by `$TORCH_HOME`), under the name torchvision's
own download gives it. When the file is not there it is downloaded once; when that fails
(a compute node without network) `ensure_weights` stops with one line naming the file and
the folder to put it in. The pre-training checks call it, so a missing file stops a run
before anything trains rather than hours into a build; `dctkd fetch-weights` downloads
every file a profile needs on a machine with network.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision.models as tvm

# torchvision's ImageNet-1k V1 weights of each ImageNet-family model (docs/method.md#taps).
IMAGENET_WEIGHTS: dict[str, tvm.WeightsEnum] = {
    "resnet18": tvm.ResNet18_Weights.IMAGENET1K_V1,
    "resnet34": tvm.ResNet34_Weights.IMAGENET1K_V1,
    "resnet50": tvm.ResNet50_Weights.IMAGENET1K_V1,
    "resnet152": tvm.ResNet152_Weights.IMAGENET1K_V1,
    "mobilenet_v2": tvm.MobileNet_V2_Weights.IMAGENET1K_V1,
}
FETCH_HINT = "run `dctkd fetch-weights --profile paper` on a machine with network"


class MissingWeights(FileNotFoundError, ValueError):
    """The ImageNet weights of a model are neither cached nor downloadable.

    A `ValueError` too, so the pre-training checks report it as a bad configuration.
    """


def weights_of(name: str) -> tvm.WeightsEnum:
    """torchvision's ImageNet-1k V1 `WeightsEnum` member of model `name`."""
    if name not in IMAGENET_WEIGHTS:
        raise ValueError(f"{name} has no ImageNet weights; expected one of "
                         f"{list(IMAGENET_WEIGHTS)}")
    return IMAGENET_WEIGHTS[name]


def cache_dir() -> Path:
    """Where torch hub (and so torchvision) keeps downloaded weights."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def weight_file(name: str) -> str:
    """The file name torchvision's download gives the weights (`resnet50-0676ba61.pth`)."""
    return weights_of(name).url.rsplit("/", 1)[-1]


def cached_path(name: str) -> Path:
    return cache_dir() / weight_file(name)


def download(url: str, dst: Path) -> None:
    """torch hub's download (what torchvision's `get_state_dict` uses), hash prefix checked."""
    match = torch.hub.HASH_REGEX.search(dst.name)
    torch.hub.download_url_to_file(url, str(dst), match.group(1) if match else None,
                                   progress=True)


def ensure_weights(name: str, fetch: bool = True) -> Path:
    """The cached weights file of `name`, downloaded first if missing (`fetch`); else stops.

    The error is one line: which file, from where, into which folder.
    """
    path = cached_path(name)
    if path.is_file():
        return path
    url = weights_of(name).url
    reason = "not downloaded (fetch=False)"
    if fetch:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            download(url, path)
            return path
        except Exception as err:  # network errors come in many types; each ends here
            reason = " ".join(f"download failed: {type(err).__name__}: {err}".split())
    raise MissingWeights(
        f"ImageNet weights of {name} are not in the torch hub cache ({reason}); place "
        f"{path.name} (from {url}) in {path.parent}/ ($TORCH_HOME moves the cache), or "
        f"{FETCH_HINT}"
    )


def load_imagenet_state(name: str) -> dict[str, torch.Tensor]:
    """The ImageNet state dict of `name`, read from the cache (fetched first if missing)."""
    return torch.load(ensure_weights(name), map_location="cpu", weights_only=True)


__all__ = [
    "IMAGENET_WEIGHTS",
    "MissingWeights",
    "cache_dir",
    "cached_path",
    "ensure_weights",
    "load_imagenet_state",
    "weight_file",
    "weights_of",
]
