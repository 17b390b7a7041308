"""House-style figures and tables: every figure function draws and saves to PNG and PDF."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from dctkd.losses import METHODS  # noqa: E402
from dctkd.report import figures as plots  # noqa: E402
from dctkd.report import image_figures, style  # noqa: E402

RNG = np.random.default_rng(0)


def _assert_saved(fig, name, tmp_path):
    paths = style.save_figure(fig, name, tmp_path, dpi=60)
    plt.close(fig)
    assert [p.name for p in paths] == [f"{name}.png", f"{name}.pdf"]
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert paths[1].read_bytes()[:5] == b"%PDF-"
    assert all(p.stat().st_size > 1000 for p in paths)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)


def test_method_styles_are_fixed_per_method():
    assert style.method_color("dct") == style.method_color("DCT + KD") == METHODS["dct"].colour
    assert style.method_style("dct")["linestyle"] == "-"
    assert style.method_style("dct+kd")["linestyle"] == "--"
    assert style.method_style("kd")["linestyle"] == "--"
    assert style.method_color("none") == style.method_color("baseline")
    assert style.method_label("at+kd") == "AT + KD" and style.method_label("none") == "Baseline"
    assert style.method_label("ckd") == "SemCKD"
    assert style.method_label("SemCKD + KD") == "SemCKD + KD"
    assert style.method_color("mystery") == style.method_color("mystery")
    colours = [m.colour for m in METHODS.values()]
    assert len(set(colours)) == len(colours)


def test_am_grid(tmp_path):
    image = torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)
    rows = {
        m: [torch.rand(32, 32), torch.rand(16, 16), torch.rand(8, 8)]
        for m in ("baseline", "teacher", "at", "dct")
    }
    _assert_saved(image_figures.am_grid(image, rows, title="sample 3"), "am_grid", tmp_path)


def test_gradcam_grid(tmp_path):
    images = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    cams = {"teacher": torch.rand(2, 8, 8), "dct": torch.zeros(2, 8, 8)}
    _assert_saved(image_figures.gradcam_grid(images, cams), "gradcam_grid", tmp_path)


def test_overlap_plot(tmp_path):
    frame = pd.DataFrame(
        {
            "method": np.repeat(["baseline", "at", "dct", "dct+kd"], 6),
            "level": np.tile([0, 1, 2], 8),
            "ssim": RNG.random(24),
            "pearson": RNG.random(24),
            "iou": RNG.random(24),
        }
    )
    _assert_saved(image_figures.overlap_plot(frame), "overlap", tmp_path)
    with pytest.raises(ValueError, match="method"):
        image_figures.overlap_plot(frame.drop(columns="method"))


def test_tsne_plot(tmp_path):
    labels = np.repeat(np.arange(3), 5)
    points = {"teacher": RNG.normal(size=(15, 2)), "dct": RNG.normal(size=(15, 2))}
    fig = image_figures.tsne_plot(points, labels, {"teacher": 0.41, "dct": 0.2}, ["a", "b", "c"])
    assert "silhouette 0.41" in fig.axes[0].get_title()
    _assert_saved(fig, "tsne", tmp_path)


def test_alpha_plot(tmp_path):
    alphas = [0.3, 1.0, 3.0]
    runs = pd.DataFrame(
        {
            "alpha": np.repeat(alphas, 2),
            "top1": RNG.random(6) * 100,
            "top5": RNG.random(6) * 100,
            "mca": RNG.random(6) * 100,
        }
    )
    published = pd.DataFrame({"alpha": alphas, "top1": [46.0, 47.3, 48.4], "mca": [12, 13, 14.5]})
    fig = plots.alpha_plot(runs, reference={"top1": 40.0, "mca": 10.0}, published=published)
    assert len(fig.axes) == 3 and fig.axes[0].get_xscale() == "log"
    _assert_saved(fig, "alpha", tmp_path)
    with_baseline = pd.concat(
        [published.astype({"alpha": object}), pd.DataFrame({"alpha": ["baseline"]})]
    )
    with pytest.raises(ValueError, match="baseline"):
        plots.alpha_plot(runs, published=with_baseline)


def test_curves_plot(tmp_path):
    def history(shift):
        return pd.DataFrame({"epoch": range(1, 11), "val_top1": np.linspace(10, 60, 10) + shift})

    histories = {"teacher": history(10), "baseline": [history(0), history(2)], "dct+kd": history(5)}
    fig = plots.curves_plot(histories, max_x=8)
    assert fig.axes[0].lines[0].get_xdata().max() == 8
    assert fig.axes[0].lines[-1].get_linestyle() == "--"
    _assert_saved(fig, "curves", tmp_path)
    with pytest.raises(ValueError, match="val_top5"):
        plots.curves_plot(histories, y="val_top5")


def test_confusion_and_per_class(tmp_path):
    cm = RNG.integers(0, 20, size=(5, 5))
    _assert_saved(plots.confusion_plot(cm, list("abcde")), "confusion", tmp_path / "cm")
    _assert_saved(plots.per_class_plot(RNG.random(5) * 100), "per_class", tmp_path / "pc")
    with pytest.raises(ValueError, match="square"):
        plots.confusion_plot(np.zeros((2, 3)))


def test_k_study_plot(tmp_path):
    frame = pd.DataFrame(
        {
            "k": np.tile(np.repeat([1, 2, 3, 4], 3), 4),
            "comparison": np.repeat(["DCT - AT", "DCT - baseline"] * 2, 12),
            "quantity": np.repeat(["accuracy", "overlap"], 24),
            "gain": RNG.normal(size=48),
        }
    )
    fig = plots.k_study_plot(frame, panel="quantity", palette={"DCT - AT": "#123456"})
    assert [ax.get_title() for ax in fig.axes] == ["accuracy", "overlap"]
    colours = {c.get_label(): c.lines[0].get_color() for c in fig.axes[0].containers}
    assert colours["DCT - AT"] == "#123456" and colours["DCT - baseline"] != "#123456"
    _assert_saved(fig, "k_study", tmp_path)


def test_save_table_writes_csv_and_markdown(tmp_path):
    df = pd.DataFrame({"method": ["AT", "DCT"], "top1": [45.123, 47.35]})
    csv, md = style.save_table(df, "table", tmp_path, caption="Synthetic scenes, not ADE20K.")
    assert pd.read_csv(csv).equals(df)
    text = md.read_text()
    assert text.startswith("Synthetic scenes, not ADE20K.\n\n|") and "47.35" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.csv", "table.md"]


@pytest.mark.parametrize("name", ["../escape", "", ".hidden", "a/b"])
def test_save_rejects_names_that_are_not_plain_stems(tmp_path, name):
    fig = plt.figure()
    with pytest.raises(ValueError, match="plain file stem"):
        style.save_figure(fig, name, tmp_path)
    plt.close(fig)
