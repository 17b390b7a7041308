"""The dataset catalogue: each dataset's facts, declared once.

An entry names the dataset, its typed options (`data.options.*`), the folder it is found in
under the data home, the name its published numbers carry, and two functions: `info` (class
count, image size, normalisation, read without touching an image) and `build` (one official
split). `build_dataset`, `dataset_info`, run hashing, profiles and the CLI read them here.
The built-in datasets are declared in `builtin.py`, their functions `Deferred` into the
reader modules, so reading the catalogue imports no torch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from dctkd.options import first_error


@dataclass(frozen=True)
class DatasetInfo:
    """What a model and a transform need to know, without reading any image."""

    num_classes: int
    image_size: int
    family: str  # "synthetic" (scenes), "scene" (file-based scene datasets) or "cifar"
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


@dataclass(frozen=True)
class Dataset:
    """One row of the catalogue.

    `options` is a pydantic model (or pydantic dataclass) of the dataset's options;
    `info(options, root)` and `build(split, root, options, augment)` receive an instance of
    it, `split` being the official `"train"` or `"test"` list. `subdir` is the folder under
    the data home (None: generated, no files); `published` the dataset's name in the
    published tables (None: not in the paper). `check_files(options, root)`, if given, checks
    the folder, split files and labels without opening an image (raising what `build` would).
    """

    name: str
    title: str
    options: type
    info: Callable[[Any, str | None], DatasetInfo]
    build: Callable[[str, str | None, Any, bool], Any]
    subdir: str | None = None
    layout: str = ""
    published: str | None = None
    check_files: Callable[[Any, str | None], None] | None = None

    def parse_options(self, options: Mapping[str, Any] | None) -> Any:
        """Validate `data.options` against this dataset's typed options (ValueError)."""
        try:
            if isinstance(self.options, type) and issubclass(self.options, BaseModel):
                return self.options.model_validate(dict(options or {}))
            return self.options(**dict(options or {}))
        except ValidationError as err:
            known = getattr(self.options, "model_fields", None) or getattr(
                self.options, "__dataclass_fields__", {})
            raise ValueError(f"{self.name} dataset: {first_error(err, known)}") from None

    def defaults(self) -> dict[str, Any]:
        """Every option at its default value."""
        return options_dict(self.parse_options({}))


def options_dict(options: Any) -> dict[str, Any]:
    """A validated options object as a plain dict."""
    if isinstance(options, BaseModel):
        return options.model_dump()
    from dataclasses import asdict

    return asdict(options)


DATASETS: dict[str, Dataset] = {}


def register(entry: Dataset) -> Dataset:
    """Add `entry` to the catalogue (replacing one of the same name)."""
    DATASETS[entry.name] = entry
    return entry


def dataset(name: str) -> Dataset:
    """The entry of `name`; an unknown name stops with the list of known ones."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {list(DATASETS)}")
    return DATASETS[name]


def canonical_options(name: str, options: Mapping[str, Any] | None) -> dict[str, Any]:
    """`options` with the values equal to their defaults left out (for run hashing)."""
    entry = dataset(name)
    given = options_dict(entry.parse_options(options))
    defaults = entry.defaults()
    return {k: v for k, v in given.items() if k in (options or {}) and defaults.get(k) != v}


__all__ = [
    "DATASETS",
    "Dataset",
    "DatasetInfo",
    "canonical_options",
    "dataset",
    "options_dict",
    "register",
]
