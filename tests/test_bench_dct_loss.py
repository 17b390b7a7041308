"""The DCT-loss benchmark times every method on every requested feature format."""

import pytest
import torch
from bench_helpers import load_bench


def test_every_method_on_every_format(monkeypatch, capsys):
    bench = load_bench("dct_loss", monkeypatch)
    bench.main(["--device", "cpu", "--batch", "2", "--repeats", "1", "--warmup", "0",
                "--formats", "fp32,bf16-cl"])
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    # "original (V1)" is two words; the format follows the name.
    timed = {(r[0], r[2] if r[0] == "original" else r[1]) for r in rows
             if r and r[0] in ("original", "v1", "v2", "dct2") and r[1] != "value"}
    assert timed == {(m, f) for m in ("original", "v1", "v2", "dct2")
                     for f in ("fp32", "bf16-cl")}


def test_formats_keep_dtype_layout_and_fresh_student_leaves(monkeypatch):
    bench = load_bench("dct_loss", monkeypatch)
    inputs = bench.make_inputs(2)
    student, teacher, _, _ = bench.formatted(inputs, "bf16-cl", torch.device("cpu"))
    assert all(f.dtype == torch.bfloat16 for f in student + teacher)
    assert all(f.is_contiguous(memory_format=torch.channels_last) for f in student + teacher)
    # Leaves of their own: a backward must not flow into (and copy to) the float32 originals.
    assert all(f.is_leaf and f.requires_grad for f in student)


def test_unknown_format_is_one_line(monkeypatch):
    with pytest.raises(SystemExit, match=r"--formats: expected names from .*got \['fp16'\]"):
        load_bench("dct_loss", monkeypatch).main(["--device", "cpu", "--formats", "fp16"])
