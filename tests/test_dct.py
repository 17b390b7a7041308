"""The 2-D transforms: exact DCT-II against SciPy, its inverse, and the original FFT variant."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.fft
import torch

from dctkd.dct import _dct_matrix, dct2, dct_matrix, fft_real, idct2

NON_SQUARE = [(1, 56), (56, 1), (2, 3), (3, 7), (7, 3), (14, 28), (28, 14), (13, 56), (56, 7)]


def _random(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_dct_matrix_is_orthonormal_and_cached():
    for n in (1, 2, 7, 56):
        d = dct_matrix(n, "cpu", torch.float64)
        torch.testing.assert_close(d @ d.T, torch.eye(n, dtype=torch.float64), atol=1e-12, rtol=0)
    assert dct_matrix(9, "cpu", torch.float32) is dct_matrix(9, torch.device("cpu"), torch.float32)
    assert dct_matrix(9, "cpu", torch.float64).dtype == torch.float64
    with pytest.raises(ValueError, match="positive size"):
        dct_matrix(0)


@pytest.mark.parametrize("shapes", ["square", "non_square"])
def test_dct2_matches_scipy(shapes):
    sizes = [(n, n) for n in range(1, 57)] if shapes == "square" else NON_SQUARE
    for i, (h, w) in enumerate(sizes):
        x = _random(3, h, w, seed=i)
        expected = scipy.fft.dctn(x.numpy(), type=2, norm="ortho", axes=(-2, -1))
        np.testing.assert_allclose(dct2(x).numpy(), expected, atol=1e-10, err_msg=f"{h}x{w}")
        np.testing.assert_allclose(
            idct2(torch.from_numpy(expected)).numpy(), x.numpy(), atol=1e-10, rtol=0
        )


def test_dct2_round_trip_parseval_and_leading_dims():
    x = _random(2, 3, 14, 9)
    y = dct2(x)
    assert y.shape == x.shape
    torch.testing.assert_close(idct2(y), x, atol=1e-12, rtol=0)
    torch.testing.assert_close(y.square().sum((-2, -1)), x.square().sum((-2, -1)))
    torch.testing.assert_close(dct2(x[1, 2]), y[1, 2])


def test_dct2_is_differentiable():
    x = _random(2, 5, 4).requires_grad_()
    assert torch.autograd.gradcheck(dct2, (x,))
    assert torch.autograd.gradcheck(idct2, (x,))


def test_dct_matrix_built_in_inference_mode_still_supports_backward():
    _dct_matrix.cache_clear()
    with torch.inference_mode():
        dct2(torch.ones(4, 6))
    x = torch.randn(4, 6, requires_grad=True)
    dct2(x).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_dct2_rejects_bad_input():
    with pytest.raises(ValueError, match=r"\(\.\.\., H, W\)"):
        dct2(torch.ones(5))
    with pytest.raises(ValueError, match="floating-point"):
        dct2(torch.ones(3, 3, dtype=torch.int64))


def test_fft_real_is_the_real_part_of_fft_along_h_then_w():
    x = _random(2, 6, 5)
    reference = torch.fft.fft(torch.fft.fft(x, dim=1), dim=2).real
    torch.testing.assert_close(fft_real(x), reference)
    torch.testing.assert_close(fft_real(x, absolute=True), reference.abs())
    np.testing.assert_allclose(fft_real(x).numpy(), np.fft.fft2(x.numpy()).real, atol=1e-12)


def test_fft_real_is_point_symmetric_and_not_a_dct():
    x = _random(1, 7, 6)
    r = fft_real(x)[0]
    mirrored = torch.roll(torch.flip(r, (0, 1)), shifts=(1, 1), dims=(0, 1))
    torch.testing.assert_close(r, mirrored)
    assert not torch.allclose(r.abs(), dct2(x)[0].abs(), atol=1e-3)
