"""Write the result notebooks 01–08 (without outputs) from the cell sources below.

The committed `.ipynb` files are the source of truth for users; this script keeps them
uniform (parameters cell, setup cell, metadata naming the experiment families each needs and
the figures and tables it must write). Run: `.venv/bin/python notebooks/generate.py`.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

PARAMETERS = '''\
profile = "quick"  # smoke | quick | paper, or the path of a profile YAML
results = None  # output folder (None: results/<profile> in the project)
data = None  # folder with one sub-folder per real dataset (None: $DCTKD_DATA)
overrides = []  # profile overrides, as given to `dctkd figures --set`
workers = 1  # training processes for runs this notebook still has to train'''


def setup(name: str, title: str, extra: str = "") -> str:
    imports = "from dctkd import plots, tables\nfrom dctkd.reports import Report\n" + extra
    return (f"%matplotlib inline\n{imports}\n"
            f"R = Report({name!r}, profile, results, data, overrides, workers, title={title!r})\n"
            "P = R.profile\nprint(P.description)")


NOTEBOOKS = {}


def notebook(name: str, title: str, families: list[str], outputs: dict, intro: str,
             cells: list[tuple[str, str]], extra_imports: str = "") -> None:
    NOTEBOOKS[name] = (title, families, outputs, intro, cells, extra_imports)


notebook(
    "01_method", "The method: activation maps and their spectra (SPEC A)", ["method"],
    {"figures": ["method_spectra_teacher", "method_spectra_student", "method_teacher_vs_student"],
     "tables": ["method_facts", "method_level_distance"]},
    """The DCT loss compares a student's and a teacher's **activation maps**
(`A = mean_c F²`, SPEC A.2) at every level, after a 2-D transform. The original code calls
its transform a DCT but takes the real part of an FFT (V1: its absolute value, V2: signed);
`dct2` is the exact orthonormal DCT-II. This notebook shows the maps of a trained teacher and
a DCT-distilled student at each level and **measures** the facts SPEC A.3–A.4 states: the
FFT spectra are point-symmetric (each coefficient counted twice), the mean removal zeroes
the DC coefficient, and the normalised spectrum ignores a positive affine change of the map.""",
    [
        ("md", "## Runs: a teacher and its DCT student"),
        ("code", """cells = R.cells("method")
runs = R.ensure(cells)
teacher_cell = next(c for c in cells if c.label == "Teacher")
student_cell = next(c for c in cells if c.label != "Teacher")
teacher = runs[teacher_cell.run_id].load_model("best")
student = runs[student_cell.run_id].load_model("best")
ds = reports.dataset(teacher_cell.cfg, "test")
n = min(16, len(ds))
images = torch.stack([ds[i][0] for i in range(n)])
maps_t = analysis.activation_maps(teacher, images)
maps_s = analysis.activation_maps(student, images)
print(f"{n} test images; map sizes per level:", [tuple(m.shape[1:]) for m in maps_t])"""),
        ("md", "## Maps and spectra at each level"),
        ("code", """image = reports.display_image(ds, teacher_cell.cfg, 0)
for who, maps, cell in (("teacher", maps_t, teacher_cell), ("student", maps_s, student_cell)):
    fig = spectra.spectra_figure(image, [m[0] for m in maps],
                                 title=f"{cell.cfg.model} ({cell.label})")
    R.figure(fig, f"method_spectra_{who}",
             f"Activation map of the {who} ({cell.cfg.model}, {cell.label}) at each level over "
             "a test image, and its normalised V1, V2 and DCT-II spectra (zero frequency at "
             "the top left).")"""),
        ("md", """## The facts, measured
Each row is a level and a transform; every column is the maximum over the test images.
*point symmetry error*: `max|T[k] − T[−k]| / max|T|` of the transform before its final
normalisation; *DC / max coefficient*: the zero-frequency coefficient after mean removal;
*affine invariance error*: the largest change of the normalised spectrum when the map is
replaced by `3.7·A + 0.25·mean(A)`; *Parseval error*: relative change of energy under the
orthonormal DCT-II; *distinct coefficients*: share of coefficients that are not duplicates."""),
        ("code", """facts = spectra.facts(maps_t)
