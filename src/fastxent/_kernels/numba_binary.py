"""Numba kernels of the binary family (contract: ``numpy_ref``)."""

from .numpy_binary import KERNELS

__all__ = list(KERNELS)
