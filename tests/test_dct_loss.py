"""Activation maps and the DCT distillation term: golden values, masks, properties, robustness."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.fft
import torch

import dctkd.attention as attention
import dctkd.losses.dct as dct_loss
from dctkd.attention import (
    _traced_paired_maps,
    activation_map,
    centred,
    normalise_by_max,
    normalise_min_max,
    paired_maps,
    remove_mean,
)
from dctkd.losses import Outputs
from dctkd.losses.dct import DCTLoss, dct_kd_loss, spectrum, transform

VARIANTS = ("v1", "v2", "dct2")
F64 = torch.float64


def _grid(b: int, c: int, n: int):
    """Broadcastable index grids b, c, h, w (from 0) of a (B, C, n, n) tensor."""
    return (
        torch.arange(b, dtype=F64).view(b, 1, 1, 1),
        torch.arange(c, dtype=F64).view(1, c, 1, 1),
        torch.arange(n, dtype=F64).view(1, 1, n, 1),
        torch.arange(n, dtype=F64).view(1, 1, 1, n),
    )


def golden_inputs():
    """docs/method.md#reference-values: B=2, scales 8x8 and 4x4, student C=3, teacher C=5."""
    student, teacher = [], []
    for n in (8, 4):
        b, c, h, w = _grid(2, 3, n)
        student.append(torch.sin(0.3 * (b + 1) + 0.7 * c + 0.11 * h * h + 0.05 * w))
        b, c, h, w = _grid(2, 5, n)
        teacher.append(torch.cos(0.2 * (b + 1) + 0.5 * c + 0.13 * h + 0.07 * w * w))
    # Teacher right on sample 0 (argmax 1 == target 1), wrong on sample 1: mask m = [1, 0].
    logits = torch.tensor([[0.0, 2.0, 1.0], [3.0, 0.0, 1.0]], dtype=F64)
    targets = torch.tensor([1, 2])
    return student, teacher, logits, targets


GOLDEN = {
    "v1": ([4.506063, 3.656747], 4.081405, 2.253031),
    "v2": ([3.901988, 6.221701], 5.061845, 1.950994),
}


def _random_feats(shapes, seed=0, dtype=torch.float32, relu=True):
    g = torch.Generator().manual_seed(seed)
    feats = [torch.randn(*s, generator=g, dtype=dtype) for s in shapes]
    return [f.relu() for f in feats] if relu else feats


STUDENT = [(4, 3, 8, 6), (4, 5, 4, 3)]
TEACHER = [(4, 7, 8, 6), (4, 2, 4, 3)]


# --- activation maps and normalisations -------------------------------------------------------


def test_activation_map_matches_mean_of_squares_in_value_and_gradient(monkeypatch):
    monkeypatch.setattr(attention, "_CHUNK_BYTES", 200)  # several chunks, one ragged
    f = torch.randn(7, 5, 4, 3, dtype=F64, requires_grad=True)
    g = torch.randn(7, 4, 3, dtype=F64)
    (grad,) = torch.autograd.grad((activation_map(f) * g).sum(), f)
    (expected,) = torch.autograd.grad((f.pow(2).mean(1) * g).sum(), f)
    torch.testing.assert_close(activation_map(f), f.pow(2).mean(1))
    torch.testing.assert_close(grad, expected)
    assert torch.autograd.gradcheck(activation_map, (f,))
    cl = f.detach().float().contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(activation_map(cl), f.detach().float().pow(2).mean(1))
    torch.testing.assert_close(activation_map(f, p=1), f.abs().mean(1))


def test_activation_map_of_bf16_is_float32_with_bf16_gradient():
    f = torch.randn(2, 4, 5, 5).bfloat16().requires_grad_()
    am = activation_map(f)
    assert am.dtype == torch.float32
    torch.testing.assert_close(am, f.detach().float().pow(2).mean(1))
    am.sum().backward()
    assert f.grad.dtype == torch.bfloat16
    torch.testing.assert_close(f.grad.float(), 2 * f.detach().float() / 4, rtol=1e-2, atol=1e-2)


