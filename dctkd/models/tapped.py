"""The one model type every experiment handles: a classifier that also hands back its stage maps."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
import torch.fx
from torch import nn


class TappedModel(nn.Module):
    """A classifier whose forward returns `(logits (B, K), [f_1 (B, C_1, H_1, W_1), ...])`.

    `net` is the unchanged classifier (torchvision's, or the CIFAR ResNet), registered as
    `self.net`, so weights keep their usual names under `net.` and `model.net(x)` is the plain
    logits-only network. The forward runs a graph traced from it by `torch.fx` (`tap_graph`),
    whose outputs are the taps: no hooks and no rewritten forward, which keeps it friendly to
    `torch.compile`, `channels_last` and DDP. The graph calls the very modules of `net`; the
    `leaf_modules` types (the stages or blocks) are called whole, so hooks on them fire once
    per forward as usual.

    The taps are the spatial stage outputs of docs/method.md#taps in depth order; the pooled
    embedding the head sees is `features[-1].mean((2, 3))`, so it is not returned separately.
    """

    def __init__(
        self,
        net: nn.Module,
        arch: str,
        num_classes: int,
        tap_names: Sequence[str],
        head: str,
        leaf_modules: Sequence[type[nn.Module]] = (),
    ) -> None:
        super().__init__()
        self.arch = arch
        self.num_classes = num_classes
        self.tap_names = list(tap_names)
        self.head_name = head
        self.net = net
        nodes = {name: name for name in self.tap_names}
        nodes[head] = "logits"
        graph = tap_graph(net, nodes, leaf_modules)
        graph.train(net.training)
        # Held outside the module tree: it shares `net`'s modules, whose weights count once.
        self._graph = (graph,)

    @property
    def head(self) -> nn.Linear:
        """The final `nn.Linear`, mapping the pooled embedding `(B, C_L)` to logits `(B, K)`.

        In eval mode `head(features[-1].mean((2, 3)))` equals the logits (MobileNetV2 applies
        dropout before it while training).
        """
        return self.net.get_submodule(self.head_name)

    def train(self, mode: bool = True) -> TappedModel:
        super().train(mode)
        self._graph[0].train(mode)
        return self

    def __deepcopy__(self, memo: dict) -> TappedModel:
        """A copy whose graph calls the copied modules, every module in its original mode.

        Copying re-initialises fx's graph module, which resets its modules to training mode.
        """
        new = type(self).__new__(type(self))
        memo[id(self)] = new
        for key, value in self.__dict__.items():
            new.__dict__[key] = copy.deepcopy(value, memo)
        new._graph[0].train(self._graph[0].training)
        for (_, old), (_, fresh) in zip(self.named_modules(), new.named_modules(), strict=True):
            fresh.training = old.training
        return new

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        out = self._graph[0](x)
        return out["logits"], [out[name] for name in self.tap_names]

    def extra_repr(self) -> str:
        return f"arch={self.arch}, num_classes={self.num_classes}, taps={self.tap_names}"


class _WholeModuleTracer(torch.fx.Tracer):
    """fx's tracer that also calls modules of the `leaves` types whole, as one graph node."""

    def __init__(self, leaves: Sequence[type[nn.Module]]) -> None:
        super().__init__()
        self.leaves = tuple(leaves)

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return isinstance(m, self.leaves) or super().is_leaf_module(m, module_qualified_name)


def tap_graph(
    net: nn.Module, outputs: dict[str, str], leaf_modules: Sequence[type[nn.Module]] = ()
) -> torch.fx.GraphModule:
    """`net` traced into a graph returning `{outputs[name]: output of module name}`.

    Every named module must be called whole, once per forward: a stage or block of a
    `leaf_modules` type, or a module fx does not trace into (`nn.Linear`). The graph calls
    `net`'s own modules. What torchvision's `create_feature_extractor` does for these nets,
    without importing torchvision, whose import costs seconds a CIFAR run does not need.
    """
    graph = _WholeModuleTracer(leaf_modules).trace(net)
    calls: dict[str, list[torch.fx.Node]] = {}
    for node in graph.nodes:
        if node.op == "call_module":
            calls.setdefault(node.target, []).append(node)
    for name in outputs:
        if len(calls.get(name, ())) != 1:
            raise ValueError(
                f"{type(net).__name__}: tap {name!r} must be a module called whole, once per "
                f"forward; modules called whole: {sorted(calls)}"
            )
    result = next(node for node in graph.nodes if node.op == "output")
    result.args = ({key: calls[name][0] for name, key in outputs.items()},)
    module = torch.fx.GraphModule(net, graph, class_name=f"{type(net).__name__}Taps")
    module.graph.eliminate_dead_code()
    module.recompile()
    return module
