"""Region masks for multi-style stylization: feathering and a soft partition of unity.

NumPy only (OpenCV when it is installed, for speed), so the TensorFlow-free LiteRT runner uses the
same region logic as the teacher. Masks are float H x W arrays in [0, 1], white = styled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tfstyle.errors import TfstyleError

__all__ = [
    "DEFAULT_FEATHER",
    "RegionSpec",
    "auto_sigma",
    "coverage",
    "feather",
    "normalize_masks",
    "region_specs",
    "soft_regions",
]

DEFAULT_FEATHER = 0.015
"""Default Gaussian sigma of the mask edges as a fraction of the image's short side."""


REST_EPS = 1e-5
"""Unstyled weights below this are float rounding (feathered label regions sum to 1 - 1e-7)."""


def auto_sigma(shape: tuple[int, ...], fraction: float = DEFAULT_FEATHER) -> float:
    """The default feather sigma in pixels for an image of ``shape`` (H, W, ...)."""
    return float(fraction) * min(int(shape[0]), int(shape[1]))


def _as_mask(mask) -> np.ndarray:
    array = np.asarray(mask, dtype=np.float32)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim != 2:
        raise ValueError(f"a mask must be H x W (or H x W x 1), got shape {array.shape}")
    return array


def _gaussian_kernel(sigma: float) -> np.ndarray:
    radius = max(1, int(np.ceil(3.0 * sigma)))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return (k / k.sum()).astype(np.float32)


def _blur_axis(array: np.ndarray, kernel: np.ndarray, axis: int) -> np.ndarray:
    """Separable convolution along ``axis`` with mirrored borders (cv2's BORDER_REFLECT_101)."""
    radius = len(kernel) // 2
    n = array.shape[axis]
    pad = [(0, 0), (0, 0)]
    pad[axis] = (radius, radius)
    padded = np.pad(array, pad, mode="reflect" if n > 1 else "edge")
    out = np.zeros_like(array)
    for i, weight in enumerate(kernel):
        out += weight * (padded[i : i + n] if axis == 0 else padded[:, i : i + n])
    return out


def feather(mask, sigma_px: float) -> np.ndarray:
    """Gaussian-smooth a mask's edges (``sigma_px`` in pixels; 0 leaves it hard). Float32 H x W in [0, 1]."""
    array = np.clip(_as_mask(mask), 0.0, 1.0)
    sigma = float(sigma_px)
    if sigma < 0:
        raise ValueError(f"feather sigma must be >= 0, not {sigma_px}")
    if sigma < 0.1 or array.min() == array.max():
        return array.copy()
    try:
        import cv2
    except ImportError:
        kernel = _gaussian_kernel(sigma)
        out = _blur_axis(_blur_axis(array, kernel, 0), kernel, 1)
    else:
        out = cv2.GaussianBlur(array, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT_101)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def normalize_masks(masks: Sequence, *, unstyled: bool = True) -> tuple[list[np.ndarray], np.ndarray | None]:
    """Turn overlapping soft masks into weights that sum to 1 at every pixel.

    Returns ``(weights, rest)``: one H x W weight per mask and the weight ``rest`` of the
    unstyled content. Where the masks' sum ``s`` is at most 1 the weights are the masks themselves
    and ``rest = 1 - s`` (a half-covered pixel is half styled); where they overlap (``s > 1``) they
    are scaled to sum to 1 and ``rest = 0``. With ``unstyled=False`` every pixel is styled: the
    weights are ``mask / s`` and pixels no mask covers are shared equally; ``rest`` is then None.
    ``rest`` is also None when no pixel is left unstyled.
    """
    arrays = [np.clip(_as_mask(m), 0.0, 1.0) for m in masks]
    if not arrays:
        raise ValueError("normalize_masks needs at least one mask")
    shape = arrays[0].shape
    if any(a.shape != shape for a in arrays):
        raise ValueError(f"masks differ in size: {sorted({a.shape for a in arrays})}")
    total = np.sum(arrays, axis=0, dtype=np.float32)
    if unstyled:
        scale = np.where(total > 1.0, 1.0 / np.maximum(total, 1.0), 1.0).astype(np.float32)
        weights = [a * scale for a in arrays]
        rest = np.clip(1.0 - np.minimum(total, 1.0), 0.0, 1.0).astype(np.float32)
        rest[rest < REST_EPS] = 0.0  # rounding of feathered partitions, not an unstyled pixel
        return weights, (rest if rest.max() > 0.0 else None)
    empty = total <= 0.0
    safe = np.where(empty, 1.0, total)
    share = np.float32(1.0 / len(arrays))
    weights = [np.where(empty, share, a / safe).astype(np.float32) for a in arrays]
    return weights, None


def coverage(weights: Sequence[np.ndarray]) -> np.ndarray:
    """Styled fraction per pixel (``1 - rest``) of normalised weights."""
    return np.clip(np.sum(weights, axis=0, dtype=np.float32), 0.0, 1.0)


def check_count(n_masks: int, n_styles: int) -> None:
    """Masks apply to all styles (one) or each to its own style (one per style)."""
    if n_masks not in (1, n_styles):
        raise TfstyleError(f"{n_masks} masks for {n_styles} styles: give one mask, or one per style")


@dataclass
class RegionSpec:
    """A region before feathering: where (``mask``), which styles (indices, mixed by ``blend``), how much.

    Every engine builds its regions from these, whether they came from ``--mask`` PNGs or from a
    label map, so masks and labels share one path. ``strength`` in [0, 1] scales the style of this
    region only (as ``alpha`` does for the whole image); ``labels`` are the label-map classes the
    region covers, which semantic Gatys uses to pick the matching part of a labelled style image.
    """

    mask: np.ndarray
    styles: tuple[int, ...]
    blend: tuple[float, ...]
    strength: float = 1.0
    labels: tuple[int, ...] = ()


def region_specs(masks: Sequence, n_styles: int, blend: Sequence[float]) -> list[RegionSpec]:
    """``--mask`` semantics: one mask for the blended styles, or one mask per style (blend unused)."""
    check_count(len(masks), n_styles)
    if len(masks) == 1:
        return [RegionSpec(_as_mask(masks[0]), tuple(range(n_styles)), tuple(float(w) for w in blend))]
    return [RegionSpec(_as_mask(m), (i,), (1.0,)) for i, m in enumerate(masks)]


def soft_regions(specs: Sequence[RegionSpec], sigma_px: float) -> tuple[list[np.ndarray], np.ndarray | None]:
    """Feather every region's mask by ``sigma_px`` and make them a soft partition (:func:`normalize_masks`).

    Feathering is linear, so the hard masks of a label map (a partition) stay a partition of unity:
    two neighbouring regions cross-fade over the edge and nothing is left unstyled between them.
    """
    return normalize_masks([feather(s.mask, sigma_px) for s in specs])
