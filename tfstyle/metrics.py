"""Quality metrics: the single source of every number the project reports.

All style and content numbers reuse the loss definitions in :mod:`tfstyle.losses` (never a second
copy of the Gram or mean/std maths), so "lower style distance" means exactly "lower style loss".
Images are RGB in [0, 1], as numpy arrays or tensors of shape [H,W,3] (a leading batch of one is
accepted). Functions take an ``extractor`` callable (``images -> {layer: tensor}``, e.g.
:class:`tfstyle.features.VGGFeatures`) so a caller can share one network across many calls;
:func:`default_extractor` gives a cached one.

Conventions:

* Style distances: the style image is resized so its *short* side equals the output's short side
  (aspect kept), because that is the scale at which a stylised output should reproduce the style's
  texture; Gram matrices are normalised by the number of positions, so sizes need not match.
  Both losses use uniform weights (1.0) over ``relu1_1 .. relu5_1`` and are summed over layers
  (exactly ``losses.style_loss`` with its defaults).
* Content distance: relative ``relu4_1`` error ``||F(o) - F(c)||_2 / ||F(c)||_2`` (0 = same).
* Content SSIM: SSIM of BT.601 luminance (structure kept, colour ignored), 1 = same.
* ``psnr`` / ``ssim``: pixel parity of two same-size RGB images (teacher vs student, INT8 vs FP32).
* Texture distance (:func:`sliced_wasserstein`): mean/std statistics are blind to how texture is laid
  out (a blur and a brush stroke can share them); the sliced Wasserstein distance compares the whole
  distribution of VGG feature vectors (``relu1_1 .. relu4_1``) of output and style along random
  directions, each direction's distance divided by the style's spread along it (scale-free, 0 = same).
* Artefacts (:func:`border_ratio`, :func:`grid_db`): a frame along the borders and a periodic lattice,
  the two defects a person notices first in a feed-forward stylizer; numpy only.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from tfstyle import losses
from tfstyle._keras import tf
from tfstyle.color import LUMA_BT601
from tfstyle.features import STYLE_LAYERS
from tfstyle.images import scaled_shape

__all__ = [
    "CONTENT_METRIC_LAYER",
    "STYLE_LAYER_WEIGHTS",
    "TEXTURE_LAYERS",
    "Scorer",
    "border_ratio",
    "content_distance",
    "content_ssim",
    "default_extractor",
    "grid_db",
    "luminance",
    "psnr",
    "sliced_wasserstein",
    "ssim",
    "style_distance",
    "style_distance_by_layer",
    "style_targets_for",
]

CONTENT_METRIC_LAYER = "relu4_1"
STYLE_LAYER_WEIGHTS: dict[str, float] = {name: 1.0 for name in STYLE_LAYERS}
TEXTURE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
SWD_PROJECTIONS = 64
SWD_QUANTILES = 256


@functools.lru_cache(maxsize=1)
def default_extractor():
    """A process-wide VGG19 extractor with the style layers (``relu4_1`` serves content too)."""
    from tfstyle.features import VGGFeatures

    return VGGFeatures(STYLE_LAYERS)


# --------------------------------------------------------------------------- image helpers


def _image(x) -> tf.Tensor:
    """[H,W,3] or [1,H,W,3] array/tensor -> float32 [1,H,W,3] tensor."""
    t = tf.convert_to_tensor(x)
    t = tf.cast(t, tf.float32)
    if t.shape.rank == 3:
        t = t[None]
    if t.shape.rank != 4 or t.shape[0] != 1 or t.shape[-1] != 3:
        raise ValueError(f"expected one RGB image [H,W,3], got shape {tuple(t.shape)}")
    return t


def _hw(t: tf.Tensor) -> tuple[int, int]:
    return int(t.shape[1]), int(t.shape[2])


def _resize(t: tf.Tensor, size: tuple[int, int]) -> tf.Tensor:
    """Antialiased bilinear resize of a [1,H,W,C] tensor (a no-op at the same size)."""
    if _hw(t) == tuple(size):
        return t
    return tf.image.resize(t, size, method="bilinear", antialias=True)


def _mask(mask, size: tuple[int, int]) -> tf.Tensor | None:
    """HxW (or [H,W,1], [1,H,W,1]) weights in [0,1] -> [1,H,W,1] at ``size``."""
    if mask is None:
        return None
    m = tf.cast(tf.convert_to_tensor(mask), tf.float32)
    if m.shape.rank == 2:
        m = m[None, :, :, None]
    elif m.shape.rank == 3:
        m = m[None]
    if m.shape.rank != 4 or m.shape[-1] != 1:
        raise ValueError(f"mask must be [H,W] (or [H,W,1]), got shape {tuple(m.shape)}")
    if _hw(m) != tuple(size):
        m = tf.image.resize(m, size, method="area")
    return m


def luminance(image) -> tf.Tensor:
    """BT.601 luma ``Y = 0.299 R + 0.587 G + 0.114 B`` as [1,H,W,1]."""
    t = _image(image)
    return tf.reduce_sum(t * tf.constant(LUMA_BT601, tf.float32), axis=-1, keepdims=True)


def _filter_size(hw: tuple[int, int]) -> int:
    # tf.image.ssim needs images at least as large as its Gaussian window (11 by default).
    return max(1, min(11, *hw))


def _ssim(a: tf.Tensor, b: tf.Tensor) -> float:
    fs = _filter_size(_hw(a))
    return float(tf.image.ssim(a, b, max_val=1.0, filter_size=fs)[0])


def _same_size(a: tf.Tensor, b: tf.Tensor, what: str) -> None:
    if a.shape != b.shape:
        raise ValueError(
            f"{what} needs images of the same size, got {tuple(a.shape[1:])} and {tuple(b.shape[1:])}"
        )


# --------------------------------------------------------------------------- style / content


def style_targets_for(style, extractor, short_side: int | None = None, layers=STYLE_LAYERS):
    """``losses.StyleTargets`` of ``style``, first resized so its short side is ``short_side``."""
    t = _image(style)
    if short_side is not None:
        t = _resize(t, scaled_shape(_hw(t), short_side, side="short"))
    return losses.style_targets(extractor(t), layers)


def _style_numbers(feats, targets, mask=None, layer_weights=None) -> dict[str, float]:
    weights = STYLE_LAYER_WEIGHTS if layer_weights is None else layer_weights
    gram, _ = losses.style_loss(feats, targets, kind="gram", layer_weights=weights, mask=mask)
    mean_std, _ = losses.style_loss(feats, targets, kind="mean_std", layer_weights=weights, mask=mask)
    return {"gram": float(gram), "mean_std": float(mean_std)}


def _content_number(out_feat, content_feat, mask=None) -> float:
    diff = tf.cast(out_feat, tf.float32) - tf.cast(content_feat, tf.float32)
    ref = tf.cast(content_feat, tf.float32)
    if mask is not None:
        m = tf.image.resize(mask, tf.shape(ref)[1:3], method="area")
        diff, ref = diff * tf.sqrt(m), ref * tf.sqrt(m)
    num = tf.norm(tf.reshape(diff, [-1]))
    den = tf.norm(tf.reshape(ref, [-1]))
    return float(tf.math.divide_no_nan(num, den))


def _output_and_targets(output, style, extractor, resize_style: bool = True):
    """The output as a tensor and the style's targets at the output's short side (the convention
    every style distance follows; ``resize_style=False``: the style at its own size)."""
    out = _image(output)
    return out, style_targets_for(style, extractor, min(_hw(out)) if resize_style else None)


def style_distance(
    output, style, extractor=None, *, mask=None, resize_style: bool = True, layer_weights=None
):
    """``{"gram": float, "mean_std": float}``: style losses between ``output`` and ``style``.

    The style is resized so its short side equals the output's (``resize_style=False`` uses it at
    its own resolution). ``mask`` (HxW in [0,1], at the output's size or resized to it) restricts
    the output's statistics to a region; the style's statistics always cover the whole style.
    """
    extractor = extractor or default_extractor()
    out, targets = _output_and_targets(output, style, extractor, resize_style)
    return _style_numbers(extractor(out), targets, _mask(mask, _hw(out)), layer_weights)


def style_distance_by_layer(output, style, extractor=None, kind: str = "mean_std") -> dict[str, float]:
    """The per-layer terms that :func:`style_distance` sums (uniform weights): which VGG layer a
    gap between two methods lies in (colour and fine texture low, larger patterns high)."""
    extractor = extractor or default_extractor()
    out, targets = _output_and_targets(output, style, extractor)
    _, per_layer = losses.style_loss(extractor(out), targets, kind=kind, layer_weights=STYLE_LAYER_WEIGHTS)
    return {name: float(value) for name, value in per_layer.items()}


def content_distance(output, content, extractor=None, *, mask=None) -> float:
    """Relative ``relu4_1`` error ``||F(o) - F(c)|| / ||F(c)||`` (content resized to the output's size)."""
    extractor = extractor or default_extractor()
    out = _image(output)
    ref = _resize(_image(content), _hw(out))
    m = _mask(mask, _hw(out))
    return _content_number(extractor(out)[CONTENT_METRIC_LAYER], extractor(ref)[CONTENT_METRIC_LAYER], m)


def content_ssim(output, content) -> float:
    """SSIM of the BT.601 luminance of ``output`` and ``content`` (content resized to the output)."""
    out = _image(output)
    ref = _resize(_image(content), _hw(out))
    return _ssim(luminance(out), luminance(ref))


def psnr(a, b) -> float:
    """Peak signal-to-noise ratio in dB of two same-size RGB images in [0,1] (``inf`` if identical)."""
    ta, tb = _image(a), _image(b)
    _same_size(ta, tb, "psnr")
    if bool(tf.reduce_all(ta == tb)):
        return math.inf
    return float(tf.image.psnr(ta, tb, max_val=1.0)[0])


def ssim(a, b) -> float:
    """RGB SSIM of two same-size images in [0,1]: TensorFlow's mean of the per-channel SSIMs."""
    ta, tb = _image(a), _image(b)
    _same_size(ta, tb, "ssim")
    return _ssim(ta, tb)


# --------------------------------------------------------------------------- texture


@functools.lru_cache(maxsize=8)
def _directions(channels: int, count: int, seed: int) -> tf.Tensor:
    """``count`` seeded random unit vectors in R^channels (fixed, so every report uses the same)."""
    v = np.random.default_rng(seed + channels).standard_normal((channels, count)).astype(np.float32)
    return tf.constant(v / np.linalg.norm(v, axis=0, keepdims=True))


def _quantiles(feat: tf.Tensor, directions: tf.Tensor, levels: int) -> tf.Tensor:
    """[levels, K] quantiles of a [1,H,W,C] feature cloud projected on K directions."""
    points = tf.reshape(tf.cast(feat, tf.float32), [-1, feat.shape[-1]])
    proj = tf.sort(tf.matmul(points, directions), axis=0)
    n = tf.shape(proj)[0]
    idx = tf.cast(tf.round(tf.linspace(0.0, tf.cast(n - 1, tf.float32), levels)), tf.int32)
    return tf.gather(proj, idx)


def _swd_layer(out_q: tf.Tensor, style_q: tf.Tensor) -> float:
    """RMS gap of the quantile functions per direction, over the style's spread along it, averaged."""
    spread = tf.math.reduce_std(style_q, axis=0) + 1e-6
    gap = tf.sqrt(tf.reduce_mean(tf.square(out_q - style_q), axis=0))
    return float(tf.reduce_mean(gap / spread))


def _style_quantiles(style_feats, layers, seed: int) -> dict[str, tf.Tensor]:
    return {
        n: _quantiles(
            style_feats[n], _directions(int(style_feats[n].shape[-1]), SWD_PROJECTIONS, seed), SWD_QUANTILES
        )
        for n in layers
    }


def _swd(out_feats, style_q: dict[str, tf.Tensor], seed: int) -> float:
    per_layer = [
        _swd_layer(
            _quantiles(
                out_feats[n], _directions(int(out_feats[n].shape[-1]), SWD_PROJECTIONS, seed), SWD_QUANTILES
            ),
            q,
        )
        for n, q in style_q.items()
    ]
    return sum(per_layer) / len(per_layer)


def sliced_wasserstein(output, style, extractor=None, *, layers=TEXTURE_LAYERS, seed: int = 0) -> float:
    """Texture distance: sliced Wasserstein distance of the VGG feature clouds of ``output`` and
    ``style`` (style resized to the output's short side), mean over ``layers``; 0 = same texture.

    Each layer's features are projected on 64 seeded random directions; along each, the RMS gap of
    the two quantile functions is divided by the style's spread, so layers of any scale count alike.
    Unlike the mean/std distance it sees layout: shuffling a texture's pixels changes it.
    """
    extractor = extractor or default_extractor()
    out = _image(output)
    ref = _resize(_image(style), scaled_shape(_hw(_image(style)), min(_hw(out)), side="short"))
    return _swd(extractor(out), _style_quantiles(extractor(ref), layers, seed), seed)


# --------------------------------------------------------------------------- artefacts


def _luma_np(image) -> np.ndarray:
    a = np.asarray(image, dtype=np.float32)
    if a.ndim == 4:
        a = a[0]
    if a.ndim != 3 or a.shape[-1] != 3:
        raise ValueError(f"expected one RGB image [H,W,3], got shape {a.shape}")
    return a @ np.asarray(LUMA_BT601, np.float32)


def border_ratio(image, outer: int = 3, inner: tuple[int, int] = (8, 24)) -> float:
    """Mean |luminance gradient| in the outer ``outer`` px over that of the band ``inner`` px in from
    every border: about 1 for a photo, well above 1 for a decoder that draws a frame."""
    y = _luma_np(image)
    h, w = y.shape
    if min(h, w) < 2 * inner[1] + 2:
        raise ValueError(f"border_ratio needs a side of at least {2 * inner[1] + 2} px, got {h}x{w}")
    grad = np.zeros_like(y)
    grad[:, :-1] += np.abs(np.diff(y, axis=1))
    grad[:-1, :] += np.abs(np.diff(y, axis=0))
    rows, cols = np.arange(h)[:, None], np.arange(w)[None, :]
    depth = np.minimum(np.minimum(rows, h - 2 - rows), np.minimum(cols, w - 2 - cols))
    edge = grad[(depth >= 0) & (depth < outer)].mean()
    band = grad[(depth >= inner[0]) & (depth < inner[1])].mean()
    return float(edge / max(band, 1e-8))


def grid_db(image, periods: tuple[int, ...] = (8, 4), halo: int = 3) -> float:
    """How far the spectrum's lines at 1/8 and 1/4 cycles/px (the strides of a decoder's upsampling)
    rise over their neighbours, in dB, mean over periods and both axes: 0 for a natural image, a few
    dB for a visible lattice. Luminance, mean removed, Hann-windowed."""
    y = _luma_np(image)
    y = y - y.mean()
    h, w = y.shape
    y = y * np.outer(np.hanning(h), np.hanning(w))
    power = np.abs(np.fft.fft2(y)) ** 2
    rises = []
    for axis, n in ((1, w), (0, h)):
        db = 10 * np.log10(power.sum(axis=1 - axis) + 1e-12)  # energy per frequency bin, this axis
        for period in periods:
            k = round(n / period)
            if k - halo - 1 < 1 or k + halo + 1 >= n // 2 + 1:
                continue
            # Baseline: a straight line in dB through the neighbours on both sides (a natural
            # spectrum falls steeply, so a plain mean of the neighbours would sit above the line).
            near = np.r_[k - halo - 1 : k - 1, k + 2 : k + halo + 2]
            slope, icpt = np.polyfit(near, db[near], 1)
            line = np.arange(k - 1, k + 2)
            rises.append(float(np.max(db[line] - (slope * line + icpt))))
    if not rises:
        raise ValueError(f"grid_db needs a larger image, got {h}x{w}")
    return float(np.mean(rises))


# --------------------------------------------------------------------------- batched scoring


class Scorer:
    """All per-output metrics of one (content, style) pair, sharing work across many outputs.

    Style statistics and content features are cached per output size, so scoring several methods'
    outputs of the same pair runs the style and content images through the network once per size.
    ``scorer(output)`` returns ``{"style_gram", "style_mean_std", "content_distance", "content_ssim"}``,
    and ``"style_swd"`` (:func:`sliced_wasserstein`) with ``texture=True``.
    """

    METRICS = ("style_gram", "style_mean_std", "content_distance", "content_ssim")

    def __init__(self, content, style, extractor=None, *, mask=None, layer_weights=None, texture=False):
        self.extractor = extractor or default_extractor()
        self.content = _image(content)
        self.style = _image(style)
        self.mask = mask
        self.layer_weights = layer_weights
        self.texture = texture
        self._targets: dict[int, losses.StyleTargets] = {}
        self._quantiles: dict[int, dict[str, tf.Tensor]] = {}
        self._content: dict[tuple[int, int], tuple[tf.Tensor, tf.Tensor]] = {}

    def _style_targets(self, short: int):
        if short not in self._targets:
            self._targets[short] = style_targets_for(self.style, self.extractor, short)
        return self._targets[short]

    def _style_quantiles(self, short: int):
        if short not in self._quantiles:
            ref = _resize(self.style, scaled_shape(_hw(self.style), short, side="short"))
            self._quantiles[short] = _style_quantiles(self.extractor(ref), TEXTURE_LAYERS, 0)
        return self._quantiles[short]

    def _content_at(self, size: tuple[int, int]):
        if size not in self._content:
            ref = _resize(self.content, size)
            self._content[size] = (ref, self.extractor(ref)[CONTENT_METRIC_LAYER])
        return self._content[size]

    def __call__(self, output) -> dict[str, float]:
        out = _image(output)
        size = _hw(out)
        feats = self.extractor(out)
        m = _mask(self.mask, size)
        style = _style_numbers(feats, self._style_targets(min(size)), m, self.layer_weights)
        ref, ref_feat = self._content_at(size)
        scores = {
            "style_gram": style["gram"],
            "style_mean_std": style["mean_std"],
            "content_distance": _content_number(feats[CONTENT_METRIC_LAYER], ref_feat, m),
            "content_ssim": _ssim(luminance(out), luminance(ref)),
        }
        if self.texture:
            scores["style_swd"] = _swd(feats, self._style_quantiles(min(size)), 0)
        return scores
