"""One shared generator of test inputs (bottleneck style): every backend test draws its arrays here."""

import numpy as np

DTYPES = (np.float32, np.float64)
LAYOUTS = ("C", "F", "strided", "readonly")
SHAPES = ((0, 5), (1, 1), (1, 7), (6, 1), (37, 11), (64, 1000), (3, 4, 9), (2, 20000))
TOLERANCE = {np.float32: 2e-5, np.float64: 1e-12}


def logits_of(shape, dtype, seed=0, scale=3.0):
    """Random logits ~ N(0, scale) of ``shape`` and ``dtype``."""
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, scale, size=shape).astype(dtype)


def labels_of(batch_shape, n_classes, seed=1, ignore_fraction=0.0, ignore_index=-100):
    """Random int64 labels in [0, n_classes), a fraction replaced by ``ignore_index``."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, size=batch_shape)
    if ignore_fraction:
        labels[rng.random(batch_shape) < ignore_fraction] = ignore_index
    return labels


def probs_of(shape, dtype, seed=2):
    """Random class probabilities (rows sum to 1) of ``shape``."""
    rng = np.random.default_rng(seed)
    p = rng.random(shape) ** 3
    return (p / p.sum(axis=-1, keepdims=True)).astype(dtype)


def in_layout(array, layout, tmp_path=None):
    """The same values as ``array`` in a given memory layout: C, F, strided view, or read-only memmap."""
    if layout == "C":
        return np.ascontiguousarray(array)
    if layout == "F":
        return np.asfortranarray(array)
    if layout == "strided":
        if array.ndim == 0:
            return array
        wide = np.zeros(array.shape[:-1] + (2 * array.shape[-1],), dtype=array.dtype)
        wide[..., ::2] = array
        return wide[..., ::2]
    if layout == "readonly":
        path = tmp_path / f"array_{np.random.default_rng().integers(1 << 62)}.npy"
        np.save(path, np.ascontiguousarray(array))
        return np.load(path, mmap_mode="r")
    raise ValueError(layout)
