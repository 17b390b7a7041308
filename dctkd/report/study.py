"""The attention study behind notebooks 09–13 (SPEC F.6, F.8, H.2 item 9).

Does the DCT student look where its teacher looks, more than AT and the student trained
alone, and does that matter more when a class is defined by several objects? This module
turns labelled runs (`dctkd.experiments.Cell`s and their `Run`s) into the study's figures'
inputs and tables: which images to show, activation-map rows per model, overlap with the
teacher per method and level (mean ± std over seeds), Grad-CAM overlap, embeddings with
silhouette scores, and the k-study gains. Every number comes from a run's files or from its
saved model applied to the first `n` test images; nothing here trains.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import nn

from dctkd import analysis
from dctkd.analysis.maps import forward_maps
from dctkd.analysis.overlap import compare_maps
from dctkd.analysis.overlap import overlap_frame as analysis_frame
from dctkd.experiments import TEACHER, Cell
from dctkd.tables import mean_std

ROW_ORDER = ("Baseline", TEACHER, "AT", "DCT", "DCT + KD")
"""Rows of the activation-map figure: the original's baseline / teacher / AT / ours order."""
MEASURES = ("ssim", "pearson", "iou", "mass_on_objects")
MEASURE_NAMES = {
    "ssim": "SSIM",
    "pearson": "Pearson",
    "iou": "top-q IoU",
    "mass_on_objects": "mass on objects",
    "top1": "Top-1 (%)",
}
CHANCE = "Chance (object area)"
RULES: tuple[tuple[str, dict[str, bool]], ...] = (
    ("teacher right, baseline wrong, DCT right", {TEACHER: True, "Baseline": False, "DCT": True}),
    ("teacher right, baseline wrong", {TEACHER: True, "Baseline": False}),
    ("teacher right", {TEACHER: True}),
    ("any", {}),
)
"""Image choice, strictest first: the original picked examples where the teacher and the DCT
student are right and the baseline wrong (SPEC F.6, `visualizeAMs.py`)."""


def order_labels(labels: Sequence[str]) -> list[str]:
    """Distinct `labels` in `ROW_ORDER`, unknown ones after in their first-seen order."""
    labels = list(dict.fromkeys(labels))
    return [x for x in ROW_ORDER if x in labels] + [x for x in labels if x not in ROW_ORDER]


