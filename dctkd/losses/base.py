"""What every distillation term shares: the model outputs it reads and its calling convention."""

from __future__ import annotations

import contextlib
from typing import NamedTuple

import torch
from torch import nn


class Outputs(NamedTuple):
    """A network's forward result: `logits (B, K)` and stage `features [(B, C_l, H_l, W_l)]`.

    The pooled embedding the logit layer sees is `features[-1].mean((2, 3))` for every
    backbone here, so it is derived (`embedding`) rather than carried.
    """

    logits: torch.Tensor
    features: list[torch.Tensor]

    @property
    def embedding(self) -> torch.Tensor:
        return self.features[-1].float().mean((2, 3))


class DistillTerm(nn.Module):
    """One weighted term of the objective (`alpha * term`), computed from both networks' outputs.

    Subclasses implement `distill`; trainable parts (regressors, embeddings) are ordinary
    sub-modules, so the trainer optimises them with the student.

    `compiles`: the term's `forward` is tensor math on fixed shapes, so `runtime.compile`
    compiles it with the networks. On a GPU such a term is launch-bound in eager mode (many
    small kernels on small maps), which compiling fuses (docs/deviations.md#channels-last).
    """

    compiles = False

    def distill(
        self,
        student: Outputs,
        teacher: Outputs,
        targets: torch.Tensor,
        index: torch.Tensor | None = None,
    ) -> torch.Tensor:
        raise NotImplementedError


_AUTOCAST_DEVICES = ("cpu", "cuda", "xpu", "mps")


def network_input(x: torch.Tensor, module: nn.Module) -> torch.Tensor:
    """`x` as a term's trainable network takes it: unchanged under autocast (the network runs
    in the student's precision), else in the network's own dtype."""
    if x.device.type in _AUTOCAST_DEVICES and torch.is_autocast_enabled(x.device.type):
        return x
    return x.to(next(module.parameters()).dtype)


def float32_math(device: torch.device) -> contextlib.AbstractContextManager:
    """Context that disables autocast on `device` so ops inside run in the inputs' dtype."""
    if device.type in _AUTOCAST_DEVICES:
        return torch.autocast(device.type, enabled=False)
    return contextlib.nullcontext()
