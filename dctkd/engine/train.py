"""Training loop (torchvision `references/classification` style) for every method.

One function, `train(cfg, run_dir, teacher)`, runs on a CPU, one GPU or, under `torchrun`,
many GPUs or processes (DDP; `batch_size` is the global batch, each of the `world_size`
ranks takes `batch_size // world_size`). It seeds everything, resumes from `last.pt` when
present, writes a checkpoint and a `metrics.csv` row each epoch, keeps `best.pt` by top-1 on
the held-out val split (never the test split), and finally evaluates `best` and `last` on
the test split.
Only rank 0 writes files. A loss that stops being finite ends training at that epoch (a
warning, and `diverged_epoch` in `final.json`) rather than failing a whole batch of runs.

Determinism: the data order and augmentation of epoch `e` depend only on `(seed, e, rank)`
(every RNG is reseeded at the start of each epoch), so a run killed after any epoch and
resumed reproduces the uninterrupted run bit for bit in `deterministic` mode. With
`num_workers > 0`, deterministic mode disables persistent workers for the same reason.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset

from dctkd.config import RunConfig
from dctkd.files import write_text
from dctkd.losses import resolve

from . import board, checkpoint, prefix, teacher_cache
from .checks import check
from .distiller import Distiller, build_distiller
from .evaluate import metrics as eval_metrics
from .evaluate import predict, scalars
from .indexed import Indexed
from .runtime import (
    ConfigError,
    DistInfo,
    amp_dtype,
    epoch_seed,
    init_distributed,
    pick_device,
    seed_all,
    seed_worker,
    set_determinism,
)


@dataclass
class Setup:
    cfg: RunConfig
    run_dir: Path
    dist: DistInfo
    device: torch.device
    amp: torch.dtype | None
    data: dict
    num_classes: int
    class_names: list
    distiller: Distiller


def train(cfg: RunConfig, run_dir: str | Path, teacher: nn.Module | None = None,
          teacher_dir: str | Path | None = None, init: str | Path | None = None) -> dict:
    """Train `cfg` in `run_dir` (resuming from its `last.pt`); returns `final.json`'s content.

    `teacher` is the trained teacher network when the method needs one, and `teacher_dir`
    its run folder, where its cached outputs live; `init` is the checkpoint of `cfg.init`'s
    run, whose weights (all but the classifier) start the network (the run store passes
    them: `dctkd.engine.runs.ensure`). Bad configurations raise `ConfigError` before the
    first step.
    """
    check(cfg)
    run_dir = Path(run_dir)
    dinfo = init_distributed()
    try:
        return _fit(_prepare(cfg, run_dir, teacher, teacher_dir, dinfo, init))
    finally:
        if dinfo.owns_group:
            dist.destroy_process_group()


def _prepare(cfg: RunConfig, run_dir: Path, teacher: nn.Module | None,
             teacher_dir: str | Path | None, dinfo: DistInfo,
             init: str | Path | None = None) -> Setup:
    from dctkd.data import build_dataset
    from dctkd.models import build_model, load_backbone

    device = pick_device(cfg.runtime.device, dinfo.local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    set_determinism(cfg.deterministic, device)
    common = dict(root=cfg.data.root, options=dict(cfg.data.options),
                  val_fraction=cfg.data.val_fraction, seed=cfg.seed,
                  holdout_seed=cfg.data.holdout_seed)
    try:
        data = {
            "train": build_dataset(cfg.data.name, "train", augment=cfg.data.augment,
                                   train_size=cfg.data.train_size, **common),
            "test": build_dataset(cfg.data.name, "test", augment=False, **common),
        }
        if cfg.data.val_fraction > 0:
            data["val"] = build_dataset(cfg.data.name, "val", augment=False, **common)
    except (ValueError, FileNotFoundError, KeyError) as err:
        raise ConfigError(str(err)) from err
    classes = list(data["train"].classes)
    if len(data["train"]) < 2 * dinfo.world:
        raise ConfigError(
            f"the training split of {cfg.data.name} has {len(data['train'])} images; expected "
            f"at least {2 * dinfo.world} (check data.train_size)"
        )
    per_rank = max(1, cfg.optim.batch_size // dinfo.world)
    objective = resolve(cfg.method)
    if objective.needs_teacher and teacher is None:
        raise ConfigError(f"method {cfg.method.name!r} needs a trained teacher network")
    if not objective.needs_teacher:
        teacher = None
    seed_all(cfg.seed)
    student = build_model(cfg.model, len(classes), pretrained=cfg.pretrained)
    if cfg.init is not None:
        if init is None:
            raise ConfigError(f"{cfg.run_id} starts from the weights of {cfg.init.run_id}; "
                              "expected its checkpoint (train it through the run store)")
        load_backbone(student, init)
    distiller = build_distiller(
        student, teacher, objective,
        student_shapes=_shapes(student, data["train"]),
        teacher_shapes=_shapes(teacher, data["train"]) if teacher is not None else None,
        num_samples=len(data["train"]), num_classes=len(classes), batch_size=per_rank,
        train_targets=list(data["train"].targets),
    )
    distiller.to(device)
    channels_last = cfg.runtime.channels_last and device.type != "mps"
    if channels_last:
        distiller.to(memory_format=torch.channels_last)
    amp = amp_dtype(cfg.runtime.amp, device)
    if (teacher is not None and teacher_dir is not None and teacher_cache.applies(cfg)
            and getattr(data["train"], "views", None)):
        key = teacher_cache.cache_key(cfg, amp, channels_last, device, len(data["train"]))
        distiller.teacher_outputs = teacher_cache.load_or_build(
            teacher_cache.cache_path(Path(teacher_dir), key), key,
            lambda: teacher_cache.compute(distiller.teacher, data["train"],
                                          cfg.optim.eval_batch_size, amp, channels_last, device))
    return Setup(cfg, run_dir, dinfo, device, amp, data, len(classes), classes, distiller)


@torch.no_grad()
def _shapes(model: nn.Module, dataset: Dataset) -> list[tuple[int, int, int]]:
    """`(C, H, W)` of each tap, from one dry forward on a real sample (what training will see)."""
    image = dataset[0][0]
    was = model.training
    model.eval()
    _, feats = model(image.unsqueeze(0).to(next(model.parameters()).device))
    model.train(was)
    return [tuple(f.shape[1:]) for f in feats]


def _loaders(s: Setup) -> dict:
    cfg, d = s.cfg, s.dist
    workers = cfg.runtime.num_workers
    per_rank = max(1, cfg.optim.batch_size // d.world)
    kw = dict(num_workers=workers, pin_memory=s.device.type == "cuda",
              worker_init_fn=seed_worker if workers else None,
              persistent_workers=workers > 0 and not cfg.deterministic)
    train_set = Indexed(s.data["train"])
    sampler = DistributedSampler(train_set, num_replicas=d.world, rank=d.rank, shuffle=True,
                                 seed=cfg.seed)
    # A last batch of a single sample would break BatchNorm in training mode.
    drop_last = len(sampler) % per_rank == 1
    generator = torch.Generator()
    out = {
        "train": DataLoader(train_set, per_rank, sampler=sampler, drop_last=drop_last,
                            generator=generator, **kw),
        "sampler": sampler,
        "generator": generator,
    }
    for split in ("val", "test"):
        if split in s.data:
            ds = s.data[split]
            shard = Subset(ds, range(d.rank, len(ds), d.world)) if d.world > 1 else ds
            out[split] = DataLoader(shard, cfg.optim.eval_batch_size, shuffle=False, **kw)
    return out


def _optimizer(s: Setup):
    o = s.cfg.optim
    opt = torch.optim.SGD(s.distiller.trainable_parameters(), lr=o.lr, momentum=o.momentum,
                          weight_decay=o.weight_decay)
    if o.schedule == "step":
        sched = torch.optim.lr_scheduler.StepLR(opt, o.step_size, o.gamma)
    elif o.schedule == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, o.epochs)
    else:
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, list(o.milestones), o.gamma)
    return opt, sched


def _fit(s: Setup) -> dict:
    cfg, device, d = s.cfg, s.device, s.dist
    loaders = _loaders(s)
    opt, sched = _optimizer(s)
    scaler = torch.amp.GradScaler(device.type) if s.amp == torch.float16 else None
    model: nn.Module = s.distiller
    if cfg.runtime.compile:
        s.distiller.student.compile()
        if s.distiller.teacher is not None:
            s.distiller.teacher.compile()
        if s.distiller.term is not None and s.distiller.term.compiles:
            s.distiller.term.compile()
    if d.world > 1:
        model = _ddp(s.distiller, device)
    state = {"epoch": 0, "best_top1": -math.inf, "best_epoch": 0, "history": [],
             "train_seconds": 0.0, "diverged_epoch": None, "prefix_from": None}
    last = s.run_dir / "last.pt"
    shorter = None if last.exists() else prefix.find(cfg, s.run_dir.parent)
    if last.exists():
        state = checkpoint.resume(last, cfg.run_id, s.distiller, opt, sched, scaler, device,
                                  heal=d.main) or state
    elif shorter is not None:
        kept = prefix.load(shorter, s.run_dir, cfg.run_id, device, main=d.main)
        state = checkpoint.continue_from(kept, s.distiller, opt, sched, scaler)
    if d.main:
        s.run_dir.mkdir(parents=True, exist_ok=True)
    # A run started from a shorter one's prefix shows those epochs as its own.
    replay = state["history"] if shorter is not None else []
    with board.Board(cfg, s.run_dir, d.main, 0 if replay else state["epoch"]) as events:
        for row in replay if d.main else []:
            events.epoch(row)
        for epoch in range(state["epoch"], cfg.optim.epochs):
            if state.get("diverged_epoch"):
                break
            row = _train_epoch(s, model, loaders, opt, scaler, epoch)
            sched.step()
            diverged = not (math.isfinite(row["loss"]) and checkpoint.finite(s.distiller.student))
            val = None if diverged or "val" not in loaders else _evaluate_split(s, loaders, "val")
            if val is not None:
                row.update(val_top1=val["top1"], val_top5=val["top5"], val_mca=val["mca"])
            state["history"].append(row)
            state["train_seconds"] += row["epoch_seconds"]
            state["epoch"] = epoch + 1
            if diverged:
                state["diverged_epoch"] = epoch + 1
                checkpoint.warn_diverged(cfg.run_id, row["loss"], epoch + 1, state["best_epoch"])
            score = -math.inf if diverged else val["top1"] if val is not None else float(epoch)
            improved = score > state["best_top1"]
            if improved:
                state["best_top1"], state["best_epoch"] = score, epoch + 1
            if d.main:
                _report(cfg, row)
                events.epoch(row)
                if improved:
                    _save_best(s, epoch + 1, score)
                checkpoint.save_checkpoint(last, cfg.run_id, s.distiller, state, opt, sched, scaler,
                                           device)
                prefix.keep(cfg, s.run_dir, epoch + 1)
                checkpoint.write_history(s.run_dir / "metrics.csv", state["history"])
            if d.world > 1:
                dist.barrier()
        return events.finish(_finish(s, loaders, state))


def _ddp(module: nn.Module, device: torch.device) -> nn.Module:
    """DDP without per-step buffer broadcast: each rank keeps its own BN statistics and CRD
    memory (rank 0's are saved), as the buffers start equal and a broadcast would discard
    every other rank's memory updates."""
    import inspect

    ddp = nn.parallel.DistributedDataParallel
    params = inspect.signature(ddp).parameters
    kw = {"forward_sync_buffers": False} if "forward_sync_buffers" in params else {
        "broadcast_buffers": False}
    return ddp(module, device_ids=[device.index] if device.type == "cuda" else None, **kw)


def _train_epoch(s: Setup, model: nn.Module, loaders: dict, opt, scaler, epoch: int) -> dict:
    cfg, device, d = s.cfg, s.device, s.dist
    for gen_seed_fn in (random.seed, lambda v: np.random.seed(v % 2**32), torch.manual_seed):
        gen_seed_fn(epoch_seed(cfg.seed, epoch, d.rank))
    loaders["sampler"].set_epoch(epoch)
    loaders["generator"].manual_seed(epoch_seed(cfg.seed, epoch, d.rank))
    model.train()
    lr = opt.param_groups[0]["lr"]
    autocast = (torch.autocast(device.type, dtype=s.amp) if s.amp else contextlib.nullcontext())
    sums: dict[str, torch.Tensor] = {}
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen = 0
    bar = _progress(loaders["train"], cfg, d, f"epoch {epoch + 1}/{cfg.optim.epochs}")
    start = time.perf_counter()
    for step, (images, targets, index) in enumerate(bar):
        images = images.to(device, non_blocking=True)
        if cfg.runtime.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        targets = targets.to(device, non_blocking=True)
        index = index.to(device, non_blocking=True)
        with autocast:
            logits, losses = model(images, targets, index)
        loss = sum(losses.values())
        opt.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            opt.step()
        b = targets.shape[0]
        for name, value in losses.items():
            sums[name] = sums.get(name, 0) + value.detach().float() * b
        correct += (logits.detach().argmax(1) == targets).sum()
        seen += b
        if bar is not loaders["train"] and step % 20 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}")
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    names = sorted(sums)
    packed = torch.stack([sums[n] for n in names] + [correct.float(),
                         torch.tensor(float(seen), device=device)])
    if d.world > 1:
        dist.all_reduce(packed)
    values = packed.tolist()
    total_seen = values[-1]
    row = {"epoch": epoch + 1, "lr": lr}
    row["loss"] = sum(values[: len(names)]) / total_seen
    for n, v in zip(names, values[: len(names)], strict=True):
        row[f"loss_{n}"] = v / total_seen
    row["train_top1"] = 100.0 * values[-2] / total_seen
    row["images_per_s"] = total_seen / seconds
    row["epoch_seconds"] = seconds
    return row


