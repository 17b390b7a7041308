"""Layout scenes: classes that share their kinds and differ in how their objects are arranged.

Why: under the presence rule a class is a set of kinds at random positions, so nothing a loss
transfers about *where* attention lies can help a student. Under `rule="layout"` each set of
k kinds defines `arrangements` classes, the same k objects in a row, in a column, on a
diagonal, in an L, ...: the kinds in an image name its kind set but not its class.

An *arrangement* is a set of shapes, a shape being k cells of the `grid x grid` layout up to
translation, drawn below as text ('#' a cell holding an object, '.' an empty one, '/' the
next row). Every arrangement holds the horizontal mirror of each of its shapes, because
teachers and students train on randomly flipped images and a flip must keep the label: "A
left of B" is never a class distinction, while row against column, a diagonal (either) against
a line, or a spaced pair against an adjacent one are. Some arrangements also hold every
quarter turn of their shape (an L in any orientation) or its half turn (V and inverted V).
No shape belongs to two arrangements, and no two arrangements share the offsets between their
objects: a translation-invariant magnitude spectrum of k equal blobs keeps only those
offsets (it cannot tell a V from its half turn), so arrangements differ there too. The kinds
sit on a shape's cells in random order, so only the geometry of the k objects tells the class.
"""

from __future__ import annotations

from itertools import product
from typing import NamedTuple, Protocol

import numpy as np


class Task(Protocol):
    """What the functions here read of a scene task (`scene_config.SceneConfig` is one), named
    apart so that the task's options can check themselves against `catalogue`."""

    k: int
    grid: int
    image_size: int
    arrangements: int

    @property
    def sprite(self) -> int: ...

Shape = tuple[tuple[int, int], ...]  # sorted (row, column) cells, shifted to touch row 0, col 0


class Arrangement(NamedTuple):
    name: str
    shapes: tuple[Shape, ...]  # every variant: the drawn shape, its turns, their mirrors


# After the three lines every k has (row, column, diagonal), in the order classes take them:
# (name, drawing, turns of the shape that belong to the arrangement too: 1 none, 2 the half
# turn, 4 every quarter turn).
MORE_SHAPES = {
    2: (("spaced row", "#.#", 1), ("spaced column", "#/./#", 1),
        ("spaced diagonal", "#../.../..#", 1)),
    3: (("L", "##/#.", 4), ("V", "#.#/.#.", 2), ("chevron", "#./.#/#.", 1)),
    4: (("square", "##/##", 1), ("T", "###/.#.", 4), ("S", "##./.##", 4), ("L", "#../###", 4)),
}


def _normal(cells) -> Shape:
    top, left = min(r for r, _ in cells), min(c for _, c in cells)
    return tuple(sorted((int(r - top), int(c - left)) for r, c in cells))


def _drawn(drawing: str) -> Shape:
    return _normal([(r, c) for r, row in enumerate(drawing.split("/"))
                    for c, mark in enumerate(row) if mark == "#"])


def _variants(shape: Shape, turns: int) -> tuple[Shape, ...]:
    out = {shape}
    for _ in range(turns - 1):
        turned = [(c, -r) for r, c in shape] if turns == 4 else [(-r, -c) for r, c in shape]
        shape = _normal(turned)
        out.add(shape)
    out |= {_normal([(r, -c) for r, c in s]) for s in out}  # the horizontal mirror
    return tuple(sorted(out))


def catalogue(k: int, grid: int) -> tuple[Arrangement, ...]:
    """The arrangements of k objects whose every shape fits a `grid x grid` layout, in the
    order that classes take them (a kind set's first `arrangements` of them). None for k < 2:
    one object has no arrangement."""
    if k < 2:
        return ()
    lines = (("row", "#" * k, 1), ("column", "/".join("#" * k), 1),
             ("diagonal", "/".join("." * i + "#" for i in range(k)), 1))
    out = []
    for name, drawing, turns in (*lines, *MORE_SHAPES.get(k, ())):
        shapes = _variants(_drawn(drawing), turns)
        if all(max(max(r, c) for r, c in s) < grid for s in shapes):
            out.append(Arrangement(name, shapes))
    return tuple(out)


def placements(arrangement: Arrangement, grid: int) -> np.ndarray:
    """int64 `(P, k)`: the cell ids (row * grid + column) of each shape of `arrangement` at
    each translation that keeps it inside the grid."""
    rows = []
    for shape in arrangement.shapes:
        height, width = (max(cell[i] for cell in shape) + 1 for i in (0, 1))
        for top, left in product(range(grid - height + 1), range(grid - width + 1)):
            rows.append([(top + r) * grid + left + c for r, c in shape])
    return np.array(rows, dtype=np.int64)


def place(rng: np.random.Generator, arrangements: tuple[Arrangement, ...], which: np.ndarray,
          grid: int, n_objects: int) -> np.ndarray:
    """int64 `(N, n_objects)` cell ids: the first k cells form a shape of arrangement
    `which[i]` (uniform over its shapes and translations, its cells in random order), the
    rest are distinct free cells in random order, for the distractors."""
    tables = [placements(a, grid) for a in arrangements]
    sizes = np.array([len(t) for t in tables])
    k, n = tables[0].shape[1], len(which)
    padded = np.zeros((len(tables), sizes.max(), k), dtype=np.int64)
    for a, table in enumerate(tables):
        padded[a, :len(table)] = table
    pick = (rng.random(n) * sizes[which]).astype(np.int64)
    own = np.take_along_axis(padded[which, pick], np.argsort(rng.random((n, k)), 1), 1)
    keys = rng.random((n, grid**2))
    keys[np.arange(n)[:, None], own] = 2.0  # taken cells sort after every free one
    return np.concatenate([own, np.argsort(keys, 1)[:, :n_objects - k]], 1)


def object_cells(objects: np.ndarray, cfg: Task) -> np.ndarray:
    """int64 `(..., n_obj, 2)`: the (row, column) grid cell of each object's centre, read from
    `SceneArrays.objects` `(..., n_obj, 4)` (kind, top, left, defining) alone."""
    edges = (np.arange(cfg.grid + 1) * cfg.image_size) // cfg.grid
    centres = objects[..., 1:3].astype(np.float64) + cfg.sprite / 2
    return np.searchsorted(edges, centres, side="right") - 1


def arrangement_of(cells: np.ndarray, arrangements: tuple[Arrangement, ...]) -> int:
    """Index in `arrangements` of the one holding the shape of `cells` `(k, 2)`, or -1."""
    shape = _normal(cells.tolist())
    return next((a for a, arr in enumerate(arrangements) if shape in arr.shapes), -1)


def classes_formed(objects: np.ndarray, kind_sets, cfg: Task) -> list[int]:
    """Every layout class that some objects of one image form, read from its `objects`
    `(n_obj, 4)` alone: for each kind set, each choice of one object per kind whose cells make
    a shape of one of the set's arrangements. A well-made image forms exactly its own class."""
    arrangements = catalogue(cfg.k, cfg.grid)[:cfg.arrangements]
    cells = object_cells(objects, cfg)
    found = []
    for i, kinds in enumerate(kind_sets):
        holders = [np.flatnonzero(objects[:, 0] == j) for j in kinds]
        for chosen in product(*holders):
            a = arrangement_of(cells[list(chosen)], arrangements)
            if a >= 0:
                found.append(i * cfg.arrangements + a)
    return found


__all__ = ["Arrangement", "arrangement_of", "catalogue", "classes_formed", "object_cells", "place",
           "placements"]
