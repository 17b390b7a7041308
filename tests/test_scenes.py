"""The synthetic multi-attention scenes: determinism, masks, and the set-defined labels."""

from collections import Counter

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from dctkd.data import build_dataset, dataset_info
from dctkd.data.class_sets import objects_needed, subset_accuracy
from dctkd.data.scenes import (
    COLOURS,
    NOISE,
    SceneConfig,
    _shape_masks,
    distractor_pools,
    generate,
    make_class_sets,
    single_object_accuracy,
    single_object_ambiguous,
    task_facts,
    vocabulary,
)
from dctkd.data.transforms import SCENES_MEAN_STD, PadCropFlip

SMALL = dict(train_size=300, test_size=100)


def cfg(**kw) -> SceneConfig:
    return SceneConfig(**{**SMALL, **kw})


def kinds_per_image(arrays) -> list[set[int]]:
    return [set(row[:, 0].tolist()) for row in arrays.objects]


def test_generation_is_deterministic_per_seed_and_differs_across_seeds():
    a, b = generate(cfg(seed=3), "train"), generate(cfg(seed=3), "train")
    c = generate(cfg(seed=4), "train")
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert (a.images != c.images).any()
    assert (a.images[:10] != generate(cfg(seed=3), "test").images[:10]).any()


def test_test_size_does_not_change_the_training_images_and_sizes_nest():
    a = generate(cfg(test_size=50), "train")
    b = generate(cfg(test_size=80), "train")
    np.testing.assert_array_equal(a.images, b.images)
    big = generate(cfg(train_size=1200), "train")
    for x, y in zip(a, big, strict=True):
        np.testing.assert_array_equal(x, y[: SMALL["train_size"]])


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_masks_are_exactly_the_pixels_of_the_class_defining_objects(k):
    c = cfg(k=k, train_size=200)
    arr = generate(c, "train")
    sets = make_class_sets(c)
    for i in range(len(arr.targets)):
        own = list(sets[arr.targets[i]])
        np.testing.assert_array_equal(arr.masks[i], np.isin(arr.kind_map[i], own))
    areas = _shape_masks(c.sprite).sum((1, 2))
    defining = arr.objects[:, :, 3] == 1
    expected = (areas[arr.objects[:, :, 0] % c.shapes] * defining).sum(1)
    np.testing.assert_array_equal(arr.masks.sum((1, 2)), expected)
    assert (defining.sum(1) == k).all()


def test_object_pixels_carry_their_colour_and_background_is_grey():
    c = cfg(k=3)
    arr = generate(c, "train")
    img = arr.images.transpose(0, 2, 3, 1).astype(int)
    dominant = np.array([np.argmax(v) for v in COLOURS.values()])
    on = arr.kind_map >= 0
    colour_of_pixel = arr.kind_map[on] // c.shapes
    assert (img[on].argmax(1) == dominant[colour_of_pixel]).all()
    spread = img[~on].max(1) - img[~on].min(1)
    assert spread.max() <= 2 * NOISE * 255 + 1
    assert arr.masks.any((1, 2)).all()


def test_without_distractors_every_object_pixel_is_in_the_mask():
    arr = generate(cfg(k=2, distractors=0), "train")
    np.testing.assert_array_equal(arr.masks, arr.kind_map >= 0)


@pytest.mark.parametrize("k", [1, 2, 3, 4])
@pytest.mark.parametrize("seed", [0, 1])
def test_every_image_completes_its_own_class_set_and_no_other(k, seed):
    c = cfg(k=k, seed=seed, distractors=9 - k if k > 1 else 3)
    arr = generate(c, "train")
    sets = [set(s) for s in make_class_sets(c)]
    for present, t in zip(kinds_per_image(arr), arr.targets, strict=True):
        complete = [j for j, s in enumerate(sets) if s <= present]
        assert complete == [t]


@pytest.mark.parametrize("k", [2, 3, 4])
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("num_classes", [6, 10, 16])
def test_for_k_above_1_every_kind_is_in_at_least_two_class_sets(k, seed, num_classes):
    c = cfg(k=k, seed=seed, num_classes=num_classes)
    sets = make_class_sets(c)
    assert len(set(sets)) == num_classes and all(len(set(s)) == k for s in sets)
    uses = Counter(j for s in sets for j in s)
    assert min(uses.values()) >= 2
    assert max(uses.values()) - min(uses.values()) <= 1
    assert single_object_ambiguous(sets, c.n_kinds)
    assert single_object_accuracy(sets, c.n_kinds) <= 0.5


