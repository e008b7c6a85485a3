"""The Cython backend: every kernel of ``numpy_ref.KERNELS``, gathered from the compiled extension
modules (one per concept: ``fastxent._cython`` (softmax family and build facts),
``fastxent._cython_binary``, ``fastxent._cython_information``, ``fastxent._cython_layout``), built by
scikit-build-core from ``cython_ext/``. Importing it fails with ImportError when the extensions are
missing."""

from fastxent._cython import *  # noqa: F401,F403
from fastxent._cython import BUILD_INFO, OPENMP_ENABLED, openmp_max_threads  # noqa: F401
from fastxent._cython_binary import *  # noqa: F401,F403
from fastxent._cython_information import *  # noqa: F401,F403
from fastxent._cython_layout import *  # noqa: F401,F403

from .numpy_ref import KERNELS

__all__ = list(KERNELS)
