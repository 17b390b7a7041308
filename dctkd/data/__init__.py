"""Datasets: synthetic multi-attention scenes (default), ADE20K, SUN397, MIT67, CIFAR-100, folders.

`build_dataset(name, split)` returns a torch Dataset of `(image (3, H, W) float, target int)`
with `.classes` and `.targets`. Splits: `"test"` is the official test/val list; `"val"` is a
seeded, stratified `val_fraction` of the official train list, held out for checkpoint
selection; `"train"` is the rest, optionally subsampled (stratified) to `train_size`. Every
check on the files (root, split files, labels, listed images) runs here, before training.

The catalogue and the scenes' options are imported with the package; the readers, datasets
and transforms, which need torch, when first used (PEP 562), so the command line and config
validation read the catalogue without importing torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dctkd.lazy import lazy_names

from .builtin import data_home  # importing `builtin` registers the built-in datasets
from .catalogue import DATASETS, Dataset, DatasetInfo, canonical_options, dataset, register
from .scenes import SceneConfig, single_object_accuracy, single_object_ambiguous
from .splits import stratified_holdout, stratified_subset

if TYPE_CHECKING:  # what a type checker and an editor see; nothing is imported at run time
    from .memory import ImageListDataset, TensorImageDataset, display_image
    from .scene_datasets import resolve_root
    from .scene_tensors import SceneDataset
    from .transforms import (
        CIFAR100_MEAN_STD,
        IMAGENET_MEAN_STD,
        SCENE_MEAN_STD_ORIGINAL,
        SCENES_MEAN_STD,
        MeanStd,
        scene_normalization,
    )

__getattr__ = lazy_names(__name__, {
    "ImageListDataset": ".memory", "TensorImageDataset": ".memory", "display_image": ".memory",
    "resolve_root": ".scene_datasets", "SceneDataset": ".scene_tensors",
    **dict.fromkeys(("CIFAR100_MEAN_STD", "IMAGENET_MEAN_STD", "SCENE_MEAN_STD_ORIGINAL",
                     "SCENES_MEAN_STD", "MeanStd", "scene_normalization"), ".transforms"),
})

SPLITS = ("train", "val", "test")


def dataset_names() -> list[str]:
    """Every registered dataset name."""
    return list(DATASETS)


def dataset_info(name: str, options: dict | None = None, root: str | None = None) -> DatasetInfo:
    """Class count, input size, family and normalisation of `name` with `options`.

    Read from the options (scenes); for the paper's datasets from the class files of the tree
    at `root` (ADE20K: `options["class_names"]` when given, else the labels of
    `sceneCategories.txt`; SUN397: `ClassName.txt`; MIT67: the folders of `Images/`), or
    their official counts when there is no tree; from the class folders of `root/train`
    (`folder`). No image is read.
    """
    entry = dataset(name)
    return entry.info(entry.parse_options(options), root)


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
    holdout_seed: int | None = None,
):
    """The `split` ("train" | "val" | "test") of dataset `name`, checked and ready to load.

    `augment=None` augments the train split only. `seed` (the run seed) chooses the val
    hold-out (unless `holdout_seed` is given) and the `train_size` subsample; the scenes'
    own data seed is `options["seed"]`. `train_size` applies to "train" only. Scenes
    options: see `SceneConfig`; scene datasets: `image_size` (224), `normalization`
    ("original" | "imagenet"), `verify` ("header" | "full" | "none"), plus sun397
    `partition` (1..10) / `partitions` (folder) and ade20k `class_names` (file); cifar100:
    `download`.
    """
    entry = dataset(name)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {list(SPLITS)}")
    do_augment = split == "train" if augment is None else augment
    official = "test" if split == "test" else "train"
    ds = entry.build(official, root, entry.parse_options(options), do_augment)
    if split != "test":
        kept, held = stratified_holdout(
            ds.targets, val_fraction, seed if holdout_seed is None else holdout_seed)
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
    "DATASETS",
    "IMAGENET_MEAN_STD",
    "SCENES_MEAN_STD",
    "SCENE_MEAN_STD_ORIGINAL",
    "Dataset",
    "DatasetInfo",
    "ImageListDataset",
    "MeanStd",
    "SceneConfig",
    "SceneDataset",
    "TensorImageDataset",
    "build_dataset",
    "canonical_options",
    "data_home",
    "dataset",
    "dataset_info",
    "dataset_names",
    "display_image",
    "register",
    "resolve_root",
    "scene_normalization",
    "single_object_accuracy",
    "single_object_ambiguous",
    "stratified_holdout",
    "stratified_subset",
]
