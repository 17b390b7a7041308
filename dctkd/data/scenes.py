"""Synthetic multi-attention scenes: a class is a *set* of k object kinds, or under
`rule="layout"` a set of k kinds in one arrangement.

Why: the paper's claim is about multi-attention tasks (a scene is recognised from several
objects at once). This generator makes such a task with ground truth, small enough for a CPU.

Objects come in kinds = shape x colour (default 4 shapes x 3 colours = 12 kinds), drawn as
textured 8-px sprites (at 32 px; `image_size // 4` in general) on a light noise background,
one object per cell of a `grid x grid` layout with a random offset inside the cell (anywhere
the object fits, or within the `jitter + 1` centred positions when `jitter` is set).

The rules that make the labels well defined:
1. Class c owns a set S_c of k distinct kinds; the sets are distinct, and for k > 1 every kind
   used by some set is used by at least two sets (so no single kind names a class). The
   kinds are spread as evenly as possible: m = min(#kinds, num_classes*k // 2) kinds each
   used num_classes*k/m times (floor or ceil). For k = 1 each class is one kind.
2. An image of class c holds one object of each kind in S_c (the class-defining objects,
   whose pixels form `.masks`) and `distractors` more objects.
3. Distractor kinds never belong to S_c (so the mask is exactly "the pixels of S_c's kinds")
   and never complete another class's set: they are drawn uniformly, with replacement, from
   the kinds that cannot alone complete another set, and a draw whose distractors together
   complete another set is redrawn. For k = 1 this means distractors come only from kinds
   that belong to no class (with 12 kinds and 10 classes: the 2 spare kinds), which keeps
   k = 1 a clean single-attention task: one object decides, the rest never matter.
Consequently every image contains exactly one complete class set, its own.

`class_sets="all_needed"` (for the k-study) replaces rules 1 and 3: a fixed *vocabulary* of
`num_classes` kinds (the same for every k) defines the classes, built so that every object
of a class is needed (no k - 1 of them name it; `class_sets.py`), and distractors are drawn
only from the kinds outside the vocabulary, the same pool for every k. The default
("spread") keeps the rules above and the class sets they have always given.

`rule="layout"` (`layouts.py`) makes classes that share their kinds: the rules above make
num_classes / arrangements *kind sets*, and each defines `arrangements` classes that differ
only in how its k objects are arranged (in a row, a column, on a diagonal, in an L, ...;
`layouts.catalogue`), translated over the grid, the kinds in random order over the
arrangement's cells. Class i * arrangements + a is kind set i in arrangement a. A horizontal
flip keeps the label (every arrangement holds its mirror image), the kinds an image holds
name its kind set and nothing more (rule 3 still keeps distractors off the image's own kinds
and from completing another kind set, so no other class's arrangement can form), and
`task_facts` measures both: a classifier on kind counts alone scores about 1 / arrangements,
one that sees where the defining objects are about 100 %. The default rule, "presence", is
the one above; its images are the same as before the rule existed.

Splits are generated whole at construction from `seed` (the data seed, separate from the
run seed): class sets from `[seed, 0]`, train from `[seed, 1, chunk]`, test from
`[seed, 2, chunk]`, so changing `test_size` never changes the training images and a smaller
`train_size` yields a prefix of a larger one.
"""

from __future__ import annotations

from dataclasses import replace
from typing import NamedTuple

import numpy as np

from .ceilings import measured_ceilings
from .class_sets import all_needed_sets, objects_needed, subset_accuracy
from .layouts import catalogue, place
from .scene_config import CLASS_SETS, COLOURS, RULES, SHAPE_NAMES, SceneConfig

__all__ = ["CLASS_SETS", "COLOURS", "RULES", "SHAPE_NAMES", "SceneArrays", "SceneConfig",
           "class_names", "distractor_pools", "generate", "kind_class_incidence",
           "make_class_sets", "make_kind_sets", "single_object_accuracy",
           "single_object_ambiguous", "task_facts", "vocabulary"]

BACKGROUND = (0.35, 0.6)  # per-image grey level range
NOISE = 0.06  # background pixel noise amplitude (uniform, per channel)
TEXTURE = 0.2  # sprite pixel noise amplitude (multiplicative)
CHUNK = 500  # images per independently seeded block (rounded to a multiple of num_classes)
CEILING_SIZES = (2000, 1000)  # train and test images task_facts measures its ceilings on


