"""Backend registry: one dict from name to kernel module, imported lazily.

Importing fastxent imports no backend (so nothing is compiled or JIT-loaded); the first call that
needs one imports it. ``backend="auto"`` takes ``FASTXENT_BACKEND`` when set, else the first available
of ``AUTO_ORDER``; ``docs/architecture.md`` records the measurements behind that order.
"""

import importlib
import os
import warnings

BACKEND_MODULES = {
    "numpy": "fastxent._kernels.numpy_ref",
    "numba": "fastxent._kernels.numba_backend",
    "cython": "fastxent._kernels.cython_backend",
}
# Cython first: as fast as Numba on every measured workload, and it has no JIT latency.
AUTO_ORDER = ("cython", "numba", "numpy")

_loaded = {}
_failed = {}
_warned_fallback = False


class BackendUnavailableError(ImportError):
    """A backend was asked for by name but cannot be imported here."""


def load_backend(name):
    """Import (once) and return the kernel module of backend ``name``."""
    if name in _loaded:
        return _loaded[name]
    if name in _failed:
        raise BackendUnavailableError(f"backend {name!r} is not available: {_failed[name]}")
    try:
        module = importlib.import_module(BACKEND_MODULES[name])
    except ImportError as exc:
        _failed[name] = f"{type(exc).__name__}: {exc}"
        raise BackendUnavailableError(f"backend {name!r} is not available: {_failed[name]}") from exc
    _loaded[name] = module
    return module


def is_available(name):
    """True when backend ``name`` can be imported."""
    try:
        load_backend(name)
    except BackendUnavailableError:
        return False
    return True


def backends():
    """Names of the backends usable in this process, fastest first.

    Returns
    -------
    list of str
        A subset of ``["cython", "numba", "numpy"]``.
    """
    return [name for name in AUTO_ORDER if is_available(name)]


def _check_name(backend, source):
    if not isinstance(backend, str):
        raise TypeError(f"{source} must be a str, got {type(backend).__name__}")
    if backend != "auto" and backend not in BACKEND_MODULES:
        choices = ", ".join(repr(b) for b in ("auto", *BACKEND_MODULES))
        raise ValueError(f"{source}={backend!r} is not a backend; choose one of {choices}")


def resolve_backend_name(backend):
    """Validate ``backend`` and resolve "auto" to a concrete, available backend name."""
    global _warned_fallback
    _check_name(backend, "backend")
    if backend == "auto":
        env = os.environ.get("FASTXENT_BACKEND", "").strip()
        if env:
            _check_name(env, "FASTXENT_BACKEND")
            backend = env
    if backend != "auto":
        load_backend(backend)
        return backend
    for name in AUTO_ORDER:
        if is_available(name):
            if name != AUTO_ORDER[0] and not _warned_fallback:
                _warned_fallback = True
                warnings.warn(f"fastxent: compiled extension unavailable ({_failed.get(AUTO_ORDER[0])}); "
                              f"using the {name!r} backend", RuntimeWarning, stacklevel=4)
            return name
    raise BackendUnavailableError("no fastxent backend can be imported")  # numpy always can


def allows_concurrent_calls(name):
    """True when backend ``name``'s kernels may run on several Python threads at once.

    Numba's workqueue threading layer aborts the process on concurrent parallel calls; which layer
    Numba runs on is known only once it has run a parallel kernel, so until then this says False.
    """
    if name != "numba":
        return True
    import numba

    try:
        return numba.threading_layer() != "workqueue"
    except ValueError:  # no parallel kernel has run yet
        return False


def resolve_backend(backend):
    """The kernel module for ``backend`` ("auto", "numpy", "numba" or "cython")."""
    return load_backend(resolve_backend_name(backend))