def device() -> torch.device:
    """Where the analyses run: the GPU when there is one (the `paper` profile's models)."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


# ----------------------------------------------------------------------------- samples


@dataclass(frozen=True, eq=False)
class Samples:
    """Evaluation images in dataset order.

    `images (N, 3, H, W)` normalised, `targets (N,)`, `masks (N, H, W)` bool (the
    class-defining objects of synthetic scenes, else None), `indices (N,)` their positions in
    the dataset, `classes` the class names; `image(i)` is sample `i` as uint8 `(3, H, W)`.
    """

    images: torch.Tensor
    targets: torch.Tensor
    masks: torch.Tensor | None = None
    indices: np.ndarray | None = None
    classes: list[str] = field(default_factory=list)
    display: Callable[[int], torch.Tensor] | None = None

    def __len__(self) -> int:
        return len(self.images)

    @property
    def data(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images, self.targets

    def image(self, i: int) -> torch.Tensor:
        if self.display is None:
            raise ValueError("these samples carry no display images (built without a dataset).")
        return self.display(int(self.indices[i]) if self.indices is not None else int(i))

    def subset(self, positions: Sequence[int]) -> Samples:
        pos = torch.as_tensor(list(positions), dtype=torch.long)
        idx = np.arange(len(self)) if self.indices is None else self.indices
        return Samples(
            self.images[pos],
            self.targets[pos],
            None if self.masks is None else self.masks[pos],
            idx[pos.numpy()],
            self.classes,
            self.display,
        )


def first_samples(
    cfg, n: int | None = 500, split: str = "test", indices: Sequence[int] | None = None
) -> Samples:
    """The first `n` images of a run's un-augmented `split` (or the given dataset `indices`).

    A few hundred images keep every analysis to seconds on a CPU; `n=None` takes them all.
    """
    from dctkd import reports

    ds = reports.dataset(cfg, split)
    if indices is None:
        indices = range(len(ds) if n is None else min(int(n), len(ds)))
    idx = np.asarray(list(indices), dtype=np.int64)
    if len(idx) == 0 or idx.min() < 0 or idx.max() >= len(ds):
        raise ValueError(
            f"image indices must lie in [0, {len(ds)}) of the {split} split, got {idx.tolist()}."
        )
    pairs = [ds[int(i)] for i in idx]
    masks = getattr(ds, "masks", None)
    return Samples(
        torch.stack([p[0] for p in pairs]),
        torch.as_tensor([int(p[1]) for p in pairs]),
        None if masks is None else torch.as_tensor(masks)[torch.from_numpy(idx)].bool(),
        idx,
        list(ds.classes),
        lambda i: reports.display_image(ds, cfg, i),
    )


# ----------------------------------------------------------------------------- models


@dataclass(frozen=True, eq=False)
class Trained:
    """A trained model with the labels of its cell: `label` (table row), `seed`, and `k` of
    the k-study (None elsewhere)."""

    label: str
    seed: int
    model: nn.Module
    k: int | None = None
    run_id: str = ""


def load(cells: Sequence[Cell], runs: Mapping, which: str = "best") -> list[Trained]:
    """Every distinct run of `cells` as a `Trained`, on `device()`, in `ROW_ORDER` then seed."""
    seen: dict[str, Trained] = {}
    for cell in cells:
        if cell.run_id in seen:
            continue
        model = runs[cell.run_id].load_model(which).to(device()).eval()
        k = int(cell.value) if cell.param == "k" else None
        seen[cell.run_id] = Trained(cell.label, cell.seed, model, k, cell.run_id)
    order = order_labels([t.label for t in seen.values()])
    return sorted(seen.values(), key=lambda t: (order.index(t.label), t.k or 0, t.seed))


def teacher(members: Sequence[Trained]) -> Trained:
    found = [t for t in members if t.label == TEACHER]
    if len(found) != 1:
        raise ValueError(f"expected exactly one teacher among the models, found {len(found)}.")
    return found[0]


def students(members: Sequence[Trained]) -> list[Trained]:
    return [t for t in members if t.label != TEACHER]


def one_seed(members: Sequence[Trained], seed: int | None = None) -> dict[str, nn.Module]:
    """`{label: model}`: the teacher and the students of one seed (default: the smallest)."""
    seeds = sorted({t.seed for t in students(members)})
    if seed is None:
        seed = seeds[0] if seeds else None
    elif seed not in seeds:
        raise ValueError(f"no student was trained with seed {seed}; seeds are {seeds}.")
    return {t.label: t.model for t in members if t.label == TEACHER or t.seed == seed}


@torch.no_grad()
def predictions(
    models: Mapping[str, nn.Module], images: torch.Tensor, batch_size: int = 256
) -> dict[str, np.ndarray]:
    """Predicted class `(N,)` of each model for `images (N, 3, H, W)`."""
    out = {}
    for label, model in models.items():
        model.eval()
        dev = next(model.parameters()).device
        preds = [
            model(images[i : i + batch_size].to(dev))[0].argmax(1).cpu()
            for i in range(0, len(images), batch_size)
        ]
        out[label] = torch.cat(preds).numpy()
    return out


def choose_images(
    correct: Mapping[str, np.ndarray],
    n: int = 3,
    rules: Sequence[tuple[str, Mapping[str, bool]]] = RULES,
) -> pd.DataFrame:
    """Positions of `n` samples to show, the strictest rule first, in data order.

    `correct` maps a model label to a bool `(N,)` (right or wrong on each sample). A rule
    `{label: right?}` naming a model absent from `correct` is skipped; later rules fill up
    what earlier ones could not. Returns `position` and the `rule` each sample met.
    """
    if not correct:
        raise ValueError("choose_images needs the correctness of at least one model.")
    size = {len(v) for v in correct.values()}
    if len(size) != 1:
        raise ValueError(f"every model must be scored on the same samples, got lengths {size}.")
    total = size.pop()
    rows: list[dict] = []
    taken: set[int] = set()
    for name, rule in rules:
        if any(label not in correct for label in rule):
            continue
        ok = np.ones(total, dtype=bool)
        for label, right in rule.items():
            ok &= np.asarray(correct[label], dtype=bool) == right
        for pos in np.flatnonzero(ok):
            if len(rows) == n:
                break
            if int(pos) not in taken:
                taken.add(int(pos))
                rows.append({"position": int(pos), "rule": name})
    return pd.DataFrame(rows, columns=["position", "rule"])


def image_table(
    samples: Samples, chosen: pd.DataFrame, preds: Mapping[str, np.ndarray]
) -> pd.DataFrame:
    """A row per chosen image: dataset index, rule, true class and each model's prediction."""
    rows = []
    for pos, rule in zip(chosen["position"], chosen["rule"], strict=True):
        target = int(samples.targets[pos])
        row = {
            "image": int(samples.indices[pos]) if samples.indices is not None else int(pos),
            "rule": rule,
            "class": _name(samples, target),
        }
        for label, p in preds.items():
            mark = "right" if int(p[pos]) == target else "wrong"
            row[label] = f"{_name(samples, int(p[pos]))} ({mark})"
        rows.append(row)
    return pd.DataFrame(rows)


