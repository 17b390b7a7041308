"""The synthetic scenes as a torch `Dataset`: one generated split and its ground truth.

Apart from `scenes.py`, which generates the images with numpy alone, so that the scenes'
options (`SceneConfig`) are checked without importing torch.
"""

from __future__ import annotations

from dataclasses import asdict
from functools import lru_cache

import torch

from .catalogue import DatasetInfo
from .memory import TensorImageDataset
from .scenes import (
    SceneArrays,
    SceneConfig,
    class_names,
    generate,
    make_class_sets,
    single_object_accuracy,
)
from .transforms import SCENES_MEAN_STD


@lru_cache(maxsize=4)
def _cached(cfg: SceneConfig, split: str) -> SceneArrays:
    return generate(cfg, split)


class SceneDataset(TensorImageDataset):
    """A generated split with its ground truth.

    Attributes: `images_uint8` uint8 `(N, 3, H, W)`; `masks` bool `(N, H, W)` (union of the
    class-defining objects, in the stored, un-augmented geometry); `kind_map` int8
    `(N, H, W)` (kind id per pixel, -1 background); `objects` int16 `(N, n_obj, 4)` (kind,
    top, left, defining); `class_sets` (kind ids per class, which under `rule="layout"`
    several classes share); `kind_names`; `config`.
    """

    per_sample = ("images_uint8", "masks", "kind_map", "objects")

    def __init__(self, cfg: SceneConfig, split: str, augment: bool) -> None:
        arrays = _cached(cfg, split)
        self.config = cfg
        self.class_sets = make_class_sets(cfg)
        self.kind_names = cfg.kind_names
        super().__init__(torch.tensor(arrays.images), arrays.targets.tolist(), class_names(cfg),
                         SCENES_MEAN_STD, augment)
        self.masks = torch.tensor(arrays.masks)
        self.kind_map = torch.tensor(arrays.kind_map)
        self.objects = torch.tensor(arrays.objects)

    def options(self) -> dict:
        return asdict(self.config)

    @property
    def single_object_accuracy(self) -> float:
        """Ceiling of a classifier shown one class-defining object (1 for k = 1, <= 1/2 else)."""
        return single_object_accuracy(self.class_sets, self.config.n_kinds)


def scenes_info(cfg: SceneConfig, root) -> DatasetInfo:
    """The catalogue's `info`: the task's class count and image size, a fixed normalisation."""
    return DatasetInfo(cfg.num_classes, cfg.image_size, "synthetic", *SCENES_MEAN_STD)


def build_scenes(split: str, root, cfg: SceneConfig, augment: bool) -> SceneDataset:
    """The catalogue's `build`: the generated split (`root` is unused, nothing is read)."""
    return SceneDataset(cfg, split, augment)
