"""Class sets in which every object is needed, and how many objects a set of classes needs.

Why: the k-study asks whether distillation helps more when a decision needs more objects.
That reading holds only if a class of k objects really needs all k: if k - 1 of them (or
fewer) already name the class, "k" is not the number of objects the network must attend to.
A family of class sets has that property when every (k - 1)-subset of each set lies in some
other class's set as well; then no smaller subset names the class either.

Construction (`all_needed_sets`). The building block is a *product block*: the k objects of
a class are split into parts i_1 + ... + i_m = k, part j drawing i_j kinds from its own
group of i_j + 1 (or i_j + 2) kinds. Dropping any object leaves a subset that the class which
takes the other kind of that group also holds, so every object is needed; a block makes
prod C(n_j, i_j) classes from sum n_j kinds. Blocks with disjoint kinds are combined so that
their classes add up to `num_classes` exactly while using as many kinds as possible (a small
exact knapsack), so the defining vocabulary stays the same across k wherever that is possible.
For k = 1 each class is one kind (one object is trivially needed).

The limits are combinatorial, not of this construction: with every object needed each kind
in use must sit in at least k sets (its sets, without it, must again cover each of their
(k - 2)-subsets twice), so `num_classes` sets of k kinds use at most `num_classes` kinds, and
exactly that many only when the kinds split into groups of k + 1 (blocks "all but one of
k + 1 kinds"). With 10 classes: 10 kinds for k = 1, 2, 4, and at most 9 for k = 3.
"""

from __future__ import annotations

import math
from functools import lru_cache
from itertools import combinations, product

import numpy as np

Block = tuple[tuple[int, int], ...]  # ((kinds drawn i_j, group size n_j), ...) per part


def _partitions(k: int, largest: int | None = None) -> list[tuple[int, ...]]:
    largest = k if largest is None else largest
    if k == 0:
        return [()]
    return [(i, *rest) for i in range(min(k, largest), 0, -1) for rest in _partitions(k - i, i)]


def _blocks(k: int) -> list[Block]:
    out = []
    for parts in _partitions(k):
        for extra in product((1, 2), repeat=len(parts)):
            out.append(tuple((i, i + e) for i, e in zip(parts, extra, strict=True)))
    return out


def _size(block: Block) -> tuple[int, int]:
    """(classes, kinds) of a block."""
    return math.prod(math.comb(n, i) for i, n in block), sum(n for _, n in block)


@lru_cache(maxsize=64)
def block_plan(num_classes: int, k: int) -> tuple[Block, ...]:
    """The blocks whose classes sum to `num_classes` with the most kinds in use (then the
    fewest blocks); ValueError when no combination of blocks makes exactly that many."""
    if k < 2:
        raise ValueError("block_plan is for k >= 2; for k = 1 each class is one kind")
    sizes = {b: _size(b) for b in _blocks(k)}
    best: list[tuple[int, int, tuple] | None] = [None] * (num_classes + 1)
    best[0] = (0, 0, ())
    for c in range(1, num_classes + 1):
        for b, (classes, kinds) in sizes.items():
            prev = best[c - classes] if classes <= c else None
            if prev is None:
                continue
            cand = (prev[0] + kinds, prev[1] - 1, (*prev[2], b))
            if best[c] is None or cand[:2] > best[c][:2]:
                best[c] = cand
    if best[num_classes] is None:
        raise ValueError(f"scenes option class_sets='all_needed' has no class sets for "
                         f"num_classes={num_classes} and k={k} (product blocks cannot make "
                         "exactly that many classes); change num_classes")
    return tuple(best[num_classes][2])


def plan_kinds(num_classes: int, k: int) -> int:
    """How many defining kinds the all-needed sets of `num_classes` classes and `k` use."""
    return num_classes if k == 1 else sum(_size(b)[1] for b in block_plan(num_classes, k))


def _block_sets(block: Block, kinds: list[int]) -> list[tuple[int, ...]]:
    groups, start = [], 0
    for _, n in block:
        groups.append(kinds[start:start + n])
        start += n
    choices = [list(combinations(g, i)) for (i, _), g in zip(block, groups, strict=True)]
    return [tuple(sorted(j for part in pick for j in part)) for pick in product(*choices)]


def all_needed_sets(vocabulary: list[int], k: int, rng: np.random.Generator
                    ) -> tuple[tuple[int, ...], ...]:
    """`len(vocabulary)` class sets of k kinds from `vocabulary`, every object needed.

    The kinds are taken from `vocabulary` in order (the first `plan_kinds` of them), so a
    fixed vocabulary gives every k the same defining kinds; `rng` shuffles which class gets
    which set.
    """
    C = len(vocabulary)
    if k == 1:
        sets = [(int(j),) for j in vocabulary]
    else:
        sets, start = [], 0
        for block in block_plan(C, k):
            n = _size(block)[1]
            sets += _block_sets(block, [int(j) for j in vocabulary[start:start + n]])
            start += n
    order = rng.permutation(C)
    return tuple(sets[i] for i in order)


def objects_needed(class_sets) -> tuple[int, ...]:
    """Per class, the fewest of its objects that name it: the size of the smallest subset of
    its set that lies in no other class's set (k when every object is needed)."""
    sets = [frozenset(s) for s in class_sets]
    out = []
    for c, s in enumerate(sets):
        others = [t for d, t in enumerate(sets) if d != c]
        for j in range(1, len(s) + 1):
            if any(not any(set(sub) <= t for t in others) for sub in combinations(sorted(s), j)):
                out.append(j)
                break
        else:
            raise ValueError(f"class {c}'s set {sorted(s)} lies inside another class's set")
    return tuple(out)


def subset_accuracy(class_sets, j: int) -> float:
    """Best accuracy of a classifier shown `j` of the class's objects, chosen uniformly.

    It knows only which kinds it saw: among the classes whose sets hold them it can do no
    better than guess, so the accuracy is the mean over classes and subsets of
    1 / #(classes holding the subset). 1 at j = k; below 1 at j = k - 1 exactly when some
    object is needed.
    """
    sets = [frozenset(s) for s in class_sets]
    scores = []
    for s in sets:
        subs = list(combinations(sorted(s), j))
        scores.append(np.mean([1.0 / sum(set(t) <= u for u in sets) for t in subs]))
    return float(np.mean(scores))


__all__ = ["all_needed_sets", "block_plan", "objects_needed", "plan_kinds", "subset_accuracy"]
