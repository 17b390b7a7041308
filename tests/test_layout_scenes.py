"""Layout scenes: classes that share their kinds and differ in how their objects are arranged,
and the presence rule's images and run hashes left exactly as they were."""

import hashlib
from collections import Counter
from itertools import combinations

import numpy as np
import pytest

from dctkd.config import RunConfig, apply_overrides, config_hash
from dctkd.data import build_dataset, canonical_options, dataset_info
from dctkd.data.ceilings import defining_layout, kind_counts
from dctkd.data.layouts import catalogue, classes_formed, object_cells
from dctkd.data.scenes import (
    SceneConfig,
    _shape_masks,
    class_names,
    generate,
    make_class_sets,
    make_kind_sets,
    task_facts,
)

SMALL = dict(train_size=300, test_size=100)
LAYOUT = dict(rule="layout", k=3, arrangements=4, num_classes=20)


def cfg(**kw) -> SceneConfig:
    return SceneConfig(**{**SMALL, **kw})


def flipped(objects: np.ndarray, c: SceneConfig) -> np.ndarray:
    """`objects` of the horizontally flipped image: a sprite's left edge moves to W - s - left."""
    out = objects.copy()
    out[..., 2] = c.image_size - c.sprite - objects[..., 2]
    return out


# --------------------------------------------------------- the presence rule is untouched

