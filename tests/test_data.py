"""File-based datasets in their official layouts, the splits, the transforms and the errors.

Every tree is written into tmp_path with small PIL JPEGs by the writers of
tests/paper_layouts.py (which the rehearsal shares); nothing is downloaded.
"""

from pathlib import Path

import numpy as np
import pytest
import torch
from paper_layouts import ade20k_tree, cifar100_tree, jpeg, mit67_tree, sun397_tree, write
from torch.utils.data import DataLoader
from torchvision.transforms import v2

from dctkd.data import (
    DATASETS,
    IMAGENET_MEAN_STD,
    SCENE_MEAN_STD_ORIGINAL,
    build_dataset,
    dataset_info,
    stratified_holdout,
    stratified_subset,
)

SIZE = 16  # options image_size: keeps every transform tiny
OPTS = {"image_size": SIZE}


# ---------------------------------------------------------------- fixture trees


@pytest.fixture
def ade(tmp_path) -> Path:
    labels = ["street", "bedroom", "street", "kitchen", "bedroom", "street", "kitchen", "bedroom"]
    return ade20k_tree(tmp_path / "ADEChallengeData2016", labels, ["street", "airport_terminal"],
                       gray=[2])


SUN_CLASSES = ["/a/abbey", "/a/apartment_building/outdoor", "/b/bedroom"]


@pytest.fixture
def sun(tmp_path) -> Path:
    root, train, test = sun397_tree(tmp_path / "SUN397", SUN_CLASSES, n_train=2, n_test=2)
    write(root / "Partitions/Training_02.txt", train)
    write(root / "Partitions/Testing_02.txt", test[:2] + train[:1])
    return root


@pytest.fixture
def mit(tmp_path) -> Path:
    return mit67_tree(tmp_path / "MIT67", ["bar", "game room", "kitchen"], n_train=3, n_test=1)


@pytest.fixture
def folder(tmp_path) -> Path:
    root = tmp_path / "mydata"
    for c in ("cats", "dogs"):
        for j in range(5):
            jpeg(root / "train" / c / f"{j}.jpg", j)
        jpeg(root / "val" / c / "0.jpg", 50)
    return root


def first_batch(ds, n: int):
    return next(iter(DataLoader(ds, batch_size=n, shuffle=False)))


# ---------------------------------------------------------------- reading


def test_ade20k_reads_both_splits_with_the_sorted_union_of_labels(ade):
    train = build_dataset("ade20k", "train", ade, options=OPTS, val_fraction=0.0)
    test = build_dataset("ade20k", "test", ade, options=OPTS)
    assert train.classes == ["airport_terminal", "bedroom", "kitchen", "street"]
    assert test.classes == train.classes
    assert train.targets == [3, 1, 3, 2, 1, 3, 2, 1] and test.targets == [3, 0]
    x, y = first_batch(train, 8)
    assert x.shape == (8, 3, SIZE, SIZE) and x.dtype == torch.float32
    assert y.tolist() == train.targets
    assert dataset_info("ade20k", OPTS).num_classes == 1055


def test_ade20k_class_names_file_sets_the_index_order(ade, tmp_path):
    names = write(
        tmp_path / "scene_names.txt", ["street", "kitchen", "bedroom", "airport_terminal"]
    )
    ds = build_dataset("ade20k", "test", ade, options={**OPTS, "class_names": str(names)})
    assert ds.classes[0] == "street" and ds.targets == [0, 3]
    assert dataset_info("ade20k", {"class_names": str(names)}).num_classes == 4


def test_sun397_flattens_names_indexes_alphabetically_and_reads_a_partition(sun):
    train = build_dataset("sun397", "train", sun, options=OPTS, val_fraction=0.0)
    test = build_dataset("sun397", "test", sun, options=OPTS)
    assert train.classes == ["abbey", "apartment_building-outdoor", "bedroom"]
    assert train.targets == [0, 0, 1, 1, 2, 2] and len(test) == 6
    x, y = first_batch(test, 6)
    assert x.shape == (6, 3, SIZE, SIZE) and y.tolist() == [0, 0, 1, 1, 2, 2]
    assert not {p for p, _ in train.samples} & {p for p, _ in test.samples}


