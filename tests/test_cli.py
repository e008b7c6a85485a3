"""The command line: `check`, `info` and `bench` (`demo` and `score`: tests/test_score_cli.py)."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest


def run(*args):
    return subprocess.run([sys.executable, "-m", "fastxent", *args], capture_output=True, text=True, timeout=600)


def test_info_reports_backends_openmp_and_threads():
    result = run("info")
    assert result.returncode == 0, result.stderr
    for pattern in (r"backends available\s+cython, numba, numpy", r"OpenMP\s+enabled",
                    r"numba threading layer\s+\w+", r"usable cores\s+\d+", r"default n_threads\s+\d+"):
        assert re.search(pattern, result.stdout), pattern


def test_check_runs_every_backend_against_numpy():
    result = run("check", "--rows", "2000", "--classes", "50", "--repeats", "2")
    assert result.returncode == 0, result.stderr
    assert "fastxent cython" in result.stdout and "fastxent numba" in result.stdout
    assert "All backends agree with NumPy." in result.stdout


def test_bad_arguments_fail_with_a_message():
    result = run("check", "--rows", "0")
    assert result.returncode != 0 and "must be positive" in result.stderr
    result = run("frobnicate")
    assert result.returncode != 0 and "invalid choice" in result.stderr


def test_bench_quick_prints_the_table_and_writes_json_and_a_plot(tmp_path):
    pytest.importorskip("matplotlib")
    report, picture = tmp_path / "bench.json", tmp_path / "bench.png"
    result = run("bench", "--workload", "small,W4", "--quick", "--threads", "1", "--backend", "cython",
                 "--repeats", "3", "--json", str(report), "--plot", str(picture))
    assert result.returncode == 0, result.stderr
    for pattern in (r"cpu\s+\S", r"openmp\s+enabled", r"small\s+memory floor \(copy\)\s+1\s",
                    r"W4\s+fastxent cython out=\s+1\s", r"numpy naive", r"scipy",
                    r"W4\s+memory floor \(read\)\s+1\s", r"W4\s+fastxent cython loss only\s+1\s"):
        assert re.search(pattern, result.stdout), pattern
    data = json.loads(report.read_text())
    assert data["machine"]["numpy"] == np.__version__
    rows = {(r["workload"], r["competitor"]): r for r in data["results"]}
    fast, naive = rows[("W4", "fastxent cython out=")], rows[("W4", "numpy naive")]
    assert fast["shape"] == [5_000_000] and fast["x_floor"] > 0 and fast["rounds"] >= 3
    assert naive["speedup_vs_naive"] == 1.0 and fast["speedup_vs_naive"] == naive["median_s"] / fast["median_s"]
    assert rows[("small", "memory floor (copy)")]["x_floor"] == 1.0
    # loss-only rows: against the read floor (the logits and targets read once), no peer ratios
    loss_only, read_floor = rows[("W4", "fastxent cython loss only")], rows[("W4", "memory floor (read)")]
    assert loss_only["operation"] == read_floor["operation"] == "loss" and read_floor["x_floor"] == 1.0
    assert loss_only["x_floor"] == loss_only["median_s"] / read_floor["median_s"]
    assert loss_only["speedup_vs_naive"] is None and fast["operation"] == "loss+grad"
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench.json", "bench.png"]  # no temporaries left


@pytest.mark.parametrize("arguments, message", [
    (["--workload", "W9"], "invalid workload: W9"),
    (["--threads", "0"], "invalid threads: 0"),
    (["--threads", "two"], "threads must be integers"),
    (["--backend", "torch"], "invalid backend: torch"),
    (["--dtype", "float16"], "invalid choice"),
    (["--repeats", "0"], "must be positive"),
])
def test_bench_rejects_bad_arguments(arguments, message):
    result = run("bench", *arguments)
    assert result.returncode == 2 and message in result.stderr, result.stderr


def test_bench_plot_without_matplotlib_fails_before_running(tmp_path):
    code = ("import sys; sys.modules['matplotlib'] = None; from fastxent.cli import main; "
            f"sys.exit(main(['bench', '--quick', '--workload', 'small', '--plot', {str(tmp_path / 'p.png')!r}]))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert result.returncode == 1 and "--plot needs matplotlib" in result.stderr
    assert not list(tmp_path.iterdir())


def test_bench_memory_column_counts_the_allocated_gradient():
    result = run("bench", "--workload", "W4", "--quick", "--threads", "1", "--backend", "cython", "--repeats", "3",
                 "--memory")
    assert result.returncode == 0, result.stderr
    rows = {re.match(r"W4\s+(.+?)\s{2,}", line).group(1): line.split()[-1] for line in result.stdout.splitlines()
            if line.startswith("W4 ")}
    # 5,000,000 float32: allocating the gradient costs its 20 MB; a preallocated out= costs nothing
    assert 18 <= float(rows["fastxent cython"]) <= 30, rows
    assert float(rows["fastxent cython out="]) <= 2, rows
    assert float(rows["numpy naive"]) >= 40, rows