R.table(facts, "method_facts",
        "Properties of the spectra measured on the teacher's activation maps of test images "
        "(maximum over images): FFT-based V1/V2 spectra are point-symmetric and about half of "
        "their coefficients are duplicates; every variant has a zero DC term and is invariant "
        "to a positive affine change of the map.", floatfmt=".3g")
facts"""),
        ("code", """fft = facts[facts.variant != spectra.VARIANT_NAMES["dct2"]]
dct = facts[facts.variant == spectra.VARIANT_NAMES["dct2"]]
print(f"V1/V2 point-symmetry error ≤ {fft['point symmetry error'].max():.1e}; "
      f"DCT-II: {dct['point symmetry error'].min():.2f}–{dct['point symmetry error'].max():.2f}")
print(f"largest |DC| / max: {facts['DC / max coefficient'].max():.1e}; "
      f"largest affine invariance error: {facts['affine invariance error'].max():.1e}")
print(f"distinct coefficients: V1/V2 {fft['distinct coefficients (%)'].mean():.0f} %, "
      f"DCT-II {dct['distinct coefficients (%)'].mean():.0f} %")"""),
        ("md", "## Student against teacher, level by level (V1, the published loss)"),
        ("code", """rows = []
diffs = []
for level, (ms, mt) in enumerate(zip(maps_s, maps_t, strict=True), start=1):
    for variant in ("v1", "v2", "dct2"):
        ds_, dt_ = dct_loss.spectrum(ms, variant), dct_loss.spectrum(mt, variant)
        d = (ds_ - dt_).flatten(1).norm(dim=1)
        rows.append({"level": level, "variant": spectra.VARIANT_NAMES[variant],
                     "distance mean": d.mean().item(), "distance std": d.std().item(),
                     "bound sqrt(HW)": (ms.shape[-1] * ms.shape[-2]) ** 0.5})
        if variant == "v1":
            diffs.append((dt_[0], ds_[0], d[0].item()))
dist = pd.DataFrame(rows)
R.table(dist, "method_level_distance",
        "Per-level Euclidean distance between the student's and the teacher's normalised "
        "spectra over test images (the per-level term of the loss, before the sum over "
        "levels), beside its upper bound sqrt(H·W).", floatfmt=".3f")
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
R.figure(fig, "method_teacher_vs_student",
         "V1 spectra of the teacher and the DCT student for one test image at each level, "
         "their absolute difference and the distance d the loss sums over levels.")
dist"""),
    ],
    "import pandas as pd\nimport torch\nimport matplotlib.pyplot as plt\n"
    "from dctkd import analysis, reports, spectra\nfrom dctkd.losses import dct as dct_loss\n",
)

notebook(
    "02_teachers_baselines", "Teachers and baselines (SPEC G1–G2)", ["teachers", "baselines"],
    {"figures": ["teachers_baselines_curves"], "tables": ["teachers_baselines"]},
    """The teachers (ImageNet-pretrained ResNet-50/152 fine-tuned at LR 0.01 under `paper`)
and the students trained alone (the *baseline* rows). Every distilled student is compared
with the baseline of its architecture; the teacher bounds what distillation can pass on.""",
    [
        ("code", """cells = R.cells("teachers", "baselines")
runs = R.ensure(cells)
df = tables.collect(cells, runs)
table = tables.models_table(df, {k: d.get("published") for k, d in P.datasets.items()})
R.table(table, "teachers_baselines",
        "Test accuracy (%) of each teacher and of each student trained alone, for the "
        "val-selected checkpoint and the last epoch (mean ± std over seeds).")
table"""),
        ("code", """curves = {}
for cell in cells:
    key = f"{cell.dataset}: {cell.cfg.model} ({'teacher' if cell.label == 'Teacher' else 'alone'})"
    curves.setdefault(key, []).append(runs[cell.run_id].history())