def test_sun397_overlapping_partition_is_refused(sun):
    with pytest.raises(ValueError, match=r"1 image\(s\) are in both .*Training_02.txt.*disjoint"):
        build_dataset("sun397", "test", sun, options={**OPTS, "partition": 2})


def test_mit67_reads_names_with_spaces(mit):
    train = build_dataset("mit67", "train", mit, options=OPTS, val_fraction=0.0)
    assert train.classes == ["bar", "game room", "kitchen"]
    assert any(" " in Path(p).name for p, _ in train.samples)
    x, y = first_batch(train, 9)
    assert x.shape == (9, 3, SIZE, SIZE) and y.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]


def test_folder_reads_imagefolder_trees_and_a_parent_root_works(folder):
    train = build_dataset("folder", "train", folder, options=OPTS, val_fraction=0.0)
    test = build_dataset("folder", "test", folder, options=OPTS)
    assert train.classes == ["cats", "dogs"] and len(train) == 10 and test.targets == [0, 1]
    assert first_batch(test, 2)[0].shape == (2, 3, SIZE, SIZE)
    assert dataset_info("folder", root=str(folder)).num_classes == 2


def test_a_parent_folder_holding_the_dataset_is_accepted(ade):
    assert len(build_dataset("ade20k", "test", ade.parent, options=OPTS)) == 2


def test_grayscale_images_come_out_rgb(ade):
    ds = build_dataset("ade20k", "train", ade, options=OPTS, val_fraction=0.0, augment=False)
    assert ds[1][0].shape == (3, SIZE, SIZE)


# ---------------------------------------------------------------- splits


def test_train_val_test_are_disjoint_and_val_is_seeded(sun):
    kw = dict(root=sun, options=OPTS, val_fraction=0.34)
    train = build_dataset("sun397", "train", seed=0, **kw)
    val = build_dataset("sun397", "val", seed=0, **kw)
    test = build_dataset("sun397", "test", seed=0, **kw)
    paths = [{p for p, _ in ds.samples} for ds in (train, val, test)]
    assert len(paths[1]) == 2 and len(paths[0]) == 4
    assert not (paths[0] & paths[1]) and not (paths[0] & paths[2]) and not (paths[1] & paths[2])
    assert sorted(train.targets + val.targets) == [0, 0, 1, 1, 2, 2]
    flips = [
        [type(t) is v2.RandomHorizontalFlip for t in ds.transform.transforms] for ds in (train, val)
    ]
    assert any(flips[0]) and not any(flips[1])
    again = build_dataset("sun397", "val", seed=0, **kw)
    assert again.samples == val.samples


def test_stratified_holdout_and_subset_keep_every_class():
    targets = [0] * 50 + [1] * 30 + [2] * 1 + [3] * 19
    kept, held = stratified_holdout(targets, 0.2, seed=0)
    assert len(held) == 20 and not set(kept) & set(held) and len(kept) + len(held) == 100
    assert {targets[i] for i in kept} == {0, 1, 2, 3}
    assert not np.array_equal(held, stratified_holdout(targets, 0.2, seed=1)[1])
    np.testing.assert_array_equal(held, stratified_holdout(targets, 0.2, seed=0)[1])
    sub = stratified_subset([targets[i] for i in kept], 8, seed=0)
    assert len(sub) == 8 and {targets[kept[i]] for i in sub} == {0, 1, 2, 3}


# ---------------------------------------------------------------- transforms and info


def test_normalization_option_picks_the_constants(folder):
    orig = build_dataset("folder", "test", folder, options=OPTS)
    imnet = build_dataset("folder", "test", folder, options={**OPTS, "normalization": "imagenet"})
    assert not torch.allclose(orig[0][0], imnet[0][0])
    assert dataset_info("folder", root=str(folder)).mean == SCENE_MEAN_STD_ORIGINAL[0]
    info = dataset_info("ade20k", {"normalization": "imagenet"})
    assert (info.mean, info.std, info.image_size) == (*IMAGENET_MEAN_STD, 224)
    with pytest.raises(ValueError, match="normalization: input should be"):
        dataset_info("ade20k", {"normalization": "kinetics"})


