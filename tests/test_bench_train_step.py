"""The training-step benchmark runs end to end at a tiny size and reports consistent numbers."""

import json

import pytest
from bench_helpers import load_bench


def test_tiny_run_reports_every_stage_and_variant(tmp_path, monkeypatch):
    out = tmp_path / "bench.json"
    load_bench("train_step", monkeypatch).main([
        "--device", "cpu", "--batch", "2", "--size", "64", "--classes", "10", "--repeats", "1",
        "--warmup", "0", "--jpegs", "3", "--no-compile", "--json", str(out),
    ])
    result = json.loads(out.read_text())
    steps = result["steps"]

    variants = {(r["bf16"], r["channels_last"], r["compile"]) for r in steps if "bf16" in r}
    assert variants == {(b, c, False) for b in (False, True) for c in (False, True)}
    for stage in ("student", "+teacher", "+dct"):
        assert {(r["bf16"], r["channels_last"]) for r in steps if r["stage"] == stage} == {
            (b, c) for b in (False, True) for c in (False, True)
        }
    assert [r["stage"] for r in steps].count("loader") == 1
    assert all(r["images_per_s"] > 0 and r["median_s"] >= r["min_s"] > 0 for r in steps)
    for r in steps:
        assert r["fastest_images_per_s"] == pytest.approx(result["args"]["batch"] / r["min_s"])
        assert r["fastest_images_per_s"] >= r["images_per_s"]

    loader = next(r for r in steps if r["stage"] == "loader")
    student = {r["variant"]: r for r in steps if r["stage"] == "student"}
    assert loader["vs_loader"] == 1.0
    assert loader["vs_student"] == pytest.approx(
        loader["images_per_s"] / student["fp32 nchw eager"]["images_per_s"]
    )
    for r in steps:
        assert r["vs_loader"] == pytest.approx(r["images_per_s"] / loader["images_per_s"])
        if r["stage"] != "loader":
            base = student[r["variant"]]["images_per_s"]
            assert r["vs_student"] == pytest.approx(r["images_per_s"] / base)
    assert all(r["vs_student"] == 1.0 for r in student.values())

    feed = result["feed"]
    fastest = max(r["images_per_s"] for r in steps if r["stage"] == "+dct")
    assert feed["step_images_per_s"] == fastest
    assert [d["decoder"] for d in feed["decoders"]] == ["PIL", "decode_jpeg cpu"]
    for d in feed["decoders"]:
        assert d["images_per_s"] > 0
        assert d["workers_needed"] == pytest.approx(fastest / d["images_per_s"])
        assert d["workers"] >= 1
    assert result["compile_warmup_s"] == 0
    assert result["device"].startswith("cpu") and result["threads"] >= 1