fig = plots.curves_plot(curves, y="val_top1")
R.figure(fig, "teachers_baselines_curves",
         "Validation Top-1 (held-out part of the training split) per epoch of the teachers "
         "and of the students trained alone; bands are ± std over seeds.")"""),
    ],
)

notebook(
    "03_main_results", "Main results: every method alone and + KD (SPEC F.1–F.3)", ["main"],
    {"figures": ["main_*_top1"], "tables": ["main_*"]},
    """For each dataset and teacher→student pair: the teacher, the student alone, each
distillation method alone and with the logit KD term added (`+ KD`: β = 0.1, δ = 1, T = 4),
Top-1 / Top-5 / mean class accuracy of the checkpoint selected on a held-out validation split
and of the last epoch, mean ± std over seeds. Under the `paper` profile the published Top-1
(June 2021 README) stands beside each reproduced value.""",
    [
        ("code", """cells = R.cells("main")
runs = R.ensure(cells)
df = tables.collect(cells, runs)
order = tables.label_order(P.main_methods())
datasets = list(dict.fromkeys(df["dataset"]))"""),
        ("code", """for ds in datasets:
    published = P.datasets[ds].get("published")
    table = tables.main_table(df, ds, order, published=published)
    R.table(table, f"main_{ds}",
            f"{P.title(ds)}: test accuracy (%) per method and teacher→student pair, "
            "val-selected checkpoint and last epoch, mean ± std over seeds"
            + ("; the published Top-1 of the original README beside it." if published else ".")
            + tables.diverged_note(df[df["dataset"] == ds]))
    display(Markdown(f"### {P.title(ds)}"))
    display(table)"""),
        ("code", """for ds in datasets:
    fig = report_plots.method_bars(df[df["dataset"] == ds], order, "top1", title=P.title(ds))
    R.figure(fig, f"main_{ds}_top1",
             f"{P.title(ds)}: Top-1 (%) of the val-selected checkpoint per method, mean ± std "
             "over seeds; hatched bars add the KD term, the dashed line is the teacher."
             + tables.diverged_note(df[df["dataset"] == ds]))"""),
        ("md", "### What the numbers say (computed from the runs)"),
        ("code", """for ds in datasets:
    sub = df[(df["dataset"] == ds) & (df["label"] != "Teacher")]
    means = sub.groupby(["pair", "label"])["top1"].mean().unstack(0)
    for pair in means.columns:
        col = means[pair].dropna().sort_values(ascending=False)
        base = col.get("Baseline", float("nan"))
        alone = col[[x for x in col.index if "KD" not in x and x != "Baseline"]]
        dct, at = col.get("DCT", float("nan")), col.get("AT", float("nan"))
        print(f"{P.title(ds)}, {pair}: best overall {col.index[0]} ({col.iloc[0]:.2f}); "
              f"best method alone {alone.index[0]} ({alone.iloc[0]:.2f}); "
              f"baseline {base:.2f}; DCT {dct:.2f} vs AT {at:.2f}")"""),
    ],
    "from IPython.display import Markdown, display\nfrom dctkd import report_plots\n",
)

notebook(
    "04_ablation_alpha", "Ablation on the DCT weight alpha (SPEC F.4)", ["alpha"],
    {"figures": ["alpha_ablation"], "tables": ["alpha_ablation"]},
    """The weight α of the DCT term swept around its default (1), the student alone as the
reference line. Under `paper` (ADE20K, R50 → R18) the published curve of the original
figure script is overlaid.""",
    [
        ("code", """cells = R.cells("alpha")
runs = R.ensure(cells)
df = tables.collect(cells, runs)
f = P.family("alpha")
pair = P.pairs(f["dataset"])[f.get("pair", 0)]
published = (P.datasets[f["dataset"]].get("published") == "ADE20K"
             and pair == ("resnet50", "resnet18"))
