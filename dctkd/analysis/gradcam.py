"""Grad-CAM of tapped models through the `grad-cam` package, kept raw for comparison.

`pytorch_grad_cam` rescales every CAM to [0, 1] per image for display, which would erase the
difference between a confident and a hesitant map; here its CAM (ReLU of the gradient-weighted
channel sum, `get_cam_image`) is returned before that rescaling, at the layer's resolution.
The package is imported on first use: it costs seconds to import.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from .batches import eval_mode, model_device


class LogitsOnly(nn.Module):
    """A `(logits, features)` model seen by Grad-CAM as a plain classifier.

    Forward returns the logits `(B, K)` only. The tap `level` is passed through `self.tap`
    (an `nn.Identity`, which returns the very tensor it gets) so Grad-CAM can hook a module
    whose output is that tap: a `TappedModel` is a traced graph whose taps are graph outputs,
    not calls of a module that runs once. `zero_grad` is a no-op so that computing a CAM never
    clears the caller's parameter gradients (the parameters are frozen meanwhile).
    """

    def __init__(self, model: nn.Module, level: int = -1) -> None:
        super().__init__()
        self.model = model
        self.level = level
        self.tap = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits, features = self.model(x)
        self.tap(features[self.level])
        return logits

    def zero_grad(self, set_to_none: bool = True) -> None:
        return None


@functools.cache
def _raw_gradcam_class() -> type:
    from pytorch_grad_cam import GradCAM

    class RawGradCAM(GradCAM):
        """GradCAM whose output is the un-rescaled CAM `(B, h, w)` of its single target layer."""

        def compute_cam_per_layer(self, input_tensor, targets, eigen_smooth):  # noqa: ANN001
            acts = self.activations_and_grads.activations
            grads = self.activations_and_grads.gradients
            if len(acts) != 1 or len(grads) != 1:
                raise ValueError(
                    f"the Grad-CAM target layer produced {len(acts)} activations and "
                    f"{len(grads)} gradients in one forward; expected one of each, from a "
                    "module that runs once and lies on the path to the logits."
                )
            cam = self.get_cam_image(
                input_tensor,
                self.target_layers[0],
                targets,
                acts[0].numpy(),
                grads[0].numpy(),
                eigen_smooth,
            )
            return [np.maximum(cam, 0)[:, None]]

        def aggregate_multi_layers(self, cam_per_target_layer):  # noqa: ANN001
            return cam_per_target_layer[0][:, 0]

        def __exit__(self, exc_type, exc_value, exc_tb) -> bool:  # noqa: ANN001
            self.activations_and_grads.release()
            return False

    return RawGradCAM


def _n_taps(model: nn.Module, images: torch.Tensor) -> int:
    names = getattr(model, "tap_names", None)
    if names is not None:
        return len(names)
    with torch.no_grad(), eval_mode(model):
        return len(model(images[:1].to(model_device(model)))[1])


def gradcam(
    model: nn.Module,
    images: torch.Tensor,
    targets: torch.Tensor | Sequence[int] | None = None,
    level: int = -1,
    target_layer: nn.Module | None = None,
    batch_size: int = 32,
) -> torch.Tensor:
    """Raw Grad-CAM `(B, h, w)` (float32, CPU, >= 0) of `images (B, 3, H, W)`.

    `targets` are the classes to explain (default: each image's predicted class). The CAM is
    taken at tap `level` of a `(logits, features)` model, or at `target_layer` (a module of
    `model` that runs once per forward) when given. Hooks are released, the model's mode and
    `requires_grad` flags restored, and its parameter gradients left untouched.
    """
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    if images.dim() != 4:
        raise ValueError(f"images must be (B, 3, H, W), got shape {tuple(images.shape)}.")
    if targets is not None and len(targets) != len(images):
        raise ValueError(f"got {len(targets)} targets for {len(images)} images.")
    wrapper = LogitsOnly(model, level)
    layer = wrapper.tap if target_layer is None else target_layer
    device = model_device(model)
    params = list(model.parameters())
    flags = [p.requires_grad for p in params]
    cams = []
    try:
        for p in params:
            p.requires_grad_(False)
        with eval_mode(model), _raw_gradcam_class()(model=wrapper, target_layers=[layer]) as cam:
            for start in range(0, len(images), batch_size):
                x = images[start : start + batch_size].detach().to(device).requires_grad_(True)
                chosen = None
                if targets is not None:
                    picked = targets[start : start + batch_size]
                    chosen = [ClassifierOutputTarget(int(t)) for t in picked]
                cams.append(torch.from_numpy(np.asarray(cam(input_tensor=x, targets=chosen))))
    finally:
        for p, flag in zip(params, flags, strict=True):
            p.requires_grad_(flag)
    return torch.cat(cams).float()


def gradcam_maps(
    models: Mapping[str, nn.Module],
    images: torch.Tensor,
    targets: torch.Tensor,
    level: int = -1,
) -> dict[str, torch.Tensor]:
    """Raw Grad-CAM `{label: (B, h, w)}` of the `targets` classes for each model."""
    return {
        label: gradcam(models[label], images, targets, level)
        for label in models
    }


__all__ = ["LogitsOnly", "gradcam", "gradcam_maps"]