def test_activation_map_rejects_bad_input():
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        activation_map(torch.ones(3, 4, 4))
    with pytest.raises(ValueError, match="positive power"):
        activation_map(torch.ones(1, 1, 2, 2), p=0)


@pytest.mark.parametrize("normalise", [normalise_by_max, normalise_min_max])
def test_normalisations_are_safe_on_flat_maps(normalise):
    a = torch.stack([torch.zeros(3, 4), torch.full((3, 4), 2.5)]).requires_grad_()
    out = normalise(a)
    (out * torch.randn(2, 3, 4)).sum().backward()
    assert torch.equal(out, torch.zeros_like(out))
    assert torch.equal(a.grad[0], torch.zeros(3, 4))  # nothing to divide by: no gradient
    assert torch.isfinite(a.grad).all()
    if normalise is normalise_min_max:
        assert torch.equal(a.grad[1], torch.zeros(3, 4))
    ramp = torch.arange(1.0, 7.0).view(1, 2, 3)
    expected = (ramp - 1) / (6 if normalise is normalise_by_max else 5)
    torch.testing.assert_close(normalise(ramp), expected)


def test_centred_equals_normalise_then_remove_mean():
    a = activation_map(_random_feats([(3, 4, 6, 5)], 15, F64)[0])
    torch.testing.assert_close(centred(a, by="max"), remove_mean(normalise_by_max(a)))
    torch.testing.assert_close(centred(a, by="range"), remove_mean(normalise_min_max(a)))
    with pytest.raises(ValueError, match="'max' or 'range'"):
        centred(a, by="sum")


# --- golden values (docs/method.md#reference-values) ---


@pytest.mark.parametrize("variant", ["v1", "v2"])
def test_golden_values(variant):
    student, teacher, logits, targets = golden_inputs()
    per_sample, mean, masked = GOLDEN[variant]
    kw = dict(variant=variant)
    d = dct_kd_loss(student, teacher, pred_guide=False, reduction="none", **kw)
    assert d.dtype == F64
    np.testing.assert_allclose(d.numpy(), per_sample, atol=1e-6, rtol=0)
    np.testing.assert_allclose(
        dct_kd_loss(student, teacher, pred_guide=False, **kw).item(), mean, atol=1e-6, rtol=0
    )
    np.testing.assert_allclose(
        dct_kd_loss(student, teacher, logits, targets, **kw).item(), masked, atol=1e-6, rtol=0
    )


def test_golden_values_through_the_registered_term():
    from dctkd.losses import METHODS

    student, teacher, logits, targets = golden_inputs()
    assert METHODS["dct"].term_class is DCTLoss
    shapes = [tuple(f.shape[1:]) for f in student]
    term = DCTLoss.build(
        student_shapes=shapes,
        teacher_shapes=[tuple(f.shape[1:]) for f in teacher],
        num_samples=10,
        num_classes=3,
        batch_size=2,
        variant="v2",
    )
    value = term.distill(Outputs(logits, student), Outputs(logits, teacher), targets)
    np.testing.assert_allclose(value.item(), GOLDEN["v2"][2], atol=1e-6, rtol=0)
    assert DCTLoss()(student, teacher, logits, targets).item() == pytest.approx(GOLDEN["v1"][2])


def _reference(student, teacher, variant):
    """docs/method.md#normalisations written directly in NumPy float64; dct2 via SciPy."""
    total = 0.0
    for fs, ft in zip(student, teacher, strict=True):
        spectra = []
        for f in (fs, ft):
            a = (f.double().numpy() ** 2).mean(1)
            lo, hi = a.min((1, 2), keepdims=True), a.max((1, 2), keepdims=True)
            a1 = (a - lo) / hi if variant == "v1" else (a - lo) / (hi - lo)
            x = a1 - a1.mean((1, 2), keepdims=True)
            if variant == "dct2":
                s = scipy.fft.dctn(x, type=2, norm="ortho", axes=(1, 2))
            else:
                s = np.fft.fft2(x).real
            s = np.abs(s) if variant == "v1" else s
            lo, hi = s.min((1, 2), keepdims=True), s.max((1, 2), keepdims=True)
            spectra.append((s - lo) / hi if variant == "v1" else (s - lo) / (hi - lo))
        total = total + np.sqrt(((spectra[0] - spectra[1]) ** 2).sum((1, 2)))
    return total


