"""The model names a config may give, and their families, known without importing torch.

The builders (`registry.py`, with `imagenet.py` and `cifar.py`) import torch and torchvision;
config validation and the command line only need the names, so they read them here
(tests/test_models.py checks that every name is built there).
"""

from __future__ import annotations

IMAGENET_MODELS = ("resnet18", "resnet34", "resnet50", "resnet152", "mobilenet_v2")
CIFAR_MODELS = ("resnet8", "resnet14", "resnet20", "resnet32", "resnet44", "resnet56",
                "resnet110", "resnet8x4", "resnet32x4")
MODEL_NAMES: tuple[str, ...] = IMAGENET_MODELS + CIFAR_MODELS
PRETRAINED_CHOICES = ("imagenet",)


def model_family(name: str) -> str:
    """`"imagenet"` (4 taps, 224 px native) or `"cifar"` (3 taps, 32 px native)."""
    if name in IMAGENET_MODELS:
        return "imagenet"
    if name in CIFAR_MODELS:
        return "cifar"
    raise ValueError(f"Unknown model {name!r}; expected one of {', '.join(MODEL_NAMES)}.")
