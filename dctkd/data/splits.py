"""Seeded, stratified index selection: the held-out val split and the `train_size` subsample.

Both keep class proportions (largest-remainder quotas), so a small `train_size` still has
every class and a val split never takes a class's last training image (ADE20K has 154
classes with a single training image). Indices come back sorted, so the order of a
subset follows the order of the official list.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_HOLDOUT, _SUBSET = 1, 2


def _quotas(counts: np.ndarray, total: int, lo: np.ndarray, hi: np.ndarray, rng) -> np.ndarray:
    exact = total * counts / max(counts.sum(), 1)
    q = np.clip(np.floor(exact).astype(np.int64), lo, hi)
    order = np.lexsort((rng.random(len(counts)), -(exact - np.floor(exact))))
    while q.sum() < total and (q < hi).any():
        for c in order:
            if q.sum() >= total:
                break
            if q[c] < hi[c]:
                q[c] += 1
    while q.sum() > total and (q > lo).any():
        q[np.argmax(np.where(q > lo, q, -1))] -= 1
    return q


def _pick(targets: np.ndarray, quotas: np.ndarray, classes: np.ndarray, rng) -> np.ndarray:
    chosen = []
    for c, q in zip(classes, quotas, strict=True):
        members = np.flatnonzero(targets == c)
        chosen.append(rng.permutation(members)[:q])
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, np.int64)


def stratified_holdout(
    targets: Sequence[int], fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into `(kept, held_out)` with `round(fraction * N)` held out per class share.

    A class keeps at least one sample on the kept side; seeded by `seed` alone, so the same
    seed gives complementary "train" and "val" splits in two separate calls.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {fraction}")
    t = np.asarray(targets, dtype=np.int64)
    rng = np.random.default_rng([seed, _HOLDOUT])
    classes, counts = np.unique(t, return_counts=True)
    q = _quotas(counts, round(fraction * len(t)), np.zeros_like(counts), counts - 1, rng)
    held = _pick(t, q, classes, rng)
    kept = np.setdiff1d(np.arange(len(t)), held)
    return kept, held


def stratified_subset(targets: Sequence[int], size: int, seed: int) -> np.ndarray:
    """`size` indices in class proportion, at least one per class when `size` allows."""
    t = np.asarray(targets, dtype=np.int64)
    if not 0 < size <= len(t):
        raise ValueError(
            f"train_size must be between 1 and the split's {len(t)} images, got {size}"
        )
    rng = np.random.default_rng([seed, _SUBSET])
    classes, counts = np.unique(t, return_counts=True)
    lo = np.full_like(counts, 1 if size >= len(classes) else 0)
    q = _quotas(counts, size, lo, counts, rng)
    return _pick(t, q, classes, rng)
