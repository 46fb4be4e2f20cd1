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
"""

from __future__ import annotations

import functools
import math

from tfstyle import losses
from tfstyle._keras import tf
from tfstyle.color import LUMA_BT601
from tfstyle.features import STYLE_LAYERS
from tfstyle.images import scaled_shape

__all__ = [
    "CONTENT_METRIC_LAYER",
    "STYLE_LAYER_WEIGHTS",
    "Scorer",
    "content_distance",
    "content_ssim",
    "default_extractor",
    "luminance",
    "psnr",
    "ssim",
    "style_distance",
    "style_distance_by_layer",
    "style_targets_for",
]

CONTENT_METRIC_LAYER = "relu4_1"
STYLE_LAYER_WEIGHTS: dict[str, float] = {name: 1.0 for name in STYLE_LAYERS}


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


# --------------------------------------------------------------------------- batched scoring


class Scorer:
    """All per-output metrics of one (content, style) pair, sharing work across many outputs.

    Style statistics and content features are cached per output size, so scoring several methods'
    outputs of the same pair runs the style and content images through the network once per size.
    ``scorer(output)`` returns ``{"style_gram", "style_mean_std", "content_distance", "content_ssim"}``.
    """

    METRICS = ("style_gram", "style_mean_std", "content_distance", "content_ssim")

    def __init__(self, content, style, extractor=None, *, mask=None, layer_weights=None):
        self.extractor = extractor or default_extractor()
        self.content = _image(content)
        self.style = _image(style)
        self.mask = mask
        self.layer_weights = layer_weights
        self._targets: dict[int, losses.StyleTargets] = {}
        self._content: dict[tuple[int, int], tuple[tf.Tensor, tf.Tensor]] = {}

    def _style_targets(self, short: int):
        if short not in self._targets:
            self._targets[short] = style_targets_for(self.style, self.extractor, short)
        return self._targets[short]

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
        return {
            "style_gram": style["gram"],
            "style_mean_std": style["mean_std"],
            "content_distance": _content_number(feats[CONTENT_METRIC_LAYER], ref_feat, m),
            "content_ssim": _ssim(luminance(out), luminance(ref)),
        }
