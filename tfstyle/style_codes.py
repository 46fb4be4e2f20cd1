"""Student v2 style codes in NumPy (no TensorFlow): the AdaIN statistics the LiteRT runtime keeps
in float between the INT8 encoder and decoder.

A code is the per-channel (mean, std) of each encoder tap, concatenated, then the first (RGB) tap's
3x3 colouring matrix (:data:`COLOUR_DIM` floats); the same math as
:func:`tfstyle.models.student_v2.code_from_taps` and :func:`~tfstyle.models.student_v2.restyle`
(which training differentiates through), checked equal in tests/test_student_v2.py.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

EPS = 1e-5  # as tfstyle.ops.EPS
COLOUR_DIM = 9  # the RGB colouring matrix, row-major, last in the code (the Keras student's layout too)


def code_dim(channels: Sequence[int]) -> int:
    """Length of a code for taps of these channel counts."""
    return 2 * sum(channels) + COLOUR_DIM


def tap_stats(tap: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[H, W, C] -> per-channel mean and std. The sums are BLAS products with a vector of ones,
    in float32: on a phone this runs once per photo, and NumPy's own reductions over a narrow last
    axis (3 or 8 channels) took 4-8x longer; the relative difference is about 1e-5, far below what
    an 8-bit image shows."""
    flat = np.asarray(tap, np.float32).reshape(-1, tap.shape[-1])
    ones = np.ones(len(flat), np.float32)
    mean = ones @ flat / len(flat)
    var = ones @ np.square(flat) / len(flat) - mean * mean
    return mean, np.sqrt(np.maximum(var, 0.0) + EPS)


def cov_sqrt(tap: np.ndarray) -> np.ndarray:
    """[H, W, C] -> the square root of its channel covariance (+ EPS I), [C, C]: the Gram matrix
    summed in float32 (no centred copy of the tap), the rest in float64 (cheap)."""
    flat = np.asarray(tap, np.float32).reshape(-1, tap.shape[-1])
    mean = (np.ones(len(flat), np.float32) @ flat).astype(np.float64) / len(flat)
    gram = (flat.T @ flat).astype(np.float64) / len(flat)
    cov = gram - np.outer(mean, mean) + EPS * np.eye(flat.shape[1])
    values, vectors = np.linalg.eigh(cov)
    return (vectors * np.sqrt(np.maximum(values, EPS))) @ vectors.T


def code_of(taps: Sequence[np.ndarray]) -> np.ndarray:
    """One image's taps ([H, W, C] each) -> its code [:func:`code_dim`] (float32)."""
    parts = []
    for tap in taps:
        parts += list(tap_stats(tap))
    parts.append(cov_sqrt(taps[0]).ravel())
    return np.concatenate(parts).astype(np.float32)


def split(code: np.ndarray, channels: Sequence[int]) -> list[tuple[np.ndarray, np.ndarray]]:
    """A code -> per tap (mean, std); a code of the wrong length is a ValueError."""
    code = np.asarray(code, np.float32)
    if code.shape != (code_dim(channels),):
        raise ValueError(f"style code of shape {code.shape}, expected ({code_dim(channels)},)")
    out, start = [], 0
    for c in channels:
        out.append((code[start : start + c], code[start + c : start + 2 * c]))
        start += 2 * c
    return out


def restyle(
    taps: Sequence[np.ndarray], code: np.ndarray, own: np.ndarray | None = None, *, inplace: bool = False
) -> list[np.ndarray]:
    """AdaIN of each tap by the code: the tap's own statistics (``own``, its code, when the caller
    has it already) replaced by the code's. One float32 multiply-add per value; ``inplace``
    overwrites the taps (float32) instead of allocating new ones (the runtime owns its taps)."""
    channels = [t.shape[-1] for t in taps]
    own_stats = split(own, channels) if own is not None else [tap_stats(t) for t in taps]
    out = []
    for tap, (mean, std), (own_mean, own_std) in zip(taps, split(code, channels), own_stats):
        scale = np.asarray(std, np.float64) / own_std
        shift = (np.asarray(mean, np.float64) - own_mean * scale).astype(np.float32)
        restyled = np.multiply(tap, scale.astype(np.float32), out=tap if inplace else None, dtype=np.float32)
        restyled += shift  # in place: one pass less over the tap than ``tap * scale + shift``
        out.append(restyled)
    return out


def colour_matrix(code: np.ndarray) -> np.ndarray:
    """A code -> its RGB colouring matrix [3, 3]."""
    return np.asarray(code, np.float32)[-COLOUR_DIM:].reshape(3, 3)


def colour_base(image: np.ndarray, code: np.ndarray, own: np.ndarray, channels: Sequence[int]) -> np.ndarray:
    """The decoder's base: the image [H, W, 3] whitened by its own colouring matrix (``own``, its
    code) and coloured by ``code``'s, with the code's RGB mean;
    :func:`tfstyle.models.student_v2.colour_base` in NumPy."""
    own_mean, mean = split(own, channels)[0][0], split(code, channels)[0][0]
    transform = np.linalg.solve(colour_matrix(own).astype(np.float64), colour_matrix(code)).astype(np.float32)
    shift = (mean - own_mean @ transform).astype(np.float32)
    # one pass per pixel (OpenCV's affine colour transform); NumPy's [H*W, 3] @ [3, 3] took 10x longer
    return cv2.transform(np.asarray(image, np.float32), np.concatenate([transform.T, shift[:, None]], 1))


def mix(code: np.ndarray, own: np.ndarray, alpha: float) -> np.ndarray:
    """Strength, linear in the code: alpha 0 is the content's own code (the content comes back)."""
    alpha = float(alpha)
    return (alpha * np.asarray(code, np.float32) + (1.0 - alpha) * np.asarray(own, np.float32)).astype(
        np.float32
    )


def upsample(residual: np.ndarray, scale: int) -> np.ndarray:
    """[h, w, C] -> [scale h, scale w, C], bilinear with half-pixel centres and edges clamped: the
    sampling of the Keras decoder's last layer (``UpSampling2D(interpolation="bilinear")``)."""
    h, w = residual.shape[:2]
    return cv2.resize(residual, (w * scale, h * scale), interpolation=cv2.INTER_LINEAR)
