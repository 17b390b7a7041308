"""`dctkd figures --plan`: runs, epochs, images and GPU-hours per family from a saved
throughput, on the rehearsal profile over tiny copies of the paper's datasets; the wall time
of a Slurm array; one-line errors for a bad throughput."""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from pathlib import Path

import pytest
from bench_helpers import load_bench
from paper_layouts import ADE_CLASSES, write_paper_data

from dctkd.cli import main
from dctkd.data import dataset_info
from dctkd.report import plan as P
from dctkd.report import plan_command
from dctkd.report.grid import grid, unique_configs
from dctkd.report.profile import load_profile

REPO = Path(__file__).resolve().parents[1]
N_TRAIN = 6  # write_paper_data's default images per class
SIZE = 64  # the rehearsal's image size (dctkd/report/profiles/rehearsal.yaml)


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    return write_paper_data(tmp_path_factory.mktemp("paper"), n_train=N_TRAIN)


@pytest.fixture(scope="module")
def ade_classes(home) -> int:
    """ADE20K's classes in the copy: its training labels and a test-only one."""
    return dataset_info("ade20k", {"image_size": SIZE}, str(home)).num_classes


@pytest.fixture(scope="module")
def saved(tmp_path_factory, ade_classes) -> tuple[Path, P.Throughput]:
    """A throughput whose reference networks are the rehearsal's ADE20K pair itself, so a
    run of that pair costs exactly its images over the rates."""
    tp = P.Throughput(train_img_per_s=400.0, train_model="resnet18", forward_img_per_s=1500.0,
                      forward_model="resnet50", term_s_per_img=1e-4, size=SIZE,
                      classes=ade_classes, device="a test GPU", source="")
    path = tmp_path_factory.mktemp("tp") / "throughput.json"
    path.write_text(json.dumps({k: v for k, v in asdict(tp).items() if k != "source"}))
    return path, tp


def _table(text: str) -> dict[str, list[str]]:
    """The family table's rows by name: runs, missing, epochs, images, GPU-h, GPU-h missing."""
    rows = {}
    for line in text.splitlines():
        m = re.match(r"(\w[\w ()]*?)\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)\s+(\S+)\s+(\S+)$",
                     line)
        if m:
            rows[m[1]] = [v.replace(",", "").removeprefix(">=") for v in m.groups()[1:]]
    return rows


NOTEBOOKS = ["--nb", "04", "--nb", "05"]  # DCT students of the reference pair, and teachers


def _plan(capsys, home, results, *args) -> str:
    rc = main(["figures", "--profile", "rehearsal", "--data", str(home), "--results",
               str(results), "--plan", *NOTEBOOKS, *args])
    out = capsys.readouterr()
    assert rc == 0, out.err
    return out.out


def test_rehearsal_plan_prices_every_run_from_the_saved_throughput(home, saved, tmp_path,
                                                                   capsys, ade_classes):
    path, tp = saved
    text = _plan(capsys, home, tmp_path, "--throughput", str(path), "--array-parallelism", "1")
    rows = _table(text)
    prof = load_profile("rehearsal", data=str(home))
    cfgs = {c.run_id: c for f in rows if f != "total (distinct runs)"
            for c in unique_configs(grid(prof, [f]))}
    total = rows.pop("total (distinct runs)")
    costs = [P.run_cost(c, tp) for c in cfgs.values()]
    assert int(total[0]) == len(cfgs) == int(total[1])  # nothing trained yet: all missing
    assert int(total[2]) == sum(c.epochs for c in costs)
    assert int(total[3]) == sum(c.images for c in costs)
    assert float(total[4]) == pytest.approx(sum(c.seconds for c in costs) / 3600, abs=0.051)
    assert "a test GPU" in text and not (tmp_path / "runs").exists()
    # Serially (one run at a time), the wall time is every run's time added up.
    wall = re.search(r"teachers first: ([\d,.]+) h", text)[1]
    assert float(wall) == pytest.approx(sum(c.seconds for c in costs) / 3600, abs=0.051)

    # One DCT student of the reference pair, priced by hand: the split counted from the files.
    student = next(c for c in cfgs.values() if c.data.name == "ade20k" and c.model == "resnet18"
                   and c.method.name == "dct" and c.teacher.model == "resnet50")
    full = len(ADE_CLASSES) * N_TRAIN
    val = round(full * student.data.val_fraction)
    images = student.optim.epochs * (full - val)
    fwd = P.flops("resnet18", SIZE, ade_classes) / P.flops("resnet50", SIZE, ade_classes)
    expected = (images / tp.train_img_per_s + student.optim.epochs * val * fwd
                / tp.forward_img_per_s + images / tp.forward_img_per_s
                + images * tp.term_s_per_img)
    cost = P.run_cost(student, tp)
    assert cost.images == images and cost.seconds == pytest.approx(expected, rel=1e-9)
    assert not cost.lower_bound and ">=" not in text