@pytest.mark.parametrize("variant", VARIANTS)
def test_matches_direct_transcription_on_non_square_maps(variant):
    student, teacher = _random_feats(STUDENT, 1), _random_feats(TEACHER, 2)
    d = dct_kd_loss(student, teacher, pred_guide=False, reduction="none", variant=variant)
    np.testing.assert_allclose(d.numpy(), _reference(student, teacher, variant), rtol=1e-5)


# --- all levels at once against the per-level recipe ---------------------------------------

# Odd and even widths (rfft2's half spectrum), levels of three sizes, channels that differ.
LEVEL_STUDENT = [(4, 3, 9, 8), (4, 5, 6, 5), (4, 2, 3, 4)]
LEVEL_TEACHER = [(4, 6, 9, 8), (4, 2, 6, 5), (4, 7, 3, 4)]


def _maps_without_contrast(student, teacher):
    """Samples the safeguards act on: 1 a dead student map (level 0), 2 a constant teacher map
    (level 1), 3 a map whose `Re FFT2` vanishes (level 2: `A = 2 + [0, 1, 0, -1]` along W is
    odd about its mean), so V1 and V2 zero its spectrum while `dct2` keeps it."""
    student, teacher = [f.clone() for f in student], [f.clone() for f in teacher]
    student[0][1] = 0.0
    teacher[1][2] = 0.7
    odd = torch.tensor([0.0, 1.0, 0.0, -1.0], dtype=student[2].dtype)
    student[2][3] = (2.0 + odd).sqrt().expand(student[2].shape[1:])
    return student, teacher


def _per_level_recipe(student, teacher, variant):
    """docs/method.md's recipe level by level: `spectrum` of each activation map, distance."""
    total = 0.0
    for fs, ft in zip(student, teacher, strict=True):
        d_s = spectrum(activation_map(fs), variant)
        d_t = spectrum(activation_map(ft), variant)
        total = total + torch.linalg.vector_norm(d_s - d_t, 2, dim=(-2, -1))
    return total


@pytest.mark.parametrize("launch_bound", [False, True])
@pytest.mark.parametrize("variant", VARIANTS)
def test_batched_levels_equal_the_per_level_recipe_in_value_and_gradient(
    monkeypatch, variant, launch_bound
):
    # launch_bound: all levels in one canvas, maps by one vector_norm per tap (a GPU's way);
    # else one canvas per level, maps summed in chunks (a CPU's).
    for module in (attention, dct_loss):
        monkeypatch.setattr(module, "launch_bound", lambda device: launch_bound)
    student, teacher = _maps_without_contrast(
        _random_feats(LEVEL_STUDENT, 21, F64), _random_feats(LEVEL_TEACHER, 22, F64)
    )
    weights = torch.randn(4, generator=torch.Generator().manual_seed(23), dtype=F64)
    values, grads = [], []
    for loss in (
        lambda s: dct_kd_loss(s, teacher, pred_guide=False, reduction="none", variant=variant),
        lambda s: _per_level_recipe(s, teacher, variant),
    ):
        feats = [f.clone().requires_grad_() for f in student]
        value = loss(feats)
        values.append(value.detach())
        grads.append(torch.autograd.grad((value * weights).sum(), feats))
    torch.testing.assert_close(values[0], values[1], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-9, atol=1e-12)
    assert (values[0] > 0).all()
    # Sample 1's dead student map is zeros to both networks' maps alike: no gradient there.
    assert torch.equal(grads[0][0][1], torch.zeros_like(grads[0][0][1]))


