"""Tiny copies of the paper's datasets in the layouts their authors ship, and fake ImageNet weights.

The readers of `dctkd.data` only ever see these trees through their official files
(`sceneCategories.txt`, SUN397's `Partitions/`, MIT67's `TrainImages.txt`, CIFAR-100's
python pickles), so a tree written here exercises exactly the code the real datasets go
through. `tests/test_data.py` builds its small trees with the same writers, and
`write_paper_data` puts all four under one data home (the folder `--data` names).
`write_fake_imagenet_weights` fills a torch hub cache with random weights saved under
torchvision's own file names, so `pretrained=imagenet` takes its offline path.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

IMAGE_SHAPE = (20, 24)  # (H, W) of the JPEGs the small reader tests decode


def jpeg(path: Path, seed: int, gray: bool = False, shape: tuple[int, int] = IMAGE_SHAPE
         ) -> Path:
    """A random-noise JPEG (grayscale if `gray`), seeded so a tree is the same every time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    size = shape if gray else (*shape, 3)
    Image.fromarray(rng.integers(0, 255, size, dtype=np.uint8)).save(path, "JPEG")
    return path


def write(path: Path, lines: Iterable[str]) -> Path:
    """A text file of `lines`, one per line, creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def ade20k_tree(root: Path, train: Sequence[str], val: Sequence[str], gray: Iterable[int] = (),
                shape: tuple[int, int] = IMAGE_SHAPE) -> Path:
    """`ADEChallengeData2016/`: one JPEG per label under `images/{training,validation}` and
    `sceneCategories.txt` listing them; `gray` holds the 1-based training ids saved grayscale."""
    gray = set(gray)
    lines = []
    for i, label in enumerate(train, 1):
        jpeg(root / "images/training" / f"ADE_train_{i:08d}.jpg", i, i in gray, shape)
        lines.append(f"ADE_train_{i:08d} {label}")
    for i, label in enumerate(val, 1):
        jpeg(root / "images/validation" / f"ADE_val_{i:08d}.jpg", 100_000 + i, shape=shape)
        lines.append(f"ADE_val_{i:08d} {label}")
    write(root / "sceneCategories.txt", lines)
    return root


def sun397_tree(root: Path, classes: Sequence[str], n_train: int, n_test: int,
                shape: tuple[int, int] = IMAGE_SHAPE) -> tuple[Path, list[str], list[str]]:
    """`SUN397/<letter>/<category>/*.jpg` and `Partitions/{ClassName,Training_01,Testing_01}.txt`.

    `classes` are SUN's own lines (`/a/abbey`, `/a/apartment_building/outdoor`); returns the
    root and the training and testing lines, for tests that write more partitions.
    """
    train, test = [], []
    for c, cls in enumerate(classes):
        for j in range(n_train + n_test):
            line = f"{cls}/sun_{c}{j}.jpg"
            jpeg(root / line.lstrip("/"), 10 * c + j, shape=shape)
            (train if j < n_train else test).append(line)
    write(root / "Partitions/ClassName.txt", classes)
    write(root / "Partitions/Training_01.txt", train)
    write(root / "Partitions/Testing_01.txt", test)
    return root, train, test


def mit67_tree(root: Path, classes: Sequence[str], n_train: int, n_test: int,
               shape: tuple[int, int] = IMAGE_SHAPE) -> Path:
    """`MIT67/Images/<category>/*.jpg` (file names with spaces, as some real ones have) and
    `TrainImages.txt`/`TestImages.txt` listing `<category>/<file>`."""
    train, test = [], []
    for c, cls in enumerate(classes):
        for j in range(n_train + n_test):
            line = f"{cls}/img {c} {j}.jpg"
            jpeg(root / "Images" / line, 10 * c + j, shape=shape)
            (train if j < n_train else test).append(line)
    write(root / "TrainImages.txt", train)
    write(root / "TestImages.txt", test)
    return root


CIFAR100_CLASSES = 100


def cifar100_tree(root: Path, used_classes: int, n_train: int, n_test: int, seed: int = 0
                  ) -> Path:
    """`<root>/cifar-100-python/{train,test,meta}`: the pickles of the distributed archive.

    Same keys as the real files (`data` rows of 3072 uint8 values, `fine_labels`,
    `coarse_labels`, `filenames`; `meta` with 100 `fine_label_names`), holding `n_train` and
    `n_test` random images for each of the first `used_classes` classes.
    """
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("test", n_test)):
        labels = [c for c in range(used_classes) for _ in range(n)]
        entry = {
            "filenames": [f"{split}_{i}.png" for i in range(len(labels))],
            "batch_label": f"{split} batch",
            "fine_labels": labels,
            "coarse_labels": [c // 5 for c in labels],
            "data": rng.integers(0, 255, (len(labels), 3 * 32 * 32), dtype=np.uint8),
        }
        with open(folder / split, "wb") as fh:
            pickle.dump(entry, fh)
    meta = {"fine_label_names": [f"class_{c:02d}" for c in range(CIFAR100_CLASSES)],
            "coarse_label_names": [f"super_{c:02d}" for c in range(20)]}
    with open(folder / "meta", "wb") as fh:
        pickle.dump(meta, fh)
    return root


# What `write_paper_data` puts in each tree: a few classes, a handful of images per class.
ADE_CLASSES = ["bedroom", "kitchen", "living_room", "street"]
SUN_CLASSES = ["/a/abbey", "/a/apartment_building/outdoor", "/b/bedroom", "/k/kitchen"]
MIT_CLASSES = ["bar", "game room", "kitchen", "library"]


def write_paper_data(home: Path, n_train: int = 6, n_test: int = 2,
                     shape: tuple[int, int] = (80, 96)) -> Path:
    """A data home with the four paper datasets, each in its catalogue folder.

    Every scene dataset gets four classes with `n_train` training and `n_test` test images
    each; ADE20K also has a test-only class (`airport_terminal`), as the real one has
    classes absent from training. CIFAR-100 holds the full 100-name class list with images
    in ten classes. `shape` is the JPEG size, larger than the rehearsal's resize.
    """
    train = [c for c in ADE_CLASSES for _ in range(n_train)]
    val = [c for c in ADE_CLASSES for _ in range(n_test)] + ["airport_terminal"]
    ade20k_tree(home / "ADEChallengeData2016", train, val, gray=[2], shape=shape)
    sun397_tree(home / "SUN397", SUN_CLASSES, n_train, n_test, shape)
    mit67_tree(home / "MIT67", MIT_CLASSES, n_train, n_test, shape)
    cifar100_tree(home / "cifar100", 10, n_train, n_test)
    return home


def write_fake_imagenet_weights(hub_dir: Path, models: Iterable[str]) -> list[Path]:
    """Random weights of each model, saved where torchvision's download would put them.

    `hub_dir` is a torch hub folder (`$TORCH_HOME/hub`); the files go to its `checkpoints/`
    under the names of torchvision's ImageNet-1k V1 URLs, so loading them is the offline
    cache path of `pretrained=imagenet`. The weights are random, ResNets with zero-initialised
    residual branches so that their logits stay in a trained network's range.
    """
    import torch

    from dctkd.models.imagenet import IMAGENET_SPECS
    from dctkd.models.weights import weight_file

    folder = Path(hub_dir) / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in models:
        builder = IMAGENET_SPECS[name][0]
        path = folder / weight_file(name)
        if not path.is_file():
            torch.manual_seed(0)
            kwargs = {"zero_init_residual": True} if name.startswith("resnet") else {}
            torch.save(builder(weights=None, **kwargs).state_dict(), path)
        paths.append(path)
    return paths
