"""The op-count benchmark: every variant within the goal on the path a GPU takes."""

from bench_helpers import load_bench


def test_every_variant_within_the_op_goal_and_below_the_original(monkeypatch, capsys):
    bench = load_bench("dct_ops", monkeypatch)
    counts = bench.main(["--batch", "2"])
    ours = {name: n for (name, path), n in counts.items()
            if path == "gpu path" and not name.startswith("original")}
    assert len(ours) == 6  # three variants, with and without PRED_GUIDE
    assert max(ours.values()) <= bench.GOAL
    assert max(ours.values()) < counts["original (V1)", "gpu path"] / 2
    assert f"at most {max(ours.values())} non-view ops" in capsys.readouterr().out
