# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, binding=True, embedsignature=True
"""Cython/OpenMP kernels of the binary family (``fastxent._cython_binary``); contract:
``fastxent._kernels.numpy_ref``."""

__all__ = []