table = tables.alpha_table(df, published=published)
R.table(table, "alpha_ablation",
        f"{P.title(f['dataset'])}, {pair[0]} → {pair[1]}: test accuracy (%) of the DCT student "
        "for each alpha (val-selected checkpoint, mean ± std over seeds) and of the student "
        "alone" + ("; published values of the original figure beside." if published else ".")
        + tables.seed_note(df) + tables.diverged_note(df))
table"""),
        ("code", """fig = plots.alpha_plot(tables.alpha_frame(df), reference=tables.reference(df),
                      published=tables.published_alpha_frame() if published else None)
R.figure(fig, "alpha_ablation",
         "Test accuracy against the DCT weight alpha (log axis), mean ± std over seeds; dotted: "
         "the student alone" + ("; grey crosses: the published curve." if published else "."))
best = tables.alpha_frame(df).groupby("alpha")["top1"].mean()
print(f"best alpha by Top-1: {best.idxmax():g} ({best.max():.2f}); "
      f"alpha = 1: {best.get(1.0, float('nan')):.2f}")"""),
    ],
)

notebook(
    "05_ablation_design", "Design ablations of the DCT term", ["design"],
    {"figures": ["design_ablation"], "tables": ["design_ablation"]},
    """Three choices of the method, each varied alone with the rest at the published
setting: the **transform** (V1 `|Re FFT2|` as published, V2 signed `Re FFT2`, the exact
DCT-II, and AT's spatial maps as the no-transform reference), **PRED_GUIDE** (distil only the
samples the teacher classifies correctly) and **which levels** are distilled.""",
    [
        ("code", """cells = R.cells("design")
runs = R.ensure(cells)
df = tables.collect(cells, runs)
groups = experiments.DESIGN_GROUPS
table = tables.design_table(df, groups)
f = P.family("design")
R.table(table, "design_ablation",
        f"{P.title(f['dataset'])}: test accuracy (%) of the DCT student when one design "
        "choice changes (val-selected checkpoint, mean ± std over seeds); Δ is against the "
        "first (published) setting of each group." + tables.seed_note(df)
        + tables.diverged_note(df))
table"""),
        ("code", """fig = report_plots.design_plot(df, groups)
R.figure(fig, "design_ablation",
         "Top-1 (%) per design setting, mean ± std over seeds; dotted: the student alone.")"""),
    ],
    "from dctkd import experiments, report_plots\n",
)

notebook(
    "06_baseline_alpha", "Sensitivity of the baselines to their alpha (SPEC F.5)",
    ["baseline_alpha"],
    {"figures": ["baseline_alpha_curves", "baseline_alpha_box"], "tables": ["baseline_alpha"]},
    """Were the baselines handicapped by their weights? Each baseline's α is scaled by