def _report(cfg: RunConfig, row: dict) -> None:
    if not cfg.runtime.progress:
        return
    from tqdm.auto import tqdm

    val = f" val {row['val_top1']:.1f}" if "val_top1" in row else ""
    tqdm.write(f"epoch {row['epoch']}/{cfg.optim.epochs} loss {row['loss']:.3f} "
               f"train {row['train_top1']:.1f}{val} ({row['images_per_s']:.0f} img/s)")


def _progress(loader, cfg: RunConfig, d: DistInfo, desc: str):
    if not (cfg.runtime.progress and d.main):
        return loader
    from tqdm.auto import tqdm

    return tqdm(loader, desc=desc, leave=False, dynamic_ncols=True)


def _predict_split(s: Setup, model: nn.Module, loaders: dict, split: str):
    """Logits `(N, K)` and targets `(N,)` of the whole split; under DDP each rank does a shard."""
    logits, targets = predict(model, loaders[split], amp_dtype=s.amp,
                              channels_last=s.cfg.runtime.channels_last)
    if s.dist.world > 1:
        parts = [None] * s.dist.world
        dist.all_gather_object(parts, (logits, targets))
        n = len(s.data[split])
        logits = torch.empty(n, parts[0][0].shape[1])
        targets = torch.empty(n, dtype=torch.long)
        for r, (lg, tg) in enumerate(parts):
            logits[r::s.dist.world] = lg
            targets[r::s.dist.world] = tg
    return logits, targets


