"""The built-in datasets' catalogue entries: names, typed options, folders and layouts.

They live here rather than beside each reader so that reading the catalogue (the CLI's help,
config validation, run hashing, profiles) imports no torch: an entry's `info`, `build` and
`check_files` are `Deferred` functions of the reader modules, imported when first called.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, PositiveInt

from dctkd.lazy import Deferred
from dctkd.options import Options

from .catalogue import Dataset, register
from .scenes import SceneConfig

# Each dataset's folder under the data home, and what a user is to put there.
DEFAULT_DIRS = {
    "ade20k": "ADEChallengeData2016",
    "sun397": "SUN397",
    "mit67": "MIT67",
    "cifar100": "cifar100",
    "folder": "folder",
}
LAYOUTS = {
    "ade20k": "the ADEChallengeData2016 folder (images/training, images/validation, "
    "sceneCategories.txt)",
    "sun397": "the SUN397 folder (a/abbey/*.jpg, ...) with Partitions/ inside or beside it",
    "mit67": "the MIT67 folder (Images/<category>/*.jpg, TrainImages.txt, TestImages.txt)",
    "folder": "a folder with train/<class>/* and val/<class>/* or test/<class>/*",
}


def data_home() -> Path:
    """`$DCTKD_DATA`, else the repository's `data/` folder, else `./data`."""
    if os.environ.get("DCTKD_DATA"):
        return Path(os.environ["DCTKD_DATA"])
    repo = Path(__file__).resolve().parents[2] / "data"
    return repo if repo.is_dir() else Path("data")


class CIFAROptions(Options):
    download: bool = False  # fetch torchvision's files when missing (needs network)


class SceneFileOptions(Options):
    """Options of the file-based scene datasets.

    `image_size`: the crop side (224 in the paper; resize to `size * 256 / 224` first);
    `normalization`: `original` (the paper code's constants) or `imagenet`; `verify`: how
    the listed files are checked before training (`header`, `full` decode, or `none`).
    """

    image_size: PositiveInt = 224
    normalization: Literal["original", "imagenet"] = "original"
    verify: Literal["header", "full", "none"] = "header"


class ADE20KOptions(SceneFileOptions):
    class_names: str | None = None  # a file fixing the class order, one name per line


class SUN397Options(SceneFileOptions):
    partition: int = Field(1, ge=1, le=10)  # official Training_NN / Testing_NN pair
    partitions: str | None = None  # folder of the Partitions files, if not in the root


# Registered in the order `dataset_names()` has always listed them.
for _name, _title, _options, _published in (
    ("ade20k", "ADE20K", ADE20KOptions, "ADE20K"),
    ("sun397", "SUN397", SUN397Options, "SUN397"),
    ("mit67", "MIT Indoor-67", SceneFileOptions, "MIT67"),
    ("folder", "image folder", SceneFileOptions, None),
):
    register(Dataset(
        name=_name,
        title=_title,
        options=_options,
        info=Deferred("dctkd.data.scene_datasets:list_info", _name),
        build=Deferred("dctkd.data.scene_datasets:build_list", _name),
        check_files=Deferred("dctkd.data.scene_datasets:check_list_files", _name),
        subdir=DEFAULT_DIRS[_name],
        layout=LAYOUTS[_name],
        published=_published,
    ))
register(Dataset(
    name="cifar100",
    title="CIFAR-100",
    options=CIFAROptions,
    info=Deferred("dctkd.data.cifar:cifar100_info"),
    build=Deferred("dctkd.data.cifar:build_cifar100"),
    check_files=Deferred("dctkd.data.cifar:check_cifar100"),
    subdir=DEFAULT_DIRS["cifar100"],
    layout="torchvision's cifar-100-python/ folder (python pickles)",
))
SCENES = register(Dataset(
    name="scenes",
    title="synthetic scenes",
    options=SceneConfig,
    info=Deferred("dctkd.data.scene_tensors:scenes_info"),
    build=Deferred("dctkd.data.scene_tensors:build_scenes"),
))
