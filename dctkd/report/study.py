"""The attention study behind notebooks 09–13, from the report's side: labelled runs in,
tables out.

Does the DCT student look where its teacher looks, more than AT and the student trained
alone, and does that matter more when a class is defined by several objects? The measuring
is `dctkd.analysis`; here cells of the experiment grid become labelled trained models
(`load`), the k-study's runs become its frames, and frames become the notebooks' tables
(mean ± std over seeds).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dctkd.analysis import (
    MEASURE_NAMES,
    MEASURES,
    TEACHER,
    Trained,
    first_samples,
    one_seed,
    order_labels,
    overlap_frame,
    students,
)
from dctkd.analysis.samples import device
from dctkd.errors import RunFailed

from .claims import ATTENTION_CLAIMS, metric_claims
from .grid import Cell
from .tables import mean_std, per_class


def load(cells: Sequence[Cell], runs: Mapping, which: str = "best") -> list[Trained]:
    """Every distinct run of `cells` as a `Trained`, on `device()`, in `ROW_ORDER` then seed.

    A student whose training diverged in its first epoch has no usable checkpoint and is
    left out (a teacher like that stops with RunFailed); one that diverged later is kept,
    flagged with its `diverged_epoch`. `divergence_note` says which, for captions.
    """
    seen: dict[str, Trained] = {}
    for cell in cells:
        if cell.run_id in seen or not _usable(cell, runs[cell.run_id]):
            continue
        model = runs[cell.run_id].load_model(which).to(device()).eval()
        k = int(cell.value) if cell.param == "k" else None
        diverged = runs[cell.run_id].metrics().get("diverged_epoch")
        seen[cell.run_id] = Trained(cell.label, cell.seed, model, k, cell.run_id, diverged)
    order = order_labels([t.label for t in seen.values()])
    return sorted(seen.values(), key=lambda t: (order.index(t.label), t.k or 0, t.seed))


@dataclass(frozen=True)
class Family:
    """A family's trained models as the image notebooks (09–12) use them."""

    members: list[Trained]  # every model, every seed (`load`)
    teacher_cell: Cell
    seed: int | None  # the seed whose students the figures draw
    models: dict  # `{label: model}`: the teacher and the students of `seed`
    divergence: str  # models left out or flagged, for captions (`divergence_note`)

    def __str__(self) -> str:
        names = ", ".join(f"{m.label} (seed {m.seed})" for m in self.members)
        return f"models: {names}" + (f"\n{self.divergence}" if self.divergence else "")


def load_family(cells: Sequence[Cell], runs: Mapping, seed: int | None = None) -> Family:
    """`load` the family's models, find its teacher's cell and pick the students of `seed`
    (None: the smallest seed trained)."""
    members = load(cells, runs)
    if seed is None:
        seed = min((m.seed for m in students(members)), default=None)
    return Family(members, next(c for c in cells if c.label == TEACHER), seed,
                  one_seed(members, seed), divergence_note(cells, runs))


def _usable(cell: Cell, run) -> bool:
    if run.usable:
        return True
    if cell.label == TEACHER:
        raise RunFailed(f"the teacher run {cell.run_id} diverged in epoch 1 and has no usable "
                        "checkpoint; lower its optim.lr in the profile and build again")
    return False


def divergence_note(cells: Sequence[Cell], runs: Mapping) -> str:
    """A caption sentence naming the models of `cells` whose training diverged, or `""`.

    Those that diverged in epoch 1 are not shown (no checkpoint); the others are shown as
    their best checkpoint before the divergence.
    """
    gone, early = [], []
    for cell in {c.run_id: c for c in cells}.values():
        final = runs[cell.run_id].metrics()
        if final.get("diverged_epoch") is None:
            continue
        name = f"{cell.label} (seed {cell.seed})"
        if final.get("best_epoch") == 0:
            gone.append(name)
        else:
            early.append(f"{name}, diverged in epoch {final['diverged_epoch']}")
    parts = []
    if gone:
        parts.append(f"Not shown: {', '.join(gone)}, whose training diverged in epoch 1 and "
                     "left no usable checkpoint.")
    if early:
        parts.append(f"Shown as the best checkpoint before the divergence: {'; '.join(early)}.")
    return " ".join(parts)


def _teacher_seeds(cells: Sequence[Cell]) -> dict[tuple[int, int], int]:
    """`{(k, student seed): teacher seed}`: from each distilled student's teacher; the
    student alone takes the teacher its seed's distilled students share."""
    out = {}
    for c in cells:
        if c.label != TEACHER and c.cfg.teacher is not None:
            out[(int(c.value), c.seed)] = c.cfg.teacher.seed
    return out


