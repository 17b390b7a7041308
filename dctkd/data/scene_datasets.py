"""ADE20K, SUN397, MIT Indoor-67 and ImageFolder trees, read from the layouts their authors ship.

Each reader turns a root folder into a `ListSpec`: the official train and test lists of
`(path, label name)` and the class list, after checking the root, the split files (line by
line), that every label is in the class list and that train and test do not share a file.
`build_list_dataset` then checks the chosen split's files and wraps them in an
`ImageListDataset` with the docs/protocol.md#preprocessing transforms. Layouts and sources:
data/README.md.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

from torchvision.datasets.folder import IMG_EXTENSIONS, find_classes, make_dataset

from .builtin import DEFAULT_DIRS, LAYOUTS, SceneFileOptions, data_home
from .catalogue import DatasetInfo
from .memory import ImageListDataset
from .transforms import scene_normalization, scene_transform

MARKERS = {
    "ade20k": "sceneCategories.txt",
    "sun397": "a",
    "mit67": "Images",
    "folder": "train",
}


@dataclass
class ListSpec:
    train: list[tuple[str, str]]
    test: list[tuple[str, str]]
    classes: list[str]
    sources: tuple[str, str]


def resolve_root(name: str, root: str | os.PathLike | None) -> Path:
    """The dataset folder; a parent holding the default folder name is accepted too."""
    path = Path(root) if root is not None else data_home() / DEFAULT_DIRS[name]
    if not path.is_dir():
        raise FileNotFoundError(
            f"{name} root {path} does not exist; expected {LAYOUTS[name]} (see data/README.md)"
        )
    nested = path / DEFAULT_DIRS[name]
    if not (path / MARKERS[name]).exists() and (nested / MARKERS[name]).exists():
        return nested
    return path


def read_lines(path: Path, what: str) -> list[tuple[int, str]]:
    """Non-blank lines with their 1-based numbers; a missing file names what it should hold."""
    if not path.is_file():
        raise FileNotFoundError(f"split file {path} is missing; expected {what}")
    with open(path, encoding="utf-8") as fh:
        return [(n, line.strip()) for n, line in enumerate(fh, 1) if line.strip()]


def malformed(path: Path, n: int, expected: str, line: str) -> ValueError:
    return ValueError(f"{path} line {n} is malformed: expected {expected}, got {line!r}")


def read_ade20k(root: Path, options: dict) -> ListSpec:
    """`sceneCategories.txt` lines `ADE_train_00000001 airport_terminal` (train and val ids).

    Classes: the sorted union of labels over both splits (1055 in the official file,
    docs/protocol.md), or the order of `options["class_names"]` (one name per line, first
    token read, as the original's scene_names.txt).
    """
    src = root / "sceneCategories.txt"
    folders = {"ADE_train_": "training", "ADE_val_": "validation"}
    train, test = [], []
    for n, line in read_lines(src, "lines '<image id> <scene label>'"):
        parts = line.split()
        prefix = next((p for p in folders if parts[0].startswith(p)), None)
        if len(parts) != 2 or prefix is None:
            raise malformed(src, n, "'ADE_train_<n> <scene>' or 'ADE_val_<n> <scene>'", line)
        path = str(root / "images" / folders[prefix] / f"{parts[0]}.jpg")
        (train if prefix == "ADE_train_" else test).append((path, parts[1], n))
    if options.get("class_names"):
        names = Path(options["class_names"])
        classes = [line.split()[0] for _, line in read_lines(names, "one scene name per line")]
        check_labels(train + test, classes, src, names)
    else:
        classes = sorted({label for _, label, _ in train + test})
    return ListSpec(strip(train), strip(test), classes, (str(src), str(src)))


def check_labels(rows, classes: list[str], src: Path, class_src: Path | str) -> None:
    known = set(classes)
    for path, label, n in rows:
        if label not in known:
            raise ValueError(
                f"{src} line {n}: label {label!r} of {path} is not in the class list {class_src}"
            )


def strip(rows) -> list[tuple[str, str]]:
    return [(path, label) for path, label, _ in rows]


def _sun_dir(line: str) -> list[str]:
    return [p for p in line.split("/") if p]


def sun397_partitions(root: Path, options: dict) -> Path:
    """The `Partitions/` folder: the `partitions` option, else inside the root, else beside it."""
    if options.get("partitions"):
        return Path(options["partitions"])
    inside, beside = root / "Partitions", root.parent / "Partitions"
    return inside if inside.is_dir() or not beside.is_dir() else beside


def read_sun397(root: Path, options: dict) -> ListSpec:
    """Official `Partitions/`: `ClassName.txt` (`/a/abbey`), `Training_0N.txt`/`Testing_0N.txt`.

    Class names are flattened with '-' (`/a/apartment_building/outdoor` ->
    `apartment_building-outdoor`) and indexed alphabetically (docs/protocol.md#sun397).
    """
    part = options.get("partition", 1)
    if not isinstance(part, int) or not 1 <= part <= 10:
        raise ValueError(f"sun397 option partition must be an integer in 1..10, got {part!r}")
    parts_dir = sun397_partitions(root, options)
    cls_src = parts_dir / "ClassName.txt"
    flat = {}
    for n, line in read_lines(cls_src, "lines like '/a/abbey'"):
        p = _sun_dir(line)
        if not line.startswith("/") or len(p) < 2 or len(p[0]) != 1:
            raise malformed(cls_src, n, "'/<letter>/<category>[/<sub>]'", line)
        flat["/".join(p)] = "-".join(p[1:])
    lists = []
    for kind in ("Training", "Testing"):
        src = parts_dir / f"{kind}_{part:02d}.txt"
        rows = []
        for n, line in read_lines(src, "lines like '/a/abbey/sun_aqswjsnjlrfzzhiz.jpg'"):
            p = _sun_dir(line)
            if not line.startswith("/") or len(p) < 3:
                raise malformed(src, n, "'/<letter>/<category>/<file>.jpg'", line)
            label = flat.get("/".join(p[:-1]), "/".join(p[:-1]))
            rows.append((str(root.joinpath(*p)), label, n))
        check_labels(rows, list(flat.values()), src, cls_src)
        lists.append((src, rows))
    spec = ListSpec(
        strip(lists[0][1]),
        strip(lists[1][1]),
        sorted(flat.values()),
        (str(lists[0][0]), str(lists[1][0])),
    )
    return spec


def mit67_classes(images: Path) -> list[str]:
    """The sorted category folders of MIT67's `Images/`."""
    return sorted(e.name for e in os.scandir(images) if e.is_dir())


def read_mit67(root: Path, options: dict) -> ListSpec:
    """`Images/<category>/<file>` with `TrainImages.txt`/`TestImages.txt` lines `<category>/<file>`.

    File names may contain spaces, so a line is one path, never split on whitespace.
    Classes: the sorted sub-folders of `Images/`.
    """
    images = root / "Images"
    if not images.is_dir():
        raise FileNotFoundError(f"{images} is missing; expected {LAYOUTS['mit67']}")
    classes = mit67_classes(images)
    lists = []
    for name in ("TrainImages.txt", "TestImages.txt"):
        src = root / name
        rows = []
        for n, line in read_lines(src, "lines '<category>/<file>.jpg'"):
            if "/" not in line.strip("/"):
                raise malformed(src, n, "'<category>/<file>.jpg'", line)
            rows.append((str(images / line), line.split("/", 1)[0], n))
        check_labels(rows, classes, src, images)
        lists.append(rows)
    return ListSpec(
        strip(lists[0]),
        strip(lists[1]),
        classes,
        (str(root / "TrainImages.txt"), str(root / "TestImages.txt")),
    )


def read_folder(root: Path, options: dict) -> ListSpec:
    """ImageFolder trees: classes from `train/`; `test/` (else `val/`) is the eval split."""
    train_dir = root / "train"
    test_dir = next((d for d in (root / "test", root / "val") if d.is_dir()), None)
    if not train_dir.is_dir() or test_dir is None:
        raise FileNotFoundError(
            f"{root} must hold train/<class>/* and val/<class>/* or test/<class>/*"
        )
    classes, _ = find_classes(str(train_dir))
    test_classes, _ = find_classes(str(test_dir))
    extra = sorted(set(test_classes) - set(classes))
    if extra:
        raise ValueError(
            f"{test_dir} has class folder(s) {extra} that are not in the class list of {train_dir}"
        )
    lists = []
    for d in (train_dir, test_dir):
        found = make_dataset(
            str(d),
            {c: i for i, c in enumerate(classes)},
            extensions=IMG_EXTENSIONS,
            allow_empty=True,
        )
        lists.append([(p, classes[t]) for p, t in found])
    return ListSpec(lists[0], lists[1], classes, (str(train_dir), str(test_dir)))


READERS = {"ade20k": read_ade20k, "sun397": read_sun397, "mit67": read_mit67, "folder": read_folder}


def build_list_dataset(name: str, split: str, root, options: dict, augment: bool):
    """The official `"train"` or `"test"` split of a file-based scene dataset."""
    path = resolve_root(name, root)
    spec = READERS[name](path, options)
    shared = set(p for p, _ in spec.train) & set(p for p, _ in spec.test)
    if shared:
        raise ValueError(
            f"{len(shared)} image(s) are in both {spec.sources[0]} and "
            f"{spec.sources[1]} (e.g. {min(shared)}); train and test must be "
            f"disjoint"
        )
    index = {c: i for i, c in enumerate(spec.classes)}
    rows = spec.train if split == "train" else spec.test
    if not rows:
        raise ValueError(f"{spec.sources[split != 'train']} lists no images for the {split} split")
    samples = [(p, index[label]) for p, label in rows]
    mean_std = scene_normalization(options.get("normalization", "original"))
    return ImageListDataset(
        samples,
        spec.classes,
        scene_transform(augment, options.get("image_size", 224), mean_std),
        verify=options.get("verify", "header"),
        source=spec.sources[split != "train"],
        mean_std=mean_std,
    )


OFFICIAL_CLASSES = {"ade20k": 1055, "sun397": 397, "mit67": 67}


def tree_classes(name: str, opts: SceneFileOptions, root) -> int | None:
    """How many classes the reader will find in the tree at `root`, or None without a tree.

    Read from the class-defining text file or folders only (no image), so a network is sized
    from the copy it trains on: the official files give the official counts, and a partial
    or reduced copy (the rehearsal's) its own.
    """
    try:
        path = resolve_root(name, root)
    except FileNotFoundError:
        return None
    if name == "ade20k":
        src = path / "sceneCategories.txt"
        if not src.is_file():
            return None
        stat = src.stat()
        return _ade20k_count(str(path), stat.st_mtime_ns, stat.st_size)
    if name == "sun397":
        src = sun397_partitions(path, opts.model_dump()) / "ClassName.txt"
        if not src.is_file():
            return None
        return len({"/".join(_sun_dir(line)) for _, line in read_lines(src, "class lines")})
    images = path / "Images"
    return len(mit67_classes(images)) if images.is_dir() else None


@functools.lru_cache(maxsize=16)
def _ade20k_count(root: str, mtime_ns: int, size: int) -> int:
    """The union of ADE20K's scene labels, cached per version of `sceneCategories.txt`."""
    return len(read_ade20k(Path(root), {}).classes)


def list_info(name: str, opts: SceneFileOptions, root) -> DatasetInfo:
    """The catalogue's `info` of the file-based dataset `name`."""
    mean_std = scene_normalization(opts.normalization)
    if name == "folder":
        if root is None:
            raise ValueError("the folder dataset needs data.root to count its class folders")
        num = sum(p.is_dir() for p in (resolve_root("folder", root) / "train").iterdir())
    elif name == "ade20k" and opts.class_names:
        text = Path(opts.class_names).read_text(encoding="utf-8")
        num = sum(1 for line in text.splitlines() if line.strip())
    else:
        num = tree_classes(name, opts, root) or OFFICIAL_CLASSES[name]
    return DatasetInfo(num, opts.image_size, "scene", *mean_std)


def check_list_files(name: str, opts: SceneFileOptions, root) -> None:
    """The catalogue's `check_files`: the reader's checks of the root and split files."""
    READERS[name](resolve_root(name, root), opts.model_dump())


def build_list(name: str, split: str, root, opts: SceneFileOptions, augment: bool):
    """The catalogue's `build` of the file-based dataset `name`."""
    return build_list_dataset(name, split, root, opts.model_dump(), augment)
