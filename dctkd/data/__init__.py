"""Datasets: synthetic multi-attention scenes (default), ADE20K, SUN397, MIT67, CIFAR-100, folders.

`build_dataset(name, split)` returns a torch Dataset of `(image (3, H, W) float, target int)`
with `.classes` and `.targets`. Splits: `"test"` is the official test/val list; `"val"` is a
seeded, stratified `val_fraction` of the official train list, held out for checkpoint
selection; `"train"` is the rest, optionally subsampled (stratified) to `train_size`. Every
check on the files (root, split files, labels, listed images) runs here, before training.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .cifar import build_cifar100, check_cifar_options
from .memory import ImageListDataset, TensorImageDataset
from .scene_datasets import OPTIONS, build_list_dataset, check_options, resolve_root
from .scenes import SceneConfig, SceneDataset, single_object_accuracy, single_object_ambiguous
from .splits import stratified_holdout, stratified_subset
from .transforms import (
    CIFAR100_MEAN_STD,
    IMAGENET_MEAN_STD,
    SCENE_MEAN_STD_ORIGINAL,
    SCENES_MEAN_STD,
    MeanStd,
    scene_normalization,
)

DATASET_NAMES = ("scenes", "ade20k", "sun397", "mit67", "cifar100", "folder")
SPLITS = ("train", "val", "test")
OFFICIAL_CLASSES = {"ade20k": 1055, "sun397": 397, "mit67": 67, "cifar100": 100}


@dataclass(frozen=True)
class DatasetInfo:
    """What a model and a transform need to know, without reading any image."""

    num_classes: int
    image_size: int
    family: str  # "synthetic" (scenes), "scene" (file-based scene datasets) or "cifar"
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


def _check_name(name: str) -> None:
    if name not in DATASET_NAMES:
        raise ValueError(f"unknown dataset {name!r}; expected one of {list(DATASET_NAMES)}")


def dataset_info(name: str, options: dict | None = None, root: str | None = None) -> DatasetInfo:
    """Class count, input size, family and normalisation of `name` with `options`.

    Scenes read it from the options; the paper datasets give their official class counts
    (ADE20K: the size of `options["class_names"]` when given); `folder` needs `root` to count
    the class folders of `root/train`.
    """
    _check_name(name)
    options = dict(options or {})
    if name == "scenes":
        cfg = SceneConfig.from_options(options)
        return DatasetInfo(cfg.num_classes, cfg.image_size, "synthetic", *SCENES_MEAN_STD)
    if name == "cifar100":
        check_cifar_options(options)
        return DatasetInfo(100, 32, "cifar", *CIFAR100_MEAN_STD)
    check_options(name, options)
    mean_std = scene_normalization(options.get("normalization", "original"))
    size = options.get("image_size", 224)
    if name == "folder":
        if root is None:
            raise ValueError("dataset_info('folder') needs root to count the class folders")
        num = sum(p.is_dir() for p in (resolve_root("folder", root) / "train").iterdir())
    elif name == "ade20k" and options.get("class_names"):
        text = Path(options["class_names"]).read_text(encoding="utf-8")
        num = sum(1 for line in text.splitlines() if line.strip())
    else:
        num = OFFICIAL_CLASSES[name]
    return DatasetInfo(num, size, "scene", *mean_std)


def _official(name: str, split: str, root, options: dict, augment: bool):
    if name == "scenes":
        return SceneDataset(SceneConfig.from_options(options), split, augment)
    if name == "cifar100":
        return build_cifar100(split, root, options, augment)
    return build_list_dataset(name, split, root, options, augment)


def build_dataset(
    name: str,
    split: str,
    root: str | None = None,
    *,
    options: dict | None = None,
    augment: bool | None = None,
    val_fraction: float = 0.1,
    train_size: int | None = None,
    seed: int = 0,
):
    """The `split` ("train" | "val" | "test") of dataset `name`, checked and ready to load.

    `augment=None` augments the train split only. `seed` (the run seed) chooses the val
    hold-out and the `train_size` subsample; the scenes' own data seed is `options["seed"]`.
    `train_size` applies to "train" only. Scenes options: see `SceneConfig`; scene datasets:
    `image_size` (224), `normalization` ("original" | "imagenet"), `verify` ("header" |
    "full" | "none"), plus sun397 `partition` (1..10) / `partitions` (folder) and ade20k
    `class_names` (file); cifar100: `download`.
    """
    _check_name(name)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {list(SPLITS)}")
    do_augment = split == "train" if augment is None else bool(augment)
    ds = _official(
        name, "test" if split == "test" else "train", root, dict(options or {}), do_augment
    )
    if split != "test":
        kept, held = stratified_holdout(ds.targets, val_fraction, seed)
        if split == "val" and len(held) == 0:
            raise ValueError(
                f"val_fraction={val_fraction} holds out no {name} training image, "
                f"so there is no val split"
            )
        ds = ds.subset(held if split == "val" else kept)
        if split == "train" and train_size is not None:
            ds = ds.subset(stratified_subset(ds.targets, train_size, seed))
    ds.name, ds.split = name, split
    return ds


__all__ = [
    "CIFAR100_MEAN_STD",
    "DATASET_NAMES",
    "IMAGENET_MEAN_STD",
    "OPTIONS",
    "SCENES_MEAN_STD",
    "SCENE_MEAN_STD_ORIGINAL",
    "DatasetInfo",
    "ImageListDataset",
    "MeanStd",
    "SceneConfig",
    "SceneDataset",
    "TensorImageDataset",
    "build_dataset",
    "dataset_info",
    "single_object_accuracy",
    "single_object_ambiguous",
    "stratified_holdout",
    "stratified_subset",
]
