"""Construction and tap geometry of the models `names.py` lists (its names re-exported here)."""

from __future__ import annotations

import functools
import operator

import torch

from dctkd.models.cifar import CIFAR_LEAVES, CIFAR_TAPS, build_cifar
from dctkd.models.names import MODEL_NAMES, PRETRAINED_CHOICES, model_family  # noqa: F401
from dctkd.models.tapped import TappedModel


def _positive_int(what: str, value: object) -> int:
    try:
        number = operator.index(value)
    except TypeError:
        number = 0
    if isinstance(value, bool) or number < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}.")
    return number


def build_model(name: str, num_classes: int, pretrained: str | None = None) -> TappedModel:
    """A freshly initialised (or ImageNet-initialised) `TappedModel` in training mode.

    `pretrained="imagenet"` loads torchvision's ImageNet-1k V1 weights (docs/method.md#taps) and
    puts a new `num_classes`-way head on top; it exists only for the ImageNet family.
    """
    family = model_family(name)
    num_classes = _positive_int("num_classes", num_classes)
    if pretrained is not None and pretrained not in PRETRAINED_CHOICES:
        raise ValueError(
            f"Unknown pretrained={pretrained!r} for {name}; expected None or 'imagenet'."
        )
    if family == "cifar":
        if pretrained is not None:
            raise ValueError(
                f"{name} is a CIFAR ResNet and has no {pretrained} weights; use pretrained=None."
            )
        net = build_cifar(name, num_classes)
        return TappedModel(net, name, num_classes, CIFAR_TAPS, "fc", CIFAR_LEAVES)
    # torchvision is imported by the ImageNet family only: its import takes seconds.
    from dctkd.models.imagenet import (
        IMAGENET_SPECS,
        MOBILENET_LEAVES,
        RESNET_LEAVES,
        build_imagenet,
    )

    net = build_imagenet(name, num_classes, pretrained == "imagenet")
    _, taps, head, _ = IMAGENET_SPECS[name]
    leaves = MOBILENET_LEAVES if name == "mobilenet_v2" else RESNET_LEAVES
    return TappedModel(net, name, num_classes, taps, head, leaves)


@functools.cache
def _tap_shapes(name: str, image_size: int) -> tuple[tuple[int, int, int], ...]:
    with torch.device("meta"):
        model = build_model(name, num_classes=1).eval()
        _, feats = model(torch.empty(1, 3, image_size, image_size))
    return tuple((f.shape[1], f.shape[2], f.shape[3]) for f in feats)


def tap_shapes(name: str, image_size: int) -> list[tuple[int, int, int]]:
    """`[(C_l, H_l, W_l), ...]` of each tap for a square `image_size` input (no real compute).

    Found by a forward on the meta device, so it follows the architecture rather than a table.
    """
    model_family(name)
    return list(_tap_shapes(name, _positive_int("image_size", image_size)))
