"""The one set of loss definitions used by Gatys optimisation, teacher training, student
distillation, QAT fine-tuning and evaluation.

Each loss takes the prediction's features and the target's features or statistics, casts to
float32 (safe under mixed precision) and returns a scalar. Masks are [B,H,W,1] in [0,1] at image
resolution and are resized to each feature map, so one mask serves every layer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from tfstyle._keras import tf
from tfstyle.features import CONTENT_LAYER, STYLE_LAYERS
from tfstyle.ops import gram_matrix, lattice, masked_mean, mean_std

__all__ = [
    "DEFAULT_CONTENT_WEIGHTS",
    "DEFAULT_STYLE_WEIGHTS",
    "StyleTargets",
    "WeightSchedule",
    "balanced_content_weights",
    "balanced_weights",
    "content_loss",
    "distillation_loss",
    "feature_distillation_loss",
    "gram_matrix",
    "gram_style_loss",
    "mean_std_style_loss",
    "style_loss",
    "style_targets",
    "total_variation_loss",
    "weighted_sum",
]

DEFAULT_STYLE_WEIGHTS: dict[str, float] = {name: 1.0 for name in STYLE_LAYERS}
DEFAULT_CONTENT_WEIGHTS: dict[str, float] = {CONTENT_LAYER: 1.0}


def _f32(x):
    return tf.cast(x, tf.float32)


def _mse(a, b, mask=None):
    return tf.reduce_mean(masked_mean(tf.square(_f32(a) - _f32(b)), mask, axis=(1, 2)))


def content_loss(pred, target, mask=None):
    """Mean squared feature error; with a mask, averaged over the masked positions only."""
    return _mse(pred, target, mask)


def gram_style_loss(pred, target_gram, mask=None):
    """Mean squared difference between the prediction's Gram matrix and the target's."""
    return tf.reduce_mean(tf.square(gram_matrix(pred, mask) - _f32(target_gram)))


def mean_std_style_loss(pred, target_mean, target_std, mask=None):
    """AdaIN style loss: squared error of per-channel means plus that of standard deviations."""
    mean, std = mean_std(pred, mask)
    return tf.reduce_mean(tf.square(mean - _f32(target_mean))) + tf.reduce_mean(
        tf.square(std - _f32(target_std))
    )


def total_variation_loss(images):
    """Mean absolute difference between neighbouring pixels; suppresses high-frequency noise."""
    images = _f32(images)
    dy = tf.abs(images[:, 1:, :, :] - images[:, :-1, :, :])
    dx = tf.abs(images[:, :, 1:, :] - images[:, :, :-1, :])
    return tf.reduce_mean(dy) + tf.reduce_mean(dx)


def distillation_loss(student_images, teacher_images):
    """Output distillation: L1 in pixel space (robust to the teacher's occasional artefacts)."""
    return tf.reduce_mean(tf.abs(_f32(student_images) - _f32(teacher_images)))


def grid_loss(images, period: int = 8):
    """Mean |lattice| (:func:`tfstyle.ops.lattice`): what an image repeats on the decoder's
    ``period`` px grid, which a person sees as a screen over the picture."""
    return tf.reduce_mean(tf.abs(lattice(images, period)))


def feature_distillation_loss(projected_student, teacher_feats):
    """Feature distillation: student features (after a learned projection) vs teacher VGG features."""
    return content_loss(projected_student, teacher_feats)


def weighted_sum(terms: Mapping[str, tf.Tensor], weights: Mapping[str, float]):
    """Sum of per-layer terms with per-layer weights; layers without a weight are skipped."""
    total = tf.constant(0.0, tf.float32)
    for name, w in weights.items():
        if w:
            total += float(w) * terms[name]
    return total


@dataclass
class StyleTargets:
    """Precomputed statistics of one style at each layer (computed once, matched every step)."""

    grams: dict
    means: dict
    stds: dict

    @staticmethod
    def blend(targets: list[StyleTargets], weights: list[float]) -> StyleTargets:
        """Interpolate statistics, which is how several styles are mixed into one target."""
        total = float(sum(weights))
        if total <= 0:
            raise ValueError("blend weights must sum to a positive number")
        ws = [w / total for w in weights]

        def mix(attr):
            keys = getattr(targets[0], attr).keys()
            return {k: sum(w * getattr(t, attr)[k] for t, w in zip(targets, ws)) for k in keys}

        return StyleTargets(mix("grams"), mix("means"), mix("stds"))


def style_targets(feats: Mapping[str, tf.Tensor], layers=STYLE_LAYERS, mask=None) -> StyleTargets:
    """Gram and mean/std statistics of a style image's features at ``layers``."""
    grams, means, stds = {}, {}, {}
    for name in layers:
        grams[name] = gram_matrix(feats[name], mask)
        means[name], stds[name] = mean_std(feats[name], mask)
    return StyleTargets(grams, means, stds)


def style_loss(feats, targets: StyleTargets, kind: str = "gram", layer_weights=None, mask=None):
    """Per-layer weighted style loss of ``kind`` ('gram' or 'mean_std'); returns (total, per-layer)."""
    layer_weights = DEFAULT_STYLE_WEIGHTS if layer_weights is None else layer_weights
    per_layer = {}
    for name in layer_weights:
        if kind == "gram":
            per_layer[name] = gram_style_loss(feats[name], targets.grams[name], mask)
        elif kind == "mean_std":
            per_layer[name] = mean_std_style_loss(feats[name], targets.means[name], targets.stds[name], mask)
        else:
            raise ValueError(f"unknown style loss {kind!r}; use 'gram' or 'mean_std'")
    return weighted_sum(per_layer, layer_weights), per_layer


def balanced_weights(targets: StyleTargets, kind: str, layer_weights: Mapping[str, float]) -> dict:
    """Scale per-layer weights by 1 / the target statistic's magnitude.

    Raw VGG activations differ by orders of magnitude between layers (relu4_1 Gram entries dwarf
    relu1_1's), so equal weights would match one layer only. Gatys et al. avoided this with a
    rescaled VGG; dividing by the target's own magnitude does the same for any weight file, and
    turns each term into a relative error of order one.
    """
    out = {}
    for name, w in layer_weights.items():
        if kind == "gram":
            mag = tf.reduce_mean(tf.square(targets.grams[name]))
        else:
            mag = tf.reduce_mean(tf.square(targets.means[name])) + tf.reduce_mean(
                tf.square(targets.stds[name])
            )
        out[name] = float(w) / max(float(mag), 1e-12)
    return out


def balanced_content_weights(
    target_feats: Mapping[str, tf.Tensor], layer_weights: Mapping[str, float]
) -> dict:
    """Content counterpart of :func:`balanced_weights`: 1 / mean squared target activation."""
    return {
        name: float(w) / max(float(tf.reduce_mean(tf.square(_f32(target_feats[name])))), 1e-12)
        for name, w in layer_weights.items()
    }


@dataclass
class WeightSchedule:
    """Dynamic loss weights: content weight decays and style weight grows, geometrically, over
    ``steps``. Early steps keep the layout of the content; later ones push texture harder."""

    content_start: float = 1.0
    content_end: float = 1.0
    style_start: float = 1.0
    style_end: float = 1.0
    steps: int = 1

    def at(self, step) -> tuple:
        """(content_weight, style_weight) at ``step`` (a Python int or a tensor)."""
        t = tf.clip_by_value(tf.cast(step, tf.float32) / float(max(self.steps - 1, 1)), 0.0, 1.0)

        def geo(a, b):
            if a <= 0 or b <= 0:
                return a + (b - a) * t
            return a * tf.exp(t * math.log(b / a))

        return geo(self.content_start, self.content_end), geo(self.style_start, self.style_end)

    @classmethod
    def constant(cls, content: float, style: float) -> WeightSchedule:
        return cls(content, content, style, style, 1)