def _name(samples: Samples, k: int) -> str:
    return samples.classes[k] if k < len(samples.classes) else str(k)


# ----------------------------------------------------------------------------- maps


def am_rows(
    models: Mapping[str, nn.Module], images: torch.Tensor, levels: Sequence[int] | None = None
) -> dict[str, list[torch.Tensor]]:
    """Raw activation maps `{label: [(B, h_l, w_l) per level]}` in `ROW_ORDER` (SPEC F.6)."""
    return {
        label: analysis.activation_maps(models[label], images, levels)
        for label in order_labels(list(models))
    }


def row_of(rows: Mapping[str, Sequence[torch.Tensor]], i: int) -> dict[str, list[torch.Tensor]]:
    """Sample `i` of every model's maps: `{label: [(h_l, w_l) per level]}` for `am_grid`."""
    return {label: [m[i] for m in maps] for label, maps in rows.items()}


def gradcam_maps(
    models: Mapping[str, nn.Module],
    images: torch.Tensor,
    targets: torch.Tensor,
    level: int = -1,
) -> dict[str, torch.Tensor]:
    """Raw Grad-CAM `{label: (B, h, w)}` of the true class, in `ROW_ORDER`."""
    return {
        label: analysis.gradcam(models[label], images, targets, level)
        for label in order_labels(list(models))
    }


# ----------------------------------------------------------------------------- overlap


@dataclass(frozen=True, eq=False)
class _Views:
    """One model's view of the samples: predictions `(N,)` and maps `{tap index: (N, h, w)}`."""

    preds: torch.Tensor
    maps: dict[int, torch.Tensor]


def _views(
    model: nn.Module,
    samples: Samples,
    kind: str,
    levels: Sequence[int] | None,
    batch_size: int,
) -> _Views:
    preds, maps = [], {}
    for start in range(0, len(samples), batch_size):
        images = samples.images[start : start + batch_size]
        logits, batch = forward_maps(model, images, None if kind == "gradcam" else levels)
        preds.append(logits.argmax(1).cpu())
        if kind == "gradcam":
            n_taps = len(batch)
            level = (-1 if not levels else levels[0]) % n_taps
            targets = samples.targets[start : start + batch_size]
            batch = {level: analysis.gradcam(model, images, targets, level, batch_size=64)}
        for level, m in batch.items():
            maps.setdefault(level, []).append(m.cpu())
    return _Views(torch.cat(preds), {k: torch.cat(v) for k, v in maps.items()})


