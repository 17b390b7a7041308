"""In-memory uint8 image datasets (synthetic scenes, CIFAR-100) and file-list datasets.

Both kinds expose the contract's surface: `.classes`, `.targets` (list of int),
`__getitem__(i) -> (image (3, H, W) float normalised, target int)`, and `subset(indices)`,
which `build_dataset` uses to carve the val split and the `train_size` subsample while
keeping every per-sample attribute (masks, file paths) aligned.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Sequence

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor
from torch.utils.data import Dataset

from .transforms import MeanStd, PadCropFlip


class TensorImageDataset(Dataset):
    """Images held as one uint8 tensor `(N, 3, H, W)`; CIFAR-style augmentation per sample.

    Subclasses list extra per-sample tensors (first dimension N) in `per_sample`, so
    `subset` keeps them aligned.
    """

    per_sample: tuple[str, ...] = ("images_uint8",)

    def __init__(
        self,
        images_uint8: Tensor,
        targets: Sequence[int],
        classes: list[str],
        mean_std: MeanStd,
        augment: bool,
    ) -> None:
        if images_uint8.dtype != torch.uint8 or images_uint8.ndim != 4:
            raise ValueError(
                f"expected uint8 images (N, 3, H, W), got {images_uint8.dtype} "
                f"{tuple(images_uint8.shape)}"
            )
        self.images_uint8 = images_uint8
        self.targets = [int(t) for t in targets]
        self.classes = list(classes)
        self.mean_std = mean_std
        self.augment = augment
        self.transform = PadCropFlip(mean_std, augment)

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        return self.transform(self.images_uint8[i]), self.targets[i]

    @property
    def views(self) -> int | None:
        """How many distinct inputs a training image can become (`PadCropFlip.views`)."""
        return self.transform.views

    def view_item(self, i: int) -> tuple[Tensor, int, int]:
        """`(image, target, view)`: sample `i` augmented, and which of the `views` it became."""
        image, view = self.transform.draw(self.images_uint8[i])
        return image, self.targets[i], view

    def view_image(self, i: int, view: int) -> Tensor:
        """Sample `i` as its view `view` (0: as stored, 1: mirrored), normalised."""
        return self.transform.view(self.images_uint8[i], view)

    def raw_image(self, i: int) -> Tensor:
        """The stored uint8 `(3, H, W)` image, un-augmented, for display."""
        return self.images_uint8[i]

    def subset(self, indices: Sequence[int] | np.ndarray) -> TensorImageDataset:
        idx = torch.as_tensor(np.asarray(indices, dtype=np.int64))
        new = copy.copy(self)
        for name in self.per_sample:
            setattr(new, name, getattr(self, name)[idx])
        new.targets = [self.targets[i] for i in idx.tolist()]
        return new


IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG", b"GIF8", b"BM", b"RIFF")


def check_header(path: str) -> None:
    """Cheap decodability check: the file starts like a JPEG/PNG/GIF/BMP/WebP image."""
    with open(path, "rb") as fh:
        head = fh.read(12)
    if not any(head.startswith(m) for m in IMAGE_MAGIC):
        raise ValueError(f"{path} is not a JPEG/PNG/GIF/BMP/WebP image (unrecognised header)")


def load_rgb(path: str) -> Image.Image:
    """Decode with PIL and convert to RGB (grayscale, CMYK, palette images become RGB)."""
    try:
        with Image.open(path) as img:
            return img.convert("RGB")
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise ValueError(f"cannot decode image {path} ({exc}); replace or remove it "
                         "(data.options.verify=full decodes every image before training)"
                         ) from exc


class ImageListDataset(Dataset):
    """`(path, target)` pairs read with PIL on demand and passed through `transform`.

    Existence of every file is checked at construction; with `verify="header"` (default)
    every file's first bytes too, with `verify="full"` every image is decoded once, and
    `verify="none"` skips both (`True`/`False` mean "full"/"none"). A file that still fails
    to decode raises a ValueError naming it when it is read.
    """

    def __init__(
        self,
        samples: list[tuple[str, int]],
        classes: list[str],
        transform: Callable,
        verify: str | bool = "header",
        source: str = "",
        mean_std: MeanStd | None = None,
    ) -> None:
        verify = {True: "full", False: "none"}.get(verify, verify)
        if verify not in ("none", "header", "full"):
            raise ValueError(f"verify must be 'none', 'header' or 'full', got {verify!r}")
        self.samples = samples
        self.targets = [t for _, t in samples]
        self.classes = list(classes)
        self.transform = transform
        self.mean_std = mean_std
        if verify != "none":
            verify_files([p for p, _ in samples], full=verify == "full", source=source)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        path, target = self.samples[i]
        return self.transform(load_rgb(path)), target

    def subset(self, indices: Sequence[int] | np.ndarray) -> ImageListDataset:
        new = copy.copy(self)
        new.samples = [self.samples[int(i)] for i in indices]
        new.targets = [t for _, t in new.samples]
        return new


def verify_files(paths: list[str], full: bool = False, source: str = "") -> None:
    """Raise for the first missing file (with the count) or the first undecodable one."""
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        where = f" listed in {source}" if source else ""
        raise FileNotFoundError(f"{len(missing)} image(s){where} are missing, e.g. {missing[0]}")
    for p in paths:
        if full:
            load_rgb(p)
        else:
            check_header(p)


def display_image(ds: Dataset, i: int) -> Tensor:
    """Sample `i` of `ds` as uint8 `(3, H, W)` for display.

    In-memory datasets give their stored pixels; file datasets the model's (un-augmented)
    input with the normalisation undone.
    """
    if hasattr(ds, "raw_image"):
        return ds.raw_image(i)
    image, _ = ds[i]
    mean_std = getattr(ds, "mean_std", None)
    if mean_std is None:
        raise ValueError(f"{type(ds).__name__} does not say how its images were normalised")
    mean, std = (torch.tensor(v).view(3, 1, 1) for v in mean_std)
    return (image * std + mean).clamp(0, 1).mul(255).round().to(torch.uint8)
