"""Write the attention notebooks 09–13 (without outputs) through the builder of `generate.py`.

Same registry and layout as notebooks 01–08 (parameters cell, setup cell, metadata naming
the experiment families and the figures and tables each must write); each notebook's own
parameters (how many test images to analyse, which seed or images to show) follow the shared
ones in its parameters cell. Run: `.venv/bin/python notebooks/generate_attention.py`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import generate as gen  # noqa: E402

STUDY = "from dctkd import attention_study as study\n"
PARAMETERS: dict[str, str] = {}

MEMBERS = """cells = R.cells("attention")
runs = R.ensure(cells)
members = study.load(cells, runs)
teacher_cell = next(c for c in cells if c.label == "Teacher")
print("models:", ", ".join(f"{m.label} (seed {m.seed})" for m in members))"""
LOAD = MEMBERS + """
shown_seed = seed if seed is not None else min(m.seed for m in study.students(members))
models = study.one_seed(members, shown_seed)"""


def notebook(name: str, title: str, families: list[str], outputs: dict, intro: str,
             parameters: str, cells: list[tuple[str, str]], imports: str = "") -> None:
    gen.notebook(name, title, families, outputs, intro, cells, imports + STUDY)
    PARAMETERS[name] = parameters


notebook(
    "09_attention_maps", "Activation maps of teacher and students (SPEC F.6)", ["attention"],
    {"figures": ["attention_maps_*"], "tables": ["attention_maps_images"]},
    """The original's qualitative figure: for a few test images, the **activation map**
(`mean_c F²`, SPEC A.2) of each model at every level, upsampled to the image, min–max scaled
per map and overlaid (jet, half transparent). Rows: the student trained alone, the teacher,
the AT student, the DCT student and DCT + KD, all students of one seed. The images are given
by `images`, or chosen by rule: the first test images where the teacher and the DCT student
are right and the student alone is wrong (the original's `Correct/` examples), then weaker
rules when too few exist. The table lists the rule each image met and every prediction.""",
    '''seed = None  # seed of the students shown (None: the smallest)
images = None  # dataset indices to show (None: chosen by rule among the first n_samples)
image_split = "test"  # split the images come from (always un-augmented)
n_images = 3  # images chosen by rule
n_samples = 500  # test images searched by the rule''',
    [
        ("code", LOAD),
        ("md", "## Which images"),
        ("code", """if images is None:
    pool = study.first_samples(teacher_cell.cfg, n_samples, image_split)
    preds = study.predictions(models, pool.images)
    correct = {k: v == pool.targets.numpy() for k, v in preds.items()}
    chosen = study.choose_images(correct, n_images)
else:
    pool = study.first_samples(teacher_cell.cfg, split=image_split, indices=images)
    preds = study.predictions(models, pool.images)
    chosen = pd.DataFrame({"position": range(len(pool)), "rule": "given"})
shown = pool.subset(chosen["position"])
info = study.image_table(pool, chosen, preds)
R.table(info, "attention_maps_images",
        f"The {image_split} images of the activation-map figures, the rule each met and each "
        f"model's prediction (students of seed {shown_seed}).")
info"""),
        ("md", "## Maps at every level"),
        ("code", """rows = study.am_rows(models, shown.images)
for j in range(len(shown)):
    image_id, name = int(shown.indices[j]), info["class"][j]
    fig = plots.am_grid(shown.image(j), study.row_of(rows, j),
                        title=f"{image_split} image {image_id}: {name}")
    fig.tight_layout(pad=0.3, rect=(0, 0, 1, 0.95))
    R.figure(fig, f"attention_maps_{j + 1}",
             f"Activation maps at each level of {image_split} image {image_id} (class {name}; "
             f"{info['rule'][j]}): the student alone, the teacher, AT, DCT and DCT + KD "
             f"(students of seed {shown_seed}); each map min–max scaled on its own.")"""),
    ],
    "import pandas as pd\n",
)

notebook(
    "10_attention_overlap", "Attention overlap with the teacher per method and level (SPEC F.8)",
    ["attention"],
    {"figures": ["attention_overlap"], "tables": ["attention_overlap"]},
    """How closely does each student's attention follow its teacher's? For every student
(each seed) and level, over the first `n_samples` test images **that the teacher classifies
correctly** (SPEC F.8):
- **SSIM** of the two maps upsampled to 56 px and min–max scaled (the original ran an
  11 × 11 window on 7 × 7 maps, so it mostly measured its zero padding: SPEC H.2 item 9);
- **Pearson** correlation over pixels; **top-q IoU** of the two maps' top-`q` regions;
- on synthetic scenes, the share of the map's **mass on the class-defining objects**
  (the generator's masks), beside the teacher's own share and a uniform map's (the objects'
  area).

Each value is a mean over samples for one seed; tables and plots give mean ± std over seeds.
The student trained alone never saw the teacher: its overlap is what architecture and data
give for free, the reference every distilled student is measured against.""",
    '''n_samples = 200  # first test images analysed (the cost grows with it and the seeds)
q = 0.2  # share of pixels in the top-q regions compared by IoU''',
    [
        ("code", MEMBERS),
        ("code", """samples = study.first_samples(teacher_cell.cfg, n_samples)
frame = study.overlap_frame(members, samples, q=q)
per_seed = study.seed_means(frame)
kept, n_kept = frame["kept"].iloc[0], int(per_seed["n"].iloc[0])
print(f"{n_kept} {kept} of the first {len(samples)} test images")
table = study.overlap_table(per_seed)
R.table(table, "attention_overlap",
        f"Overlap of each student's activation maps with the teacher's, per level, over the "
        f"{n_kept} {kept} among the first {len(samples)} test images: mean ± std over seeds "
        f"of the per-seed mean. SSIM at 56 px, Pearson, IoU of the top-{q:.0%} regions, share "
        "of the map's mass on the class-defining objects (Teacher: its own share; Chance: "
        "the objects' area).")
table"""),
        ("code", """measures = [m for m in study.MEASURES if m in per_seed.columns]
shown = study.plot_frame(per_seed)
fig = plots.overlap_plot(shown, measures, order=study.order_labels(list(shown["method"])))
study.mark_chance(fig, per_seed, measures)
R.figure(fig, "attention_overlap",
         "Overlap of each student's activation maps with the teacher's against the level, "
         "mean ± std over seeds (teacher-correct test images); in the mass panel the "
         "teacher's own share and, dotted, a uniform map's.")"""),
        ("md", "### DCT against AT and the student alone (means over seeds, computed)"),
        ("code", """for m in measures:
    for other in ("AT", "Baseline"):
        diff = study.compare(per_seed, m, "DCT", other)
        print(f"{study.MEASURE_NAMES[m]:>16}, DCT − {other:8}: " + ", ".join(
            f"level {lvl}: {d:+.3f}" for lvl, d in diff.iloc[:, 2].items()))"""),
    ],
)

notebook(
    "11_gradcam", "Grad-CAM of teacher and students", ["attention"],
    {"figures": ["gradcam", "gradcam_overlap"], "tables": ["gradcam_overlap"]},
    """Grad-CAM (the `grad-cam` package) of the **true class** at the last level for the
teacher, the student alone and the distilled students. Unlike the activation map, Grad-CAM
weighs each channel by the gradient of the class score, so it shows what the decision rests
on. The overlap with the teacher's Grad-CAM is measured on **raw** CAMs (before the package's
per-image display rescaling) with the measures of notebook 10, over the teacher-correct
samples among the first `n_samples` test images; the figure shows images chosen by the rule
of notebook 09.""",
    '''seed = None  # seed of the students shown in the figure (None: the smallest)
n_images = 4  # images in the figure, chosen by rule
n_samples = 200  # first test images analysed (the cost grows with it and the seeds)
q = 0.2  # share of pixels in the top-q regions compared by IoU''',
    [
        ("code", LOAD),
        ("code", """samples = study.first_samples(teacher_cell.cfg, n_samples)
