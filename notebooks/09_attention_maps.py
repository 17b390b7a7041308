# ---
# jupyter:
#   dctkd:
#     families:
#     - attention
#     outputs:
#       figures:
#       - attention_maps_*
#       tables:
#       - attention_maps_images
#     title: Activation maps of teacher and students
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Activation maps of teacher and students
#
# The original's qualitative figure: for a few test images, the **activation map** (`mean_c F²`,
# docs/method.md#activation-map) of each model at every level, upsampled to the image, min–max
# scaled per map and overlaid (jet, half transparent). Rows: the student trained alone, the
# teacher, the AT student, the DCT student, DCT + KD, then the family's other students (KD,
# ReviewKD), all of one seed. The images are given by `images`, or chosen by rule: the first
# test images where the teacher and the DCT student are right and the student alone is wrong
# (the original's `Correct/` examples), then weaker rules when too few exist. The table lists
# the rule each image met and every prediction.

# %% tags=["parameters"]
profile = "quick"  # smoke | quick | paper, or the path of a profile YAML
results = None  # output folder (None: results/<profile> in the project)
data = None  # folder with one sub-folder per real dataset (None: $DCTKD_DATA)
overrides = []  # profile overrides, as given to `dctkd figures --set`
workers = 1  # training processes for runs this notebook still has to train
seed = None  # seed of the students shown (None: the smallest)
images = None  # dataset indices to show (None: chosen by rule among the first n_samples)
image_split = "test"  # split the images come from (always un-augmented)
n_images = 3  # images chosen by rule
n_samples = 500  # test images searched by the rule

# %%
# %matplotlib inline
import pandas as pd

from dctkd import analysis
from dctkd.report import Report, image_figures, study

R = Report("09_attention_maps", profile, results, data, overrides, workers)
P = R.profile
print(P.description)

# %%
cells = R.cells("attention")
family = study.load_family(cells, R.ensure(cells), seed)
print(family)
teacher_cell, shown_seed, models = family.teacher_cell, family.seed, family.models
divergence = family.divergence  # models left out or flagged, for the captions

# %% [markdown]
# ## Which images

# %%
if images is None:
    pool = analysis.first_samples(teacher_cell.cfg, n_samples, image_split)
    preds = analysis.predictions(models, pool.images)
    correct = {k: v == pool.targets.numpy() for k, v in preds.items()}
    chosen = analysis.choose_images(correct, n_images)
else:
    pool = analysis.first_samples(teacher_cell.cfg, split=image_split, indices=images)
    preds = analysis.predictions(models, pool.images)
    chosen = pd.DataFrame({"position": range(len(pool)), "rule": "given"})
shown = pool.subset(chosen["position"])
info = analysis.image_table(pool, chosen, preds)
R.table(
    info,
    "attention_maps_images",
    f"The {image_split} images of the activation-map figures, the rule each met and each "
    f"model's prediction (students of seed {shown_seed}). {divergence}",
)
info

# %% [markdown]
# ## Maps at every level

# %%
rows = analysis.am_rows(models, shown.images)
for j in range(len(shown)):
    image_id, name = int(shown.indices[j]), info["class"][j]
    fig = image_figures.am_grid(
        shown.image(j), analysis.row_of(rows, j), title=f"{image_split} image {image_id}: {name}"
    )
    fig.tight_layout(pad=0.3, rect=(0, 0, 1, 0.95))
    R.figure(
        fig,
        f"attention_maps_{j + 1}",
        f"Activation maps at each level of {image_split} image {image_id} (class {name}; "
        f"{info['rule'][j]}), rows {', '.join(rows)} (Baseline: the student alone; "
        f"students of seed {shown_seed}); each map min–max scaled on its own. {divergence}",
    )
