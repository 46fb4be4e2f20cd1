"""Colour preservation (Gatys et al. 2016, "Preserving Color in Neural Artistic Style Transfer").

NumPy only, so the TensorFlow-free LiteRT runner can use it too. Images are float32 HxWx3 in [0,1].
"""

from __future__ import annotations

import numpy as np

from tfstyle.errors import TfstyleError

MODES = ("none", "luminance", "histogram")

LUMA_BT601 = (0.299, 0.587, 0.114)
_RGB2YUV = np.array([LUMA_BT601, [-0.14713, -0.28886, 0.436], [0.615, -0.51499, -0.10001]], dtype=np.float32)
_YUV2RGB = np.linalg.inv(_RGB2YUV).astype(np.float32)


def rgb_to_yuv(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float32) @ _RGB2YUV.T


def yuv_to_rgb(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float32) @ _YUV2RGB.T


def luminance(image: np.ndarray) -> np.ndarray:
    """BT.601 luma, the channel that carries structure (used by metrics and colour transfer)."""
    return image.astype(np.float32) @ _RGB2YUV[0]


def transfer_luminance(stylized: np.ndarray, content: np.ndarray) -> np.ndarray:
    """Keep the stylized luminance, take chroma from the content: strokes change, colours do not."""
    if stylized.shape != content.shape:
        raise ValueError(f"shape mismatch {stylized.shape} vs {content.shape}")
    s, c = rgb_to_yuv(stylized), rgb_to_yuv(content)
    out = np.concatenate([s[..., :1], c[..., 1:]], axis=-1)
    return np.clip(yuv_to_rgb(out), 0.0, 1.0)


def match_color(source: np.ndarray, reference: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """Affine colour transform giving ``source`` the mean and covariance of ``reference``.

    Applied to the style image before stylization, so the output keeps the content's palette
    while the brush work still comes from the style.
    """
    src = source.reshape(-1, 3).astype(np.float64)
    ref = reference.reshape(-1, 3).astype(np.float64)
    mu_s, mu_r = src.mean(0), ref.mean(0)
    cov_s = np.cov(src, rowvar=False) + eps * np.eye(3)
    cov_r = np.cov(ref, rowvar=False) + eps * np.eye(3)

    def sqrtm(m, inverse=False):
        vals, vecs = np.linalg.eigh(m)
        vals = np.maximum(vals, eps)
        return (vecs * (vals ** (-0.5 if inverse else 0.5))) @ vecs.T

    transform = sqrtm(cov_r) @ sqrtm(cov_s, inverse=True)
    out = (src - mu_s) @ transform.T + mu_r
    return np.clip(out, 0.0, 1.0).reshape(source.shape).astype(np.float32)


def check_mode(mode: str | None) -> str:
    mode = mode or "none"
    if mode not in MODES:
        raise TfstyleError(f"--preserve-color must be one of {', '.join(MODES)}, not {mode!r}")
    return mode