def test_v1_float32_gradient_keeps_float64_accuracy():
    # In float32 the DC coefficient of a mean-removed map is rounding, not 0, and on this map
    # another coefficient rounds smaller: taken as the minimum S - min S, it added a spurious
    # term (82 % of the gradient, measured). The DC set to exactly 0 keeps the minimum at 0.
    g = torch.Generator().manual_seed(351)
    student = torch.randn(1, 8, 56, 56, generator=g).relu_()
    teacher = torch.randn(1, 8, 56, 56, generator=g).relu_()
    grads = []
    for dtype in (torch.float32, F64):
        f = student.to(dtype, copy=True).requires_grad_()
        dct_kd_loss([f], [teacher.to(dtype)], pred_guide=False).backward()
        grads.append(f.grad.double())
    error = (grads[0] - grads[1]).abs().max() / grads[1].abs().max()
    assert error < 1e-5


@pytest.mark.parametrize("launch_bound", [False, True])
def test_paired_maps_hold_half_energy_zero_padded_with_student_gradient(monkeypatch, launch_bound):
    # Both ways of reducing channels on this CPU: small chunks (several, one ragged) and one
    # vector_norm per tap, the path a GPU takes.
    monkeypatch.setattr(attention, "_CHUNK_BYTES", 200)
    monkeypatch.setattr(attention, "launch_bound", lambda device: launch_bound)
    student = [f.requires_grad_() for f in _random_feats(LEVEL_STUDENT, 24, F64)]
    teacher = [f.requires_grad_() for f in _random_feats(LEVEL_TEACHER, 25, F64)]
    canvas, levels = paired_maps(student, teacher)
    assert canvas.shape == (3, 2, 4, 9, 8) and not canvas.requires_grad
    for level, (fs, ft) in enumerate(zip(student, teacher, strict=True)):
        h, w = fs.shape[2:]
        expected = torch.stack([activation_map(f) * f.shape[1] / 2 for f in (fs, ft)])
        torch.testing.assert_close(levels[level], expected)
        assert torch.equal(canvas[level, :, :, :h, :w], levels[level])
        around = canvas[level].clone()
        around[:, :, :h, :w] = 0.0
        assert not around.any()
    weights = [torch.randn(a.shape, dtype=F64) for a in levels]
    sum(((a * w).sum() for a, w in zip(levels, weights, strict=True))).backward()
    for fs, w in zip(student, weights, strict=True):
        torch.testing.assert_close(fs.grad, fs.detach() * w[0].unsqueeze(1))
    assert all(ft.grad is None for ft in teacher)


def test_traced_paired_maps_equal_the_eager_ones():
    student = _random_feats(LEVEL_STUDENT, 26, F64)
    teacher = _random_feats(LEVEL_TEACHER, 27, F64)
    eager = paired_maps(student, teacher)
    traced = _traced_paired_maps(student, teacher)
    torch.testing.assert_close(traced[0], eager[0])
    torch.testing.assert_close(traced[1], eager[1])


# --- PRED_GUIDE and reductions ----------------------------------------------------------------


def test_pred_guide_mask_and_reductions():
    student, teacher, logits, targets = golden_inputs()
    d0, d1 = GOLDEN["v1"][0]

    def loss(**kw):
        return dct_kd_loss(student, teacher, logits, targets, **kw)

    np.testing.assert_allclose(loss(reduction="none").numpy(), [d0, 0.0], atol=1e-6)
    np.testing.assert_allclose(loss(reduction="mean").item(), d0 / 2, atol=1e-6)
    np.testing.assert_allclose(loss(reduction="mean_kept").item(), d0, atol=1e-6)
    np.testing.assert_allclose(
        loss(pred_guide=False, reduction="mean_kept").item(), (d0 + d1) / 2, atol=1e-6
    )
    wrong = torch.tensor([2, 1])
    for reduction in ("mean", "mean_kept"):
        out = dct_kd_loss(student, teacher, logits, wrong, reduction=reduction)
        assert out.item() == 0.0


def test_pred_guide_needs_logits_and_targets():
    student, teacher, logits, targets = golden_inputs()
    with pytest.raises(ValueError, match="pred_guide=True needs teacher_logits"):
        dct_kd_loss(student, teacher)
    with pytest.raises(ValueError, match="pred_guide=True needs teacher_logits"):
        DCTLoss()(student, teacher, logits)
    with pytest.raises(ValueError, match="B=2"):
        dct_kd_loss(student, teacher, logits[:1], targets)


