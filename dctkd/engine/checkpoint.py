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
from pathlib import Path

import numpy as np
import torch
from torch import nn

from dctkd.files import atomic_path, write_text

from .runtime import ConfigError

STATE_KEYS = ("epoch", "best_top1", "best_epoch", "history", "train_seconds", "diverged_epoch")


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
    with atomic_path(path) as tmp:
        torch.save(ckpt, tmp)


def resume(path: Path, run_id: str, distiller: nn.Module, opt, sched, scaler,
           device: torch.device) -> dict:
    """Restore every state from `last.pt` and return the run's progress (`STATE_KEYS`)."""
    ckpt = torch.load(path, map_location=device, weights_only=True)
    if ckpt.get("run_id") != run_id:
        raise ConfigError(
            f"{path} belongs to run {ckpt.get('run_id')!r}, not {run_id!r}; "
            "expected the checkpoint of this configuration"
        )
    distiller.student.load_state_dict(ckpt["student"])
    if distiller.term is not None:
        distiller.term.load_state_dict(ckpt["term"])
    opt.load_state_dict(ckpt["optimizer"])
    sched.load_state_dict(ckpt["scheduler"])
    if scaler is not None and ckpt["scaler"] is not None:
        scaler.load_state_dict(ckpt["scaler"])
    set_rng_state(ckpt["rng"])
    return {k: ckpt.get(k) for k in STATE_KEYS}


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
            np.savez_compressed(fh, logits=logits.numpy().astype(np.float16),
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


__all__ = ["resume", "save_checkpoint", "save_predictions", "write_history"]
