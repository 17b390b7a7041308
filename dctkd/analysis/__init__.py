"""Where networks look and what they learnt, measured on trained models: one pipeline each.

`maps` (activation maps, overlays), `overlap` (student against teacher, per sample and level:
SSIM, Pearson, top-q IoU, mass on the class-defining objects), `gradcam` (raw Grad-CAMs),
`embeddings` (penultimate features, t-SNE, silhouette), `kstudy` (gains against the number of
class-defining objects, paired by seed), `spectra` (the method's facts measured on real maps),
over `samples` (evaluation images and labelled trained models). Nothing here trains; Grad-CAM
and scikit-learn are imported only when used.
"""

from .embeddings import extract_embeddings, silhouette, silhouette_frame, tsne, tsne_points
from .gradcam import LogitsOnly, gradcam, gradcam_maps
from .maps import activation_maps, am_rows, minmax, overlay, row_of, upsample
from .overlap import (
    CHANCE,
    MEASURE_NAMES,
    MEASURES,
    compare,
    compare_maps,
    mass_on_objects,
    overlap_frame,
    pearson,
    seed_means,
    ssim,
    top_region,
    topq_iou,
)
from .samples import (
    ROW_ORDER,
    TEACHER,
    Samples,
    Trained,
    choose_images,
    first_samples,
    image_table,
    one_seed,
    order_labels,
    predictions,
    students,
    teacher,
)

__all__ = [
    "CHANCE",
    "MEASURES",
    "MEASURE_NAMES",
    "ROW_ORDER",
    "TEACHER",
    "LogitsOnly",
    "Samples",
    "Trained",
    "activation_maps",
    "am_rows",
    "choose_images",
    "compare",
    "compare_maps",
    "extract_embeddings",
    "first_samples",
    "gradcam",
    "gradcam_maps",
    "image_table",
    "mass_on_objects",
    "minmax",
    "one_seed",
    "order_labels",
    "overlap_frame",
    "overlay",
    "pearson",
    "predictions",
    "row_of",
    "seed_means",
    "silhouette",
    "silhouette_frame",
    "ssim",
    "students",
    "teacher",
    "top_region",
    "topq_iou",
    "tsne",
    "tsne_points",
    "upsample",
]