def test_k1_is_single_attention_and_distractors_avoid_every_class_kind():
    c = cfg(k=1)
    sets = make_class_sets(c)
    assert single_object_accuracy(sets, c.n_kinds) == 1.0
    class_kinds = {s[0] for s in sets}
    assert not distractor_pools(sets, c.n_kinds)[:, sorted(class_kinds)].any()
    arr = generate(c, "train")
    distractor = arr.objects[:, :, 0][arr.objects[:, :, 3] == 0]
    assert not np.isin(distractor, sorted(class_kinds)).any()


def lookup_accuracy(train, test, objects_of) -> float:
    """Fit kind -> most frequent class on train objects; score on test objects."""
    table = np.zeros((12, 10))
    for row, t in zip(objects_of(train), train.targets, strict=True):
        np.add.at(table[:, t], row, 1)
    best = table.argmax(1)
    hits = [best[row] == t for row, t in zip(objects_of(test), test.targets, strict=True)]
    return float(np.concatenate(hits).mean())


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_a_classifier_seeing_one_object_cannot_separate_classes_when_k_above_1(k):
    c = cfg(k=k, train_size=2000, test_size=500)
    train, test = generate(c, "train"), generate(c, "test")
    defining = lookup_accuracy(train, test, lambda a: [r[r[:, 3] == 1, 0] for r in a.objects])
    anyobj = lookup_accuracy(train, test, lambda a: [r[:, 0] for r in a.objects])
    if k == 1:
        assert defining == 1.0
    else:
        bound = single_object_accuracy(make_class_sets(c), c.n_kinds)
        assert defining <= bound + 0.05
        assert defining <= 0.55 and anyobj <= 0.55


def test_dataset_surface_and_split_alignment():
    opts = dict(k=3, **SMALL)
    train = build_dataset("scenes", "train", options=opts, seed=1)
    val = build_dataset("scenes", "val", options=opts, seed=1)
    test = build_dataset("scenes", "test", options=opts)
    assert len(train) + len(val) == SMALL["train_size"] and len(test) == SMALL["test_size"]
    assert train.augment and not val.augment and not test.augment
    full = torch.cat([train.images_uint8, val.images_uint8]).flatten(1)
    assert len(torch.unique(full, dim=0)) == SMALL["train_size"]
    for ds in (train, val, test):
        assert ds.masks.shape == (len(ds), 32, 32) and ds.masks.dtype == torch.bool
        own = torch.tensor([list(ds.class_sets[t]) for t in ds.targets])
        assert torch.equal(ds.masks, (ds.kind_map[:, :, :, None] == own[:, None, None]).any(-1))
        assert ds.raw_image(0).dtype == torch.uint8
    x, y = next(iter(DataLoader(train, batch_size=16, shuffle=True)))
    assert x.shape == (16, 3, 32, 32) and x.dtype == torch.float32 and y.dtype == torch.int64
    info = dataset_info("scenes", opts)
    assert (info.num_classes, info.image_size, info.family) == (10, 32, "synthetic")
    assert len(train.classes) == 10 and len(train.kind_names) == 12
    assert train.single_object_accuracy == pytest.approx(0.4)


def test_train_size_subsample_keeps_every_class():
    balanced = {"train_size": 500, "test_size": 10}
    ds = build_dataset("scenes", "train", options=balanced, train_size=40, seed=2)
    assert len(ds) == 40 and Counter(ds.targets) == {c: 4 for c in range(10)}
    ds = build_dataset("scenes", "train", options=SMALL, train_size=12, seed=2)
    assert len(ds) == 12 and set(ds.targets) == set(range(10))


def test_pad_crop_flip_returns_a_shifted_or_flipped_copy():
    img = torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)
    aug, plain = PadCropFlip(SCENES_MEAN_STD, True), PadCropFlip(SCENES_MEAN_STD, False)
    padded = plain(torch.nn.functional.pad(img, (4, 4, 4, 4)))
    candidates = [
        c
        for dy in range(9)
        for dx in range(9)
        for c in (
            padded[:, dy : dy + 32, dx : dx + 32],
            padded[:, dy : dy + 32, dx : dx + 32].flip(-1),
        )
    ]
    torch.manual_seed(0)
    outs = [aug(img) for _ in range(20)]
    assert all(any(torch.equal(o, c) for c in candidates) for o in outs)
    assert len({o.sum().item() for o in outs}) > 1
    assert torch.allclose(plain(img), (img.float() / 255 - 0.5) / 0.25, atol=1e-5)