def test_levels_select_feature_taps():
    student, teacher, *_ = golden_inputs()

    def loss(levels):
        return dct_kd_loss(student, teacher, pred_guide=False, reduction="none", levels=levels)

    torch.testing.assert_close(loss([0]) + loss([-1]), loss(None))
    torch.testing.assert_close(
        loss([1]), dct_kd_loss(student[1:], teacher[1:], pred_guide=False, reduction="none")
    )
    for bad in ([2], [0, 0], [], [0.5]):
        with pytest.raises(ValueError, match="levels"):
            loss(bad)


# --- properties -------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_dc_coefficient_is_removed(variant):
    am = activation_map(_random_feats([(3, 4, 9, 7)], 3, F64)[0])
    s = transform(am, variant)
    assert s[:, 0, 0].abs().max() < 1e-12 * s.abs().amax()
    if variant == "v1":
        assert torch.equal(spectrum(am, variant).amin((1, 2)), spectrum(am, variant)[:, 0, 0])


@pytest.mark.parametrize("variant", VARIANTS)
def test_fft_spectra_are_point_symmetric_and_dct2_is_not(variant):
    d = spectrum(activation_map(_random_feats([(2, 3, 7, 6)], 4, F64)[0]), variant)
    mirrored = torch.roll(torch.flip(d, (1, 2)), shifts=(1, 1), dims=(1, 2))
    assert torch.allclose(d, mirrored, atol=1e-12) == (variant != "dct2")


@pytest.mark.parametrize("variant", VARIANTS)
def test_invariant_to_positive_rescaling(variant):
    am = activation_map(_random_feats([(3, 4, 8, 8)], 5, F64)[0])
    for scale, shift in ((1e-3, 0.0), (7.5, 0.0), (1e3, 0.0), (2.0, 0.3)):
        d = spectrum(am * scale + shift, variant) if variant != "v1" or shift == 0 else None
        if d is not None:
            torch.testing.assert_close(d, spectrum(am, variant), atol=1e-9, rtol=0)
    student, teacher = _random_feats(STUDENT, 6), _random_feats(TEACHER, 7)
    kw = dict(pred_guide=False, variant=variant, reduction="none")
    scaled = dct_kd_loss([3.0 * f for f in student], [0.01 * f for f in teacher], **kw)
    torch.testing.assert_close(scaled, dct_kd_loss(student, teacher, **kw))


@pytest.mark.parametrize("variant", VARIANTS)
def test_finite_value_and_gradient_on_constant_zero_and_identical_maps(variant):
    rand = _random_feats([(2, 3, 6, 6)], 8)[0]
    cases = {
        "zero student": (torch.zeros(2, 3, 6, 6), rand),
        "constant student": (torch.full((2, 3, 6, 6), 0.7), rand),
        "zero both": (torch.zeros(2, 3, 6, 6), torch.zeros(2, 4, 6, 6)),
        "constant teacher": (rand, torch.ones(2, 4, 6, 6)),
        "identical": (rand, rand),
    }
    for name, (s, t) in cases.items():
        s = s.clone().requires_grad_()
        value = dct_kd_loss([s], [t], pred_guide=False, variant=variant)
        value.backward()
        assert torch.isfinite(value), name
        assert torch.isfinite(s.grad).all(), name
    identical = dct_kd_loss([rand], [rand.clone()], pred_guide=False, variant=variant)
    assert identical.item() == 0.0


@pytest.mark.parametrize("variant", VARIANTS)
def test_gradcheck_float64(variant):
    student = [f.requires_grad_() for f in _random_feats([(2, 2, 5, 4), (2, 3, 3, 3)], 9, F64)]
    teacher = _random_feats([(2, 3, 5, 4), (2, 2, 3, 3)], 10, F64)

    def loss(*feats):
        return dct_kd_loss(
            list(feats), teacher, pred_guide=False, variant=variant, reduction="none"
        )

    assert torch.autograd.gradcheck(loss, tuple(student))


