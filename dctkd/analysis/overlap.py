"""How much a student's attention agrees with its teacher's, per sample and level.

Every measure takes raw maps `(B, H, W)` and is invariant to a positive rescaling of either
map, so it compares where a network looks, not how strongly its features fire. All of them
are finite on constant maps.

SSIM is computed on maps bilinearly upsampled to `ssim_size` (56 px by default) and min-max
scaled to [0, 1], with Wang et al.'s 11 x 11 Gaussian window (sigma 1.5) applied only where
it fits inside the map. The original code ran that window on the raw 7 x 7 maps with zero
padding, so most of each window was padding and the score mostly measured the border
(docs/deviations.md#ssim); at 56 px the window sees the map's own structure everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from .gradcam import gradcam
from .maps import forward_maps, minmax, upsample
from .samples import TEACHER, Samples, Trained, students, teacher

MEASURES = ("ssim", "pearson", "iou", "mass_on_objects")
"""Per-sample measures of a student against its teacher (mass: only with object masks)."""
MEASURE_NAMES = {
    "ssim": "SSIM",
    "pearson": "Pearson",
    "iou": "top-q IoU",
    "mass_on_objects": "mass on objects",
    "top1": "Top-1 (%)",
}
CHANCE = "Chance (object area)"


def _check(a: torch.Tensor, b: torch.Tensor) -> None:
    if a.dim() != 3 or b.dim() != 3 or len(a) != len(b):
        raise ValueError(
            f"maps must be (B, H, W) with equal B, got {tuple(a.shape)} and {tuple(b.shape)}."
        )


def _pair(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Both maps `(B, H, W)` at the larger of their two resolutions, float64."""
    _check(a, b)
    size = (max(a.shape[1], b.shape[1]), max(a.shape[2], b.shape[2]))
    return upsample(a, size).double(), upsample(b.to(a.device), size).double()


def _gaussian_window(size: int, sigma: float, device: torch.device) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64, device=device) - (size - 1) / 2
    w = torch.exp(-(x**2) / (2 * sigma**2))
    return w / w.sum()


def ssim(
    a: torch.Tensor,
    b: torch.Tensor,
    size: int = 56,
    window: int = 11,
    sigma: float = 1.5,
) -> torch.Tensor:
    """Per-sample SSIM `(B,)` of maps `(B, H, W)`, in [-1, 1] (1 for maps equal up to scale).

    Maps are upsampled to `size x size`, min-max scaled (data range 1, K1 0.01, K2 0.03) and
    compared with a Gaussian window over the valid region only (no padding). Matches
    `skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=1)` on the same inputs.
    """
    if size < window:
        raise ValueError(f"ssim size {size} must be at least the window size {window}.")
    _check(a, b)
    x, y = (minmax(upsample(m, size)).double()[:, None] for m in (a, b.to(a.device)))
    g = _gaussian_window(window, sigma, x.device)
    gh, gw = g.view(1, 1, -1, 1), g.view(1, 1, 1, -1)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.conv2d(t, gh), gw)

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return s.mean((1, 2, 3)).float()