def overlap_frame(
    members: Sequence[Trained],
    samples: Samples,
    kind: str = "maps",
    levels: Sequence[int] | None = None,
    keep: str = "teacher_correct",
    q: float = 0.2,
    batch_size: int = 256,
) -> pd.DataFrame:
    """Per-sample overlap of every student with the teacher, with `method` and `seed`.

    `kind="maps"` compares activation maps at `levels` (default all), `"gradcam"` the raw
    Grad-CAMs of the true class at the last level (or `levels[0]`), with the measures and
    columns of `analysis.attention_overlap`; the teacher's maps are computed once for all
    students. With `keep="teacher_correct"` only samples the teacher gets right count
    (SPEC F.8); if it gets none right, all samples are kept so the table still exists.
    Column `kept` says which.
    """
    if kind not in ("maps", "gradcam"):
        raise ValueError(f"kind must be 'maps' or 'gradcam', got {kind!r}.")
    if keep not in ("teacher_correct", "all"):
        raise ValueError(f"keep must be 'teacher_correct' or 'all', got {keep!r}.")
    if not students(members):
        raise ValueError("the overlap analysis needs at least one student besides the teacher.")
    t = _views(teacher(members).model, samples, kind, levels, batch_size)
    targets = samples.targets.cpu().long()
    n = len(samples)
    frames = []
    for s in students(members):
        v = _views(s.model, samples, kind, levels, batch_size)
        if set(v.maps) != set(t.maps):
            raise ValueError(
                f"the {s.label} student has taps {sorted(v.maps)} and the teacher "
                f"{sorted(t.maps)}: pass levels that both models have."
            )
        rows = []
        for level in sorted(t.maps):
            cols: dict[str, list[torch.Tensor]] = {}
            for start in range(0, n, batch_size):
                part = slice(start, start + batch_size)
                masks = None if samples.masks is None else samples.masks[part]
                got = compare_maps(v.maps[level][part], t.maps[level][part], q, 56, masks)
                for key, value in got.items():
                    cols.setdefault(key, []).append(value)
            rows.append(
                {
                    "sample": torch.arange(n),
                    "level": torch.full((n,), level),
                    "target": targets,
                    "teacher_pred": t.preds,
                    "student_pred": v.preds,
                    "teacher_correct": t.preds == targets,
                    "student_correct": v.preds == targets,
                    **{key: torch.cat(value) for key, value in cols.items()},
                }
            )
        frames.append(analysis_frame(rows, "all").assign(method=s.label, seed=s.seed, k=s.k))
    frame = pd.concat(frames, ignore_index=True)
    frame["kept"] = "all samples"
    if keep == "teacher_correct":
        if frame["teacher_correct"].any():
            frame = frame[frame["teacher_correct"]].assign(kept="teacher-correct samples")
        else:
            frame = frame.assign(kept="all samples (the teacher is right on none)")
    return frame.rename(columns={"mass_student": "mass_on_objects"}).reset_index(drop=True)


def seed_means(
    frame: pd.DataFrame, by: Sequence[str] = ("method", "seed", "level")
) -> pd.DataFrame:
    """Mean of each measure over samples per method, seed and level (`n`: samples averaged).

    When object masks were used, the teacher's own mass on the objects becomes a `Teacher`
    row and the objects' area share (the mass of a uniform map) a `Chance` row, per level.
    """
    by = list(by)
    measures = [m for m in MEASURES if m in frame.columns]
    if frame.empty or not measures:
        raise ValueError("seed_means needs a non-empty overlap frame with measure columns.")
    out = frame.groupby(by, sort=False)[measures].mean()
    out["n"] = frame.groupby(by, sort=False).size()
    out = out.reset_index()
    if "mass_teacher" in frame.columns:
        first = frame[(frame["method"] == frame["method"].iloc[0])]
        first = first[first["seed"] == first["seed"].iloc[0]]
        per_level = first.groupby("level", sort=True)
        extra = [
            pd.DataFrame(
                {
                    "method": label,
                    "seed": 0,
                    "level": per_level["mass_teacher"].mean().index,
                    "mass_on_objects": per_level[column].mean().to_numpy(),
                    "n": per_level.size().to_numpy(),
                }
            )
            for label, column in ((TEACHER, "mass_teacher"), (CHANCE, "mask_area"))
        ]
        out = pd.concat([out, *extra], ignore_index=True)
    return out