def test_a_network_far_below_the_reference_is_a_lower_bound(capsys):
    from engine_helpers import tiny

    small = P.run_cost(tiny(), P.Throughput(1000.0))  # a 16-px ResNet-8 against ResNet-18
    assert small.lower_bound
    row = P.Row("k")
    row.add(small, done=False)
    text = P.render([row], row, P.Throughput(1000.0), 1.0, 1, 1)
    assert ">=" in text.splitlines()[1] and "lower bound" in text


def test_img_per_s_overrides_the_file_and_parallel_runs_shorten_the_wall(home, saved, tmp_path,
                                                                         capsys):
    path, _ = saved
    slow = _table(_plan(capsys, home, tmp_path, "--img-per-s", "100"))
    fast = _table(_plan(capsys, home, tmp_path, "--img-per-s", "200", "--throughput",
                        str(path)))
    for name in slow:
        assert slow[name][:4] == fast[name][:4]
        assert float(slow[name][4]) == pytest.approx(2 * float(fast[name][4]), abs=0.11)
    prof = load_profile("rehearsal", data=str(home))
    costs = [P.run_cost(c, P.Throughput(100.0)) for c in unique_configs(grid(prof, ["alpha"]))]
    serial, wide = P.wall_seconds(costs, 1), P.wall_seconds(costs, len(costs))
    assert serial == pytest.approx(sum(c.seconds for c in costs))
    # With a slot for every run, the wall time is the longest teacher -> student chain.
    by_id = {c.cfg.run_id: c for c in costs}
    chains = [c.seconds + (by_id[c.cfg.teacher.run_id].seconds if c.cfg.teacher else 0)
              for c in costs]
    assert wide == pytest.approx(max(chains)) and wide < serial


def test_without_a_throughput_the_plan_says_how_to_measure_one(home, tmp_path, capsys,
                                                              monkeypatch):
    monkeypatch.setattr(P, "THROUGHPUT_FILE", tmp_path / "none.json")
    monkeypatch.setattr(plan_command, "_has_gpu", lambda: True)  # a GPU machine: no CPU pricing
    text = _plan(capsys, home, tmp_path)
    assert "bench/train_step.py --save" in text
    assert _table(text)["total (distinct runs)"][4] == "-"


@pytest.mark.parametrize("args, message", [
    (["--img-per-s", "0"], "--img-per-s: expected a positive number of images per second"),
    (["--throughput", "{missing}"], "no throughput file at {missing}"),
    (["--throughput", "{broken}"], "{broken}: not a throughput record"),
])
def test_a_bad_throughput_is_one_line(args, message, home, tmp_path, capsys):
    names = {"missing": tmp_path / "nope.json", "broken": tmp_path / "broken.json"}
    names["broken"].write_text('{"img_per_s": 3}')
    args = [a.format(**names) for a in args]
    rc = main(["figures", "--profile", "rehearsal", "--data", str(home), "--results",
               str(tmp_path), "--plan", *NOTEBOOKS, *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err[-1].startswith(f"dctkd figures: error: {message.format(**names)}")


def test_official_split_sizes_are_those_of_the_protocol():
    table = (REPO / "docs" / "protocol.md").read_text()
    for name in ("ade20k", "mit67", "cifar100"):
        row = re.search(rf"\| `{name}` \| [\d,]+ \| ([\d,]+) /", table)
        assert int(row[1].replace(",", "")) == P.OFFICIAL_TRAIN[name]
    per_class = re.search(r"\| `sun397` \| ([\d,]+) \| (\d+) / \d+ per class", table)
    assert P.OFFICIAL_TRAIN["sun397"] == int(per_class[1]) * int(per_class[2])


def test_bench_save_writes_what_the_plan_reads(tmp_path, monkeypatch):
    bench = load_bench("train_step", monkeypatch)
    out = tmp_path / "tp.json"
    bench.main(["--device", "cpu", "--batch", "2", "--size", "32", "--classes", "10",
                "--repeats", "1", "--warmup", "0", "--jpegs", "2", "--no-compile",
                "--save", str(out)])
    tp = P.load_throughput(out)
    assert tp.train_img_per_s > 0 and tp.size == 32 and tp.classes == 10
    assert (tp.train_model, tp.forward_model) == (bench.STUDENT, bench.TEACHER)
    assert tp.forward_img_per_s is None or tp.forward_img_per_s > 0
    assert tp.term_s_per_img >= 0 and tp.source == str(out)
