"""`dctkd figures --plan` on a machine without a GPU: every run priced by the rates measured
on this CPU (`bench/cpu_train_step.py --save`), the wall time with the build's workers, the
line a user reads before starting, and one-line errors for a shape that was not measured."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest
from bench_helpers import load_bench

from dctkd.cli import main
from dctkd.engine import teacher_cache
from dctkd.engine.launch import CPU_WORKERS
from dctkd.report import cpu_plan as C
from dctkd.report import plan as P
from dctkd.report import plan_command
from dctkd.report.grid import defined_families, grid, unique_configs
from dctkd.report.profile import load_profile

STEP, FORWARD, TERM, OVERHEAD, EPOCH, CHECK, START = 1e-3, 2e-4, 5e-4, 0.5, 0.02, 0.05, 3.0


@pytest.fixture(autouse=True)
def no_gpu(monkeypatch):
    monkeypatch.setattr(plan_command, "_has_gpu", lambda: False)


def smoke_runs() -> list:
    prof = load_profile("smoke")
    return unique_configs(grid(prof, sorted(defined_families(prof))))


def record(configs: list) -> dict:
    """A CPU throughput record with every rate the smoke profile needs."""
    keys = {"step": set(), "forward": set(), "term": set()}
    for cfg in configs:
        for kind, found in C.needs(cfg).items():
            keys[kind] |= found
    return {"step": dict.fromkeys(keys["step"], STEP),
            "forward": dict.fromkeys(keys["forward"], FORWARD),
            "term": dict.fromkeys(keys["term"], TERM),
            "run_overhead_s": {"smoke": OVERHEAD}, "epoch_overhead_s": {"smoke": EPOCH},
            "check_s": {"smoke": CHECK}, "start_s": START,
            "threads": 1, "workers": CPU_WORKERS, "device": "a test CPU",
            "measured": "today"}


def _plan(capsys, tmp_path, rates: dict | None) -> tuple[int, str, str]:
    path = tmp_path / "cpu.json"
    if rates is not None:
        path.write_text(json.dumps(rates))
    rc = main(["figures", "--profile", "smoke", "--plan", "--results", str(tmp_path / "out"),
               "--cpu-throughput", str(path), "--workers", str(CPU_WORKERS)])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_each_run_is_priced_by_what_it_does(tmp_path, capsys):
    configs = smoke_runs()
    dct = next(c for c in configs if c.method.name == "dct" and not c.method.options)
    online = replace(dct, runtime=replace(dct.runtime, teacher_cache=False))
    path = tmp_path / "r.json"
    path.write_text(json.dumps(record([*configs, online])))
    rates = C.load_cpu_rates(path)
    train, val = P.split_sizes(dct)
    test = C._test_size(dct)
    epochs = dct.optim.epochs
    # Its teacher's outputs are cached: one forward of each view of each training image.
    assert teacher_cache.applies(dct)
    views = teacher_cache.VIEWS[dct.data.augment]
    expected = (OVERHEAD + epochs * (train * STEP + EPOCH) + (epochs * val + 2 * test) * FORWARD
                + views * train * FORWARD + epochs * train * TERM)
    assert C.cpu_seconds(dct, rates, "smoke") == pytest.approx(expected)
    assert C.cpu_seconds(online, rates, "smoke") == pytest.approx(
        expected - views * train * FORWARD + epochs * train * FORWARD)
    teacher = dct.teacher
    t_train, t_val = P.split_sizes(teacher)
    assert C.cpu_seconds(teacher, rates, "smoke") == pytest.approx(
        OVERHEAD + teacher.optim.epochs * (t_train * STEP + t_val * FORWARD + EPOCH)
        + 2 * C._test_size(teacher) * FORWARD)


def test_a_record_written_before_the_epoch_cost_was_measured_prices_none(tmp_path):
    configs = smoke_runs()
    cfg = configs[0]
    old = record(configs)
    del old["epoch_overhead_s"]
    now, before = tmp_path / "now.json", tmp_path / "before.json"
    now.write_text(json.dumps(record(configs)))
    before.write_text(json.dumps(old))
    assert C.load_cpu_rates(before).epoch_overhead_s == {}
    assert C.cpu_seconds(cfg, C.load_cpu_rates(now), "smoke") - C.cpu_seconds(
        cfg, C.load_cpu_rates(before), "smoke") == pytest.approx(cfg.optim.epochs * EPOCH)


def test_the_plan_prints_the_wall_time_with_the_builds_workers(tmp_path, capsys):
    configs = smoke_runs()
    rc, out, err = _plan(capsys, tmp_path, record(configs))
    assert rc == 0, err
    path = tmp_path / "cpu.json"
    rates = C.load_cpu_rates(path)
    costs = [P.RunCost(c, 0, 0, C.cpu_seconds(c, rates, "smoke")) for c in configs]
    wall = START + len(configs) * CHECK + P.wall_seconds(costs, CPU_WORKERS)
    assert f"teachers first: {wall:,.0f} s" in out
    last = out.strip().splitlines()[-1]
    assert re.fullmatch(rf"smoke: {len(configs)} runs \({len(configs)} missing\), ~.+ of "
                        "training on this machine", last), last
    total = re.search(r"total \(distinct runs\)\s+(\d+)\s+(\d+)\s+[\d,]+\s+[\d,]+\s+([\d.]+)",
                      out)
    assert int(total[1]) == len(configs)
    assert float(total[3]) == pytest.approx(sum(c.seconds for c in costs) / 3600, abs=0.051)
    assert "CPU-h" in out and "a test CPU" in out


def test_a_shape_not_measured_is_one_line(tmp_path, capsys):
    rates = record(smoke_runs())
    key = sorted(rates["step"])[0]
    del rates["step"][key]
    rc, _, err = _plan(capsys, tmp_path, rates)
    assert rc == 2
    assert err.strip().splitlines()[-1] == (
        f"dctkd figures: error: no CPU rate measured for the step {key}; expected it in the "
        "file `python bench/cpu_train_step.py --save` writes (run it again: it measures every "
        "synthetic profile's shapes, or name the profile with --profile)")


def test_without_rates_the_plan_says_how_to_measure_them(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(C, "CPU_THROUGHPUT_FILE", tmp_path / "none.json")
    assert main(["figures", "--profile", "smoke", "--plan", "--results",
                 str(tmp_path / "out")]) == 0
    assert "run `python bench/cpu_train_step.py --save`" in capsys.readouterr().out


def test_a_broken_record_is_one_line(tmp_path, capsys):
    rc, _, err = _plan(capsys, tmp_path, {"step": {}})
    assert rc == 2 and f"{tmp_path / 'cpu.json'}: not a CPU throughput record" in err


def test_the_bench_measures_what_the_plan_reads(tmp_path, monkeypatch, capsys):
    bench = load_bench("cpu_train_step", monkeypatch)
    out = tmp_path / "cpu.json"
    bench.main(["--profile", "smoke", "--repeats", "1", "--concurrent", "1", "--save", str(out)])
    rates = C.load_cpu_rates(out)
    wanted = record(smoke_runs())
    for kind in ("step", "forward", "term"):
        table = getattr(rates, kind)
        assert set(wanted[kind]) <= set(table), kind  # also teachers at their students' batch
        assert all(v >= 0 for v in table.values()) and all(
            v > 0 for k, v in table.items() if kind != "term"), kind
    assert set(rates.run_overhead_s) == set(rates.epoch_overhead_s) == set(rates.check_s) == {
        "smoke"}
    assert all(v >= 0 for v in (*rates.run_overhead_s.values(), *rates.epoch_overhead_s.values()))
    assert rates.start_s > 0 and rates.check_s["smoke"] > 0
    assert rates.threads >= 1 and rates.workers == CPU_WORKERS
    capsys.readouterr()
    assert main(["figures", "--profile", "smoke", "--plan", "--results", str(tmp_path / "o"),
                 "--cpu-throughput", str(out)]) == 0
    assert "of training on this machine" in capsys.readouterr().out


def test_a_run_that_continues_a_shorter_ones_prefix_pays_only_its_own_epochs(tmp_path):
    from dctkd.engine import prefix

    prof = load_profile("smoke", ["base.runtime.share_prefix=true"])
    configs = unique_configs(grid(prof, ["budget"]))
    shared = C.shared_prefixes(configs)
    assert shared, "the budget family's longer runs continue their 1x run"
    by_id = {c.run_id: c for c in configs}
    path = tmp_path / "r.json"
    path.write_text(json.dumps(record(configs)))
    rates = C.load_cpu_rates(path)
    for rid, (skipped, shorter) in shared.items():
        cfg = by_id[rid]
        assert skipped == max(prefix.prefix_epoch(by_id[s]) for s in shorter) > 0
        assert all(by_id[s].optim.epochs < cfg.optim.epochs for s in shorter)
        if cfg.method.name == "none":
            train, val = P.split_sizes(cfg)
            saved = C.cpu_seconds(cfg, rates, "smoke") - C.cpu_seconds(cfg, rates, "smoke",
                                                                         skipped)
            assert saved == pytest.approx(skipped * (train * STEP + val * FORWARD + EPOCH))
    costs = [P.RunCost(c, 0, 0, 10.0) for c in configs]
    after = {rid: waits for rid, (_, waits) in shared.items()}
    # With a slot for every run, waiting for the shorter run lengthens the longest chain.
    assert P.wall_seconds(costs, len(costs), after=after) > P.wall_seconds(costs, len(costs))


def test_a_profile_of_real_datasets_is_planned_for_gpus_even_here(tmp_path, capsys):
    path = tmp_path / "cpu.json"
    path.write_text(json.dumps(record(smoke_runs())))
    assert main(["figures", "--profile", "paper", "--plan", "--nb", "01", "--results",
                 str(tmp_path / "out"), "--cpu-throughput", str(path)]) == 0
    out = capsys.readouterr().out
    assert "GPU-h" in out and "CPU-h" not in out
