"""`fastxent.benchmarking`'s timing and ratio rules (the command line itself: tests/test_cli.py)."""

import pytest

from fastxent import benchmarking
from fastxent.benchmarking import Measurement


def test_time_interleaved_calls_every_function_once_per_round():
    calls = []
    timings = benchmarking.time_interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
                                            repeats=4, max_seconds=10.0)
    assert calls == ["a", "b"] * 4
    assert {name: rounds for name, (_, _, rounds) in timings.items()} == {"a": 4, "b": 4}
    assert all(0 <= low <= median for median, low, _ in timings.values())


def test_time_interleaved_stops_after_three_rounds_past_the_deadline():
    calls = []
    benchmarking.time_interleaved({"a": lambda: calls.append("a")}, repeats=100, max_seconds=0.0)
    assert len(calls) == 3


def _row(competitor, family, seconds, operation="loss+grad"):
    return Measurement("W1", (10, 10), "float32", competitor, family, 2, seconds, seconds, 3, 1.0, operation)


def test_each_row_is_a_multiple_of_its_own_operations_floor():
    rows = [_row("memory floor (copy)", "floor", 2.0), _row("memory floor (read)", "floor", 1.0, "loss"),
            _row("fastxent cython out=", "fastxent", 3.0), _row("fastxent cython loss only", "fastxent", 1.5, "loss"),
            _row("numpy naive", "baseline", 30.0), _row("pytorch", "peer", 12.0), _row("jax", "peer", 9.0)]
    benchmarking._add_ratios(rows)
    by_name = {m.competitor: m for m in rows}
    assert by_name["fastxent cython out="].x_floor == 1.5
    assert by_name["fastxent cython loss only"].x_floor == 1.5
    assert by_name["fastxent cython out="].speedup_vs_naive == 10.0
    assert by_name["fastxent cython out="].speedup_vs_fastest_peer == 3.0
    assert by_name["fastxent cython loss only"].speedup_vs_naive is None  # the peers are not timed loss-only
    assert by_name["pytorch"].speedup_vs_fastest_peer == pytest.approx(0.75)


def test_the_table_lists_loss_only_rows_after_each_workloads_loss_and_gradient():
    rows = [_row("memory floor (read)", "floor", 1.0, "loss"), _row("memory floor (copy)", "floor", 2.0)]
    rows += [Measurement("W3", (10, 10), "float32", "memory floor (copy)", "floor", 2, 1.0, 1.0, 3, 1.0)]
    lines = [line.split()[:4] for line in benchmarking.format_table(rows).splitlines()[1:] if line]
    assert [(line[0], line[3]) for line in lines] == [("W1", "(copy)"), ("W1", "(read)"), ("W3", "(copy)")]