preds = study.predictions(models, samples.images)
correct = {k: v == samples.targets.numpy() for k, v in preds.items()}
chosen = study.choose_images(correct, n_images)
shown = samples.subset(chosen["position"])
cams = study.gradcam_maps(models, shown.images, shown.targets)
fig = plots.gradcam_grid(torch.stack([shown.image(j) for j in range(len(shown))]), cams)
R.figure(fig, "gradcam",
         f"Grad-CAM of the true class at the last level for test images "
         f"{', '.join(str(i) for i in shown.indices)} (rules: "
         f"{', '.join(dict.fromkeys(chosen['rule']))}); students of seed {shown_seed}; each "
         "map min–max scaled for display only.")"""),
        ("code", """frame = study.overlap_frame(members, samples, kind="gradcam", q=q)
per_seed = study.seed_means(frame)
kept, n_kept = frame["kept"].iloc[0], int(per_seed["n"].iloc[0])
table = study.overlap_table(per_seed)
R.table(table, "gradcam_overlap",
        f"Overlap of each student's raw Grad-CAM (true class, last level) with the "
        f"teacher's, over the {n_kept} {kept} among the first {len(samples)} test images: "
        "mean ± std over seeds of the per-seed mean (measures as for the activation maps).")
measures = [m for m in study.MEASURES if m in per_seed.columns]
part = study.plot_frame(per_seed)
fig = plots.overlap_plot(part, measures, order=study.order_labels(list(part["method"])))
study.mark_chance(fig, per_seed, measures)
R.figure(fig, "gradcam_overlap",
         "Overlap of each student's raw Grad-CAM with the teacher's (last level), mean ± std "
         "over seeds; in the mass panel the teacher's own share and, dotted, a uniform map's.")
table"""),
    ],
    "import torch\n",
)

notebook(
    "12_embeddings", "Embeddings: t-SNE and silhouette per model", ["attention"],
    {"figures": ["embeddings_tsne"], "tables": ["embeddings_silhouette"]},
    """How cleanly each network separates the classes in the vector its classifier reads
