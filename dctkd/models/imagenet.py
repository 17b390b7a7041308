"""torchvision's ImageNet architectures, optionally starting from its ImageNet-1k V1 weights."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torchvision.models as tvm
from torch import nn
from torchvision.models.mobilenetv2 import InvertedResidual
from torchvision.ops.misc import Conv2dNormActivation

from . import weights
from .weights import IMAGENET_WEIGHTS

RESNET_TAPS = ["layer1", "layer2", "layer3", "layer4"]
# docs/method.md#taps: features[:4], [4:7], [7:14], [14:] -> outputs of blocks 3, 6, 13 and 18.
MOBILENET_TAPS = ["features.3", "features.6", "features.13", "features.18"]

# Modules the tap graph calls whole: every tap is one of them, and hooks on them keep working.
RESNET_LEAVES = (nn.Sequential,)
MOBILENET_LEAVES = (InvertedResidual, Conv2dNormActivation)

# name -> (torchvision builder, tap names, final Linear, ImageNet weights)
IMAGENET_SPECS: dict[str, tuple[Callable[..., nn.Module], list[str], str, tvm.WeightsEnum]] = {
    "resnet18": (tvm.resnet18, RESNET_TAPS, "fc", IMAGENET_WEIGHTS["resnet18"]),
    "resnet34": (tvm.resnet34, RESNET_TAPS, "fc", IMAGENET_WEIGHTS["resnet34"]),
    "resnet50": (tvm.resnet50, RESNET_TAPS, "fc", IMAGENET_WEIGHTS["resnet50"]),
    "resnet152": (tvm.resnet152, RESNET_TAPS, "fc", IMAGENET_WEIGHTS["resnet152"]),
    "mobilenet_v2": (
        tvm.mobilenet_v2,
        MOBILENET_TAPS,
        "classifier.1",
        IMAGENET_WEIGHTS["mobilenet_v2"],
    ),
}


def imagenet_state_dict(name: str) -> dict[str, torch.Tensor]:
    """The ImageNet-1k V1 state dict of `name`, from the torch hub cache or downloaded into it.

    Offline without a cached copy this stops (`weights.MissingWeights`, one line naming the
    file and folder) rather than continuing from random weights, since a "pretrained"
    teacher that is silently random would invalidate every result.
    """
    return weights.load_imagenet_state(name)


def _fresh_head(net: nn.Module, name: str, num_classes: int) -> None:
    if name == "mobilenet_v2":
        head = nn.Linear(net.classifier[1].in_features, num_classes)
        nn.init.normal_(head.weight, 0, 0.01)
        nn.init.zeros_(head.bias)
        net.classifier[1] = head
    else:
        net.fc = nn.Linear(net.fc.in_features, num_classes)


def build_imagenet(name: str, num_classes: int, pretrained: bool) -> nn.Module:
    """A plain torchvision classifier; with `pretrained`, ImageNet weights and a new head.

    torchvision's own initialisation is docs/method.md#taps's (Kaiming fan_out convs, BN 1/0,
    MobileNetV2 classifier N(0, 0.01), ResNet fc PyTorch default); MobileNetV2 keeps dropout 0.2.
    """
    builder = IMAGENET_SPECS[name][0]
    if not pretrained:
        return builder(weights=None, num_classes=num_classes)
    state = imagenet_state_dict(name)
    net = builder(weights=None)
    net.load_state_dict(state)
    _fresh_head(net, name, num_classes)
    return net
