"""Where networks look and what they learnt: activation maps, attention overlap with the
teacher, Grad-CAM and penultimate-feature embeddings (SPEC F.6, F.8, H.2 item 9).

Grad-CAM and scikit-learn are imported only when used.
"""

from dctkd.analysis.embeddings import extract_embeddings, silhouette, tsne
from dctkd.analysis.gradcam import LogitsOnly, gradcam, gradcam_overlap
from dctkd.analysis.maps import activation_maps, minmax, overlay, upsample
from dctkd.analysis.overlap import (
    MEASURES,
    attention_overlap,
    compare_maps,
    mass_on_objects,
    pearson,
    ssim,
    summarise_overlap,
    top_region,
    topq_iou,
)

__all__ = [
    "MEASURES",
    "LogitsOnly",
    "activation_maps",
    "attention_overlap",
    "compare_maps",
    "extract_embeddings",
    "gradcam",
    "gradcam_overlap",
    "mass_on_objects",
    "minmax",
    "overlay",
    "pearson",
    "silhouette",
    "ssim",
    "summarise_overlap",
    "top_region",
    "topq_iou",
    "tsne",
    "upsample",
]
