"""CIFAR-style ResNets (He et al. 2016, Sec. 4.2), which torchvision does not ship.

Depth 6n + 2: a 3×3 stem, three stages of n basic blocks (the 2nd and 3rd halve the
resolution), global average pooling and a linear classifier. Shortcuts that change shape use a
1×1 convolution + BN, as in the distillation literature's reference CIFAR nets. Plain torch:
a run on these nets never imports torchvision, whose import costs seconds.
"""

from __future__ import annotations

import torch
from torch import nn

NARROW = (16, 16, 32, 64)
WIDE = (32, 64, 128, 256)

# name -> (depth, (stem, stage1, stage2, stage3) widths)
CIFAR_SPECS: dict[str, tuple[int, tuple[int, int, int, int]]] = {
    "resnet8": (8, NARROW),
    "resnet14": (14, NARROW),
    "resnet20": (20, NARROW),
    "resnet32": (32, NARROW),
    "resnet44": (44, NARROW),
    "resnet56": (56, NARROW),
    "resnet110": (110, NARROW),
    "resnet8x4": (8, WIDE),
    "resnet32x4": (32, WIDE),
}

CIFAR_TAPS = ["layer1", "layer2", "layer3"]
CIFAR_LEAVES = (nn.Sequential,)


class BasicBlock(nn.Module):
    """`relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))` with 3×3 convs, torchvision's
    `BasicBlock` in layout and parameter names (`conv1`, `bn1`, `conv2`, `bn2`, `downsample`),
    built in the same order, so the same seed gives the same weights and checkpoints load."""

    def __init__(
        self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        out += x if self.downsample is None else self.downsample(x)
        return self.relu(out)


def _stage(inplanes: int, planes: int, blocks: int, stride: int) -> nn.Sequential:
    downsample = None
    if stride != 1 or inplanes != planes:
        downsample = nn.Sequential(
            nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes)
        )
    layers = [BasicBlock(inplanes, planes, stride, downsample)]
    layers += [BasicBlock(planes, planes) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


class CifarResNet(nn.Module):
    """`(B, 3, H, W) -> logits (B, K)`; stage maps are `(B, w_l, H / 2^(l-1), W / 2^(l-1))`.

    The pooling is adaptive, so the net also runs on inputs larger than 32 px.
    """

    def __init__(self, depth: int, widths: tuple[int, int, int, int], num_classes: int) -> None:
        super().__init__()
        if (depth - 2) % 6 != 0 or depth < 8:
            raise ValueError(f"CIFAR ResNet depth must be 6n + 2 with n >= 1, got {depth}.")
        n = (depth - 2) // 6
        stem, w1, w2, w3 = widths
        self.conv1 = nn.Conv2d(3, stem, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = _stage(stem, w1, n, 1)
        self.layer2 = _stage(w1, w2, n, 2)
        self.layer3 = _stage(w2, w3, n, 2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(w3, num_classes)
        for m in self.modules():
            # A meta tensor (tap shapes, checkpoint sizes) has no values to draw, and drawing
            # them runs torch's reference `normal_`, whose first call imports torch._dynamo
            # (1.5 s of a run's start-up).
            if isinstance(m, nn.Conv2d) and not m.weight.is_meta:
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def build_cifar(name: str, num_classes: int) -> CifarResNet:
    depth, widths = CIFAR_SPECS[name]
    return CifarResNet(depth, widths, num_classes)
