"""Measured ceilings of a scene task: how far a classifier gets on what an image's objects say.

Why: a layout task is meant to be unsolvable from which kinds an image holds and solvable from
where its defining objects sit. Both claims are checked by fitting a classifier on the train
split's `SceneArrays.objects` (kind, top, left, defining per object) and scoring it on the
test split. The classifier is scikit-learn's random forest: trees need no feature scaling,
model the conjunctions the rules are made of ("these three kinds are present", "their tops
differ by less than a cell") without tuning, are deterministic under a fixed seed, and fit a
few thousand images in well under a second.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .layouts import object_cells

if TYPE_CHECKING:
    from .scene_config import SceneConfig

TREES = 100


def kind_counts(objects: np.ndarray, n_kinds: int) -> np.ndarray:
    """float `(N, n_kinds)`: how many objects of each kind an image holds, from `objects`
    `(N, n_obj, 4)`; positions and which objects define the class are not seen."""
    counts = np.zeros((len(objects), n_kinds))
    np.add.at(counts, (np.arange(len(objects))[:, None], objects[:, :, 0]), 1)
    return counts


def defining_layout(objects: np.ndarray, cfg: SceneConfig) -> np.ndarray:
    """float `(N, n_kinds + grid**2)`: which kinds the defining objects have, and which cells
    of the layout's grid they occupy (read from their pixel positions; `layouts.object_cells`),
    from `objects` `(N, n_obj, 4)`. Which kind sits in which cell is left out: no rule uses it."""
    defining = objects[:, :, 3] == 1
    rows = np.arange(len(objects))[:, None]
    present = np.zeros((len(objects), cfg.n_kinds))
    np.add.at(present, (rows, objects[:, :, 0]), defining)
    cells = object_cells(objects, cfg)
    occupied = np.zeros((len(objects), cfg.grid**2))
    np.add.at(occupied, (rows, cells[..., 0] * cfg.grid + cells[..., 1]), defining)
    return np.concatenate([present, occupied], 1)


def _accuracy(x_train, y_train, x_test, y_test) -> float:
    from sklearn.ensemble import RandomForestClassifier  # imported here: it costs ~1 s

    forest = RandomForestClassifier(n_estimators=TREES, random_state=0, n_jobs=1)
    return float(forest.fit(x_train, y_train).score(x_test, y_test))


def measured_ceilings(train, test, cfg: SceneConfig) -> tuple[float, float]:
    """Test accuracy (0..1) of a random forest fit on `train` (`SceneArrays` of `cfg`) that sees
    the kind counts alone, and of one that sees the defining objects' kinds and positions."""
    counts = [kind_counts(split.objects, cfg.n_kinds) for split in (train, test)]
    layouts = [defining_layout(split.objects, cfg) for split in (train, test)]
    return (_accuracy(counts[0], train.targets, counts[1], test.targets),
            _accuracy(layouts[0], train.targets, layouts[1], test.targets))


__all__ = ["defining_layout", "kind_counts", "measured_ceilings"]
