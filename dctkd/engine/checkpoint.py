"""What a run folder holds between and after epochs: `last.pt`, `metrics.csv`, predictions.

`last.pt` carries every state a resumed run needs to continue bit for bit (student, the
term's trainable parts and buffers, optimiser, scheduler, grad scaler, every RNG, the
epoch history); it is loaded with `weights_only=True`, so it holds tensors and plain
Python values only. Every file is written through `dctkd.files`, whole or not at all.
"""

from __future__ import annotations

import csv
import io
import random
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from dctkd.files import atomic_path, move_aside, torch_save, write_text

from .runtime import ConfigError

STATE_KEYS = ("epoch", "best_top1", "best_epoch", "history", "train_seconds", "diverged_epoch",
              "prefix_from")
# The metrics of a checkpoint that does not exist (a run that diverged in its first epoch)
# or cannot be evaluated (non-finite weights): null in final.json.
NO_METRICS = dict.fromkeys(("top1", "top5", "mca", "legacy_top1", "legacy_top5", "legacy_mca"))


def rng_state(device: torch.device) -> dict:
    """Python, NumPy, torch (and CUDA) generator states as weights-only-loadable values."""
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": [name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if device.type == "cuda" else [],
    }


def set_rng_state(state: dict) -> None:
    random.setstate(_tuples(state["python"]))
    name, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _tuples(x):
    return tuple(_tuples(v) for v in x) if isinstance(x, (list, tuple)) else x


def save_checkpoint(path: Path, run_id: str, distiller: nn.Module, state: dict, opt, sched,
                    scaler, device: torch.device) -> None:
    """Write `last.pt`: trainable state, optimiser, scheduler, scaler, RNGs and `state`."""
    ckpt = {
        **distiller.trainable_state(),
        "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(),
        "scaler": scaler.state_dict() if scaler is not None else None,
        "rng": rng_state(device),
        "run_id": run_id,
        **state,
    }
    torch_save(ckpt, path)


def resume(path: Path, run_id: str, distiller: nn.Module, opt, sched, scaler,
           device: torch.device, heal: bool = True) -> dict | None:
    """Restore every state from `last.pt` and return the run's progress (`STATE_KEYS`).

    A file that cannot be read (truncated by a full disk, damaged) returns None, so the run
    starts over; with `heal` it is first renamed `last.pt.corrupt-<time>`, named in a
    RuntimeWarning, and kept for inspection.
    """
    try:
        ckpt = torch.load(path, map_location=device, weights_only=True)
        if not isinstance(ckpt, dict):
            raise ValueError("it is not a dctkd training checkpoint")
        needed = {"student", "epoch"} | (set() if ckpt.get("finished") else {"optimizer"})
        if not needed <= set(ckpt):
            raise ValueError("it is not a dctkd training checkpoint")
    except FileNotFoundError:
        return None
    except Exception as err:  # torch reports damage as RuntimeError, EOFError, pickle errors
        if heal:
            _set_aside(path, err)
        return None
    if ckpt.get("run_id") != run_id:
        raise ConfigError(
            f"{path} belongs to run {ckpt.get('run_id')!r}, not {run_id!r}; "
            "expected the checkpoint of this configuration"
        )
    distiller.student.load_state_dict(ckpt["student"])
    if ckpt.get("finished"):  # every epoch done: only the last weights are needed
        return {k: ckpt.get(k) for k in STATE_KEYS}
    if distiller.term is not None:
        distiller.term.load_state_dict(ckpt["term"])
    opt.load_state_dict(ckpt["optimizer"])
    sched.load_state_dict(ckpt["scheduler"])
    if scaler is not None and ckpt["scaler"] is not None:
        scaler.load_state_dict(ckpt["scaler"])
    set_rng_state(ckpt["rng"])
    return {k: ckpt.get(k) for k in STATE_KEYS}


def continue_from(ckpt: dict, distiller: nn.Module, opt, sched, scaler) -> dict:
    """Restore a shorter run's state kept at its first LR drop (`engine.prefix`) into this
    run and return the progress it stands for. The scheduler keeps this run's own milestones
    and only takes the epoch count: the LR has not dropped yet in either run."""
    distiller.student.load_state_dict(ckpt["student"])
    if distiller.term is not None:
        distiller.term.load_state_dict(ckpt["term"])
    opt.load_state_dict(ckpt["optimizer"])
    # The shorter run stepped its scheduler past its own first drop; replay this run's
    # schedule over the same epochs from the initial LR instead.
    for group in opt.param_groups:
        group["lr"] = group["initial_lr"]
    sched.last_epoch = 0
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step")
        for _ in range(ckpt["epoch"]):
            sched.step()
    if scaler is not None and ckpt["scaler"] is not None:
        scaler.load_state_dict(ckpt["scaler"])
    return {**{k: ckpt.get(k) for k in STATE_KEYS}, "prefix_from": ckpt["run_id"]}


