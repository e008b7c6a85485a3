# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, binding=True, embedsignature=True
"""Cython/OpenMP kernels of the information measures (``fastxent._cython_information``); contract:
``fastxent._kernels.numpy_ref``."""

__all__ = []
