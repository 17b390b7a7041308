"""Evaluation images and trained models, as the analyses take them.

`Samples` are the first images of a run's un-augmented split (with the synthetic scenes'
object masks); `Trained` is a loaded network with the labels of the run it came from
(method label, seed, k of the k-study). Image choice for the qualitative figures follows the
original's rule: examples the teacher and the DCT student get right and the student alone
gets wrong, then weaker rules when too few exist.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import nn

from dctkd.losses import label as method_label
from dctkd.losses.catalogue import TEACHER_LABEL as TEACHER

BASELINE, DCT = method_label("none"), method_label("dct")
ROW_ORDER = (BASELINE, TEACHER, method_label("at"), DCT, method_label("dct+kd"))
"""Rows of the activation-map figure: the original's baseline / teacher / AT / ours order."""
RULES: tuple[tuple[str, dict[str, bool]], ...] = (
    ("teacher right, baseline wrong, DCT right", {TEACHER: True, BASELINE: False, DCT: True}),
    ("teacher right, baseline wrong", {TEACHER: True, BASELINE: False}),
    ("teacher right", {TEACHER: True}),
    ("any", {}),
)
"""Image choice, strictest first (the original's `visualizeAMs.py` sorted its examples so)."""


def order_labels(labels: Sequence[str]) -> list[str]:
    """Distinct `labels` in `ROW_ORDER`, unknown ones after in their first-seen order."""
    labels = list(dict.fromkeys(labels))
    return [x for x in ROW_ORDER if x in labels] + [x for x in labels if x not in ROW_ORDER]


