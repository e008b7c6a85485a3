"""The backend registry and the kernel contract shared by every backend."""

import inspect
import subprocess
import sys

import numpy as np
import pytest

import fastxent
from fastxent import _backends
from fastxent._kernels import numpy_ref
from arrays import logits_of


def test_all_backends_are_installed():
    # The README's install builds both compiled backends; a missing one is a broken install.
    assert fastxent.backends() == ["cython", "numba", "numpy"]


def test_every_backend_has_the_same_kernel_names_and_signatures(compiled_backend):
    module = _backends.load_backend(compiled_backend)
    for name in numpy_ref.KERNELS:
        reference = list(inspect.signature(getattr(numpy_ref, name)).parameters)
        assert reference[-1] == "n_threads"
        assert list(inspect.signature(getattr(module, name)).parameters) == reference, name


def test_labels_kernels_report_bad_rows_without_touching_memory_outside(backend):
    """Called directly with bad labels (the public API never does), a kernel counts them and NaNs them."""
    module = _backends.load_backend(backend)
    logits = logits_of((5, 3), np.float64)
    labels = np.array([0, 3, -100, -1, 2**40])
    ones_c, ones_n = np.ones(3), np.ones(5)
    loss = np.zeros(5)
    grad = np.zeros((5, 3))
    assert module.softmax_ce_labels_loss(logits, labels, ones_c, ones_n, -100, 0.0, loss, 2) == 3
    assert np.isnan(loss[[1, 3, 4]]).all() and loss[2] == 0 and np.isfinite(loss[0])
    assert module.softmax_ce_labels_loss_grad(logits, labels, ones_c, ones_n, -100, 0.1, 1.0, loss, grad, 2) == 3
    assert np.isnan(grad[[1, 3, 4]]).all() and (grad[2] == 0).all() and np.isfinite(grad[0]).all()


def test_auto_honours_the_environment_variable(monkeypatch):
    monkeypatch.setenv("FASTXENT_BACKEND", "numpy")
    assert _backends.resolve_backend_name("auto") == "numpy"
    assert _backends.resolve_backend_name("numba") == "numba"  # an explicit choice wins
    monkeypatch.setenv("FASTXENT_BACKEND", "fortran")
    with pytest.raises(ValueError, match="FASTXENT_BACKEND='fortran'"):
        _backends.resolve_backend_name("auto")


def test_auto_falls_back_to_numba_with_one_warning_when_the_extension_is_missing():
    code = """
import sys, warnings
sys.modules["fastxent._cython"] = None  # makes the import fail
import numpy as np, fastxent
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    for _ in range(3):
        fastxent.softmax_cross_entropy(np.zeros((2, 3)), np.array([0, 1]))
assert fastxent.backends() == ["numba", "numpy"], fastxent.backends()
messages = [str(w.message) for w in caught]
assert len(messages) == 1 and "using the 'numba' backend" in messages[0], messages
"""
    subprocess.run([sys.executable, "-c", code], check=True)


def test_importing_fastxent_loads_no_backend():
    code = ("import sys, fastxent; assert 'numba' not in sys.modules and 'fastxent._cython' not in sys.modules,"
            " sorted(m for m in sys.modules if 'numba' in m or 'fastxent' in m)")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_concurrent_calls_are_allowed_except_on_numbas_workqueue_layer():
    assert _backends.allows_concurrent_calls("cython") and _backends.allows_concurrent_calls("numpy")
    code = """
import numba, numpy as np, fastxent
from fastxent._backends import allows_concurrent_calls
assert not allows_concurrent_calls("numba")  # no parallel kernel has run: the layer is not known
fastxent.sigmoid(np.zeros(4), backend="numba")
assert allows_concurrent_calls("numba") == (numba.threading_layer() != "workqueue")
"""
    subprocess.run([sys.executable, "-c", code], check=True)
