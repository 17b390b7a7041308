"""Attention analyses: overlap measures on constructed maps, maps and Grad-CAM of a real tapped
model, embeddings."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from dctkd.analysis import (
    Samples,
    Trained,
    activation_maps,
    extract_embeddings,
    gradcam,
    mass_on_objects,
    overlap_frame,
    overlay,
    pearson,
    silhouette,
    ssim,
    top_region,
    topq_iou,
    tsne,
    upsample,
)
from dctkd.models import build_model

MEASURES = {"ssim": ssim, "pearson": pearson, "iou": topq_iou}


@pytest.fixture(scope="module")
def model() -> nn.Module:
    torch.manual_seed(0)
    return build_model("resnet8", 10)


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(1))


def _maps(seed: int, shape=(4, 8, 8)) -> torch.Tensor:
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed)) + 0.05


def _hooks(model: nn.Module) -> int:
    return sum(
        len(m._forward_hooks) + len(m._backward_hooks) + len(m._forward_pre_hooks)
        for m in model.modules()
    )


def test_identical_maps_score_the_maximum():
    a = _maps(0)
    assert torch.allclose(ssim(a, a), torch.ones(4), atol=1e-6)
    assert torch.allclose(pearson(a, a), torch.ones(4), atol=1e-6)
    assert torch.equal(topq_iou(a, a), torch.ones(4))


def test_disjoint_and_complementary_maps_score_the_minimum():
    left = torch.zeros(2, 8, 8)
    left[:, :, :3] = 1.0
    right = left.flip(-1)
    assert torch.equal(topq_iou(left, right, q=0.3), torch.zeros(2))
    assert torch.equal(mass_on_objects(left, right.bool()), torch.zeros(2))
    assert torch.equal(mass_on_objects(left, left.bool()), torch.ones(2))
    a = _maps(1)
    complement = a.max() + 1.0 - a
    assert torch.allclose(pearson(a, complement), -torch.ones(4), atol=1e-6)
    assert (ssim(a, complement) < 0).all()
    assert (topq_iou(a, complement) == 0).all()


@pytest.mark.parametrize("name", ["ssim", "pearson", "iou", "mass"])
def test_measures_ignore_positive_scale(name):
    a, b = _maps(2), _maps(3)
    mask = _maps(4, (4, 16, 16)) > 0.6
    if name == "mass":
        assert torch.allclose(mass_on_objects(a, mask), mass_on_objects(37.0 * a, mask), atol=1e-6)
        return
    f = MEASURES[name]
    base = f(a, b)
    assert torch.allclose(base, f(37.0 * a, b), atol=1e-5)
    assert torch.allclose(base, f(a, 0.01 * b), atol=1e-5)


def test_constant_maps_give_finite_values():
    const, zero, a = torch.full((3, 7, 7), 2.5), torch.zeros(3, 7, 7), _maps(5, (3, 7, 7))
    mask = torch.zeros(3, 14, 14, dtype=torch.bool)
    mask[:, :7] = True
    for x, y in [(const, const), (const, a), (zero, a), (zero, zero)]:
        for f in MEASURES.values():
            assert torch.isfinite(f(x, y)).all(), f
    assert torch.allclose(ssim(const, const), torch.ones(3))
    assert torch.equal(topq_iou(const, const), torch.ones(3))
    assert torch.equal(pearson(const, a), torch.zeros(3))
    assert torch.allclose(mass_on_objects(zero, mask), torch.full((3,), 0.5))
    assert torch.allclose(mass_on_objects(const, mask), torch.full((3,), 0.5))


def test_ssim_matches_scikit_image():
    from skimage.metrics import structural_similarity

    from dctkd.analysis import minmax

    a, b = _maps(6, (2, 56, 56)), _maps(7, (2, 56, 56))
    ours = ssim(a, b, size=56)
    for i in range(2):
        ref = structural_similarity(
            minmax(a[i]).double().numpy(),
            minmax(b[i]).double().numpy(),
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            data_range=1.0,
        )
        assert ours[i].item() == pytest.approx(ref, abs=1e-5)


def test_ssim_upsamples_small_maps_and_rejects_tiny_sizes():
    a, b = _maps(8, (2, 7, 7)), _maps(9, (2, 4, 4))
    assert ssim(a, b).shape == (2,)
    with pytest.raises(ValueError, match="window"):
        ssim(a, b, size=8)


def test_top_region_of_a_mostly_zero_map_is_its_positive_part():
    m = torch.zeros(1, 10, 10)
    m[0, 0, :5] = torch.arange(1.0, 6.0)
    region = top_region(m, q=0.2)
    assert region.sum() == 5 and region[0, 0, :5].all()
    dense = _maps(10, (1, 10, 10))
    assert top_region(dense, q=0.2).sum() == 20


def test_mass_on_objects_upsamples_the_map_to_the_mask():
    m = torch.zeros(1, 4, 4)
    m[0, :2, :2] = 1.0
    far = torch.zeros(1, 16, 16, dtype=torch.bool)
    far[0, 10:, 10:] = True
    near = torch.zeros(1, 16, 16, dtype=torch.bool)
    near[0, :8, :8] = True
    assert mass_on_objects(m, far).item() == 0.0
    assert mass_on_objects(m, near).item() > 0.8


def test_activation_maps_are_raw_per_level_and_restore_mode(model, images):
    model.train()
    model.net.bn1.eval()
    stats = model.net.layer1[0].bn1.running_mean.clone()
    maps = activation_maps(model, images)
    assert [tuple(m.shape) for m in maps] == [(4, 32, 32), (4, 16, 16), (4, 8, 8)]
    assert model.training and model.net.layer1.training and not model.net.bn1.training
    assert torch.equal(model.net.layer1[0].bn1.running_mean, stats)
    model.eval()
    with torch.no_grad():
        last = model(images)[1][-1]
    assert torch.allclose(maps[-1], last.pow(2).mean(1), rtol=1e-4, atol=1e-6)
    assert [tuple(m.shape) for m in activation_maps(model, images, levels=[-1])] == [(4, 8, 8)]
    with pytest.raises(ValueError, match="level 3"):
        activation_maps(model, images, levels=[3])


def test_upsample_and_overlay():
    maps = [_maps(11, (2, 4, 4)), _maps(12, (2, 8, 8))]
    assert [tuple(m.shape) for m in upsample(maps, 32)] == [(2, 32, 32), (2, 32, 32)]
    image = torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)
    out = overlay(image, maps[0][0])
    assert out.shape == (32, 32, 3) and out.dtype == np.uint8
    assert np.array_equal(overlay(image, maps[0][0], alpha=0.0), image.permute(1, 2, 0).numpy())
    assert overlay(image, torch.zeros(4, 4)).shape == (32, 32, 3)
    with pytest.raises(ValueError, match="uint8"):
        overlay(image.float(), maps[0][0])


def _half_right(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        pred = model.eval()(images)[0].argmax(1)
    return torch.cat([pred[:2], (pred[2:] + 1) % 10])


def _with_itself(model: nn.Module) -> list[Trained]:
    return [Trained("Teacher", 0, model), Trained("DCT", 0, model)]


def test_overlap_of_a_model_with_itself_keeps_teacher_correct_samples(model, images):
    samples = Samples(images, _half_right(model, images))
    frame = overlap_frame(_with_itself(model), samples, batch_size=2)
    assert len(frame) == 2 * 3 and set(frame["sample"]) == {0, 1}
    assert frame["teacher_correct"].all()
    assert np.allclose(frame["ssim"], 1, atol=1e-5) and np.allclose(frame["pearson"], 1, atol=1e-5)
    assert (frame["iou"] == 1).all()
    full = overlap_frame(_with_itself(model), samples, levels=[0, -1], keep="all")
    assert len(full) == 4 * 2 and sorted(set(full["level"])) == [0, 2]
    assert "mass_on_objects" not in full


def test_overlap_measures_mass_on_the_objects_of_masked_samples(model, images):
    masks = torch.zeros(len(images), 32, 32, dtype=torch.bool)
    masks[:, 8:24, 8:24] = True
    samples = Samples(images, _half_right(model, images), masks)
    frame = overlap_frame(_with_itself(model), samples, levels=[-1], batch_size=2)
    assert {"mass_on_objects", "mass_teacher", "mask_area"} <= set(frame.columns)
    assert np.allclose(frame["mask_area"], 0.25)
    assert np.allclose(frame["mass_on_objects"], frame["mass_teacher"])


def test_gradcam_is_raw_exact_and_leaves_no_hooks(model, images):
    model.train()
    cams = gradcam(model, images, targets=[1] * 4)
    assert cams.shape == (4, 8, 8) and (cams >= 0).all() and torch.isfinite(cams).all()
    assert _hooks(model) == 0
    assert model.training and all(p.requires_grad and p.grad is None for p in model.parameters())

    model.eval()
    x = images.clone()
    logits, feats = model(x)
    grad = torch.autograd.grad(logits[:, 1].sum(), feats[-1])[0]
    expected = (grad.mean((2, 3), keepdim=True) * feats[-1]).sum(1).clamp_min(0)
    assert torch.allclose(cams, expected.detach(), rtol=1e-4, atol=1e-6)

    fc = model.head
    with torch.no_grad():
        fc.weight.mul_(2.0)
    try:
        assert torch.allclose(gradcam(model, images, targets=[1] * 4), 2 * cams, rtol=1e-4)
    finally:
        with torch.no_grad():
            fc.weight.div_(2.0)


def test_gradcam_rejects_a_layer_that_runs_twice_and_still_releases_hooks(model, images):
    reused = model.net.get_submodule("layer1.0.relu")
    with pytest.raises(ValueError, match="runs once"):
        gradcam(model, images[:2], target_layer=reused)
    assert _hooks(model) == 0


def test_gradcam_overlap_of_a_model_with_itself(model, images):
    samples = Samples(images, _half_right(model, images))
    frame = overlap_frame(_with_itself(model), samples, kind="gradcam", batch_size=2)
    assert len(frame) == 2 and (frame["level"] == 2).all()
    assert np.allclose(frame["pearson"], 1, atol=1e-5) and (frame["iou"] == 1).all()
    assert _hooks(model) == 0


def test_embeddings_tsne_and_silhouette(model, images):
    emb, labels = extract_embeddings(model, (images, torch.arange(4)), batch_size=2)
    assert emb.shape == (4, 64) and labels.tolist() == list(range(4))

    rng = np.random.default_rng(0)
    centres = np.repeat(np.eye(3) * 20.0, 8, axis=0)
    points = centres + rng.normal(size=(24, 3))
    y = np.repeat(np.arange(3), 8)
    xy = tsne(points, seed=0, max_iter=250)
    assert xy.shape == (24, 2) and np.isfinite(xy).all()
    assert np.array_equal(xy, tsne(points, seed=0, max_iter=250))
    assert tsne(points[:5], seed=1, max_iter=250).shape == (5, 2)
    assert silhouette(points, y) > 0.8
    assert silhouette(rng.normal(size=(24, 3)), y) < 0.2
    with pytest.raises(ValueError, match="distinct labels"):
        silhouette(points, np.zeros(24))