def digest(arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


@pytest.mark.parametrize(("options", "train", "test"), [
    # Digests of every array of each split, taken before the layout rule existed.
    ({"k": 3}, "d1e10b9c014f46ba", "48c80e5ead98771d"),
    ({"k": 1}, "f2f54d94fd590868", "cf7c0fb721d71de7"),
    ({"k": 2, "seed": 1, "distractors": 5}, "624f92c856d9ab7d", "ff2cc0d415c5160f"),
    ({"k": 4, "class_sets": "all_needed", "colours": 4}, "c0166f4525f5304d", "7909f93c92250ad3"),
    ({"k": 3, "grid": 4, "object_size": 6}, "abb766f7b81b2168", "67cdc11b903e62c9"),
])
def test_the_presence_rule_makes_the_same_images_byte_for_byte(options, train, test):
    c = SceneConfig(train_size=600, test_size=100, **options)
    assert (digest(generate(c, "train")), digest(generate(c, "test"))) == (train, test)


def test_the_new_options_at_their_defaults_keep_every_run_hash():
    defaults = {"rule": "presence", "arrangements": 2, "jitter": None}
    assert canonical_options("scenes", defaults) == {}
    assert canonical_options("scenes", {**defaults, "k": 4}) == {"k": 4}
    pinned = {  # run hashes of configs stored before the options existed
        "{}": "8da4edab18242fc6f7014aceb321a6448d9e4c66",
        "{k: 3, class_sets: all_needed, colours: 4}": "861365c78580f5151f41b55831c14fe32f7f6fce",
    }
    for options, expected in pinned.items():
        plain = apply_overrides(RunConfig(), [f"data.options={options}"])
        spelled = apply_overrides(plain, {f"data.options.{k}": v for k, v in defaults.items()})
        assert spelled.data.options.keys() >= defaults.keys()
        assert config_hash(plain) == config_hash(spelled) == expected
    layout = apply_overrides(RunConfig(), ["data.options={rule: layout}"])
    assert config_hash(layout) != pinned["{}"]


# ------------------------------------------------------------------------- the catalogue

def differences(shape) -> tuple:
    """The offsets between every pair of a shape's cells, each pair oriented one way: all that
    a translation-invariant magnitude spectrum of k equal blobs keeps of the shape."""
    out = []
    for a, b in combinations(shape, 2):
        d = (b[0] - a[0], b[1] - a[1])
        out.append(max(d, (-d[0], -d[1])))
    return tuple(sorted(out))


@pytest.mark.parametrize(("k", "names"), [
    (2, ["row", "column", "diagonal", "spaced row", "spaced column", "spaced diagonal"]),
    (3, ["row", "column", "diagonal", "L", "V", "chevron"]),
    (4, ["square", "T", "S", "L"]),
])
def test_the_arrangements_on_a_3x3_grid(k, names):
    assert [a.name for a in catalogue(k, 3)] == names


@pytest.mark.parametrize("k", [2, 3, 4])
@pytest.mark.parametrize("grid", [3, 4, 5])
def test_arrangements_are_flip_closed_disjoint_and_tell_apart_by_their_offsets(k, grid):
    arrangements = catalogue(k, grid)
    assert len(arrangements) >= 4
    seen: dict = {}
    for a in arrangements:
        for shape in a.shapes:
            assert len(set(shape)) == k and max(max(cell) for cell in shape) < grid
            mirror = tuple(sorted((r, max(c for _, c in shape) - c) for r, c in shape))
            assert mirror in a.shapes, f"{a.name} lacks the mirror of {shape}"
            assert seen.setdefault(differences(shape), a.name) == a.name


def test_lines_need_a_grid_as_wide_as_k_and_one_object_has_no_arrangement():
    assert catalogue(1, 3) == ()
    assert "row" not in [a.name for a in catalogue(4, 3)]
    assert [a.name for a in catalogue(4, 4)][:3] == ["row", "column", "diagonal"]


# ------------------------------------------------------------------------ the images

def test_hand_placed_objects_are_read_as_their_arrangement_whichever_way_they_face():
    c = cfg(**LAYOUT)
    sets = make_kind_sets(c)
    edges = (np.arange(4) * 32) // 3

    def objects(cells):  # kind set 1's objects at the top-left corners of the given cells
        return np.array([[j, edges[r], edges[col], 1]
                         for j, (r, col) in zip(sets[1], cells, strict=True)])

    row, column = [(2, 0), (2, 1), (2, 2)], [(0, 1), (1, 1), (2, 1)]
    diagonal, anti = [(0, 0), (1, 1), (2, 2)], [(0, 2), (1, 1), (2, 0)]
    for cells, a in ((row, 0), (row[::-1], 0), (column, 1), (diagonal, 2), (anti, 2)):
        assert classes_formed(objects(cells), sets, c) == [1 * 4 + a]
        assert classes_formed(flipped(objects(cells), c), sets, c) == [1 * 4 + a]
    assert classes_formed(objects([(0, 0), (0, 1), (2, 2)]), sets, c) == []


@pytest.mark.parametrize(("options", "seed"), [
    ({"k": 2, "arrangements": 6, "num_classes": 30, "distractors": 7}, 0),
    ({"k": 3, "arrangements": 4, "num_classes": 20, "distractors": 6}, 1),
    ({"k": 3, "arrangements": 6, "num_classes": 24, "class_sets": "all_needed",
      "colours": 4}, 2),
    ({"k": 4, "arrangements": 4, "num_classes": 20, "distractors": 5, "colours": 4}, 3),
    ({"k": 3, "arrangements": 6, "num_classes": 30, "grid": 4, "object_size": 7,
      "distractors": 9}, 4),
])
def test_every_layout_image_forms_its_own_class_and_keeps_it_when_flipped(options, seed):
    c = cfg(rule="layout", seed=seed, **options)
    arr = generate(c, "train")
    sets = make_kind_sets(c)
    for objects, t in zip(arr.objects, arr.targets, strict=True):
        present = set(objects[:, 0].tolist())
        assert [i for i, s in enumerate(sets) if set(s) <= present] == [t // c.arrangements]
        assert classes_formed(objects, sets, c) == [t]
        assert classes_formed(flipped(objects, c), sets, c) == [t]
        own = objects[objects[:, 3] == 1, 0].tolist()
        assert Counter(own) == Counter(sets[t // c.arrangements])


def test_flipping_the_objects_is_what_flipping_the_image_does():
    c = cfg(**LAYOUT, distractors=0)
    arr = generate(c, "train")
    mirrored = arr.kind_map[:, :, ::-1]
    for i, objects in enumerate(flipped(arr.objects, c)):
        for kind, top, left, _ in objects:
            box = np.zeros((32, 32), dtype=bool)
            box[top:top + c.sprite, left:left + c.sprite] = True
            assert ((mirrored[i] == kind) <= box).all() and (mirrored[i][box] == kind).any()


def test_each_class_uses_its_shapes_mirrors_and_translations():
    c = cfg(**LAYOUT, train_size=2000)
    arr = generate(c, "train")
    cells = object_cells(arr.objects, c)
    arrangement = arr.targets % c.arrangements
    for a, expected in enumerate(catalogue(3, 3)[:4]):
        own = cells[arrangement == a][:, :3]
        placed = {tuple(sorted(map(tuple, x.tolist()))) for x in own}
        shapes = {tuple(sorted((r - min(p[0] for p in x), col - min(p[1] for p in x))
                               for r, col in x)) for x in placed}
        assert shapes == set(expected.shapes)
        tops = {min(r for r, _ in x) for x in placed}
        assert tops == set(range(3 - max(r for s in expected.shapes for r, _ in s)))
    assert Counter(arr.targets.tolist()) == {t: 100 for t in range(20)}


def test_which_kind_sits_where_in_a_row_is_random_so_left_of_tells_nothing():
    c = cfg(**LAYOUT, train_size=2000)
    arr = generate(c, "train")
    in_row = arr.targets % c.arrangements == 0  # the row arrangement
    rows, kind_set = arr.objects[in_row][:, :3], arr.targets[in_row] // c.arrangements
    leftmost = rows[np.arange(len(rows)), rows[:, :, 2].argmin(1), 0]
    for i, kinds in enumerate(make_kind_sets(c)):
        share = Counter(leftmost[kind_set == i].tolist())
        assert set(share) == set(kinds) and min(share.values()) >= 0.2 * share.total(), i


def test_masks_are_the_defining_objects_pixels_under_layout():
    c = cfg(**LAYOUT)
    arr = generate(c, "train")
    sets = make_class_sets(c)
    for i, t in enumerate(arr.targets):
        np.testing.assert_array_equal(arr.masks[i], np.isin(arr.kind_map[i], sets[t]))
    defining = arr.objects[:, :, 3] == 1
    areas = _shape_masks(c.sprite).sum((1, 2))[arr.objects[:, :, 0] % c.shapes]
    np.testing.assert_array_equal(arr.masks.sum((1, 2)), (areas * defining).sum(1))
    assert (defining.sum(1) == 3).all() and defining[:, :3].all()


def test_layout_generation_is_deterministic_and_smaller_splits_are_prefixes():
    a, b = generate(cfg(**LAYOUT), "train"), generate(cfg(**LAYOUT), "train")
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert (a.images != generate(cfg(**LAYOUT, seed=1), "train").images).any()
    assert (a.images[:10] != generate(cfg(**LAYOUT), "test").images[:10]).any()
    big = generate(cfg(**LAYOUT, train_size=1100, test_size=7), "train")
    for x, y in zip(a, big, strict=True):
        np.testing.assert_array_equal(x, y[:300])


def test_layout_and_presence_share_kind_set_machinery_but_not_images():
    presence = generate(cfg(k=3), "train")
    layout = generate(cfg(k=3, rule="layout"), "train")
    assert (presence.images != layout.images).any()
    assert len(set(make_kind_sets(cfg(k=3, rule="layout")))) == 5
    assert make_class_sets(cfg(k=3, rule="layout"))[::2] == make_kind_sets(
        cfg(k=3, rule="layout"))


@pytest.mark.parametrize("jitter", [0, 1, None])
def test_jitter_bounds_where_an_object_sits_in_its_cell(jitter):
    c = cfg(**LAYOUT, jitter=jitter)
    arr = generate(c, "train")
    edges = (np.arange(4) * 32) // 3
    cells = object_cells(arr.objects, c)
    for axis in (0, 1):
        start, size = edges[cells[..., axis]], np.diff(edges)[cells[..., axis]]
        offset = arr.objects[..., 1 + axis] - start
        room = size - c.sprite
        span = room if jitter is None else np.minimum(room, jitter)
        assert ((offset >= (room - span) // 2) & (offset <= (room - span) // 2 + span)).all()
        assert (offset == (room - span) // 2 + span).any()


# ------------------------------------------------------------------ what a class asks

@pytest.mark.parametrize(("options", "per_set"), [
    ({"k": 2, "arrangements": 5, "num_classes": 20}, 5),
    ({"k": 3, "arrangements": 4, "num_classes": 20}, 4),
    ({"k": 3}, 2),
])
def test_kind_counts_leave_a_guess_among_arrangements_and_positions_settle_it(options, per_set):
    facts = task_facts(SceneConfig(rule="layout", **options))
    assert facts["classes per kind set"] == per_set
    assert facts["kinds-only ceiling (%)"] <= 100 / per_set + 6
    assert facts["kinds+positions ceiling (%)"] >= 98


def test_under_presence_the_kinds_alone_name_the_class():
    facts = task_facts(SceneConfig(k=3))
    assert facts["rule"] == "presence" and facts["classes per kind set"] == 1
    assert facts["kinds-only ceiling (%)"] >= 98
    assert facts["one-object ceiling (%)"] == pytest.approx(40.0)


def test_the_ceilings_features_read_kinds_and_cells():
    c = cfg(**LAYOUT, train_size=20)
    arr = generate(c, "train")
    counts = kind_counts(arr.objects, c.n_kinds)
    assert counts.shape == (20, 12) and (counts.sum(1) == 6).all()
    layout = defining_layout(arr.objects, c)
    assert layout.shape == (20, 12 + 9)
    assert (layout[:, :12].sum(1) == 3).all() and (layout[:, 12:].sum(1) == 3).all()
    cells = object_cells(arr.objects[:1, :3], c)[0]
    assert set(np.flatnonzero(layout[0, 12:])) == {int(r * 3 + col) for r, col in cells}


def test_the_dataset_names_each_class_by_kinds_and_arrangement():
    opts = dict(**SMALL, **LAYOUT)
    ds = build_dataset("scenes", "test", options=opts)
    assert len(ds.classes) == len(set(ds.classes)) == 20
    assert ds.classes[:4] == class_names(SceneConfig(**opts))[:4]
    assert [name.rsplit(" ", 1)[1] for name in ds.classes[:4]] == [
        "(row)", "(column)", "(diagonal)", "(L)"]
    assert dataset_info("scenes", opts).num_classes == 20


@pytest.mark.parametrize(("options", "match"), [
    ({"rule": "grid"}, "rule must be one of \\['presence', 'layout'\\], got 'grid'"),
    ({"rule": "layout", "k": 1}, "rule='layout' needs k >= 2"),
    ({"rule": "layout", "arrangements": 7, "num_classes": 21},
     "arrangements must be in 2..6 for k=3 on a 3x3 grid \\(row, column"),
    ({"rule": "layout", "arrangements": 1}, "arrangements must be in 2..6"),
    ({"rule": "layout", "arrangements": 4}, "num_classes must be a multiple of arrangements"),
    ({"arrangements": 3}, "arrangements .* applies to rule='layout' only"),
    ({"jitter": 3}, "jitter must be at most 2 px"),
    ({"jitter": -1}, "jitter must be an integer >= 0"),
    ({"rule": "layout", "k": 5, "distractors": 0}, "has 0 arrangements of k=5 .* larger"),
    ({"rule": "layout", "class_sets": "all_needed", "colours": 4}, "no 5 kind sets"),
    ({"rule": "layout", "k": 4, "arrangements": 2, "num_classes": 4, "shapes": 1,
      "colours": 4, "distractors": 0},
     "cannot make 2 distinct sets of k=4 .*num_classes / arrangements kind sets"),
])
def test_bad_layout_options_are_refused_in_one_line(options, match):
    with pytest.raises(ValueError, match=match) as err:
        dataset_info("scenes", options)
    assert "\n" not in str(err.value)