(1 + p) around its published value (p = 0 is the main table's run), as the original's later
alpha search did; the DCT student at its default α and the student alone are the reference
lines.""",
    [
        ("code", """cells = R.cells("baseline_alpha")
runs = R.ensure(cells)
df = tables.collect(cells, runs)
f = P.family("baseline_alpha")
alphas = {m: experiments.default_alpha(m) for m in f["methods"]}
part = tables.sensitivity_frame(df, alphas)
table = tables.sensitivity_table(part)
R.table(table, "baseline_alpha",
        f"{P.title(f['dataset'])}: Top-1 (%) of each baseline when its alpha is changed by the "
        "given percentage of its published value (mean ± std over seeds), and the best change."
        + tables.seed_note(df) + tables.diverged_note(df))
table"""),
        ("code", """refs = {"DCT": float(df[df.label == "DCT"]["top1"].mean()),
        "Baseline": float(df[df.label == "Baseline"]["top1"].mean())}
R.figure(report_plots.sensitivity_plot(part, refs), "baseline_alpha_curves",
         "Top-1 against the change of each baseline's alpha (mean ± std over seeds); dotted: "
         "DCT at its default alpha and the student alone.")
R.figure(report_plots.sensitivity_box(part, refs), "baseline_alpha_box",
         "Spread of each baseline's Top-1 over the alpha changes tried; crosses: the published "
         "alpha; red line: DCT at its default alpha.")"""),
    ],
    "from dctkd import experiments, report_plots\n",
)

notebook(
    "07_val_curves", "Validation curves per method (SPEC F.7)", ["curves"],
    {"figures": ["val_curves"], "tables": ["val_curves_summary"]},
    """Validation Top-1 per epoch for one teacher→student pair: methods alone as solid
lines, with the KD term dashed, DCT in green as in the original figure. The validation split
is held out from the training data (the original selected and plotted on the test split).""",
    [
        ("code", """cells = R.cells("curves")
runs = R.ensure(cells)
curves = tables.histories(cells, runs)
note = tables.diverged_note(tables.collect(cells, runs))
f = P.family("curves")
fig = plots.curves_plot(curves, y="val_top1", max_x=f.get("max_epoch"))
R.figure(fig, "val_curves",
         f"{P.title(f['dataset'])}: validation Top-1 per epoch for each method "
         "(dashed: with the KD term); bands are ± std over seeds." + note)
summary = tables.final_val_table(curves)
R.table(summary, "val_curves_summary",
        "Best and last-epoch validation Top-1 (%) of each curve, and the epoch of the best "
        "(mean ± std over seeds)." + note)
summary"""),
    ],
)

notebook(
    "08_per_class", "Per-class accuracy and confusion matrices (SPEC G13)", ["per_class"],
    {"figures": ["per_class_*", "confusion_*", "per_class_gain"], "tables": ["per_class"]},
    """Where the distilled students gain: test accuracy per class for the teacher, the
student alone and the distilled students, their confusion matrices (row-normalised), and
the per-class change of the DCT student over the student alone.""",
    [
        ("code", """cells = R.cells("per_class")
runs = R.ensure(cells)
f = P.family("per_class")
table = tables.per_class_table(cells, runs)
R.table(table, "per_class",
        f"{P.title(f['dataset'])}: test accuracy (%) per class of each model (val-selected "
        "checkpoint, one seed); the last row is the mean class accuracy."
        + tables.diverged_note(tables.collect(cells, runs)))
table"""),
        ("code", """classes = table[table["class"] != ""]["name"].astype(str).tolist()
for cell in cells:
    slug = "teacher" if cell.label == "Teacher" else cell.cfg.method.name.replace("+", "_")
    run = runs[cell.run_id]
    acc = tables.per_class(run)["accuracy"].to_numpy()
    R.figure(plots.per_class_plot(acc, classes), f"per_class_{slug}",
             f"Per-class test accuracy of {cell.cfg.model} ({cell.label}); dashed: the mean.")
    R.figure(plots.confusion_plot(tables.confusion(run), classes), f"confusion_{slug}",
             f"Row-normalised test confusion matrix of {cell.cfg.model} ({cell.label}).")"""),
        ("code", """labels = [c.label for c in cells]
if "DCT" in labels and "Baseline" in labels:
    R.figure(report_plots.per_class_delta(table, "DCT", "Baseline"), "per_class_gain",
             "Per-class test accuracy of the DCT student minus the student alone (points).")"""),
    ],
    "from dctkd import report_plots\n",
)


def build(name: str) -> nbformat.NotebookNode:
    title, families, outputs, intro, cells, extra = NOTEBOOKS[name]
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["dctkd"] = {"title": title, "families": families, "outputs": outputs}
    nb.cells.append(new_markdown_cell(f"# {title}\n\n{intro}"))
    params = new_code_cell(PARAMETERS)
    params.metadata["tags"] = ["parameters"]
    nb.cells.append(params)
    nb.cells.append(new_code_cell(setup(name, title, extra)))
    for kind, source in cells:
        nb.cells.append(new_markdown_cell(source) if kind == "md" else new_code_cell(source))
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"{name[:2]}-{i:02d}"
    return nb


def main() -> None:
    for name in NOTEBOOKS:
        nbformat.write(build(name), HERE / f"{name}.ipynb")
        print(f"wrote {name}.ipynb")


if __name__ == "__main__":
    main()