def test_dataset_info_for_every_name(folder):
    expected = {"scenes": 10, "ade20k": 1055, "sun397": 397, "mit67": 67, "cifar100": 100}
    for name in DATASETS:
        info = dataset_info(name, root=str(folder) if name == "folder" else None)
        assert info.num_classes == expected.get(name, 2)
    assert dataset_info("cifar100").family == "cifar" and dataset_info("mit67").family == "scene"


# ---------------------------------------------------------------- errors


def test_missing_roots(tmp_path):
    for name in ("ade20k", "sun397", "mit67", "folder"):
        with pytest.raises(FileNotFoundError, match=f"{name} root .*nowhere does not exist"):
            build_dataset(name, "train", tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="has no cifar-100-python"):
        build_dataset("cifar100", "train", tmp_path / "nowhere")


def test_corrupt_cifar_files_give_a_clear_error(tmp_path):
    (tmp_path / "cifar-100-python").mkdir()
    (tmp_path / "cifar-100-python/train").write_bytes(b"junk")
    with pytest.raises(FileNotFoundError, match="missing or corrupted"):
        build_dataset("cifar100", "train", tmp_path)


def test_cifar100_reads_the_python_pickle_layout(tmp_path):
    cifar100_tree(tmp_path, used_classes=3, n_train=4, n_test=2)
    train = build_dataset("cifar100", "train", tmp_path, val_fraction=0.0)
    test = build_dataset("cifar100", "test", tmp_path / "cifar-100-python")
    assert len(train) == 12 and len(test) == 6 and len(train.classes) == 100
    assert train.classes[0] == "class_00" and sorted(set(test.targets)) == [0, 1, 2]
    x, y = first_batch(train, 12)
    assert x.shape == (12, 3, 32, 32) and x.dtype == torch.float32


def test_cifar100_files_of_the_wrong_shape_are_refused(tmp_path):
    import pickle

    cifar100_tree(tmp_path, used_classes=2, n_train=2, n_test=1)
    bad = {"data": np.zeros((4, 100), np.uint8), "fine_labels": [0, 1, 0, 1]}
    (tmp_path / "cifar-100-python/train").write_bytes(pickle.dumps(bad))
    with pytest.raises(FileNotFoundError, match="train is corrupted: .*3072"):
        build_dataset("cifar100", "train", tmp_path)
    (tmp_path / "cifar-100-python/meta").write_bytes(pickle.dumps({"names": []}))
    with pytest.raises(FileNotFoundError, match="meta is missing or corrupted: it has no"):
        build_dataset("cifar100", "test", tmp_path)


def test_dataset_info_counts_the_classes_of_the_tree_it_is_given(ade, sun, mit, tmp_path):
    """A reduced copy sizes the head by its own class list; no tree: the official count."""
    assert dataset_info("ade20k", OPTS, root=str(ade)).num_classes == 4
    assert dataset_info("ade20k", OPTS, root=str(ade.parent)).num_classes == 4
    assert dataset_info("sun397", OPTS, root=str(sun)).num_classes == 3
    assert dataset_info("mit67", OPTS, root=str(mit)).num_classes == 3
    assert dataset_info("mit67", OPTS, root=str(tmp_path / "nowhere")).num_classes == 67
    with open(ade / "sceneCategories.txt", "a") as fh:
        fh.write("ADE_val_00000003 bathroom\n")
    assert dataset_info("ade20k", OPTS, root=str(ade)).num_classes == 5


def test_missing_split_files(ade, sun, mit):
    (ade / "sceneCategories.txt").unlink()
    (sun / "Partitions/Testing_01.txt").unlink()
    (mit / "TrainImages.txt").unlink()
    for name, root, file in [
        ("ade20k", ade, "sceneCategories.txt"),
        ("sun397", sun, "Testing_01.txt"),
        ("mit67", mit, "TrainImages.txt"),
    ]:
        with pytest.raises(FileNotFoundError, match=f"split file .*{file} is missing"):
            build_dataset(name, "train", root)


