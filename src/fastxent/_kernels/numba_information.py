"""Numba kernels of the information measures (contract: ``numpy_ref``)."""

from .numpy_information import KERNELS

__all__ = list(KERNELS)