(the pooled last-stage features): a t-SNE of the first `n_samples` test images for the
teacher and the students of one seed, coloured by true class, and the **silhouette score** of
the embeddings themselves (Euclidean, grouped by true class: near 1 for tight, separated
clusters, near 0 for overlapping ones), mean ± std over seeds. The t-SNE picture is for the
eye; the score is computed before it.""",
    '''seed = None  # seed of the students in the t-SNE figure (None: the smallest)
n_samples = 300  # first test images embedded
tsne_seed = 0  # seed of the t-SNE layout''',
    [
        ("code", LOAD),
        ("code", """samples = study.first_samples(teacher_cell.cfg, n_samples)
points, scores, labels = study.tsne_points(models, samples, seed=tsne_seed)
fig = plots.tsne_plot(points, labels, scores, samples.classes)
R.figure(fig, "embeddings_tsne",
         f"t-SNE of the penultimate features of the first {len(samples)} test images, coloured "
         f"by true class (students of seed {shown_seed}); the silhouette score in each title "
         "is computed on the features, not on the picture.")"""),
        ("code", """sil = study.silhouette_frame(members, samples)
table = study.silhouette_table(sil)
R.table(table, "embeddings_silhouette",
        f"Silhouette score of the penultimate features of the first {len(samples)} test "
        "images, grouped by true class (Euclidean), mean ± std over seeds.")
table"""),
    ],
)

notebook(
    "13_k_study", "Multi- vs single-attention: the gain of DCT against k", ["kstudy"],
    {"figures": ["kstudy_gains", "kstudy_accuracy"], "tables": ["kstudy_gains", "kstudy_models"]},
    """Does the DCT loss help more when a scene class is defined by **several objects**?
Synthetic scenes in which each class is a set of k object kinds among distractors (k = 1…4
under `quick`); for each k a teacher, the student alone, AT and DCT students over several
seeds. For k > 1 no single object identifies the class: the **one-object ceiling** (the best
accuracy of a classifier shown one class-defining object) falls to 50 % or less, so a good
network must attend to several places at once. Against k: the gain of DCT over AT and over
the student alone in Top-1 (val-selected checkpoint, from the run files) and in attention
overlap with that k's teacher (measures of notebook 10, averaged over levels and
teacher-correct test images), paired by seed, mean ± std over seeds.""",
    '''n_samples = 150  # first test images of each k analysed for the overlap (cost: k x seeds)
q = 0.2  # share of pixels in the top-q regions compared by IoU''',
    [
        ("code", """cells = R.cells("kstudy")
runs = R.ensure(cells)
accuracy = study.kstudy_accuracy(cells, runs)
overlap = study.kstudy_overlap(cells, runs, n_samples, q=q)
frame = accuracy.merge(overlap, on=["k", "method", "seed"], how="left")
ceiling = study.ceilings(cells)
models_table = study.kstudy_models_table(frame)
R.table(models_table, "kstudy_models",
        f"Per k: Top-1 (%) of each model (val-selected checkpoint) and the overlap of each "
        f"student's activation maps with that k's teacher (first {n_samples} test images, "
        "teacher-correct ones, mean over levels; Teacher: its own mass on the objects), "
        "mean ± std over seeds.")
models_table"""),
        ("code", """gains = study.kstudy_gains(frame)
table = study.kstudy_table(gains, ceiling)
R.table(table, "kstudy_gains",
        "Gain of the DCT student over AT and over the student alone per k (per seed, paired by "
        "seed; mean ± std over seeds): Top-1 in points, overlap measures in their own units, "
        "beside the one-object ceiling of each k.")
fig = plots.k_study_plot(gains, panel="quantity")
R.figure(fig, "kstudy_gains",
         "Gain of DCT over AT and over the student alone against the number k of "
         "class-defining objects, mean ± std over seeds (Top-1 in points; overlap with the "
         "teacher's activation maps averaged over levels).")
fig = plots.k_study_plot(study.accuracy_vs_k(frame, ceiling), y="Top-1 (%)", hue="series",
                         palette={"one-object ceiling": "#d62728"})
fig.set_size_inches(5.4, 3.0)
fig.axes[-1].legend(fontsize="small", frameon=False, bbox_to_anchor=(1.02, 1), loc="upper left")
fig.tight_layout()
R.figure(fig, "kstudy_accuracy",
         "Top-1 (%) of each model against k, mean ± std over seeds, and the one-object "
         "ceiling: the best accuracy from a single class-defining object.")
table"""),
        ("md", "### The trend, computed"),
        ("code", """by = ["comparison", "quantity"]
for (comp, quantity), part in gains.groupby(by, sort=False):
    means = part.groupby("k")["gain"].mean()
    print(f"{comp:>15}, {quantity:>16}: " + ", ".join(
        f"k={k}: {v:+.3f}" for k, v in means.items()))"""),
    ],
)

NAMES = list(PARAMETERS)


def build(name: str) -> nbformat.NotebookNode:
    """`generate.build`, with this notebook's own parameters after the shared ones."""
    nb = gen.build(name)
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    params.source = f"{params.source}\n{PARAMETERS[name]}"
    return nb


def main() -> None:
    for name in NAMES:
        nbformat.write(build(name), HERE / f"{name}.ipynb")
        print(f"wrote {name}.ipynb")


if __name__ == "__main__":
    main()
