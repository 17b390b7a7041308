"""How much a student's attention agrees with its teacher's, per sample and level (SPEC F.8).

Every measure takes raw maps `(B, H, W)` and is invariant to a positive rescaling of either
map, so it compares where a network looks, not how strongly its features fire. All of them
are finite on constant maps.

SSIM is computed on maps bilinearly upsampled to `ssim_size` (56 px by default) and min-max
scaled to [0, 1], with Wang et al.'s 11 x 11 Gaussian window (sigma 1.5) applied only where
it fits inside the map. The original code ran that window on the raw 7 x 7 maps with zero
padding, so most of each window was padding and the score mostly measured the border
(SPEC H.2 item 9); at 56 px the window sees the map's own structure everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from dctkd.analysis._data import Data, dataset_masks, iter_batches
from dctkd.analysis.maps import forward_maps, minmax, upsample

MEASURES = ("ssim", "pearson", "iou", "mass_student", "mass_teacher", "mask_area")


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


def overlap_frame(
    rows: list[dict[str, torch.Tensor]], keep: str = "teacher_correct"
) -> pd.DataFrame:
    """Concatenate per-batch columns into one frame and keep the requested samples."""
    if keep not in ("teacher_correct", "all"):
        raise ValueError(f"keep must be 'teacher_correct' or 'all', got {keep!r}.")
    frame = pd.concat([pd.DataFrame({k: v.numpy() for k, v in r.items()}) for r in rows])
    frame = frame.reset_index(drop=True)
    if keep == "teacher_correct":
        frame = frame[frame["teacher_correct"]].reset_index(drop=True)
    return frame


def _check_masks(masks: torch.Tensor | None, data: Data) -> torch.Tensor | None:
    masks = dataset_masks(data) if masks is None else torch.as_tensor(masks).bool()
    if masks is not None and masks.dim() != 3:
        raise ValueError(f"masks must be (N, H, W), got shape {tuple(masks.shape)}.")
    return masks


def overlap_row(
    first: int,
    level: int,
    targets: torch.Tensor,
    teacher_pred: torch.Tensor,
    student_pred: torch.Tensor,
    measures: dict,
) -> dict:
    """One batch's columns of an overlap frame: samples `first..first+B-1` at `level`."""
    n = targets.shape[0]
    return {
        "sample": torch.arange(first, first + n),
        "level": torch.full((n,), level),
        "target": targets,
        "teacher_pred": teacher_pred,
        "student_pred": student_pred,
        "teacher_correct": teacher_pred == targets,
        "student_correct": student_pred == targets,
        **measures,
    }


def attention_overlap(
    student: nn.Module,
    teacher: nn.Module,
    data: Data,
    levels: Sequence[int] | None = None,
    keep: str = "teacher_correct",
    q: float = 0.2,
    ssim_size: int = 56,
    masks: torch.Tensor | None = None,
    batch_size: int = 64,
) -> pd.DataFrame:
    """Activation-map overlap between student and teacher, one row per sample x level.

    Columns: `sample` (position in the data's order), `level` (tap index), `target`,
    `teacher_pred`, `student_pred`, `teacher_correct`, `student_correct`, `ssim`, `pearson`,
    `iou` and, when object masks `(N, H, W)` are given or the data is a scenes dataset read in
    order, `mass_student`, `mass_teacher` and `mask_area` (the chance level of a mass share).
    `keep="teacher_correct"` keeps only samples the teacher classifies correctly (SPEC F.8);
    `"all"` keeps every sample.
    """
    masks = _check_masks(masks, data)
    rows: list[dict[str, torch.Tensor]] = []
    seen = 0
    for images, targets in iter_batches(data, batch_size):
        t_logits, t_maps = forward_maps(teacher, images, levels)
        s_logits, s_maps = forward_maps(student, images, levels)
        if len(t_maps) != len(s_maps) or (levels is None and set(t_maps) != set(s_maps)):
            raise ValueError(
                f"student has {len(s_maps)} taps and teacher {len(t_maps)}: pass levels "
                "that both models have."
            )
        n = len(images)
        batch_masks = None if masks is None else masks[seen : seen + n]
        t_pred, s_pred = t_logits.argmax(1).cpu(), s_logits.argmax(1).cpu()
        targets = targets.cpu().long()
        for level, sm, tm in zip(s_maps, s_maps.values(), t_maps.values(), strict=True):
            cols = compare_maps(sm, tm, q, ssim_size, batch_masks)
            rows.append(overlap_row(seen, int(level), targets, t_pred, s_pred, cols))
        seen += n
    if not rows:
        raise ValueError("data yielded no samples for the overlap analysis.")
    return overlap_frame(rows, keep).sort_values(["level", "sample"], ignore_index=True)


def summarise_overlap(
    frame: pd.DataFrame, by: Sequence[str] = ("level",), as_text: bool = False, digits: int = 3
) -> pd.DataFrame:
    """Mean and std of every measure per group (`<m>_mean`, `<m>_std`, `n`).

    With `as_text`, each measure becomes one `"mean ± std"` column, ready for a table.
    """
    by = list(by)
    missing = [c for c in by if c not in frame.columns]
    if missing:
        raise ValueError(f"cannot group overlap results by missing columns {missing}.")
    measures = [m for m in MEASURES if m in frame.columns]
    grouped = frame.groupby(by, sort=True)[measures]
    mean, std = grouped.mean(), grouped.std(ddof=1)
    out = pd.DataFrame(index=mean.index)
    for m in measures:
        if as_text:
            out[m] = [
                f"{a:.{digits}f} ± {b:.{digits}f}"
                for a, b in zip(mean[m], std[m].fillna(0), strict=True)
            ]
        else:
            out[f"{m}_mean"] = mean[m]
            out[f"{m}_std"] = std[m]
    out["n"] = grouped.size()
    return out.reset_index()