def kstudy_accuracy(cells: Sequence[Cell], runs: Mapping) -> pd.DataFrame:
    """`k, method, seed, teacher_seed, top1, val_top1` (test and val Top-1 of the
    val-selected checkpoint, %) of every k-study cell (param "k"; the budget check's
    re-trained runs are `kstudy_budget`'s). The design is chosen on val, the claims on test."""
    rows = []
    pairing = _teacher_seeds(cells)
    for cell in cells:
        if cell.param not in ("k", "budget"):
            raise ValueError(f"cell {cell.run_id} is not a k-study cell (param {cell.param!r}).")
        if cell.param == "budget":
            continue
        k = int(cell.value)
        metrics = runs[cell.run_id].metrics()
        t = cell.seed if cell.label == TEACHER else pairing.get((k, cell.seed))
        rows.append({"k": k, "method": cell.label, "seed": cell.seed, "teacher_seed": t,
                     "top1": float(metrics["best"]["top1"]),
                     "val_top1": float(metrics.get("best_val_top1", float("nan")))})
    return pd.DataFrame(rows).drop_duplicates(["k", "method", "seed"], ignore_index=True)


def kstudy_budget(cells: Sequence[Cell], runs: Mapping) -> pd.DataFrame:
    """`k, method, seed, epochs, epochs_longer, top1, top1_longer`: each run of the budget
    check (param "budget") beside the same run at its own budget; empty when the profile
    asks for no check."""
    base = {(int(c.value), c.label, c.seed): c for c in cells if c.param == "k"}
    rows = []
    for c in cells:
        if c.param != "budget":
            continue
        own = base[(int(c.value), c.label, c.seed)]
        rows.append({"k": int(c.value), "method": c.label, "seed": c.seed,
                     "epochs": own.cfg.optim.epochs, "epochs_longer": c.cfg.optim.epochs,
                     "top1": float(runs[own.run_id].metrics()["best"]["top1"]),
                     "top1_longer": float(runs[c.run_id].metrics()["best"]["top1"])})
    return pd.DataFrame(rows, columns=["k", "method", "seed", "epochs", "epochs_longer", "top1",
                                       "top1_longer"])


def kstudy_hardest(cells: Sequence[Cell], runs: Mapping, labels: Sequence[str] = (
        TEACHER, "Baseline"), n: int = 3) -> pd.DataFrame:
    """Per k and model: its `n` least accurate test classes, each class's accuracy (%) the
    mean over that model's seeds (from `per_class_best.csv`), so a k whose difficulty rests
    on a few classes shows which."""
    rows = []
    for k in sorted({int(c.value) for c in cells if c.param == "k"}):
        for label in labels:
            seeds = [c for c in cells if c.param == "k" and int(c.value) == k
                     and c.label == label]
            if not seeds:
                continue
            acc = pd.concat([per_class(runs[c.run_id]) for c in seeds]).groupby(
                "name", sort=False)["accuracy"].mean().sort_values(kind="stable")
            rows.append({"k": k, "model": label, "seeds": len(seeds),
                         "mean over classes": round(acc.mean(), 1),
                         "least accurate classes": ", ".join(
                             f"{name} {value:.0f}" for name, value in acc.head(n).items())})
    return pd.DataFrame(rows)


def kstudy_overlap(
    cells: Sequence[Cell], runs: Mapping, n: int | None = 150, q: float = 0.2
) -> pd.DataFrame:
    """`k, method, seed, teacher_seed` and each measure averaged over teacher-correct samples
    and levels.

    Each student is compared with its own teacher (the student alone with the teacher its
    seed is paired with), on the first `n` test images of that k's scenes; a teacher's own
    row holds its mass on the objects.
    """
    frames = []
    pairing = _teacher_seeds(cells)
    main = [c for c in cells if c.param == "k"]
    for k in sorted({int(c.value) for c in main}):
        for t_cell in [c for c in main if int(c.value) == k and c.label == TEACHER]:
            t = t_cell.seed
            part = [t_cell] + [c for c in main if int(c.value) == k and c.label != TEACHER
                               and pairing.get((k, c.seed)) == t]
            members = load(part, runs)
            frame = overlap_frame(members, first_samples(t_cell.cfg, n), q=q)
            measures = [m for m in MEASURES if m in frame.columns]
            means = frame.groupby(["method", "seed"], sort=False)[measures].mean().reset_index()
            frames.append(means.assign(k=k, teacher_seed=t))
            if "mass_teacher" in frame.columns:
                first = frame[(frame["method"] == frame["method"].iloc[0])
                              & (frame["seed"] == frame["seed"].iloc[0])]
                frames.append(pd.DataFrame({"method": [TEACHER], "seed": [t], "k": [k],
                                            "teacher_seed": [t],
                                            "mass_on_objects": [first["mass_teacher"].mean()]}))
    return pd.concat(frames, ignore_index=True)


