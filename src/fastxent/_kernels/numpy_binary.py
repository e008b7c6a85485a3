"""NumPy reference kernels of the binary family; the contract is in ``numpy_ref``."""

KERNELS = ()

__all__ = list(KERNELS)
