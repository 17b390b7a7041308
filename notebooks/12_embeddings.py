# ---
# jupyter:
#   dctkd:
#     families:
#     - attention
#     outputs:
#       figures:
#       - embeddings_tsne
#       tables:
#       - embeddings_silhouette
#       - embeddings_silhouette_claims
#     title: 'Embeddings: t-SNE and silhouette per model'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Embeddings: t-SNE and silhouette per model
#
# How cleanly each network separates the classes in the vector its classifier reads
# (the pooled last-stage features): a t-SNE of the first `n_samples` test images for the
# teacher and the students of one seed, coloured by true class, and the **silhouette score** of
# the embeddings themselves (Euclidean, grouped by true class: near 1 for tight, separated
# clusters, near 0 for overlapping ones), mean ± std over seeds. The t-SNE picture is for the
# eye; the score is computed before it.
#
# The paper's claim — the DCT student's features are better separated — is tested as the
# silhouette difference DCT − other paired by seed, against AT, the student alone, KD and
# ReviewKD, with a 95 % Student-t interval over seeds.

# %% tags=["parameters"]
profile = "quick"  # smoke | quick | paper, or the path of a profile YAML
results = None  # output folder (None: results/<profile> in the project)
data = None  # folder with one sub-folder per real dataset (None: $DCTKD_DATA)
overrides = []  # profile overrides, as given to `dctkd figures --set`
workers = 1  # training processes for runs this notebook still has to train
seed = None  # seed of the students in the t-SNE figure (None: the smallest)
n_samples = 300  # first test images embedded
tsne_seed = 0  # seed of the t-SNE layout

# %%
# %matplotlib inline
from dctkd import analysis
from dctkd.report import Report, claims, image_figures, study

R = Report("12_embeddings", profile, results, data, overrides, workers)
P = R.profile
print(P.description)

# %%
cells = R.cells("attention")
family = study.load_family(cells, R.ensure(cells), seed)
print(family)
members, teacher_cell = family.members, family.teacher_cell
shown_seed, models = family.seed, family.models

# %%
samples = analysis.first_samples(teacher_cell.cfg, n_samples)
points, scores, labels = analysis.tsne_points(models, samples, seed=tsne_seed)
fig = image_figures.tsne_plot(points, labels, scores, samples.classes)
R.figure(
    fig,
    "embeddings_tsne",
    f"t-SNE of the penultimate features of the first {len(samples)} test images, coloured "
    f"by true class (students of seed {shown_seed}); the silhouette score in each title "
    "is computed on the features, not on the picture.",
)

# %%
sil = analysis.silhouette_frame(members, samples)
table = study.silhouette_table(sil)
R.table(
    table,
    "embeddings_silhouette",
    f"Silhouette score of the penultimate features of the first {len(samples)} test "
    "images, grouped by true class (Euclidean), mean ± std over seeds.",
)
table

# %% [markdown]
# ### Are DCT's features better separated? Paired by seed
#
# A higher silhouette is better: a claim is *supported* when the 95 % interval of
# `DCT − other` over paired seeds lies above 0, *contradicted* when it lies below,
# *unresolved* when it holds 0, and has *too few seeds* without an interval (one seed).

# %%
found = study.silhouette_claims(sil)
R.table(
    found,
    "embeddings_silhouette_claims",
    f"DCT against AT, the student alone, KD and ReviewKD: the silhouette difference DCT − other "
    f"of the penultimate features of the first {len(samples)} test images, its mean over "
    "paired seeds and the 95 % Student-t interval; the verdict reads the interval in the "
    "silhouette's direction (higher is better).",
)
print("\n".join(claims.metric_sentences(found)))
found