def test_malformed_split_lines_name_the_line(ade, sun, mit):
    with open(ade / "sceneCategories.txt", "a") as fh:
        fh.write("ADE_train_00000009\n")
    with pytest.raises(ValueError, match="sceneCategories.txt line 11 is malformed"):
        build_dataset("ade20k", "train", ade)
    write(sun / "Partitions/Training_01.txt", ["/a/abbey/sun_00.jpg", "abbey.jpg"])
    with pytest.raises(ValueError, match="Training_01.txt line 2 is malformed"):
        build_dataset("sun397", "train", sun)
    write(mit / "TestImages.txt", ["noslash.jpg"])
    with pytest.raises(ValueError, match="TestImages.txt line 1 is malformed"):
        build_dataset("mit67", "test", mit)


def test_listed_image_missing(ade, mit):
    (ade / "images/training/ADE_train_00000003.jpg").unlink()
    with pytest.raises(FileNotFoundError, match="1 image.* missing, e.g. .*ADE_train_00000003"):
        build_dataset("ade20k", "train", ade)
    assert len(build_dataset("ade20k", "test", ade)) == 2
    (mit / "Images/game room/img 1 0.jpg").unlink()
    with pytest.raises(FileNotFoundError, match="TrainImages.txt are missing, e.g. .*img 1 0"):
        build_dataset("mit67", "train", mit)


def test_undecodable_images(ade):
    bad = ade / "images/training/ADE_train_00000004.jpg"
    bad.write_bytes(b"this is not an image")
    with pytest.raises(ValueError, match="ADE_train_00000004.jpg is not a JPEG"):
        build_dataset("ade20k", "train", ade)
    data = (ade / "images/training/ADE_train_00000005.jpg").read_bytes()
    bad.write_bytes(data[:40])
    with pytest.raises(ValueError, match="cannot decode image .*ADE_train_00000004"):
        build_dataset("ade20k", "train", ade, options={"verify": "full"})
    ds = build_dataset("ade20k", "train", ade, options=OPTS, val_fraction=0.0)
    with pytest.raises(ValueError, match="cannot decode image .*ADE_train_00000004"):
        ds[3]


def test_label_not_in_class_list(ade, sun, mit, folder, tmp_path):
    names = write(tmp_path / "names.txt", ["street", "bedroom", "kitchen"])
    with pytest.raises(ValueError, match="label 'airport_terminal' .* not in the class list"):
        build_dataset("ade20k", "train", ade, options={"class_names": str(names)})
    with open(sun / "Partitions/Testing_01.txt", "a") as fh:
        fh.write("/z/zoo/sun_x.jpg\n")
    with pytest.raises(ValueError, match="Testing_01.txt line 7: label 'z/zoo' .* not in"):
        build_dataset("sun397", "test", sun)
    with open(mit / "TestImages.txt", "a") as fh:
        fh.write("library/a b.jpg\n")
    with pytest.raises(ValueError, match="label 'library' .* not in the class list"):
        build_dataset("mit67", "test", mit)
    jpeg(folder / "val/birds/0.jpg", 0)
    with pytest.raises(ValueError, match=r"class folder\(s\) \['birds'\] .* not in the class"):
        build_dataset("folder", "test", folder)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: build_dataset("imagenet", "train"), ValueError, "unknown dataset 'imagenet'"),
        (lambda: build_dataset("scenes", "dev"), ValueError, "unknown split 'dev'"),
        (lambda: dataset_info("mit67", {"partition": 2}), ValueError, "unknown option 'partition'"),
        (lambda: dataset_info("folder"), ValueError, "needs data.root"),
        (
            lambda: build_dataset("scenes", "val", options={"train_size": 50}, val_fraction=0.0),
            ValueError,
            "no val split",
        ),
    ],
)
def test_bad_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call()
