# ---
# jupyter:
#   dctkd:
#     families:
#     - method
#     outputs:
#       figures:
#       - method_spectra_teacher
#       - method_spectra_student
#       - method_teacher_vs_student
#       tables:
#       - method_facts
#       - method_level_distance
#     title: 'The method: activation maps and their spectra'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # The method: activation maps and their spectra
#
# The DCT loss compares a student's and a teacher's **activation maps** (`A = mean_c F²`,
# docs/method.md#activation-map) at every level, after a 2-D transform. The original code calls its
# transform a DCT but takes the real part of an FFT (V1: its absolute value, V2: signed); `dct2` is
# the exact orthonormal DCT-II. This notebook shows the maps of a trained teacher and a
# DCT-distilled student at each level and **measures** the facts docs/method.md#spectra states: the
# FFT spectra are point-symmetric (each coefficient counted twice), the mean removal zeroes the DC
# coefficient, and the normalised spectrum ignores a positive affine change of the map.

# %% tags=["parameters"]
profile = "quick"  # smoke | quick | paper, or the path of a profile YAML
results = None  # output folder (None: results/<profile> in the project)
data = None  # folder with one sub-folder per real dataset (None: $DCTKD_DATA)
overrides = []  # profile overrides, as given to `dctkd figures --set`
workers = 1  # training processes for runs this notebook still has to train

# %%
# %matplotlib inline
import matplotlib.pyplot as plt
import pandas as pd
import torch

from dctkd import analysis
from dctkd.analysis import spectra
from dctkd.data import display_image
from dctkd.engine import dataset_of
from dctkd.losses import dct as dct_loss
from dctkd.report import Report, image_figures

R = Report("01_method", profile, results, data, overrides, workers)
P = R.profile
print(P.description)

# %% [markdown]
# ## Runs: a teacher and its DCT student

# %%
cells = R.cells("method")
runs = R.ensure(cells)
teacher_cell = next(c for c in cells if c.label == "Teacher")
student_cell = next(c for c in cells if c.label != "Teacher")
teacher = runs[teacher_cell.run_id].load_model("best")
student = runs[student_cell.run_id].load_model("best")
ds = dataset_of(teacher_cell.cfg, "test")
n = min(16, len(ds))
images = torch.stack([ds[i][0] for i in range(n)])
maps_t = analysis.activation_maps(teacher, images)
maps_s = analysis.activation_maps(student, images)
print(f"{n} test images; map sizes per level:", [tuple(m.shape[1:]) for m in maps_t])

# %% [markdown]
# ## Maps and spectra at each level

# %%
image = display_image(ds, 0)
for who, maps, cell in (("teacher", maps_t, teacher_cell), ("student", maps_s, student_cell)):
    fig = image_figures.spectra_figure(
        image, [m[0] for m in maps], title=f"{cell.cfg.model} ({cell.label})"
    )
    R.figure(
        fig,
        f"method_spectra_{who}",
        f"Activation map of the {who} ({cell.cfg.model}, {cell.label}) at each level over "
        "a test image, and its normalised V1, V2 and DCT-II spectra (zero frequency at "
        "the top left).",
    )

# %% [markdown]
# ## The facts, measured
# Each row is a level and a transform; every column is the maximum over the test images.
# *point symmetry error*: `max|T[k] − T[−k]| / max|T|` of the transform before its final
# normalisation; *DC / max coefficient*: the zero-frequency coefficient after mean removal;
# *affine invariance error*: the largest change of the normalised spectrum when the map is
# replaced by `3.7·A + 0.25·mean(A)`; *Parseval error*: relative change of energy under the
# orthonormal DCT-II; *distinct coefficients*: share of coefficients that are not duplicates.

# %%
facts = spectra.facts(maps_t)
R.table(
    facts,
    "method_facts",
    "Properties of the spectra measured on the teacher's activation maps of test images "
    "(maximum over images): FFT-based V1/V2 spectra are point-symmetric and about half of "
    "their coefficients are duplicates; every variant has a zero DC term and is invariant "
    "to a positive affine change of the map.",
    floatfmt=".3g",
)
facts

# %%
fft = facts[facts.variant != spectra.VARIANT_NAMES["dct2"]]
dct = facts[facts.variant == spectra.VARIANT_NAMES["dct2"]]
print(
    f"V1/V2 point-symmetry error ≤ {fft['point symmetry error'].max():.1e}; "
    f"DCT-II: {dct['point symmetry error'].min():.2f}–{dct['point symmetry error'].max():.2f}"
)
print(
    f"largest |DC| / max: {facts['DC / max coefficient'].max():.1e}; "
    f"largest affine invariance error: {facts['affine invariance error'].max():.1e}"
)
print(
    f"distinct coefficients: V1/V2 {fft['distinct coefficients (%)'].mean():.0f} %, "
    f"DCT-II {dct['distinct coefficients (%)'].mean():.0f} %"
)

# %% [markdown]
# ## Student against teacher, level by level (V1, the published loss)

# %%
rows = []
diffs = []
for level, (ms, mt) in enumerate(zip(maps_s, maps_t, strict=True), start=1):
    for variant in ("v1", "v2", "dct2"):
        ds_, dt_ = dct_loss.spectrum(ms, variant), dct_loss.spectrum(mt, variant)
        d = (ds_ - dt_).flatten(1).norm(dim=1)
        rows.append(
            {
                "level": level,
                "variant": spectra.VARIANT_NAMES[variant],
                "distance mean": d.mean().item(),
                "distance std": d.std().item(),
                "bound sqrt(HW)": (ms.shape[-1] * ms.shape[-2]) ** 0.5,
            }
        )
        if variant == "v1":
            diffs.append((dt_[0], ds_[0], d[0].item()))
dist = pd.DataFrame(rows)
R.table(
    dist,
    "method_level_distance",
    "Per-level Euclidean distance between the student's and the teacher's normalised "
    "spectra over test images (the per-level term of the loss, before the sum over "
    "levels), beside its upper bound sqrt(H·W).",
    floatfmt=".3f",
)
fig, axes = plt.subplots(3, len(diffs), figsize=(2.0 * len(diffs), 5.6), squeeze=False)
for c, (t, s, d) in enumerate(diffs):
    panels = (("teacher", t), ("student", s), ("|difference|", (s - t).abs()))
    for r, (name, x) in enumerate(panels):
        axes[r, c].imshow(x.numpy(), cmap="viridis", vmin=0, vmax=1)
        axes[r, c].set_xticks([])
        axes[r, c].set_yticks([])
        if c == 0:
            axes[r, c].set_ylabel(name, fontsize="small")
    axes[0, c].set_title(f"level {c + 1}: d = {d:.2f}", fontsize="small")
fig.tight_layout()
R.figure(
    fig,
    "method_teacher_vs_student",
    "V1 spectra of the teacher and the DCT student for one test image at each level, "
    "their absolute difference and the distance d the loss sums over levels.",
)
dist
