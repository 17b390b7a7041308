"""Training items that name what the teacher's cached outputs and CRD's memory look up."""

from __future__ import annotations

from torch.utils.data import Dataset


class Indexed(Dataset):
    """`(image, target, key)` items: `key = index + view * N` names the sample (CRD addresses
    its memory by `key % N`) and, where the dataset numbers its augmentations (`views`: the
    stored image and its mirror under flips), which of them this item is, so the teacher's
    cached outputs can be looked up by `key` (`engine.teacher_cache`)."""

    def __init__(self, base: Dataset):
        self.base = base
        self.numbered = getattr(base, "views", None) is not None

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int):
        if self.numbered:
            image, target, view = self.base.view_item(i)
            return image, target, i + view * len(self.base)
        image, target = self.base[i]
        return image, target, i

    def __getitems__(self, indices: list[int]) -> list:
        """Batched fetch (PyTorch's protocol), passed through when the base dataset has one."""
        fetch = getattr(self.base, "__getitems__", None)
        if fetch is None or self.numbered:
            return [self[i] for i in indices]
        return [(image, target, i) for (image, target), i in zip(fetch(indices), indices,
                                                                  strict=True)]


__all__ = ["Indexed"]
