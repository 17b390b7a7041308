"""The engine benchmark runs its four cases end to end on the smoke profile."""

import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench" / "engine.py"


def test_engine_bench_times_the_engine_against_a_bare_loop(monkeypatch, capsys):
    spec = importlib.util.spec_from_file_location("bench_engine", BENCH)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)

    ratios = module.main(["--profile", "smoke", "--method", "dct", "--repeats", "1",
                          "--epochs", "1"])

    assert ratios["bare loop, student alone"] == 1.0
    engine_cases = [name for name in ratios if name.startswith("engine")]
    assert len(engine_cases) == 2 and all(ratios[name] > 0 for name in engine_cases)
    table = capsys.readouterr().out
    assert "x bare plain" in table and "smoke profile" in table
