"""CIFAR-100 in torchvision's format, held in memory and augmented like the scenes.

See `docs/protocol.md#preprocessing`.
"""

from __future__ import annotations

import os

import torch
from torchvision.datasets import CIFAR100

from dctkd.options import Options

from .catalogue import Dataset, DatasetInfo, register
from .memory import TensorImageDataset
from .scene_datasets import DEFAULT_DIRS, data_home
from .transforms import CIFAR100_MEAN_STD


class CIFAROptions(Options):
    download: bool = False  # fetch torchvision's files when missing (needs network)


def build_cifar100(split: str, root, options: CIFAROptions, augment: bool) -> TensorImageDataset:
    """Official `"train"` (50k) or `"test"` (10k) split; downloads only with `download=True`.

    `root` is the folder that holds (or will hold) `cifar-100-python/`; pointing at
    `cifar-100-python/` itself works too.
    """
    download = options.download
    path = str(root) if root is not None else str(data_home() / DEFAULT_DIRS["cifar100"])
    if os.path.basename(os.path.normpath(path)) == "cifar-100-python":
        path = os.path.dirname(os.path.normpath(path))
    if not download and not os.path.isdir(os.path.join(path, "cifar-100-python")):
        raise FileNotFoundError(
            f"cifar100 root {path} has no cifar-100-python/ folder; expected "
            f"torchvision's CIFAR-100 files there, or options download=True"
        )
    try:
        ds = CIFAR100(path, train=split == "train", download=download)
    except RuntimeError as exc:
        raise FileNotFoundError(
            f"cifar100 files under {path} are missing or corrupted ({exc}); "
            f"expected torchvision's cifar-100-python/ folder"
        ) from exc
    images = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()
    return TensorImageDataset(images, ds.targets, ds.classes, CIFAR100_MEAN_STD, augment)


register(
    Dataset(
        name="cifar100",
        title="CIFAR-100",
        options=CIFAROptions,
        info=lambda opts, root: DatasetInfo(100, 32, "cifar", *CIFAR100_MEAN_STD),
        build=build_cifar100,
        subdir=DEFAULT_DIRS["cifar100"],
        layout="torchvision's cifar-100-python/ folder (python pickles)",
    )
)