def device() -> torch.device:
    """Where the analyses run: the GPU when there is one (the `paper` profile's models)."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")



@dataclass(frozen=True, eq=False)
class Samples:
    """Evaluation images in dataset order.

    `images (N, 3, H, W)` normalised, `targets (N,)`, `masks (N, H, W)` bool (the
    class-defining objects of synthetic scenes, else None), `indices (N,)` their positions in
    the dataset, `classes` the class names; `image(i)` is sample `i` as uint8 `(3, H, W)`.
    """

    images: torch.Tensor
    targets: torch.Tensor
    masks: torch.Tensor | None = None
    indices: np.ndarray | None = None
    classes: list[str] = field(default_factory=list)
    display: Callable[[int], torch.Tensor] | None = None

    def __len__(self) -> int:
        return len(self.images)

    @property
    def data(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images, self.targets

    def image(self, i: int) -> torch.Tensor:
        if self.display is None:
            raise ValueError("these samples carry no display images (built without a dataset).")
        return self.display(int(self.indices[i]) if self.indices is not None else int(i))

    def subset(self, positions: Sequence[int]) -> Samples:
        pos = torch.as_tensor(list(positions), dtype=torch.long)
        idx = np.arange(len(self)) if self.indices is None else self.indices
        return Samples(
            self.images[pos],
            self.targets[pos],
            None if self.masks is None else self.masks[pos],
            idx[pos.numpy()],
            self.classes,
            self.display,
        )


def first_samples(
    cfg, n: int | None = 500, split: str = "test", indices: Sequence[int] | None = None
) -> Samples:
    """The first `n` images of a run's un-augmented `split` (or the given dataset `indices`).

    A few hundred images keep every analysis to seconds on a CPU; `n=None` takes them all.
    """
    from dctkd.data import display_image
    from dctkd.engine import dataset_of

    ds = dataset_of(cfg, split)
    if indices is None:
        indices = range(len(ds) if n is None else min(int(n), len(ds)))
    idx = np.asarray(list(indices), dtype=np.int64)
    if len(idx) == 0 or idx.min() < 0 or idx.max() >= len(ds):
        raise ValueError(
            f"image indices must lie in [0, {len(ds)}) of the {split} split, got {idx.tolist()}."
        )
    pairs = [ds[int(i)] for i in idx]
    masks = getattr(ds, "masks", None)
    return Samples(
        torch.stack([p[0] for p in pairs]),
        torch.as_tensor([int(p[1]) for p in pairs]),
        None if masks is None else torch.as_tensor(masks)[torch.from_numpy(idx)].bool(),
        idx,
        list(ds.classes),
        lambda i: display_image(ds, i),
    )




@dataclass(frozen=True, eq=False)
class Trained:
    """A trained model with the labels of its cell: `label` (table row), `seed`, and `k` of
    the k-study (None elsewhere). `diverged_epoch` is set when its training diverged: the
    model is then its best checkpoint before the divergence, and figures should say so."""

    label: str
    seed: int
    model: nn.Module
    k: int | None = None
    run_id: str = ""
    diverged_epoch: int | None = None

    @property
    def diverged(self) -> bool:
        return self.diverged_epoch is not None


def teacher(members: Sequence[Trained]) -> Trained:
    found = [t for t in members if t.label == TEACHER]
    if len(found) != 1:
        raise ValueError(f"expected exactly one teacher among the models, found {len(found)}.")
    return found[0]


def students(members: Sequence[Trained]) -> list[Trained]:
    return [t for t in members if t.label != TEACHER]


def one_seed(members: Sequence[Trained], seed: int | None = None) -> dict[str, nn.Module]:
    """`{label: model}`: the teacher and the students of one seed (default: the smallest), in
    `ROW_ORDER` (the order of the figures' rows)."""
    seeds = sorted({t.seed for t in students(members)})
    if seed is None:
        seed = seeds[0] if seeds else None
    elif seed not in seeds:
        raise ValueError(f"no student was trained with seed {seed}; seeds are {seeds}.")
    chosen = {t.label: t.model for t in members if t.label == TEACHER or t.seed == seed}
    return {label: chosen[label] for label in order_labels(list(chosen))}


@torch.no_grad()
def predictions(
    models: Mapping[str, nn.Module], images: torch.Tensor, batch_size: int = 256
) -> dict[str, np.ndarray]:
    """Predicted class `(N,)` of each model for `images (N, 3, H, W)`."""
    out = {}
    for label, model in models.items():
        model.eval()
        dev = next(model.parameters()).device
        preds = [
            model(images[i : i + batch_size].to(dev))[0].argmax(1).cpu()
            for i in range(0, len(images), batch_size)
        ]
        out[label] = torch.cat(preds).numpy()
    return out


def choose_images(
    correct: Mapping[str, np.ndarray],
    n: int = 3,
    rules: Sequence[tuple[str, Mapping[str, bool]]] = RULES,
) -> pd.DataFrame:
    """Positions of `n` samples to show, the strictest rule first, in data order.

    `correct` maps a model label to a bool `(N,)` (right or wrong on each sample). A rule
    `{label: right?}` naming a model absent from `correct` is skipped; later rules fill up
    what earlier ones could not. Returns `position` and the `rule` each sample met.
    """
    if not correct:
        raise ValueError("choose_images needs the correctness of at least one model.")
    size = {len(v) for v in correct.values()}
    if len(size) != 1:
        raise ValueError(f"every model must be scored on the same samples, got lengths {size}.")
    total = size.pop()
    rows: list[dict] = []
    taken: set[int] = set()
    for name, rule in rules:
        if any(label not in correct for label in rule):
            continue
        ok = np.ones(total, dtype=bool)
        for label, right in rule.items():
            ok &= np.asarray(correct[label], dtype=bool) == right
        for pos in np.flatnonzero(ok):
            if len(rows) == n:
                break
            if int(pos) not in taken:
                taken.add(int(pos))
                rows.append({"position": int(pos), "rule": name})
    return pd.DataFrame(rows, columns=["position", "rule"])


def image_table(
    samples: Samples, chosen: pd.DataFrame, preds: Mapping[str, np.ndarray]
) -> pd.DataFrame:
    """A row per chosen image: dataset index, rule, true class and each model's prediction."""
    rows = []
    for pos, rule in zip(chosen["position"], chosen["rule"], strict=True):
        target = int(samples.targets[pos])
        row = {
            "image": int(samples.indices[pos]) if samples.indices is not None else int(pos),
            "rule": rule,
            "class": _name(samples, target),
        }
        for label, p in preds.items():
            mark = "right" if int(p[pos]) == target else "wrong"
            row[label] = f"{_name(samples, int(p[pos]))} ({mark})"
        rows.append(row)
    return pd.DataFrame(rows)


def _name(samples: Samples, k: int) -> str:
    return samples.classes[k] if k < len(samples.classes) else str(k)


__all__ = ["ROW_ORDER", "TEACHER", "Samples", "Trained", "choose_images", "device", "first_samples",
           "image_table", "one_seed", "order_labels", "predictions", "students", "teacher"]
