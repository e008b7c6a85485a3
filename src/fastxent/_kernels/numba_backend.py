"""The Numba backend: every kernel of ``numpy_ref.KERNELS``, gathered from one module per concept
(``numba_softmax``, ``numba_binary``, ``numba_information``, ``numba_layout``). Importing it compiles
nothing."""

from .numba_binary import *  # noqa: F401,F403
from .numba_information import *  # noqa: F401,F403
from .numba_layout import *  # noqa: F401,F403
from .numba_softmax import *  # noqa: F401,F403
from .numpy_ref import KERNELS

__all__ = list(KERNELS)
