"""Teacher outputs computed once and reused by every student run that feeds the same inputs.

A frozen teacher in eval mode maps a training image to the same logits and stage maps in every
epoch of every student run that shows it that image unchanged, at the same precision and
memory layout. When a student's training inputs can be enumerated — no augmentation, or
horizontal flips only (each image and its mirror: two inputs) — its teacher's outputs on
every one of them are computed once, saved beside the teacher (`<teacher run>/outputs/<key>.pt`),
and looked up by item key at every step: the same numbers as running the teacher online
(tested bit for bit), without its forward pass. Under random crops each step shows new
inputs, so the cache never applies there.

The key holds everything the outputs depend on: the teacher run, the student's training
subset (dataset identity, val hold-out, `train_size`, seed), the autocast dtype, the memory
layout and the device type. The file is loaded memory-mapped, so parallel runs on one
machine share its pages.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import ConcatDataset, DataLoader, Dataset

from dctkd.config import RunConfig, identity
from dctkd.files import atomic_path
from dctkd.losses import Outputs

FOLDER = "outputs"


VIEWS = {False: 1, "flip": 2}
"""How many distinct inputs a training image can become under each `data.augment` whose
inputs can be enumerated: itself, or itself and its mirror."""


def applies(cfg: RunConfig) -> bool:
    """True when `cfg`'s teacher sees inputs that can be enumerated (none or flips only) and
    the cache is switched on. The dataset must number its views too (`views`): in-memory
    images do, file datasets read through torchvision's transforms do not."""
    return (cfg.teacher is not None and cfg.runtime.teacher_cache
            and cfg.data.augment in VIEWS)


def cache_key(cfg: RunConfig, amp: torch.dtype | None, channels_last: bool,
              device: torch.device, num_samples: int) -> dict:
    """What the cached outputs of `cfg`'s teacher on its training subset depend on."""
    data = identity(cfg)["data"]
    return {
        "teacher": cfg.teacher.run_id,
        "data": {k: data[k] for k in ("name", "options", "train_size", "val_fraction",
                                          "holdout_seed") if k in data},
        "seed": cfg.seed,
        "amp": str(amp).replace("torch.", "") if amp else "off",
        "channels_last": bool(channels_last),
        "device": device.type,
        "num_samples": int(num_samples),
        **({"views": VIEWS[cfg.data.augment]} if cfg.data.augment else {}),
    }


def cache_path(teacher_dir: Path, key: dict) -> Path:
    blob = json.dumps(key, sort_keys=True, separators=(",", ":"))
    return Path(teacher_dir) / FOLDER / f"{hashlib.sha1(blob.encode()).hexdigest()[:16]}.pt"


@dataclass
class TeacherOutputs:
    """The teacher's logits `(V·N, K)` and stage maps `[(V·N, C_l, H_l, W_l)]`, row
    `i + v·N` for view `v` of training sample `i` (the key `engine.train.Indexed` yields), in
    the layout the online teacher produces them."""

    logits: torch.Tensor
    features: list[torch.Tensor]
    channels_last: list[bool]  # per map: was the online output channels-last?

    def lookup(self, index: torch.Tensor, device: torch.device) -> Outputs:
        """The outputs of the items `index (B,)` (keys `i + v·N`) on `device`, as the online
        forward gives.

        The layout matters: reductions over channels add in a different order otherwise.
        """
        rows = index.cpu()
        feats = []
        for f, cl in zip(self.features, self.channels_last, strict=True):
            fmt = torch.channels_last if cl else torch.contiguous_format
            feats.append(f[rows].to(device, non_blocking=True).contiguous(memory_format=fmt))
        return Outputs(self.logits[rows].to(device, non_blocking=True), feats)


class _View(Dataset):
    """Every sample of a dataset as one of its views (`view_image`), in order."""

    def __init__(self, base: Dataset, view: int):
        self.base, self.view = base, view

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int):
        return self.base.view_image(i, self.view), self.base.targets[i]


@torch.no_grad()
def compute(teacher: nn.Module, dataset: Dataset, batch_size: int, amp: torch.dtype | None,
            channels_last: bool, device: torch.device) -> TeacherOutputs:
    """The teacher's outputs on every view of every sample of `dataset` (views in turn,
    samples in order), as training computes them."""
    teacher.eval()
    views = getattr(dataset, "views", None) or 1
    parts = dataset if views == 1 else ConcatDataset([_View(dataset, v) for v in range(views)])
    loader = DataLoader(parts, batch_size=batch_size, shuffle=False)
    autocast = (torch.autocast(device.type, dtype=amp) if amp else contextlib.nullcontext())
    logits, feats, layout = [], None, []
    for batch in loader:
        images = batch[0].to(device)
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with autocast:
            out_logits, out_feats = teacher(images)
        logits.append(out_logits.cpu())
        if feats is None:
            feats = [[] for _ in out_feats]
            layout = [f.dim() == 4 and f.is_contiguous(memory_format=torch.channels_last)
                      and not f.is_contiguous() for f in out_feats]
        for bucket, f in zip(feats, out_feats, strict=True):
            bucket.append(f.cpu())
    return TeacherOutputs(torch.cat(logits), [torch.cat(b) for b in feats], layout)


def load_or_build(path: Path, key: dict, build) -> TeacherOutputs:
    """The outputs saved at `path` for `key`, else `build()`'s, saved there first.

    A file lock makes parallel runs that need the same outputs compute them once; a file
    that cannot be read or holds another key is rebuilt.
    """
    from filelock import FileLock

    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path.with_suffix(".lock"))):
        saved = _load(path, key)
        if saved is not None:
            return saved
        outputs = build()
        with atomic_path(path) as tmp:
            torch.save({"key": json.dumps(key, sort_keys=True), "logits": outputs.logits,
                        "features": outputs.features,
                        "channels_last": outputs.channels_last}, tmp)
    return _load(path, key) or outputs


def _load(path: Path, key: dict) -> TeacherOutputs | None:
    if not path.is_file():
        return None
    try:
        data = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except (RuntimeError, OSError, ValueError, EOFError):
        return None
    if data.get("key") != json.dumps(key, sort_keys=True):
        return None
    return TeacherOutputs(data["logits"], list(data["features"]), list(data["channels_last"]))


__all__ = ["TeacherOutputs", "applies", "cache_key", "cache_path", "compute", "load_or_build"]
