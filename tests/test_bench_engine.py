"""The engine benchmark runs its four cases end to end on the smoke profile."""

from bench_helpers import load_bench


def test_engine_bench_times_the_engine_against_a_bare_loop(monkeypatch, capsys):
    module = load_bench("engine", monkeypatch)

    ratios = module.main(["--profile", "smoke", "--method", "dct", "--repeats", "1",
                          "--epochs", "1"])

    assert ratios["bare loop, student alone"] == 1.0
    engine_cases = [name for name in ratios if name.startswith("engine")]
    assert len(engine_cases) == 2 and all(ratios[name] > 0 for name in engine_cases)
    table = capsys.readouterr().out
    assert "x bare plain" in table and "smoke profile" in table