def _evaluate_split(s: Setup, loaders: dict, split: str, model: nn.Module | None = None) -> dict:
    logits, targets = _predict_split(s, model or s.distiller.student, loaders, split)
    return eval_metrics(logits, targets, s.num_classes, s.cfg.optim.eval_batch_size)


def _save_best(s: Setup, epoch: int, score: float) -> None:
    from dctkd.models import save_model

    save_model(s.distiller.student, s.run_dir / "best.pt",
               extra={"epoch": epoch, "val_top1": score, "run_id": s.cfg.run_id})


def _finish(s: Setup, loaders: dict, state: dict) -> dict:
    """Test-split metrics of the best and last students; `final.json` is written last.

    A student with non-finite weights (the last epoch of a diverged run) is not evaluated:
    its metrics are null, and a run that diverged in its first epoch has no `best.pt`.
    """
    from dctkd.models import load_model

    preds = {}
    if checkpoint.finite(s.distiller.student):
        preds["last"] = _predict_split(s, s.distiller.student, loaders, "test")
    if state["best_epoch"] == state["epoch"] and "last" in preds:
        preds["best"] = preds["last"]
    elif state["best_epoch"] > 0:
        best_model = load_model(s.run_dir / "best.pt", expected_arch=s.cfg.model,
                                expected_classes=s.num_classes).to(s.device)
        if s.cfg.runtime.channels_last:
            best_model.to(memory_format=torch.channels_last)
        preds["best"] = _predict_split(s, best_model, loaders, "test")
    results = {
        which: eval_metrics(lg, tg, s.num_classes, s.cfg.optim.eval_batch_size)
        for which, (lg, tg) in preds.items()
    }
    hist = state["history"]
    final = {
        "run_id": s.cfg.run_id,
        **{w: scalars(results[w]) if w in results else checkpoint.NO_METRICS
           for w in ("best", "last")},
        "best_epoch": state["best_epoch"],
        "best_val_top1": state["best_top1"] if "val" in loaders else None,
        "epochs": state["epoch"],
        "diverged_epoch": state.get("diverged_epoch"),
        "prefix_from": state.get("prefix_from"),
        "train_seconds": state["train_seconds"],
        "images_per_s": float(np.mean([r["images_per_s"] for r in hist])) if hist else None,
        "num_train": len(s.data["train"]),
        "num_val": len(s.data["val"]) if "val" in s.data else 0,
        "num_test": len(s.data["test"]),
        "world_size": s.dist.world,
        "device": str(s.device),
        "amp": str(s.amp).replace("torch.", "") if s.amp else "off",
        "method": asdict(resolve(s.cfg.method)),
    }
    final = checkpoint.finite_json(final)
    if s.dist.main:
        checkpoint.save_results(s.run_dir, results, preds, s.data["test"].targets,
                                s.class_names)
        write_text(s.run_dir / "final.json", json.dumps(final, indent=2, allow_nan=False))
        checkpoint.keep_weights_only(s.run_dir / "last.pt")
    if s.dist.world > 1:
        dist.barrier()
    return final


__all__ = ["train"]