@pytest.mark.parametrize(
    "options, match",
    [
        ({"K": 2}, "unknown option 'K'; expected some of"),
        ({"k": 4, "distractors": 6}, "must fit"),
        ({"k": 1, "num_classes": 12}, "more kinds"),
        ({"k": 4, "num_classes": 2, "shapes": 1, "colours": 4}, "distinct sets"),
        ({"train_size": 0}, "train_size must be an integer >= 1"),
        ({"distractors": -1}, "distractors must be an integer >= 0"),
        ({"shapes": 2.5}, "shapes: input should be a valid integer"),
    ],
)
def test_bad_scene_options_are_refused(options, match):
    with pytest.raises(ValueError, match=match):
        dataset_info("scenes", options)


# ------------------------------------------- class sets in which every object is needed

STUDY = dict(num_classes=10, colours=4, distractors=3, class_sets="all_needed")


def test_the_default_class_sets_are_the_ones_the_main_dataset_always_had():
    # The quick profile's k = 3 scenes (seed 0): pinned, since runs are calibrated on them.
    assert make_class_sets(SceneConfig(k=3)) == (
        (2, 9, 11), (3, 5, 6), (0, 1, 10), (5, 6, 7), (0, 4, 10), (1, 8, 11), (4, 7, 11),
        (3, 5, 8), (2, 3, 9), (7, 8, 10))
    # ...in which two objects already name every class: what the all-needed sets fix.
    assert set(objects_needed(make_class_sets(SceneConfig(k=3)))) == {2}


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_all_needed_sets_need_every_object_at_every_k_of_the_study(k):
    c = cfg(k=k, **STUDY)
    sets = make_class_sets(c)
    assert len(set(sets)) == 10 and all(len(s) == k for s in sets)
    assert objects_needed(sets) == (k,) * 10
    # Shown k - 1 of a class's objects, the best classifier is left with two classes.
    assert subset_accuracy(sets, k - 1) == pytest.approx(0.5 if k > 1 else 0.1)
    assert subset_accuracy(sets, k) == 1.0
    assert task_facts(c)["objects needed (most)"] == k


def test_all_needed_sets_share_one_vocabulary_and_one_distractor_pool_across_k():
    vocab = set(vocabulary(cfg(k=1, **STUDY)))
    used, pools = {}, {}
    for k in (1, 2, 3, 4):
        c = cfg(k=k, train_size=200, **STUDY)
        assert set(vocabulary(c)) == vocab
        used[k] = {j for s in make_class_sets(c) for j in s}
        arr = generate(c, "train")
        kinds, defining = arr.objects[:, :, 0], arr.objects[:, :, 3] == 1
        pools[k] = set(kinds[~defining].tolist())
        assert (~defining).sum(1).tolist() == [3] * len(kinds)
    assert all(used[k] == vocab for k in (1, 2, 4)) and len(used[3]) == 9 and used[3] < vocab
    assert all(p == set(range(16)) - vocab for p in pools.values())


def test_objects_needed_and_subset_accuracy_on_hand_made_sets():
    assert objects_needed([(0, 1), (0, 2), (1, 2)]) == (2, 2, 2)
    assert objects_needed([(0, 1), (0, 2), (3, 4)]) == (1, 1, 1)
    assert subset_accuracy([(0, 1), (0, 2), (3, 4)], 1) == pytest.approx((0.75 + 0.75 + 1) / 3)
    with pytest.raises(ValueError, match="lies inside another"):
        objects_needed([(0, 1), (0, 1)])


@pytest.mark.parametrize(("options", "match"), [
    ({"class_sets": "all"}, "class_sets must be one of"),
    ({"class_sets": "all_needed", "num_classes": 4, "k": 4, "distractors": 0}, "num_classes=4"),
    ({"class_sets": "all_needed", "num_classes": 12, "k": 2}, "more kinds"),
])
def test_bad_class_set_options_are_refused(options, match):
    with pytest.raises(ValueError, match=match):
        SceneConfig(**options)
