"""NumPy reference kernels of the information measures (surprisal, entropy, cross-entropy, KL);
the contract is in ``numpy_ref``."""

KERNELS = ()

__all__ = list(KERNELS)
