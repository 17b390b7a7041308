"""The one model type every experiment handles: a classifier that also hands back its stage maps."""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models.feature_extraction import create_feature_extractor


class TappedModel(nn.Module):
    """A classifier whose forward returns `(logits (B, K), [f_1 (B, C_1, H_1, W_1), ...])`.

    The wrapped network is traced once by torchvision's `create_feature_extractor`, so the
    architecture's own forward runs unchanged and the taps are plain graph outputs (no hooks),
    which keeps the model friendly to `torch.compile`, `channels_last` and DDP. The taps are
    the spatial stage outputs of SPEC C.1 in depth order; the pooled embedding the classifier
    sees is `features[-1].mean((2, 3))`, so it is not returned separately.

    Parameters live under `body.` with the wrapped network's own names
    (`body.layer1.0.conv1.weight`).
    """

    def __init__(
        self, net: nn.Module, arch: str, num_classes: int, tap_names: list[str], head: str
    ) -> None:
        super().__init__()
        self.arch = arch
        self.num_classes = num_classes
        self.tap_names = list(tap_names)
        self.head_name = head
        nodes = {name: name for name in self.tap_names}
        nodes[head] = "logits"
        self.body = create_feature_extractor(net, return_nodes=nodes)
        self.body.train(net.training)

    @property
    def head(self) -> nn.Linear:
        """The final `nn.Linear`, mapping the pooled embedding `(B, C_L)` to logits `(B, K)`.

        In eval mode `head(features[-1].mean((2, 3)))` equals the logits (MobileNetV2 applies
        dropout before it while training).
        """
        return self.body.get_submodule(self.head_name)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        out = self.body(x)
        return out["logits"], [out[name] for name in self.tap_names]

    def extra_repr(self) -> str:
        return f"arch={self.arch}, num_classes={self.num_classes}, taps={self.tap_names}"
