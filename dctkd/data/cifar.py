"""CIFAR-100 read from its python-pickle layout, held in memory and augmented like the scenes.

The pickles are read here rather than through torchvision's `CIFAR100`, whose MD5 check of
the distributed files would make any other copy unreadable (the rehearsal's small ones
included); each file's structure is checked instead. torchvision still does the download.
See `docs/protocol.md#preprocessing`.
"""

from __future__ import annotations

import os
import pickle

import numpy as np
import torch

from .builtin import DEFAULT_DIRS, CIFAROptions, data_home
from .catalogue import DatasetInfo
from .memory import TensorImageDataset
from .transforms import CIFAR100_MEAN_STD


def cifar100_info(options: CIFAROptions, root) -> DatasetInfo:
    """The catalogue's `info`: 100 classes of 32 px, normalised with CIFAR-100's statistics."""
    return DatasetInfo(100, 32, "cifar", *CIFAR100_MEAN_STD)


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
    if download:
        from torchvision.datasets import CIFAR100

        try:
            CIFAR100(path, train=split == "train", download=True)
        except (RuntimeError, OSError) as exc:
            raise FileNotFoundError(
                f"cifar100 could not be downloaded into {path} ({type(exc).__name__}: {exc})"
            ) from exc
    folder = os.path.join(path, "cifar-100-python")
    classes = _unpickle(folder, "meta", "fine_label_names")["fine_label_names"]
    entry = _unpickle(folder, split, "data", "fine_labels")
    images, labels = _images_and_labels(entry, os.path.join(folder, split), len(classes))
    return TensorImageDataset(images, labels, list(classes), CIFAR100_MEAN_STD, augment)


def _unpickle(folder: str, name: str, *keys: str) -> dict:
    """One file of the archive (Python 2 pickles, hence latin1), with the keys it must hold."""
    path = os.path.join(folder, name)
    try:
        with open(path, "rb") as fh:
            entry = pickle.load(fh, encoding="latin1")
    except (OSError, pickle.UnpicklingError, EOFError, ValueError) as exc:
        raise FileNotFoundError(
            f"cifar100 file {path} is missing or corrupted ({type(exc).__name__}: {exc}); "
            "expected torchvision's cifar-100-python/ folder"
        ) from exc
    missing = [k for k in keys if not isinstance(entry, dict) or k not in entry]
    if missing:
        raise FileNotFoundError(
            f"cifar100 file {path} is missing or corrupted: it has no {missing}; expected "
            "the pickles of cifar-100-python.tar.gz"
        )
    return entry


def _images_and_labels(entry: dict, path: str, num_classes: int):
    """`(N, 3, 32, 32)` uint8 images and N labels, checked against each other and the classes."""
    data = np.asarray(entry["data"], dtype=np.uint8)
    labels = [int(t) for t in entry["fine_labels"]]
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(data) != len(labels):
        raise FileNotFoundError(
            f"cifar100 file {path} is corrupted: {data.shape} data rows for {len(labels)} "
            "labels; expected one row of 3072 values per label"
        )
    if labels and not 0 <= min(labels) <= max(labels) < num_classes:
        raise FileNotFoundError(
            f"cifar100 file {path} is corrupted: labels outside 0..{num_classes - 1}"
        )
    images = torch.from_numpy(data.reshape(-1, 3, 32, 32).copy())
    return images, labels


def check_cifar100(options: CIFAROptions, root) -> None:
    """Before training: the `cifar-100-python/` folder is there, unless it is to be fetched."""
    path = os.path.normpath(str(root) if root is not None
                            else str(data_home() / DEFAULT_DIRS["cifar100"]))
    folder = path if os.path.basename(path) == "cifar-100-python" else os.path.join(
        path, "cifar-100-python")
    if not options.download and not os.path.isdir(folder):
        raise FileNotFoundError(
            f"cifar100 root {os.path.dirname(folder)} has no cifar-100-python/ folder; "
            "expected torchvision's CIFAR-100 files there, or options download=True"
        )