def overlap_table(per_seed: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """A row per method and level: seeds, samples per seed, each measure mean ± std over seeds.

    Levels are shown counted from 1. Expects the output of `seed_means`.
    """
    measures = [m for m in MEASURES if m in per_seed.columns]
    rows = []
    for level in sorted(per_seed["level"].unique()):
        part = per_seed[per_seed["level"] == level]
        for method in order_labels(list(part["method"])):
            sub = part[part["method"] == method]
            row = {
                "level": int(level) + 1,
                "method": method,
                "seeds": int(sub["seed"].nunique()),
                "samples": int(sub["n"].iloc[0]),
            }
            for m in measures:
                row[MEASURE_NAMES[m]] = mean_std(sub[m].tolist(), digits)
            rows.append(row)
    return pd.DataFrame(rows)


def compare(per_seed: pd.DataFrame, measure: str, a: str, b: str) -> pd.DataFrame:
    """Per level, mean over seeds of `measure` for methods `a` and `b` and their difference."""
    means = per_seed.groupby(["level", "method"])[measure].mean().unstack("method")
    for m in (a, b):
        if m not in means.columns:
            raise ValueError(f"no {measure} values for method {m!r} in the overlap frame.")
    out = pd.DataFrame({a: means[a], b: means[b], f"{a} − {b}": means[a] - means[b]})
    out.index = out.index + 1
    return out


# ----------------------------------------------------------------------------- embeddings


def silhouette_frame(members: Sequence[Trained], samples: Samples) -> pd.DataFrame:
    """Silhouette of every model's penultimate embeddings, grouped by the true class."""
    rows = []
    for t in members:
        emb, labels = analysis.extract_embeddings(t.model, samples.data)
        rows.append(
            {"method": t.label, "seed": t.seed, "silhouette": analysis.silhouette(emb, labels)}
        )
    return pd.DataFrame(rows)


def silhouette_table(frame: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    rows = []
    for method in order_labels(list(frame["method"])):
        sub = frame[frame["method"] == method]
        rows.append(
            {
                "method": method,
                "seeds": int(sub["seed"].nunique()),
                "silhouette": mean_std(sub["silhouette"].tolist(), digits),
            }
        )
    return pd.DataFrame(rows)


def tsne_points(
    models: Mapping[str, nn.Module], samples: Samples, seed: int = 0, max_iter: int = 1000
) -> tuple[dict[str, np.ndarray], dict[str, float], np.ndarray]:
    """`({label: (N, 2)}, {label: silhouette}, targets (N,))` for the t-SNE figure.

    t-SNE runs on one OpenMP thread: on a few hundred points threads gain nothing, and on a
    busy CPU scikit-learn's spinning threads made it ten times slower.
    """
    from threadpoolctl import threadpool_limits

    points, scores, labels = {}, {}, None
    for label in order_labels(list(models)):
        emb, labels = analysis.extract_embeddings(models[label], samples.data)
        with threadpool_limits(limits=1, user_api="openmp"):
            points[label] = analysis.tsne(emb, seed=seed, max_iter=max_iter)
        scores[label] = analysis.silhouette(emb, labels)
    return points, scores, labels


# ----------------------------------------------------------------------------- k-study


def kstudy_accuracy(cells: Sequence[Cell], runs: Mapping) -> pd.DataFrame:
    """`k, method, seed, top1` (val-selected checkpoint, %) of every k-study cell."""
    rows = []
    for cell in cells:
        if cell.param != "k":
            raise ValueError(f"cell {cell.run_id} is not a k-study cell (param {cell.param!r}).")
        top1 = float(runs[cell.run_id].metrics()["best"]["top1"])
        rows.append({"k": int(cell.value), "method": cell.label, "seed": cell.seed, "top1": top1})
    return pd.DataFrame(rows).drop_duplicates(["k", "method", "seed"], ignore_index=True)


def kstudy_overlap(
    cells: Sequence[Cell], runs: Mapping, n: int | None = 150, q: float = 0.2
) -> pd.DataFrame:
    """`k, method, seed` and each measure averaged over teacher-correct samples and levels.

    For each k the students are compared with that k's teacher on the first `n` test
    images of that k's scenes.
    """
    frames = []
    for k in sorted({int(c.value) for c in cells}):
        part = [c for c in cells if int(c.value) == k]
        members = load(part, runs)
        samples = first_samples(next(c for c in part if c.label == TEACHER).cfg, n)
        frame = overlap_frame(members, samples, q=q)
        measures = [m for m in MEASURES if m in frame.columns]
        means = frame.groupby(["method", "seed"], sort=False)[measures].mean().reset_index()
        frames.append(means.assign(k=k))
        if "mass_teacher" in frame.columns:
            first = frame[frame["method"] == frame["method"].iloc[0]]
            first = first[first["seed"] == first["seed"].iloc[0]]
            t = teacher(members)
            frames.append(
                pd.DataFrame(
                    {
                        "method": [TEACHER],
                        "seed": [t.seed],
                        "k": [k],
                        "mass_on_objects": [first["mass_teacher"].mean()],
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


def ceilings(cells: Sequence[Cell]) -> dict[int, float]:
    """`{k: one-object ceiling (%)}`: the best accuracy from a single class-defining object."""
    from dctkd import reports

    out = {}
    for cell in cells:
        k = int(cell.value)
        if k not in out:
            ds = reports.dataset(cell.cfg, "test")
            out[k] = 100.0 * float(ds.single_object_accuracy)
    return dict(sorted(out.items()))


def kstudy_gains(
    frame: pd.DataFrame,
    quantities: Sequence[str] = ("top1", *MEASURES),
    method: str = "DCT",
    against: Sequence[str] = ("AT", "Baseline"),
) -> pd.DataFrame:
    """Gain of `method` over each of `against`, per k and seed (paired by seed), long form.

    Columns `k, seed, comparison ("DCT − AT"), quantity, gain`. Seeds missing from either
    side are left out; no common seed for some k is an error.
    """
    quantities = [q for q in quantities if q in frame.columns]
    rows = []
    for k, part in frame.groupby("k", sort=True):
        ours = part[part["method"] == method].set_index("seed")
        for other in against:
            theirs = part[part["method"] == other].set_index("seed")
            common = sorted(set(ours.index) & set(theirs.index))
            if not common:
                raise ValueError(f"k = {k}: no seed trained for both {method} and {other}.")
            for seed in common:
                for q in quantities:
                    rows.append(
                        {
                            "k": int(k),
                            "seed": int(seed),
                            "comparison": f"{method} − {other}",
                            "quantity": MEASURE_NAMES.get(q, q),
                            "gain": float(ours.at[seed, q] - theirs.at[seed, q]),
                        }
                    )
    return pd.DataFrame(rows)


def kstudy_table(
    gains: pd.DataFrame, ceiling: Mapping[int, float], digits: int = 2
) -> pd.DataFrame:
    """A row per k: the one-object ceiling and each gain `mean ± std` over seeds."""
    rows = []
    for k, part in gains.groupby("k", sort=True):
        row = {
            "k": int(k),
            "one-object ceiling (%)": f"{ceiling.get(int(k), np.nan):.1f}",
            "seeds": int(part["seed"].nunique()),
        }
        for (comp, q), sub in part.groupby(["comparison", "quantity"], sort=False):
            row[f"{comp}: {q}"] = mean_std(sub["gain"].tolist(), digits if "%" in q else 3)
        rows.append(row)
    return pd.DataFrame(rows)


def kstudy_models_table(frame: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """A row per k and model: Top-1 and each overlap measure, mean ± std over seeds."""
    quantities = [q for q in ("top1", *MEASURES) if q in frame.columns]
    rows = []
    for k, part in frame.groupby("k", sort=True):
        for method in order_labels(list(part["method"])):
            sub = part[part["method"] == method]
            row = {"k": int(k), "method": method, "seeds": int(sub["seed"].nunique())}
            for q in quantities:
                row[MEASURE_NAMES[q]] = mean_std(sub[q].tolist(), 2 if q == "top1" else digits)
            rows.append(row)
    return pd.DataFrame(rows)


def accuracy_vs_k(frame: pd.DataFrame, ceiling: Mapping[int, float]) -> pd.DataFrame:
    """Long frame `k, series, seed, Top-1 (%)`: each model's accuracy and the one-object
    ceiling, for `plots.k_study_plot(..., y="Top-1 (%)", hue="series")`."""
    y = MEASURE_NAMES["top1"]
    acc = frame[["k", "method", "seed", "top1"]].rename(columns={"method": "series", "top1": y})
    ceil = pd.DataFrame(
        {"k": list(ceiling), "series": "one-object ceiling", "seed": 0, y: list(ceiling.values())}
    )
    return pd.concat([acc, ceil], ignore_index=True)


def plot_frame(per_seed: pd.DataFrame) -> pd.DataFrame:
    """The rows of `seed_means` that `plots.overlap_plot` draws (the chance rows become a
    reference line, see `mark_chance`)."""
    return per_seed[per_seed["method"] != CHANCE]


def mark_chance(fig, per_seed: pd.DataFrame, measures: Sequence[str]) -> None:
    """Draw the objects' area share (a uniform map's mass) on the mass panel of `fig`.

    `measures` are those given to `plots.overlap_plot`, whose panels follow that order and
    whose x positions are the level indices in increasing order.
    """
    chance = per_seed[per_seed["method"] == CHANCE].sort_values("level")
    measures = [m for m in measures if m in per_seed.columns]
    if chance.empty or "mass_on_objects" not in measures:
        return
    ax = fig.axes[measures.index("mass_on_objects")]
    levels = sorted(per_seed["level"].unique())
    xs = [levels.index(v) for v in chance["level"]]
    ax.plot(xs, chance["mass_on_objects"], color="0.5", linestyle=":", label="chance")
    fig.axes[len(measures) - 1].legend(
        fontsize="small", frameon=False, bbox_to_anchor=(1.02, 1), loc="upper left"
    )