def _set_aside(path: Path, err: BaseException) -> None:
    from dctkd.errors import one_line

    aside = move_aside(path, "corrupt")
    warnings.warn(f"{path} could not be read ({one_line(err)[:200]}); moved it to {aside.name} "
                  "and the run starts again from epoch 1", RuntimeWarning, stacklevel=3)


def finite_json(value):
    """`value` with every NaN or infinite float replaced by None: strict JSON (no `Infinity`)."""
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(v) for v in value]
    return value


def _half(logits: torch.Tensor) -> np.ndarray:
    """Logits as float16 to halve the file, clipped to its range so none becomes infinite."""
    limit = float(np.finfo(np.float16).max)
    return logits.float().clamp(-limit, limit).numpy().astype(np.float16)


def keep_weights_only(path: Path) -> None:
    """Shrink a finished run's `last.pt` to the last student's weights and the run's progress.

    A finished run trains no further epoch, so its optimiser state, the term's trainable
    parts and the RNG states only take disk (SemCKD's regressors on a ResNet-50 teacher:
    gigabytes). What stays lets `Run.load_model("last")` read the weights and lets a run whose
    `final.json` was lost finish again without training (`resume`).
    """
    if not path.is_file():
        return
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    kept = {k: ckpt[k] for k in ("student", "run_id", *STATE_KEYS) if k in ckpt}
    with atomic_path(path) as tmp:
        torch.save({**kept, "finished": True}, tmp)


def write_history(path: Path, rows: list[dict]) -> None:
    """`metrics.csv`: one row per finished epoch, a column per quantity ever logged."""
    fields = list(dict.fromkeys(k for row in rows for k in row))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, buf.getvalue())


def save_predictions(run_dir: Path, which: str, result: dict, logits: torch.Tensor,
                     targets: torch.Tensor, class_names: list[str]) -> None:
    """`predictions_<which>.npz`, `per_class_<which>.csv` and `confusion_<which>.csv`."""
    k = min(5, logits.shape[1])
    with atomic_path(run_dir / f"predictions_{which}.npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, logits=_half(logits),
                                top5=logits.topk(k, 1).indices.numpy().astype(np.int32),
                                targets=targets.numpy())
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["class", "name", "support", "correct", "accuracy"])
    conf = result["confusion"]
    for c, name in enumerate(class_names):
        acc = result["per_class"][c]
        w.writerow([c, name, int(conf[c].sum()), int(conf[c, c]),
                    "" if np.isnan(acc) else f"{acc:.4f}"])
    write_text(run_dir / f"per_class_{which}.csv", buf.getvalue())
    buf = io.StringIO()
    np.savetxt(buf, conf, fmt="%d", delimiter=",")
    write_text(run_dir / f"confusion_{which}.csv", buf.getvalue())


def warn_diverged(run_id: str, loss: float, epoch: int, best_epoch: int) -> None:
    """A run whose loss stops being finite ends there; final.json records `diverged_epoch`."""
    kept = (f"the run is finished with its best checkpoint before the divergence (epoch "
            f"{best_epoch})" if best_epoch else "the run has no usable checkpoint")
    warnings.warn(f"{run_id}: training loss became {loss} in epoch {epoch}; training stops and "
                  f"{kept} (lower optim.lr or method.alpha to avoid it)", RuntimeWarning,
                  stacklevel=3)


def finite(model: nn.Module) -> bool:
    """True when every weight is finite: a NaN network is never saved or evaluated."""
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


def save_results(run_dir: Path, results: dict, preds: dict, targets, class_names: list[str]
                 ) -> None:
    """The prediction files of `best` and `last`; one without a result gets
    `save_no_predictions`."""
    for which in ("best", "last"):
        if which in results:
            save_predictions(run_dir, which, results[which], *preds[which], class_names)
        else:
            save_no_predictions(run_dir, which, targets, class_names)


def save_no_predictions(run_dir: Path, which: str, targets, class_names: list[str]) -> None:
    """`per_class_<which>.csv` with each class's support and no accuracy, for a checkpoint that
    does not exist or cannot be evaluated; no predictions or confusion are written."""
    support = np.bincount(np.asarray(targets, dtype=np.int64), minlength=len(class_names))
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["class", "name", "support", "correct", "accuracy"])
    for c, name in enumerate(class_names):
        w.writerow([c, name, int(support[c]), "", ""])
    write_text(run_dir / f"per_class_{which}.csv", buf.getvalue())
    for stale in (f"predictions_{which}.npz", f"confusion_{which}.csv"):
        (run_dir / stale).unlink(missing_ok=True)


__all__ = ["NO_METRICS", "continue_from", "finite", "finite_json", "resume", "save_checkpoint",
           "save_no_predictions", "save_predictions", "save_results", "warn_diverged",
           "write_history"]
