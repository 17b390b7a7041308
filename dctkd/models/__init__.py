"""Backbones that return `(logits (B, K), [stage features (B, C_l, H_l, W_l)])`.

See `docs/method.md#taps`. The names and families are imported with the package; the rest,
which needs torch, when first used (PEP 562), so config validation imports no torch.
"""

from typing import TYPE_CHECKING

from dctkd.lazy import lazy_names
from dctkd.models.names import MODEL_NAMES, model_family

if TYPE_CHECKING:  # what a type checker and an editor see; nothing is imported at run time
    from dctkd.models.io import load_backbone, load_model, load_state_into, save_model
    from dctkd.models.registry import build_model, tap_shapes
    from dctkd.models.tapped import TappedModel

__getattr__ = lazy_names(__name__, {
    "load_backbone": ".io", "load_model": ".io", "load_state_into": ".io", "save_model": ".io",
    "build_model": ".registry", "tap_shapes": ".registry", "TappedModel": ".tapped",
})

__all__ = [
    "MODEL_NAMES",
    "TappedModel",
    "build_model",
    "load_backbone",
    "load_model",
    "load_state_into",
    "model_family",
    "save_model",
    "tap_shapes",
]
