"""Distillation terms against independent computations of their formulas (float64 NumPy loops)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from dctkd.losses import METHODS, build_term
from dctkd.losses.at import ATLoss
from dctkd.losses.base import Outputs
from dctkd.losses.ckd import CKDLoss
from dctkd.losses.crd import CRDLoss
from dctkd.losses.kd import KDLoss, kd_loss
from dctkd.losses.pkt import PKTLoss
from dctkd.losses.review import ReviewLoss, hcl
from dctkd.losses.vid import VIDLoss

CIFAR = [(16, 32, 32), (32, 16, 16), (64, 8, 8)]  # resnet56 -> resnet20, same taps
R18 = [(64, 16, 16), (128, 8, 8), (256, 4, 4), (512, 2, 2)]  # resnet18 at 64 px
R50 = [(256, 16, 16), (512, 8, 8), (1024, 4, 4), (2048, 2, 2)]  # resnet50 at 64 px
SMALL_S = [(4, 8, 8), (6, 4, 4), (8, 2, 2)]
SMALL_T = [(5, 8, 8), (7, 4, 4), (9, 2, 2)]
TERMS = {
    "kd": KDLoss,
    "at": ATLoss,
    "pkt": PKTLoss,
    "vid": VIDLoss,
    "crd": CRDLoss,
    "ckd": CKDLoss,
    "review": ReviewLoss,
}
NUM_SAMPLES, NUM_CLASSES = 40, 5
TRAIN_TARGETS = [i % NUM_CLASSES for i in range(NUM_SAMPLES)]


def context(student, teacher, batch_size=4) -> dict:
    return dict(
        student_shapes=student,
        teacher_shapes=teacher,
        num_samples=NUM_SAMPLES,
        num_classes=NUM_CLASSES,
        batch_size=batch_size,
    )


def make(name, student, teacher, batch_size=4, **options):
    if name == "crd":
        options = {"train_targets": TRAIN_TARGETS, "nce_k": 8, **options}
    return TERMS[name].build(**context(student, teacher, batch_size), **options)


def outputs(batch, shapes, gen, grad=False, dtype=torch.float32, zeros=False) -> Outputs:
    def t(*size):
        x = torch.zeros(size) if zeros else torch.randn(size, generator=gen)
        return x.to(dtype).requires_grad_(grad)

    return Outputs(t(batch, NUM_CLASSES), [t(batch, *s) for s in shapes])


def call(term, s, t, batch):
    targets = torch.arange(batch) % NUM_CLASSES
    return term.distill(s, t, targets, index=torch.arange(batch) * 3)


def npy(x: torch.Tensor) -> np.ndarray:
    return x.detach().double().numpy()


def block_pool(x: np.ndarray, size: int) -> np.ndarray:
    """Average pooling of `(B, C, H, H)` to `size x size` when `size` divides `H`."""
    b, c, h, _ = x.shape
    k = h // size
    return x.reshape(b, c, size, k, size, k).mean((3, 5))


def upsample(x: np.ndarray, size: int) -> np.ndarray:
    """Nearest upsampling of `(B, C, h, h)` to `size` when `h` divides `size`."""
    k = size // x.shape[2]
    return x.repeat(k, axis=2).repeat(k, axis=3)


def softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - x.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


@pytest.fixture
def gen() -> torch.Generator:
    return torch.Generator().manual_seed(0)


# ---- exact formulas -------------------------------------------------------------------------


@pytest.mark.parametrize("temperature", [1.0, 4.0])
def test_kd_matches_explicit_kl(gen, temperature):
    zs, zt = torch.randn(6, 7, generator=gen) * 3, torch.randn(6, 7, generator=gen) * 3
    ps, pt = softmax(npy(zs) / temperature, 1), softmax(npy(zt) / temperature, 1)
    expected = (
        sum(pt[b, k] * math.log(pt[b, k] / ps[b, k]) for b in range(6) for k in range(7))
        * temperature**2
        / 6
    )
    zs.requires_grad_(True)
    got = KDLoss.build(**context(CIFAR, CIFAR), temperature=temperature).distill(
        Outputs(zs, []), Outputs(zt, []), torch.zeros(6)
    )
    assert got.item() == pytest.approx(expected, rel=1e-5)
    assert kd_loss(zs, zt, temperature).item() == pytest.approx(expected, rel=1e-5)
    got.backward()
    # d/dz_s of T^2/B * KL = T/B * (p_s - p_t)
    np.testing.assert_allclose(npy(zs.grad), temperature / 6 * (ps - pt), atol=1e-6)


def test_at_matches_explicit_formula_and_pools_the_larger_map(gen):
    student = [(3, 8, 8), (4, 4, 4)]
    teacher = [(5, 4, 4), (6, 4, 4)]
    s, t = outputs(2, student, gen), outputs(2, teacher, gen)
    expected = 0.0
    for fs, ft in zip(s.features, t.features, strict=True):
        a_s, a_t = npy(fs), npy(ft)
        if a_s.shape[2] > a_t.shape[2]:
            a_s = block_pool(a_s, a_t.shape[2])
        a_s, a_t = (a_s**2).mean(1).reshape(2, -1), (a_t**2).mean(1).reshape(2, -1)
        for a in (a_s, a_t):
            a /= np.sqrt((a**2).sum(1, keepdims=True))
        expected += ((a_s - a_t) ** 2).mean()
    got = ATLoss.build(**context(student, teacher)).distill(s, t, None)
    assert got.item() == pytest.approx(expected, rel=1e-5)


def test_pkt_matches_explicit_loops(gen):
    s, t = outputs(5, [(6, 2, 2)], gen), outputs(5, [(9, 2, 2)], gen)
    eps = 1e-7

    def law(e):
        n = len(e)
        sim = np.array(
            [
                [
                    (e[i] @ e[j] / (np.linalg.norm(e[i]) * np.linalg.norm(e[j])) + 1) / 2
                    for j in range(n)
                ]
                for i in range(n)
            ]
        )
        return sim / sim.sum(1, keepdims=True)

    ps, pt = law(npy(s.embedding)), law(npy(t.embedding))
    expected = np.mean(pt * np.log((pt + eps) / (ps + eps)))
    got = PKTLoss.build(**context(CIFAR, CIFAR)).distill(s, t, None)
    assert got.item() == pytest.approx(expected, rel=1e-4)


def test_vid_matches_gaussian_nll_with_its_regressors(gen):
    student = [(3, 8, 8), (4, 8, 8), (5, 4, 4)]
    teacher = [(2, 8, 8), (6, 4, 4), (7, 4, 4)]
    term = VIDLoss.build(**context(student, teacher))
    assert len(term.regressors) == 2  # taps 2..L only
    s, t = outputs(2, student, gen), outputs(2, teacher, gen)
    expected = 0.0
    for reg, fs, ft in zip(term.regressors, s.features[1:], t.features[1:], strict=True):
        x, y = npy(fs), npy(ft)
        if x.shape[2] > y.shape[2]:
            x = block_pool(x, y.shape[2])
        for i, conv in enumerate(reg.mean[::2]):
            x = np.einsum("oc,bchw->bohw", npy(conv.weight[:, :, 0, 0]), x)
            x = np.maximum(x, 0) if i < 2 else x
        var = np.log1p(np.exp(npy(reg.log_scale))) + 1e-5
        assert var == pytest.approx(np.full_like(var, 5.0))
        var = var[None, :, None, None]
        expected += np.mean(0.5 * ((x - y) ** 2 / var + np.log(var)))
    got = term.distill(s, t, None)
    assert got.item() == pytest.approx(expected, rel=1e-5)


# ---- CRD ------------------------------------------------------------------------------------


def test_crd_matches_nce_by_hand_then_updates_memory(gen):
    n, k, dim, temp, mom = 20, 5, 16, 0.07, 0.5
    term = CRDLoss.build(**context([(6, 2, 2)], [(9, 2, 2)]), feat_dim=dim, nce_k=k, momentum=mom)
    term.num_samples = n  # a smaller memory keeps the hand computation short
    term.memory_s, term.memory_t = term.memory_s[:n].clone(), term.memory_t[:n].clone()
    index = torch.tensor([3, 7, 11])
    negatives = torch.randint(0, n, (3, k), generator=gen)
    term.sample_negatives = lambda i: negatives
    s, t = outputs(3, [(6, 2, 2)], gen, grad=True), outputs(3, [(9, 2, 2)], gen)
    mem_s, mem_t = npy(term.memory_s), npy(term.memory_t)

    def embed(lin, e):
        y = npy(e) @ npy(lin.weight).T + npy(lin.bias)
        return y / np.linalg.norm(y, axis=1, keepdims=True)

    vs, vt = embed(term.embed_s.linear, s.embedding), embed(term.embed_t.linear, t.embedding)
    idx = np.concatenate([index.numpy()[:, None], negatives.numpy()], 1)

    def nce(memory, v):
        scores = np.exp(np.einsum("bkd,bd->bk", memory[idx], v) / temp)
        p = scores / (scores.mean() * n)
        noise = k / n
        total = 0.0
        for b in range(3):
            total += math.log(p[b, 0] / (p[b, 0] + noise + 1e-7))
            total += sum(math.log(noise / (p[b, j] + noise + 1e-7)) for j in range(1, k + 1))
        return -total / 3

    expected = nce(mem_t, vs) + nce(mem_s, vt)
    got = term.distill(s, t, None, index=index)
    assert got.item() == pytest.approx(expected, rel=1e-4)
    got.backward()
    assert term.embed_s.linear.weight.grad.abs().sum() > 0
    assert term.embed_t.linear.weight.grad.abs().sum() > 0
    for memory, old, v in ((term.memory_s, mem_s, vs), (term.memory_t, mem_t, vt)):
        new = npy(memory)
        mixed = mom * old[index.numpy()] + (1 - mom) * v
        np.testing.assert_allclose(
            new[index.numpy()], mixed / np.linalg.norm(mixed, axis=1)[:, None], atol=1e-5
        )
        others = np.setdiff1d(np.arange(n), index.numpy())
        np.testing.assert_array_equal(new[others], old[others])
    z = term.z.clone()
    term.distill(s, t, None, index=index)
    assert torch.equal(term.z, z)  # Z is fixed by the first call


def test_crd_negatives_skip_the_positive_and_cover_the_rest():
    term = CRDLoss.build(**context([(6, 1, 1)], [(6, 1, 1)]), nce_k=4000)
    assert term.k == NUM_SAMPLES - 1  # capped
    index = torch.arange(NUM_SAMPLES)
    neg = term.sample_negatives(index)
    assert neg.shape == (NUM_SAMPLES, NUM_SAMPLES - 1)
    assert not (neg == index[:, None]).any()
    assert neg.min() >= 0 and neg.max() < NUM_SAMPLES
    # 39 draws per sample from 39 allowed indices, over 40 samples: every allowed pair occurs
    # with overwhelming probability only if the draw covers the pool, so count per sample.
    counts = torch.zeros(NUM_SAMPLES, NUM_SAMPLES)
    for _ in range(30):
        neg = term.sample_negatives(index)
        counts.scatter_add_(1, neg, torch.ones_like(neg, dtype=torch.float32))
    off_diag = counts[~torch.eye(NUM_SAMPLES, dtype=torch.bool)]
    assert counts.diagonal().sum() == 0
    assert off_diag.min() > 0 and off_diag.max() < 4 * off_diag.mean()


def test_crd_negatives_come_from_other_classes_only():
    targets = torch.tensor([0] * 25 + [1] * 3 + [2] * 12)[torch.randperm(NUM_SAMPLES)]
    term = CRDLoss.build(**context([(6, 1, 1)], [(6, 1, 1)]), train_targets=targets.tolist())
    index = torch.arange(NUM_SAMPLES)
    neg = term.sample_negatives(index)
    assert neg.shape == (NUM_SAMPLES, NUM_SAMPLES - 1)
    assert not (targets[neg] == targets[index][:, None]).any()
    minority = int(torch.nonzero(targets == 1)[0])
    many = term.sample_negatives(torch.full((200,), minority))
    seen = torch.zeros(NUM_SAMPLES, dtype=torch.bool)
    seen[many.flatten()] = True
    assert torch.equal(seen, targets != 1)  # the whole other-class pool is reachable


def test_crd_needs_index_and_valid_targets(gen):
    term = make("crd", CIFAR, CIFAR)
    s, t = outputs(2, CIFAR, gen), outputs(2, CIFAR, gen)
    with pytest.raises(ValueError, match="index"):
        term.distill(s, t, None)
    with pytest.raises(ValueError, match="one label per training sample"):
        make("crd", CIFAR, CIFAR, train_targets=[0, 1])
    with pytest.raises(ValueError, match="two classes"):
        make("crd", CIFAR, CIFAR, train_targets=[0] * NUM_SAMPLES)


def test_crd_memory_is_frozen_in_eval_mode(gen):
    term = make("crd", CIFAR, CIFAR).eval()
    before = term.memory_s.clone()
    call(term, outputs(4, CIFAR, gen), outputs(4, CIFAR, gen), 4)
    assert torch.equal(term.memory_s, before)
    assert not any(b.requires_grad for b in term.buffers())


# ---- SemCKD ---------------------------------------------------------------------------------


@pytest.mark.parametrize("batch", [6, 4])  # full batch, then a final partial one
def test_ckd_matches_hand_computation(gen, batch):
    term = CKDLoss.build(**context(SMALL_S, SMALL_T, batch_size=6), mid_channels=5)
    s, t = outputs(batch, SMALL_S, gen, grad=True), outputs(batch, SMALL_T, gen)
    fs, ft = [npy(f) for f in s.features[1:]], [npy(f) for f in t.features[1:]]

    def embed(mlp, f):
        flat = f.reshape(batch, -1)
        rel = np.zeros((batch, 6))
        rel[:, :batch] = flat @ flat.T
        w1, b1, w2, b2 = (npy(p) for p in mlp.parameters())
        y = np.maximum(rel @ w1.T + b1, 0) @ w2.T + b2
        return y / np.linalg.norm(y, axis=1, keepdims=True)

    q = np.stack([embed(m, f) for m, f in zip(term.query, fs, strict=True)], 1)
    k = np.stack([embed(m, f) for m, f in zip(term.key, ft, strict=True)], 1)
    weights = softmax(np.einsum("bid,bjd->bij", q, k), axis=2)
    expected = 0.0
    for i, x in enumerate(fs):
        for j, y in enumerate(ft):
            size = min(x.shape[2], y.shape[2])
            pred = npy(term.regressors[i][j](torch.from_numpy(block_pool(x, size)).float()))
            err = ((pred - block_pool(y, size)) ** 2).reshape(batch, -1).mean(1)
            expected += (weights[:, i, j] * err).sum()
    expected /= batch * len(fs)
    got = term.distill(s, t, None)
    assert got.item() == pytest.approx(expected, rel=1e-4)
    got.backward()
    assert all(f.grad is not None and f.grad.abs().sum() > 0 for f in s.features[1:])


def test_ckd_splits_batches_above_its_size(gen):
    term = CKDLoss.build(**context(SMALL_S, SMALL_T, batch_size=4)).eval()
    s, t = outputs(10, SMALL_S, gen), outputs(10, SMALL_T, gen)

    def part(out, sl):
        return Outputs(out.logits[sl], [f[sl] for f in out.features])

    chunks = [(slice(0, 4), 4), (slice(4, 8), 4), (slice(8, 10), 2)]
    expected = sum(n * term.distill(part(s, sl), part(t, sl), None) for sl, n in chunks) / 10
    assert term.distill(s, t, None).item() == pytest.approx(expected.item(), rel=1e-5)


def test_ckd_batchnorm_follows_the_parent_mode(gen):
    term = CKDLoss.build(**context(SMALL_S, SMALL_T, batch_size=4))
    parent = nn.ModuleDict({"term": term})
    bn = term.regressors[0][0][1]
    s, t = outputs(4, SMALL_S, gen), outputs(4, SMALL_T, gen)
    parent.eval()
    stats = bn.running_mean.clone()
    term.distill(s, t, None)
    assert torch.equal(bn.running_mean, stats)
    parent.train()
    assert bn.training
    term.distill(s, t, None)
    assert not torch.equal(bn.running_mean, stats)


# ---- ReviewKD -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "h, weights", [(8, [0.5, 0.25, 0.125]), (4, [0.5, 0.25]), (2, [0.5]), (1, [])]
)
def test_hcl_pyramid_weights(gen, h, weights):
    fs, ft = torch.randn(2, 3, h, h, generator=gen), torch.randn(2, 3, h, h, generator=gen)
    a, b = npy(fs), npy(ft)
    sizes = [p for p in (4, 2, 1) if p < h]
    terms = [((a - b) ** 2).mean()] + [
        w * ((block_pool(a, p) - block_pool(b, p)) ** 2).mean()
        for w, p in zip(weights, sizes, strict=True)
    ]
    assert hcl(fs, ft).item() == pytest.approx(sum(terms) / (1 + sum(weights)), rel=1e-5)


def test_review_matches_fusion_by_hand(gen):
    term = ReviewLoss.build(**context(SMALL_S, SMALL_T), mid_channels=3)
    assert len(term.abfs) == 4 and term.abfs[-1].att is None
    s, t = outputs(2, SMALL_S, gen, grad=True), outputs(2, SMALL_T, gen)
    levels_s = [npy(f) for f in s.features] + [npy(s.embedding)[:, :, None, None]]
    levels_t = [npy(f) for f in t.features] + [npy(t.embedding)[:, :, None, None]]

    def run(module, x):
        return npy(module(torch.from_numpy(x).float()))

    expected, residual = 0.0, None
    for abf, x, y in reversed(list(zip(term.abfs, levels_s, levels_t, strict=True))):
        x = run(abf.conv1, x)
        if residual is not None:
            up = upsample(residual, x.shape[2])
            w = run(abf.att, np.concatenate([x, up], 1))
            x = x * w[:, :1] + up * w[:, 1:]
        residual = x
        out = run(abf.conv2, x)
        assert out.shape == y.shape
        expected += hcl(torch.from_numpy(out), torch.from_numpy(y)).item()
    got = term.distill(s, t, None)
    assert got.item() == pytest.approx(expected, rel=1e-4)


def test_review_default_mid_channels():
    assert ReviewLoss.build(**context(R18, R50)).abfs[0].conv1[0].out_channels == 512
    assert ReviewLoss.build(**context(CIFAR, CIFAR)).abfs[0].conv1[0].out_channels == 64


# ---- every term -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(TERMS))
def test_registered_under_its_name(name):
    assert METHODS[name].term_class is TERMS[name]
    with pytest.raises(ValueError, match="no_such_option"):
        build_term(name, **context(CIFAR, CIFAR, 4), options={"no_such_option": 1})


@pytest.mark.parametrize("name", sorted(TERMS))
def test_gradients_reach_student_and_trainable_parts_only(gen, name):
    # batch 8: SemCKD's relation embedding is batch/4 wide, and a width-1 unit vector is a
    # constant sign with no gradient
    term = make(name, SMALL_S, SMALL_T, batch_size=8)
    s, t = outputs(8, SMALL_S, gen, grad=True), outputs(8, SMALL_T, gen, grad=True)
    loss = call(term, s, t, 8)
    assert loss.dim() == 0 and loss.dtype == torch.float32 and torch.isfinite(loss)
    loss.backward()
    used = [s.logits] if name == "kd" else s.features[1:] if name in ("vid", "ckd") else s.features
    if name in ("pkt", "crd"):
        used = s.features[-1:]
    assert all(x.grad is not None and x.grad.abs().sum() > 0 for x in used)
    assert all(x.grad is None for x in [t.logits, *t.features])
    for pname, p in term.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, pname


@pytest.mark.parametrize("name", sorted(TERMS))
def test_finite_on_zero_features(name):
    term = make(name, SMALL_S, SMALL_T)
    s = outputs(4, SMALL_S, None, grad=True, zeros=True)
    t = outputs(4, SMALL_T, None, zeros=True)
    loss = call(term, s, t, 4)
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(x.grad).all() for x in [s.logits, *s.features] if x.grad is not None)


@pytest.mark.parametrize("name", sorted(TERMS))
def test_bf16_inputs_and_autocast_give_float32(gen, name):
    term = make(name, SMALL_S, SMALL_T)
    ref_s, ref_t = outputs(4, SMALL_S, gen), outputs(4, SMALL_T, gen)
    s = Outputs(ref_s.logits.bfloat16(), [f.bfloat16() for f in ref_s.features])
    t = Outputs(ref_t.logits.bfloat16(), [f.bfloat16() for f in ref_t.features])
    term.eval()  # keep CRD's memory and BatchNorm statistics fixed between the calls
    torch.manual_seed(1)  # CRD draws its negatives from the global generator
    with torch.autocast("cpu", dtype=torch.bfloat16):
        auto = call(term, s, t, 4)
    torch.manual_seed(1)
    plain = call(term, s, t, 4)
    assert auto.dtype == plain.dtype == torch.float32
    # Trainable parts (regressors, fusion modules) run in bf16 under autocast, as the
    # student does; the rest of every term is float32 math on the same inputs.
    networks = any(True for _ in term.parameters())
    assert auto.item() == pytest.approx(plain.item(), rel=3e-2 if networks else 1e-5)


@pytest.mark.parametrize("name", sorted(TERMS))
@pytest.mark.parametrize("pair", ["cifar", "r50_r18"])
def test_builds_from_contract_context_and_runs(gen, name, pair):
    student, teacher = (CIFAR, CIFAR) if pair == "cifar" else (R18, R50)
    batch = 4
    if name == "ckd" and pair == "r50_r18":
        # The original AAEmbed width (2x the 2048-channel tap) makes ~0.6 G parameters:
        # build and run it on the meta device, which checks every shape without memory.
        with torch.device("meta"):
            term = make(name, student, teacher, batch_size=batch)
            s = Outputs(torch.randn(batch, 5), [torch.randn(batch, *x) for x in student])
            t = Outputs(torch.randn(batch, 5), [torch.randn(batch, *x) for x in teacher])
            assert term.distill(s, t, None).shape == ()
        return
    term = make(name, student, teacher, batch_size=batch)
    loss = call(term, outputs(batch, student, gen), outputs(batch, teacher, gen), batch)
    assert loss.shape == () and torch.isfinite(loss)


def test_shape_mismatch_is_a_clear_error(gen):
    with pytest.raises(ValueError, match="taps"):
        ATLoss.build(**context(CIFAR, R50))
    term = VIDLoss.build(**context(CIFAR, CIFAR))
    with pytest.raises(ValueError, match="built for 3 taps"):
        term.distill(outputs(2, R18, gen), outputs(2, R18, gen), None)


def test_kd_loss_rejects_mismatched_logits():
    with pytest.raises(ValueError, match="one shape"):
        kd_loss(torch.zeros(2, 3), torch.zeros(2, 4), 4.0)


def test_at_is_invariant_to_feature_scale(gen):
    f = torch.randn(2, 3, 4, 4, generator=gen)
    loss = ATLoss(1).distill(Outputs(None, [f]), Outputs(None, [f * 2]), None)
    assert loss.item() == pytest.approx(0.0, abs=1e-12)