def pearson(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-sample Pearson correlation `(B,)` over pixels; 0 when either map is constant."""
    x, y = (m.flatten(1) for m in _pair(a, b))
    x = x - x.mean(1, keepdim=True)
    y = y - y.mean(1, keepdim=True)
    denom = (x.square().sum(1) * y.square().sum(1)).sqrt()
    r = torch.where(denom > 0, (x * y).sum(1) / denom.clamp_min(1e-300), torch.zeros_like(denom))
    return r.clamp(-1, 1).float()


def top_region(maps: torch.Tensor, q: float = 0.2) -> torch.Tensor:
    """Boolean `(B, H, W)` mask of each map's top-`q` share of pixels.

    A pixel belongs to the region if it is at least the k-th largest value, k = ceil(q * HW)
    (ties included). Pixels at the map's minimum never do, unless the map is constant, whose
    region is the whole map: a ReLU map that is zero on most pixels then has only its positive
    part as region, and a map with no preference claims no particular place.
    """
    if not 0 < q <= 1:
        raise ValueError(f"q must be in (0, 1], got {q}.")
    flat = maps.flatten(1)
    k = max(1, int(torch.tensor(q * flat.shape[1]).ceil().item()))
    kth = flat.topk(k, dim=1).values[:, -1:]
    low = flat.min(1, keepdim=True).values
    region = (flat >= kth) & ((flat > low) | (kth == flat.max(1, keepdim=True).values))
    return region.view_as(maps)


def topq_iou(a: torch.Tensor, b: torch.Tensor, q: float = 0.2) -> torch.Tensor:
    """Per-sample IoU `(B,)` of the two maps' top-`q` regions (see `top_region`)."""
    x, y = _pair(a, b)
    ra, rb = top_region(x, q).flatten(1), top_region(y, q).flatten(1)
    inter = (ra & rb).sum(1).double()
    union = (ra | rb).sum(1).double()
    return (inter / union.clamp_min(1)).float()


def mass_on_objects(maps: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Share `(B,)` of each map's non-negative mass on the masked pixels.

    `maps (B, h, w)` are bilinearly upsampled to the masks' size `(B, H, W)`. An all-zero map
    has no preference and is scored as uniform, i.e. the mask's area share (the chance level).
    """
    masks = masks.to(maps.device).bool()
    if masks.dim() != 3 or len(masks) != len(maps):
        raise ValueError(
            f"masks must be (B, H, W) matching {len(maps)} maps, got {tuple(masks.shape)}."
        )
    heat = upsample(maps.double(), tuple(masks.shape[-2:])).clamp_min(0).flatten(1)
    m = masks.flatten(1).double()
    total = heat.sum(1)
    area = m.mean(1)
    share = (heat * m).sum(1) / total.clamp_min(1e-300)
    return torch.where(total > 0, share, area).float()


def compare_maps(
    student: torch.Tensor,
    teacher: torch.Tensor,
    q: float = 0.2,
    ssim_size: int = 56,
    masks: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Every overlap measure for one level: name -> `(B,)` (mass columns only with masks)."""
    out = {
        "ssim": ssim(student, teacher, size=ssim_size),
        "pearson": pearson(student, teacher),
        "iou": topq_iou(student, teacher, q),
    }
    if masks is not None:
        out["mass_student"] = mass_on_objects(student, masks)
        out["mass_teacher"] = mass_on_objects(teacher, masks)
        out["mask_area"] = masks.flatten(1).float().mean(1).to(out["ssim"].device)
    return {k: v.cpu() for k, v in out.items()}


@dataclass(frozen=True, eq=False)
class _Views:
    """One model's view of the samples: predictions `(N,)` and maps `{tap index: (N, h, w)}`."""

    preds: torch.Tensor
    maps: dict[int, torch.Tensor]


def _views(
    model: nn.Module,
    samples: Samples,
    kind: str,
    levels: Sequence[int] | None,
    batch_size: int,
) -> _Views:
    preds, maps = [], {}
    for start in range(0, len(samples), batch_size):
        images = samples.images[start : start + batch_size]
        logits, batch = forward_maps(model, images, None if kind == "gradcam" else levels)
        preds.append(logits.argmax(1).cpu())
        if kind == "gradcam":
            n_taps = len(batch)
            level = (-1 if not levels else levels[0]) % n_taps
            targets = samples.targets[start : start + batch_size]
            batch = {level: gradcam(model, images, targets, level, batch_size=64)}
        for level, m in batch.items():
            maps.setdefault(level, []).append(m.cpu())
    return _Views(torch.cat(preds), {k: torch.cat(v) for k, v in maps.items()})


def overlap_frame(
    members: Sequence[Trained],
    samples: Samples,
    kind: str = "maps",
    levels: Sequence[int] | None = None,
    keep: str = "teacher_correct",
    q: float = 0.2,
    batch_size: int = 256,
) -> pd.DataFrame:
    """Per-sample overlap of every student with the teacher, with `method` and `seed`.

    `kind="maps"` compares activation maps at `levels` (default all), `"gradcam"` the raw
    Grad-CAMs of the true class at the last level (or `levels[0]`). Columns: `sample, level,
    target, teacher_pred, student_pred, teacher_correct, student_correct`, the `MEASURES`
    and, with object masks, `mass_teacher` and `mask_area` (the chance level of a mass
    share). The teacher's maps are computed once for all students. With
    `keep="teacher_correct"` only samples the teacher gets right count, as in the original's
    SSIM; if it gets none right, all samples are kept so the table still exists. Column
    `kept` says which.
    """
    if kind not in ("maps", "gradcam"):
        raise ValueError(f"kind must be 'maps' or 'gradcam', got {kind!r}.")
    if keep not in ("teacher_correct", "all"):
        raise ValueError(f"keep must be 'teacher_correct' or 'all', got {keep!r}.")
    if not students(members):
        raise ValueError("the overlap analysis needs at least one student besides the teacher.")
    t = _views(teacher(members).model, samples, kind, levels, batch_size)
    targets = samples.targets.cpu().long()
    n = len(samples)
    frames = []
    for s in students(members):
        v = _views(s.model, samples, kind, levels, batch_size)
        if set(v.maps) != set(t.maps):
            raise ValueError(
                f"the {s.label} student has taps {sorted(v.maps)} and the teacher "
                f"{sorted(t.maps)}: pass levels that both models have."
            )
        rows = []
        for level in sorted(t.maps):
            cols: dict[str, list[torch.Tensor]] = {}
            for start in range(0, n, batch_size):
                part = slice(start, start + batch_size)
                masks = None if samples.masks is None else samples.masks[part]
                got = compare_maps(v.maps[level][part], t.maps[level][part], q, 56, masks)
                for key, value in got.items():
                    cols.setdefault(key, []).append(value)
            rows.append(
                {
                    "sample": torch.arange(n),
                    "level": torch.full((n,), level),
                    "target": targets,
                    "teacher_pred": t.preds,
                    "student_pred": v.preds,
                    "teacher_correct": t.preds == targets,
                    "student_correct": v.preds == targets,
                    **{key: torch.cat(value) for key, value in cols.items()},
                }
            )
        frame = pd.concat([pd.DataFrame({k: v.numpy() for k, v in r.items()}) for r in rows])
        frames.append(frame.assign(method=s.label, seed=s.seed, k=s.k))
    frame = pd.concat(frames, ignore_index=True)
    frame["kept"] = "all samples"
    if keep == "teacher_correct":
        if frame["teacher_correct"].any():
            frame = frame[frame["teacher_correct"]].assign(kept="teacher-correct samples")
        else:
            frame = frame.assign(kept="all samples (the teacher is right on none)")
    return frame.rename(columns={"mass_student": "mass_on_objects"}).reset_index(drop=True)


def seed_means(
    frame: pd.DataFrame, by: Sequence[str] = ("method", "seed", "level")
) -> pd.DataFrame:
    """Mean of each measure over samples per method, seed and level (`n`: samples averaged).

    When object masks were used, the teacher's own mass on the objects becomes a `Teacher`
    row and the objects' area share (the mass of a uniform map) a `Chance` row, per level.
    """
    by = list(by)
    measures = [m for m in MEASURES if m in frame.columns]
    if frame.empty or not measures:
        raise ValueError("seed_means needs a non-empty overlap frame with measure columns.")
    out = frame.groupby(by, sort=False)[measures].mean()
    out["n"] = frame.groupby(by, sort=False).size()
    out = out.reset_index()
    if "mass_teacher" in frame.columns:
        first = frame[(frame["method"] == frame["method"].iloc[0])]
        first = first[first["seed"] == first["seed"].iloc[0]]
        per_level = first.groupby("level", sort=True)
        extra = [
            pd.DataFrame(
                {
                    "method": label,
                    "seed": 0,
                    "level": per_level["mass_teacher"].mean().index,
                    "mass_on_objects": per_level[column].mean().to_numpy(),
                    "n": per_level.size().to_numpy(),
                }
            )
            for label, column in ((TEACHER, "mass_teacher"), (CHANCE, "mask_area"))
        ]
        out = pd.concat([out, *extra], ignore_index=True)
    return out


def compare(per_seed: pd.DataFrame, measure: str, a: str, b: str) -> pd.DataFrame:
    """Per level, mean over seeds of `measure` for methods `a` and `b` and their difference."""
    means = per_seed.groupby(["level", "method"])[measure].mean().unstack("method")
    for m in (a, b):
        if m not in means.columns:
            raise ValueError(f"no {measure} values for method {m!r} in the overlap frame.")
    out = pd.DataFrame({a: means[a], b: means[b], f"{a} − {b}": means[a] - means[b]})
    out.index = out.index + 1
    return out


__all__ = [
    "CHANCE",
    "MEASURES",
    "MEASURE_NAMES",
    "compare",
    "compare_maps",
    "mass_on_objects",
    "overlap_frame",
    "pearson",
    "seed_means",
    "ssim",
    "top_region",
    "topq_iou",
]
