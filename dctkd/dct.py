"""2-D frequency transforms of activation maps.

Two transforms live here because the paper's code and a correct reimplementation differ
(docs/method.md#spectra): the original calls the real part of an unnormalised 2-D FFT a "DCT";
`dct2` is the true orthonormal DCT-II, computed as two small matrix products, which is exact,
invertible and cheap for the map sizes a CNN produces (7..56 per side).
"""

from __future__ import annotations

import functools
import math

import torch
from torch import Tensor


def dct_matrix(
    n: int, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32
) -> Tensor:
    """Orthonormal DCT-II matrix `D (n, n)`, `D[k, i] = a_k cos(pi (2i + 1) k / (2n))`.

    `a_0 = sqrt(1/n)`, `a_k = sqrt(2/n)`, so `D @ D.T = I`. Built in float64 and cached per
    `(n, device, dtype)`: the loss calls it for every level of every batch. The returned
    tensor is shared, so treat it as read-only.
    """
    if n < 1:
        raise ValueError(f"dct_matrix needs a positive size, got n={n}")
    return _dct_matrix(int(n), torch.device(device or "cpu"), dtype)


@functools.lru_cache(maxsize=128)
def _dct_matrix(n: int, device: torch.device, dtype: torch.dtype) -> Tensor:
    # Built outside inference mode so the cached tensor can be saved for backward later.
    with torch.inference_mode(False), torch.no_grad():
        k = torch.arange(n, dtype=torch.float64).unsqueeze(1)
        i = torch.arange(n, dtype=torch.float64).unsqueeze(0)
        d = torch.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2.0 / n)
        d[0] /= math.sqrt(2.0)
        return d.to(device=device, dtype=dtype)


def _check_maps(x: Tensor, where: str) -> None:
    if x.dim() < 2:
        raise ValueError(f"{where} expects maps shaped (..., H, W), got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{where} expects a floating-point tensor, got {x.dtype}")


def dct2(x: Tensor) -> Tensor:
    """Orthonormal 2-D DCT-II over the last two dims of `(..., H, W)`; H != W allowed.

    Equals `scipy.fft.dctn(x, type=2, norm="ortho", axes=(-2, -1))`. Differentiable.
    """
    _check_maps(x, "dct2")
    d_h = dct_matrix(x.shape[-2], x.device, x.dtype)
    d_w = dct_matrix(x.shape[-1], x.device, x.dtype)
    return d_h @ x @ d_w.T


def idct2(x: Tensor) -> Tensor:
    """Inverse of `dct2` (orthonormal DCT-III) over the last two dims of `(..., H, W)`."""
    _check_maps(x, "idct2")
    d_h = dct_matrix(x.shape[-2], x.device, x.dtype)
    d_w = dct_matrix(x.shape[-1], x.device, x.dtype)
    return d_h.T @ x @ d_w


def fft_real(x: Tensor, absolute: bool = False) -> Tensor:
    """The original code's "DCT": `Re(FFT2(x))` over the last two dims, optionally `abs`.

    Unnormalised (`norm="backward"`), as `torch.fft.fft` along H then W in the paper's code
    (docs/method.md#spectra). The result is point-symmetric, `R[k1, k2] = R[-k1 mod H, -k2 mod W]`,
    so it is not a DCT; it is kept to reproduce the published variants V1 (`absolute=True`) and V2.
    `(..., H, W) -> (..., H, W)`, real, same dtype as `x`.
    """
    _check_maps(x, "fft_real")
    r = torch.fft.fft2(x, dim=(-2, -1)).real
    return r.abs() if absolute else r