def make_kind_sets(cfg: SceneConfig) -> tuple[tuple[int, ...], ...]:
    """`cfg.n_sets` sorted tuples of k kind ids: rule 1 of the module docstring, or with
    `class_sets="all_needed"` sets over `vocabulary(cfg)` in which every object is needed.
    Under the presence rule each set is a class."""
    rng = np.random.default_rng([cfg.seed, 0])
    C, k = cfg.n_sets, cfg.k
    if cfg.class_sets == "all_needed":
        return all_needed_sets(vocabulary(cfg), k, rng)
    if k == 1:
        return tuple((int(j),) for j in rng.permutation(cfg.n_kinds)[:C])
    m = min(cfg.n_kinds, C * k // 2)
    pool = rng.permutation(cfg.n_kinds)[:m]
    base, extra = divmod(C * k, m)
    for _ in range(10_000):
        left = np.full(m, base)
        left[rng.permutation(m)[:extra]] += 1
        sets: list[tuple[int, ...]] = []
        for _c in range(C):
            avail = np.flatnonzero(left > 0)
            if len(avail) < k:
                break
            pick = rng.choice(avail, size=k, replace=False, p=left[avail] / left[avail].sum())
            s = tuple(sorted(int(j) for j in pool[pick]))
            if s in sets:
                break
            sets.append(s)
            left[pick] -= 1
        if len(sets) == C:
            return tuple(sets)
    raise ValueError(f"found no valid class sets for {cfg}")  # pragma: no cover


def make_class_sets(cfg: SceneConfig) -> tuple[tuple[int, ...], ...]:
    """One sorted tuple of k kind ids per class: its kind set. Under `rule="layout"` classes
    i * arrangements ... (i + 1) * arrangements - 1 share kind set i."""
    return tuple(s for s in make_kind_sets(cfg) for _ in range(cfg.per_set))


def class_names(cfg: SceneConfig) -> list[str]:
    """A name per class: its kinds joined by '+', and under `rule="layout"` its arrangement."""
    sets = ["+".join(cfg.kind_names[j] for j in s) for s in make_kind_sets(cfg)]
    if cfg.rule == "presence":
        return sets
    return [f"{s} ({a.name})" for s in sets for a in catalogue(cfg.k, cfg.grid)[:cfg.per_set]]


def vocabulary(cfg: SceneConfig) -> list[int]:
    """The `n_sets` kinds that may define a kind set under `class_sets="all_needed"`.

    Drawn from the data seed alone (not k), so every k of a study shares them and shares the
    distractor kinds, which are all the others.
    """
    return [int(j) for j in np.random.default_rng([cfg.seed, 0]).permutation(cfg.n_kinds)
            [:cfg.n_sets]]


def task_facts(cfg: SceneConfig) -> dict:
    """What a scene task asks of a classifier, for the k-study's notebook: the rule and the
    classes each kind set defines, kinds that define classes, distractor kinds and count, the
    objects each kind set needs (fewest, most), the best accuracy from the kinds of one and of
    k - 1 of a class's objects, and two measured ceilings (`ceilings.measured_ceilings`): a
    classifier on the kind counts alone, and one that sees the defining objects' kinds and
    positions. Measuring takes about a second."""
    sets = make_kind_sets(cfg)
    needed = objects_needed(sets)
    pools = _pools(cfg, sets)
    small = replace(cfg, train_size=min(cfg.train_size, CEILING_SIZES[0]),
                    test_size=min(cfg.test_size, CEILING_SIZES[1]))
    kinds_only, kinds_and_positions = measured_ceilings(
        generate(small, "train"), generate(small, "test"), cfg)
    return {
        "k": cfg.k, "classes": cfg.num_classes, "class sets": cfg.class_sets,
        "rule": cfg.rule, "classes per kind set": cfg.per_set,
        "defining kinds": len({j for s in sets for j in s}),
        "distractor kinds": int(pools.any(0).sum()), "distractors": cfg.distractors,
        "objects needed (fewest)": min(needed), "objects needed (most)": max(needed),
        "one-object ceiling (%)": 100 * subset_accuracy(sets, 1) / cfg.per_set,
        "(k-1)-object ceiling (%)": 100 * subset_accuracy(sets, cfg.k - 1) / cfg.per_set,
        "kinds-only ceiling (%)": 100 * kinds_only,
        "kinds+positions ceiling (%)": 100 * kinds_and_positions,
    }


def kind_class_incidence(class_sets, n_kinds: int) -> np.ndarray:
    """Bool `(n_kinds, num_classes)`: kind j belongs to class c's set."""
    inc = np.zeros((n_kinds, len(class_sets)), dtype=bool)
    for c, s in enumerate(class_sets):
        inc[list(s), c] = True
    return inc


def single_object_accuracy(class_sets, n_kinds: int) -> float:
    """Best accuracy of a classifier shown one class-defining object (uniformly chosen).

    It sees the object's kind only; the optimum guesses, for each kind, a class whose set
    holds it. Equals 1 for k = 1 and (#kinds used) / (num_classes * k) <= 1/2 for k > 1,
    because every used kind then sits in at least two sets.
    """
    inc = kind_class_incidence(class_sets, n_kinds).astype(float)
    joint = inc / inc.sum(0, keepdims=True) / inc.shape[1]
    return float(joint.max(1).sum())


def single_object_ambiguous(class_sets, n_kinds: int) -> bool:
    """True when every kind that defines some class defines at least two classes."""
    counts = kind_class_incidence(class_sets, n_kinds).sum(1)
    return bool(((counts == 0) | (counts >= 2)).all())


def distractor_pools(class_sets, n_kinds: int) -> np.ndarray:
    """Bool `(num_classes, n_kinds)`: kinds a distractor of class c may take (rule 3)."""
    inc = kind_class_incidence(class_sets, n_kinds).T
    allowed = ~inc.copy()
    for c in range(len(class_sets)):
        for j in np.flatnonzero(allowed[c]):
            present = inc[c].copy()
            present[j] = True
            completes = (present[None] | ~inc).all(1)
            completes[c] = False
            allowed[c, j] = not completes.any()
    return allowed


class SceneArrays(NamedTuple):
    images: np.ndarray  # uint8 (N, 3, H, W)
    targets: np.ndarray  # int64 (N,)
    kind_map: np.ndarray  # int8 (N, H, W), kind id per pixel, -1 background
    masks: np.ndarray  # bool (N, H, W), pixels of the class-defining objects
    objects: np.ndarray  # int16 (N, k + distractors, 4): kind, top, left, defining


def _shape_masks(s: int) -> np.ndarray:
    c = (np.arange(s) + 0.5) / s * 2 - 1
    y, x = np.meshgrid(c, c, indexing="ij")
    r = np.hypot(x, y)
    return np.stack(
        [
            r <= 0.95,
            (abs(x) <= 0.8) & (abs(y) <= 0.8),
            (y <= 0.9) & (abs(x) <= (y + 0.95) / 1.85 * 0.95),
            (abs(x) <= 0.3) | (abs(y) <= 0.3),
            abs(x) + abs(y) <= 1.0,
            (r <= 0.95) & (r >= 0.5),
        ]
    )


def _pools(cfg: SceneConfig, class_sets) -> np.ndarray:
    """Bool `(num_classes, n_kinds)` distractor kinds per class: rule 3, or under
    `class_sets="all_needed"` every kind outside the vocabulary, for every class."""
    if cfg.class_sets != "all_needed":
        return distractor_pools(class_sets, cfg.n_kinds)
    spare = np.ones(cfg.n_kinds, dtype=bool)
    spare[vocabulary(cfg)] = False
    return np.repeat(spare[None], len(class_sets), 0)


def _draw_kinds(rng, cfg: SceneConfig, class_sets, targets: np.ndarray) -> np.ndarray:
    N, k, D = len(targets), cfg.k, cfg.distractors
    sets = np.array(class_sets, dtype=np.int64)
    pools = _pools(cfg, class_sets)
    if D and not pools.any(1).all():
        raise ValueError(f"some class has no kind left for distractors in {cfg}")
    pool_size = pools.sum(1)
    pool_table = np.argsort(~pools, axis=1, kind="stable")  # allowed kinds first, per class
    inc = kind_class_incidence(class_sets, cfg.n_kinds).T
    kinds = np.empty((N, k + D), dtype=np.int64)
    kinds[:, :k] = sets[targets]
    todo = np.arange(N)
    for _ in range(1000):
        t = targets[todo]
        pick = (rng.random((len(todo), D)) * pool_size[t, None]).astype(np.int64)
        kinds[todo, k:] = pool_table[t[:, None], pick]
        present = np.zeros((len(todo), cfg.n_kinds), dtype=bool)
        np.put_along_axis(present, kinds[todo], True, axis=1)
        complete = (present[:, None, :] | ~inc[None]).all(2)
        todo = todo[complete.sum(1) > 1]
        if len(todo) == 0:
            return kinds
    raise ValueError(f"distractors keep completing other classes' sets in {cfg}")


def generate(cfg: SceneConfig, split: str) -> SceneArrays:
    """Render the whole `"train"` or `"test"` split; deterministic in `(cfg, split)`.

    Images are made in class-balanced chunks, each from its own seed `[seed, split, chunk]`,
    so a smaller `train_size` gives a prefix of a larger one: a student given fewer images
    sees a subset of its teacher's.
    """
    n = {"train": cfg.train_size, "test": cfg.test_size}[split]
    kind_sets = make_kind_sets(cfg)
    chunk = cfg.num_classes * max(1, CHUNK // cfg.num_classes)
    parts = [
        _render(cfg, kind_sets, chunk, [cfg.seed, 1 if split == "train" else 2, c])
        for c in range(-(-n // chunk))
    ]
    return SceneArrays(*(np.concatenate(arrays)[:n] for arrays in zip(*parts, strict=True)))


def _render(cfg: SceneConfig, kind_sets, n: int, seed: list[int]) -> SceneArrays:
    rng = np.random.default_rng(seed)
    targets = rng.permutation(np.arange(n) % cfg.num_classes)
    kinds = _draw_kinds(rng, cfg, kind_sets, targets // cfg.per_set)
    n_obj = kinds.shape[1]
    if cfg.rule == "layout":
        arrangements = catalogue(cfg.k, cfg.grid)[:cfg.per_set]
        cells = place(rng, arrangements, targets % cfg.per_set, cfg.grid, n_obj)
    else:
        cells = np.argsort(rng.random((n, cfg.grid**2)), axis=1)[:, :n_obj]

    H, s, g = cfg.image_size, cfg.sprite, cfg.grid
    edges = (np.arange(g + 1) * H) // g
    canvas = rng.random((n, H, H, 3), dtype=np.float32)
    canvas *= 2 * NOISE
    canvas += rng.uniform(*BACKGROUND, (n, 1, 1, 1)).astype(np.float32) - NOISE
    kind_map = np.full((n, H, H), -1, dtype=np.int8)
    masks = np.zeros((n, H, H), dtype=bool)
    objects = np.zeros((n, n_obj, 4), dtype=np.int16)
    shape_masks = _shape_masks(s)
    colours = np.array(list(COLOURS.values()), dtype=np.float32)
    rows = np.arange(n)[:, None, None]
    ar = np.arange(s)
    for j in range(n_obj):
        cy, cx = np.divmod(cells[:, j], g)
        top = edges[cy] + _offsets(rng, edges[cy + 1] - edges[cy], cfg)
        left = edges[cx] + _offsets(rng, edges[cx + 1] - edges[cx], cfg)
        ys, xs = (top[:, None] + ar)[:, :, None], (left[:, None] + ar)[:, None, :]
        kind = kinds[:, j]
        sm = shape_masks[kind % cfg.shapes]
        tone = colours[kind // cfg.shapes] * rng.uniform(0.85, 1.1, (n, 1)).astype(np.float32)
        tex = 1 + TEXTURE * (2 * rng.random((n, s, s, 1), dtype=np.float32) - 1)
        patch = tone[:, None, None, :] * tex
        canvas[rows, ys, xs] = np.where(sm[..., None], patch, canvas[rows, ys, xs])
        kind_map[rows, ys, xs] = np.where(sm, kind[:, None, None], kind_map[rows, ys, xs])
        if j < cfg.k:
            masks[rows, ys, xs] |= sm
        objects[:, j] = np.stack([kind, top, left, np.full(n, j < cfg.k)], 1)
    images = (np.clip(canvas, 0, 1) * 255 + 0.5).astype(np.uint8).transpose(0, 3, 1, 2)
    return SceneArrays(np.ascontiguousarray(images), targets, kind_map, masks, objects)


def _offsets(rng, cell: np.ndarray, cfg: SceneConfig) -> np.ndarray:
    """int64 `(N,)`: where objects sit inside cells of `cell` px, uniformly over the whole
    room the object leaves, or over the `jitter + 1` centred positions when `jitter` is set."""
    room = cell - cfg.sprite
    span = room if cfg.jitter is None else np.minimum(room, cfg.jitter)
    return (room - span) // 2 + (rng.random(len(cell)) * (span + 1)).astype(np.int64)
