"""The built-in methods' catalogue entries: names, labels, weights, needs and typed options.

They live here rather than beside each loss so that reading the catalogue (the CLI's help,
config validation, run hashing, profiles) imports no torch: each entry names its term as a
`"module:Class"` string, imported when a run builds the term (`Method.term_class`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveFloat, PositiveInt, StrictBool

from .catalogue import Method, Needs, Options, register


class KDOptions(Options):
    """KD has no options of its own: its temperature is `method.temperature` (default 4)."""


class ATOptions(Options):
    p: PositiveFloat = 2.0


class PKTOptions(Options):
    eps: PositiveFloat = 1e-7


class VIDOptions(Options):
    init_var: PositiveFloat = 5.0
    eps: PositiveFloat = 1e-5


class CRDOptions(Options):
    feat_dim: PositiveInt = 128
    nce_k: PositiveInt = 16384
    nce_t: PositiveFloat = 0.07
    momentum: float = Field(0.5, ge=0.0, lt=1.0)
    cap_k: StrictBool = True


class CKDOptions(Options):
    factor: PositiveInt = 4
    mid_channels: PositiveInt | None = None


class ReviewOptions(Options):
    mid_channels: PositiveInt | None = None


class DCTOptions(Options):
    variant: Literal["v1", "v2", "dct2"] = "v1"
    pred_guide: bool = True
    reduction: Literal["mean", "mean_kept", "none"] = "mean"
    levels: tuple[int, ...] | None = None


register(Method(
    name="at", label="AT", colour="#1f77b4", term="dctkd.losses.at:ATLoss",
    alpha=1000.0, retuned_alpha=1100.0, options=ATOptions, needs=Needs(taps="paired"),
    source="Zagoruyko & Komodakis, Paying More Attention to Attention (ICLR 2017)",
    docs="docs/baselines.md#at", order=2,
))

register(Method(
    name="ckd", label="SemCKD", colour="#17becf", term="dctkd.losses.ckd:CKDLoss",
    alpha=400.0, retuned_alpha=400.0, options=CKDOptions, needs=Needs(full_batches=True),
    source="Chen et al., Cross-Layer Distillation with Semantic Calibration (AAAI 2021)",
    docs="docs/baselines.md#semckd", order=6,
))

register(Method(
    name="crd", label="CRD", colour="#e377c2", term="dctkd.losses.crd:CRDLoss",
    alpha=0.8, retuned_alpha=1.4, options=CRDOptions, needs=Needs(train_targets=True),
    source="Tian, Krishnan & Isola, Contrastive Representation Distillation (ICLR 2020)",
    docs="docs/baselines.md#crd", order=5,
))

register(Method(
    name="dct", label="DCT", colour="#2ca02c", term="dctkd.losses.dct:DCTLoss",
    alpha=1.0, retuned_alpha=1.0, options=DCTOptions, needs=Needs(taps="same_size"),
    source="López-Cifuentes, Escudero-Viñolo, Bescós & SanMiguel, Attention-based "
    "Knowledge Distillation in Multi-attention Tasks: The Impact of a DCT-driven Loss "
    "(arXiv 2205.01997)",
    docs="docs/method.md", order=8,
))

register(Method(
    name="kd", label="KD", colour="#ff7f0e", term="dctkd.losses.kd:KDLoss",
    alpha=0.8, retuned_alpha=0.8, beta=0.1, options=KDOptions,
    source="Hinton, Vinyals & Dean, Distilling the Knowledge in a Neural Network (2015)",
    docs="docs/baselines.md#kd", order=1,
))

register(Method(
    name="pkt", label="PKT", colour="#9467bd", term="dctkd.losses.pkt:PKTLoss",
    alpha=30000.0, retuned_alpha=54000.0, options=PKTOptions,
    source="Passalis & Tefas, Learning Deep Representations with Probabilistic Knowledge "
    "Transfer (ECCV 2018)",
    docs="docs/baselines.md#pkt", order=3,
))

register(Method(
    name="review", label="ReviewKD", colour="#bcbd22", term="dctkd.losses.review:ReviewLoss",
    alpha=1.0, retuned_alpha=1.8, options=ReviewOptions, needs=Needs(taps="paired"),
    source="Chen, Liu, Zhao & Jia, Distilling Knowledge via Knowledge Review (CVPR 2021)",
    docs="docs/baselines.md#reviewkd", order=7,
))

register(Method(
    name="vid", label="VID", colour="#8c564b", term="dctkd.losses.vid:VIDLoss",
    alpha=1.0, retuned_alpha=1.5, options=VIDOptions, needs=Needs(taps="same_size"),
    source="Ahn et al., Variational Information Distillation for Knowledge Transfer "
    "(CVPR 2019)",
    docs="docs/baselines.md#vid", order=4,
))
