"""Backbones that return `(logits (B, K), [stage features (B, C_l, H_l, W_l)])`.

See `docs/method.md#taps`.
"""

from dctkd.models.io import load_model, load_state_into, save_model
from dctkd.models.registry import MODEL_NAMES, build_model, model_family, tap_shapes
from dctkd.models.tapped import TappedModel

__all__ = [
    "MODEL_NAMES",
    "TappedModel",
    "build_model",
    "load_model",
    "load_state_into",
    "model_family",
    "save_model",
    "tap_shapes",
]
