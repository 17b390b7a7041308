"""The paper code's DCT loss, written out as the reference the benchmark compares against.

A transcription of the formulation (docs/method.md#activation-map, variant V1): `F.pow(2).mean(1)`
activation maps, the divide-by-max normalisations, `torch.fft.fft` along H then W, real part and
abs, a Python loop over levels accumulating into `zeros(B)`. Per-sample statistics broadcast with
`[:, None, None]` where the original materialises them with `repeat_interleave`, so this reference
is, if anything, slightly faster than the code it stands for. Benchmark use only: it has the
original's division by zero on constant maps.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _activation_map(f: Tensor) -> Tensor:
    b, _, h, w = f.shape
    am = f.pow(2).mean(1).view(b, -1)
    am = am - am.min(dim=1)[0][:, None]
    am = am / am.max(dim=1)[0][:, None]
    return am.view(b, h, w)


def _spectrum(am: Tensor) -> Tensor:
    b = am.shape[0]
    x = am - am.view(b, -1).mean(dim=1)[:, None, None]
    s = torch.fft.fft(torch.fft.fft(x, dim=1), dim=2)
    s = torch.abs(torch.real(s))
    lo = s.view(b, -1).min(dim=1)[0][:, None, None]
    hi = s.view(b, -1).max(dim=1)[0][:, None, None]
    return (s - lo) / hi


def original_dct_loss(
    student_feats: list[Tensor],
    teacher_feats: list[Tensor],
    teacher_logits: Tensor,
    targets: Tensor,
    pred_guide: bool = True,
) -> Tensor:
    """V1 loss, mean over the full batch; teacher features are expected without grad."""
    bs = student_feats[-1].shape[0]
    scale_loss = torch.zeros(bs, device=student_feats[0].device)
    for fs, ft in zip(student_feats, teacher_feats, strict=True):
        ds = _spectrum(_activation_map(fs)).reshape(bs, -1)
        dt = _spectrum(_activation_map(ft)).reshape(bs, -1)
        scale_loss += torch.sqrt(torch.sum(torch.pow(ds - dt, 2), dim=1))
    if pred_guide:
        scale_loss = scale_loss * (teacher_logits.argmax(1) == targets).float()
    return scale_loss.mean()
