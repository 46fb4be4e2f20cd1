"""Style vectors of the student (and its TFLite export) are plain float32 arrays: an app computes
one per style once, stores it, and mixes them freely. NumPy only, so the LiteRT runner can use it."""

from __future__ import annotations

import os

import numpy as np

from tfstyle.errors import InputError
from tfstyle.files import atomic_path


def blend_vectors(vectors, weights) -> np.ndarray:
    """Convex combination of style vectors (the transformer is driven linearly by them)."""
    weights = np.asarray(weights, np.float32)
    weights = weights / weights.sum()
    return np.tensordot(weights, np.stack([np.asarray(v, np.float32) for v in vectors]), axes=1)


def interpolate(a, b, t: float) -> np.ndarray:
    """``(1 - t) * a + t * b``: t = 0 is ``a``, 1 is ``b``."""
    return blend_vectors([a, b], [1.0 - float(t), float(t)])


def save_vector(path: str | os.PathLike, vector) -> None:
    """Write a style vector as .npy, atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, np.asarray(vector, np.float32))


def load_vector(path: str | os.PathLike, dim: int | None = None) -> np.ndarray:
    """Read a .npy style vector; a one-line ``InputError`` when it is not one (of ``dim`` values)."""
    try:
        vector = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    except (OSError, ValueError) as exc:
        raise InputError(path, f"not a .npy style vector ({exc})") from None
    if vector.ndim == 2 and vector.shape[0] == 1:  # a batch of one, as the predictor returns it
        vector = vector[0]
    if vector.ndim != 1 or (dim is not None and vector.shape[0] != dim) or not np.isfinite(vector).all():
        want = f"{dim} finite values" if dim else "a 1-D array of finite values"
        raise InputError(path, f"style vector has shape {vector.shape}, expected {want}")
    return np.asarray(vector, np.float32)