def test_gradient_reaches_the_student_only():
    student = [f.requires_grad_() for f in _random_feats(STUDENT, 11)]
    teacher = [f.requires_grad_() for f in _random_feats(TEACHER, 12)]
    dct_kd_loss(student, teacher, pred_guide=False).backward()
    assert all(f.grad is not None for f in student)
    assert all(f.grad is None for f in teacher)


def test_bf16_input_is_computed_in_float32():
    student, teacher = _random_feats(STUDENT, 13), _random_feats(TEACHER, 14)
    s16 = [f.bfloat16().requires_grad_() for f in student]
    t16 = [f.bfloat16() for f in teacher]
    exact = dct_kd_loss(
        [f.detach().float() for f in s16], [f.float() for f in t16], pred_guide=False
    )
    with torch.autocast("cpu", dtype=torch.bfloat16):
        value = dct_kd_loss(s16, t16, pred_guide=False)
    assert value.dtype == torch.float32
    torch.testing.assert_close(value, exact, rtol=1e-6, atol=1e-6)
    value.backward()
    assert all(f.grad.dtype == torch.bfloat16 and torch.isfinite(f.grad).all() for f in s16)


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["v1", "dct2"])
def test_compiled_term_matches_eager(variant):
    # `runtime.compile` compiles the term (DCTLoss.compiles); inductor must not change it.
    student, teacher = _random_feats(STUDENT, 15), _random_feats(TEACHER, 16)
    logits = torch.randn(4, 3, generator=torch.Generator().manual_seed(17))
    targets = logits.argmax(1)
    targets[0] = (targets[0] + 1) % 3  # one sample the teacher gets wrong: masked out
    term = DCTLoss(variant=variant)
    grads = []
    for fn in (term, torch.compile(term, dynamic=False)):
        feats = [f.clone().requires_grad_() for f in student]
        value = fn(feats, teacher, logits, targets)
        value.backward()
        grads.append((value.detach(), [f.grad for f in feats]))
    (v_eager, g_eager), (v_compiled, g_compiled) = grads
    assert v_eager > 0
    torch.testing.assert_close(v_compiled, v_eager, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(g_compiled, g_eager, rtol=1e-4, atol=1e-6)


# --- errors and construction ------------------------------------------------------------------


def test_spatial_size_mismatch_names_both_shapes_and_the_level():
    student = _random_feats([(2, 3, 8, 8), (2, 3, 4, 4)])
    teacher = _random_feats([(2, 5, 8, 8), (2, 5, 5, 4)])
    with pytest.raises(ValueError, match=r"level 1.*\(2, 3, 4, 4\).*\(2, 5, 5, 4\)"):
        dct_kd_loss(student, teacher, pred_guide=False)
    with pytest.raises(ValueError, match="2 student and 1 teacher levels"):
        dct_kd_loss(student, teacher[:1], pred_guide=False)
    with pytest.raises(ValueError, match=r"level 0.*\(3, 8, 8\).*\(5, 8, 4\)"):
        DCTLoss.build(
            student_shapes=[(3, 8, 8)],
            teacher_shapes=[(5, 8, 4)],
            num_samples=1,
            num_classes=2,
            batch_size=2,
        )


def test_options_are_validated():
    for bad in (
        dict(variant="v3"),
        dict(reduction="sum"),
        dict(pred_guide="False"),
        dict(levels=[1, 1]),
    ):
        with pytest.raises(ValueError):
            DCTLoss(**bad)
    with pytest.raises(ValueError, match="unknown option 'temperature'"):
        DCTLoss.build(
            student_shapes=[(3, 8, 8)],
            teacher_shapes=[(5, 8, 8)],
            num_samples=1,
            num_classes=2,
            batch_size=2,
            temperature=4,
        )
    term = DCTLoss.build(
        student_shapes=[(3, 8, 8)],
        teacher_shapes=[(5, 8, 8)],
        num_samples=1,
        num_classes=2,
        batch_size=2,
        variant="dct2",
        pred_guide=False,
        reduction="mean_kept",
        levels=[0],
    )
    assert (term.variant, term.pred_guide, term.reduction, term.levels) == (
        "dct2",
        False,
        "mean_kept",
        [0],
    )
    assert "dct2" in repr(term)