def kstudy_design(cells: Sequence[Cell]) -> pd.DataFrame:
    """A row per k: what its scenes ask (`scenes.task_facts`: defining and distractor kinds,
    distractors per image, objects each class needs, ceilings from one and from k - 1 of a
    class's objects), read from the teachers' dataset configs, and how each k's runs train
    (teacher epochs, student images and epochs), since a recipe may differ between k."""
    from dctkd.data import SceneConfig
    from dctkd.data.scenes import task_facts

    main = [c for c in cells if c.param == "k"]

    def first(k: int, teacher: bool) -> Cell:
        return next(c for c in main if int(c.value) == k and (c.label == TEACHER) == teacher)

    rows = []
    for k in sorted({int(c.value) for c in main}):
        t, s = first(k, True), first(k, False)
        rows.append({**task_facts(SceneConfig.from_options(t.cfg.data.options)),
                     "teacher epochs": t.cfg.optim.epochs,
                     "student images": _train_images(s.cfg),
                     "student epochs": _student_epochs(
                         [c for c in main if int(c.value) == k and c.label != TEACHER])})
    return pd.DataFrame(rows).round(1)


def _train_images(cfg) -> int:
    """The images a run trains on: its `train_size` subsample, else the generated training
    split less its val hold-out (`splits.stratified_holdout` rounds the same way)."""
    if cfg.data.train_size:
        return int(cfg.data.train_size)
    n = int(cfg.data.options["train_size"])
    return n - round(cfg.data.val_fraction * n)


def kstudy_epochs_note(design: pd.DataFrame) -> str:
    """A caption sentence naming the ks at which the compared students do not all train as
    long (from `kstudy_design`'s "student epochs"); empty when they do at every k."""
    apart = [f"k = {k} ({text})" for k, text in zip(design["k"], design["student epochs"],
                                                     strict=True) if ";" in str(text)]
    if not apart:
        return ""
    return (f" The compared students do not all train as long at {', '.join(apart)}: each "
            "method at a budget its seed-0 run passes the budget check with.")


def _student_epochs(students: Sequence[Cell]) -> str:
    """`"80"` when a k's students all train as long, else the most common count and the
    methods set apart: `"80; KD 640"`."""
    by_label = {c.label: c.cfg.optim.epochs for c in students}
    counts = list(by_label.values())
    common = max(dict.fromkeys(counts), key=counts.count)
    apart = [f"{label} {n}" for label, n in by_label.items() if n != common]
    return "; ".join([str(common), *apart])


def ceilings(cells: Sequence[Cell]) -> dict[int, float]:
    """`{k: one-object ceiling (%)}`: the best accuracy from a single class-defining object."""
    from dctkd.engine import dataset_of

    out = {}
    for cell in cells:
        k = int(cell.value)
        if k not in out:
            ds = dataset_of(cell.cfg, "test")
            out[k] = 100.0 * float(ds.single_object_accuracy)
    return dict(sorted(out.items()))


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


def overlap_claims(per_seed: pd.DataFrame,
                   comparisons: Sequence[tuple[str, str]] = ATTENTION_CLAIMS,
                   digits: int = 3) -> pd.DataFrame:
    """Is DCT's attention closer to the teacher's than each other student's? Per level
    (counted from 1) and overlap measure, `claims.metric_claims` of the per-seed means
    (`seed_means`: a row per method, seed and level), paired by seed; every measure is
    higher-is-better (`claims.DIRECTIONS`)."""
    measures = [m for m in MEASURES if m in per_seed.columns]
    shown = per_seed.assign(level=per_seed["level"].astype(int) + 1)
    return metric_claims(shown, measures, comparisons=comparisons, by=("level",),
                         names=MEASURE_NAMES, digits=digits)


def silhouette_claims(frame: pd.DataFrame,
                      comparisons: Sequence[tuple[str, str]] = ATTENTION_CLAIMS,
                      digits: int = 3) -> pd.DataFrame:
    """Are DCT's features better separated than each other student's? `claims.metric_claims`
    of the silhouette (`silhouette_frame`: a row per model and seed), paired by seed."""
    return metric_claims(frame, ["silhouette"], comparisons=comparisons, digits=digits)


__all__ = ["ceilings", "divergence_note", "kstudy_accuracy", "kstudy_budget", "kstudy_design",
           "kstudy_models_table", "kstudy_overlap", "kstudy_table", "load", "overlap_table",
           "silhouette_table"]
__all__ += ["overlap_claims", "silhouette_claims"]
