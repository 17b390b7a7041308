"""Model files that know what they hold: architecture, class count, taps and weights."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dctkd.files import torch_save
from dctkd.models.registry import build_model
from dctkd.models.tapped import TappedModel

RESERVED_KEYS = ("arch", "num_classes", "tap_names", "state_dict")
_WRAPPER_PREFIXES = ("_orig_mod.", "module.")


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside `torch.compile` / DDP wrappers (either order, any depth)."""
    while True:
        if hasattr(model, "_orig_mod"):
            model = model._orig_mod
        elif isinstance(model, nn.parallel.DistributedDataParallel | nn.DataParallel):
            model = model.module
        else:
            return model


def save_model(model: nn.Module, path: str | os.PathLike, extra: dict | None = None) -> Path:
    """Write `{arch, num_classes, tap_names, state_dict, **extra}` to `path` atomically.

    The file appears complete or not at all (temporary name, fsync, `os.replace`), so a crash
    or a concurrent reader never sees half a checkpoint. Weights are stored on the CPU. `extra`
    must hold only what `torch.load(weights_only=True)` accepts (numbers, strings, tensors, ...).
    """
    inner = unwrap(model)
    if not isinstance(inner, TappedModel):
        raise ValueError(f"save_model expects a TappedModel, got {type(inner).__name__}.")
    extra = dict(extra or {})
    clash = sorted(set(extra) & set(RESERVED_KEYS))
    if clash:
        raise ValueError(f"extra may not use the reserved checkpoint keys {clash}.")
    payload = {
        "arch": inner.arch,
        "num_classes": inner.num_classes,
        "tap_names": list(inner.tap_names),
        "state_dict": {k: v.detach().cpu() for k, v in inner.state_dict().items()},
        **extra,
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return torch_save(payload, path)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """The validated contents of a `save_model` file (CPU, weights_only load), extras included."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No model checkpoint at {path}.")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(
            f"{path} could not be read as a weights-only torch checkpoint ({_reason(err)})."
        ) from err
    if not (
        isinstance(ckpt, dict)
        and isinstance(ckpt.get("arch"), str)
        and isinstance(ckpt.get("num_classes"), int)
        and isinstance(ckpt.get("tap_names"), list)
        and isinstance(ckpt.get("state_dict"), Mapping)
    ):
        raise ValueError(
            f"{path} is not a dctkd model checkpoint "
            f"(expected a dict with keys {', '.join(RESERVED_KEYS)})."
        )
    return ckpt


def _reason(err: BaseException) -> str:
    """The telling part of torch's load error, which spans paragraphs of advice."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()] or [""]
    if "Weights only load failed" in lines[0]:
        told = [line for line in lines if "GLOBAL" in line or "Unsupported" in line]
        return "refused by weights_only: " + (told or lines)[0].rstrip(".")
    if isinstance(err, KeyError) or "load key" in lines[0]:
        return "not a torch file"
    return lines[0].split(". ")[0]


def load_model(
    path: str | os.PathLike,
    expected_arch: str | None = None,
    expected_classes: int | None = None,
) -> TappedModel:
    """Rebuild the saved `TappedModel` (CPU, eval mode), refusing one that is not what was asked.

    The model is built on the meta device and the saved tensors are assigned into it, so
    loading costs no random initialisation.
    """
    ckpt = load_checkpoint(path)
    arch, classes = ckpt["arch"], ckpt["num_classes"]
    held = f"checkpoint {path} holds a {arch} with {classes} classes"
    if expected_arch is not None and arch != expected_arch:
        raise ValueError(f"The {held}, but {expected_arch} was requested.")
    if expected_classes is not None and classes != expected_classes:
        raise ValueError(f"The {held}, but {expected_classes} classes were requested.")
    with torch.device("meta"):
        model = build_model(arch, classes)
    if ckpt["tap_names"] != model.tap_names:
        raise ValueError(
            f"The {held} tapped at {ckpt['tap_names']}, but {arch} now taps {model.tap_names}."
        )
    load_state_into(model, ckpt["state_dict"], assign=True)
    return model.eval()


def load_backbone(model: TappedModel, path: str | os.PathLike) -> TappedModel:
    """Start `model` from the weights saved at `path`, all but its classifier: the network
    was trained on another task (another label set), so only its features carry over and
    `model.head` keeps its fresh initialisation. The file must hold the same architecture."""
    ckpt = load_checkpoint(path)
    if ckpt["arch"] != model.arch or ckpt["tap_names"] != model.tap_names:
        raise ValueError(f"checkpoint {path} holds a {ckpt['arch']}, but it should start a "
                         f"{model.arch}; expected the same architecture")
    head = f"net.{model.head_name}."
    state = {k if k.startswith("net.") else f"net.{k}": v
             for k, v in ckpt["state_dict"].items()}
    own = model.state_dict()
    kept = {k: v for k, v in state.items() if not k.startswith(head)}
    kept.update({k: v for k, v in own.items() if k.startswith(head)})
    return load_state_into(model, kept)


def load_state_into(
    model: nn.Module, state_dict: Mapping[str, torch.Tensor], assign: bool = False
) -> nn.Module:
    """Load `state_dict` into `model` (or the model inside its compile/DDP wrappers), strictly.

    Accepts keys saved through those wrappers (`_orig_mod.`, `module.`) and, for a
    `TappedModel`, the bare network's names without the `net.` prefix.
    """
    target = unwrap(model)
    clean = {}
    for key, value in state_dict.items():
        while key.startswith(_WRAPPER_PREFIXES):
            key = key.split(".", 1)[1]
        clean[key] = value
    if isinstance(target, TappedModel) and not any(k.startswith("net.") for k in clean):
        clean = {f"net.{k}": v for k, v in clean.items()}
    own = target.state_dict()
    problems = {
        "missing": sorted(set(own) - set(clean)),
        "unexpected": sorted(set(clean) - set(own)),
        "of another shape": sorted(
            k for k in set(own) & set(clean) if own[k].shape != clean[k].shape
        ),
    }
    found = [f"{len(keys)} {what} (e.g. {keys[:3]})" for what, keys in problems.items() if keys]
    if found:
        name = getattr(target, "arch", type(target).__name__)
        raise ValueError(f"The weights do not fit {name}: {', '.join(found)}.")
    target.load_state_dict(clean, strict=True, assign=assign)
    if assign:
        on_meta = [n for n, t in [*target.named_parameters(), *target.named_buffers()] if t.is_meta]
        if on_meta:
            raise ValueError(f"The weights leave {len(on_meta)} tensors unset, e.g. {on_meta[:3]}.")
    return model
