"""The command line: `python -m fastxent` (self-demo) and `python -m fastxent info`."""

import re
import subprocess
import sys


def run(*args):
    return subprocess.run([sys.executable, "-m", "fastxent", *args], capture_output=True, text=True, timeout=600)


def test_info_reports_backends_openmp_and_threads():
    result = run("info")
    assert result.returncode == 0, result.stderr
    for pattern in (r"backends available\s+cython, numba, numpy", r"OpenMP\s+enabled",
                    r"numba threading layer\s+\w+", r"usable cores\s+\d+", r"default n_threads\s+\d+"):
        assert re.search(pattern, result.stdout), pattern


def test_demo_checks_every_backend_against_numpy():
    result = run("demo", "--rows", "2000", "--classes", "50", "--repeats", "2")
    assert result.returncode == 0, result.stderr
    assert "fastxent cython" in result.stdout and "fastxent numba" in result.stdout
    assert "All backends agree with NumPy." in result.stdout


def test_bad_arguments_fail_with_a_message():
    result = run("demo", "--rows", "0")
    assert result.returncode != 0 and "must be positive" in result.stderr
    result = run("frobnicate")
    assert result.returncode != 0 and "invalid choice" in result.stderr
