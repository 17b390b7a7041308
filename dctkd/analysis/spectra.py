"""The method's facts measured on real activation maps (docs/method.md#spectra), not asserted.

For maps `A (B, H, W)` of a trained network, `facts` measures for each spectrum the loss can
use (`v1`, `v2`, `dct2`): point symmetry of the transform, the DC coefficient left after the
mean is removed, invariance of the normalised spectrum to a positive affine change of the
map, energy preservation (Parseval) and how many coefficients are distinct.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from dctkd.attention import remove_mean
from dctkd.losses.dct import VARIANTS, spectrum, transform

VARIANT_NAMES = {"v1": "V1 abs(Re FFT2)", "v2": "V2 Re FFT2", "dct2": "DCT-II"}


def point_mirror(x: Tensor) -> Tensor:
    """`x[..., (-k1) mod H, (-k2) mod W]` for `(..., H, W)`: the FFT's conjugate partner."""
    return torch.roll(torch.flip(x, dims=(-2, -1)), shifts=(1, 1), dims=(-2, -1))


def _rel(x: Tensor, ref: Tensor) -> Tensor:
    """Per-map `max|x| / max|ref|` of `(B, H, W)` tensors -> `(B,)`."""
    scale = ref.abs().amax(dim=(-2, -1)).clamp_min(1e-30)
    return x.abs().amax(dim=(-2, -1)) / scale


def _distinct(x: Tensor, tol: float = 1e-6) -> float:
    """Mean share of coefficients of `(B, H, W)` that differ from every other one (rounded)."""
    shares = []
    for m in x.reshape(x.shape[0], -1):
        scale = float(m.abs().max()) or 1.0
        shares.append(len(np.unique(np.round(m.numpy() / scale / tol))) / m.numel())
    return float(np.mean(shares))


def facts(maps: Sequence[Tensor], scale: float = 3.7, shift: float = 0.25) -> pd.DataFrame:
    """A row per level and spectrum variant; each column a measured property (max over maps).

    `maps[l]` is `(B, H, W)` (float64 is used internally). `scale`/`shift` define the affine
    change `A -> scale * A + shift * mean(A)` the invariance column applies.
    """
    rows = []
    for level, am in enumerate(maps):
        a = am.detach().to(torch.float64)
        changed = scale * a + shift * a.mean(dim=(-2, -1), keepdim=True)
        for variant in VARIANTS:
            t = transform(a, variant)
            d, d_changed = spectrum(a, variant), spectrum(changed, variant)
            parseval = np.nan
            if variant == "dct2":
                x = remove_mean(_minmax(a))
                parseval = float(((t.pow(2).sum((-2, -1)) / x.pow(2).sum((-2, -1)).clamp_min(
                    1e-30)) - 1).abs().max())
            rows.append({
                "level": level + 1,
                "size": f"{a.shape[-2]}×{a.shape[-1]}",
                "variant": VARIANT_NAMES[variant],
                "point symmetry error": float(_rel(t - point_mirror(t), t).max()),
                "DC / max coefficient": float(_rel(t[..., :1, :1], t).max()),
                "affine invariance error": float((d - d_changed).abs().amax().item()),
                "Parseval error": parseval,
                "distinct coefficients (%)": 100.0 * _distinct(t),
                "maps": a.shape[0],
            })
    return pd.DataFrame(rows)


def _minmax(a: Tensor) -> Tensor:
    lo = a.amin(dim=(-2, -1), keepdim=True)
    return (a - lo) / (a.amax(dim=(-2, -1), keepdim=True) - lo).clamp_min(1e-30)


def spectra(am: Tensor) -> dict[str, Tensor]:
    """`{variant: normalised spectrum (B, H, W)}` of maps `(B, H, W)`, as the loss sees them."""
    return {VARIANT_NAMES[v]: spectrum(am.to(torch.float32), v) for v in VARIANTS}
