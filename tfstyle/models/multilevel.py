"""The multi-level teacher (universal style transfer, Li et al. 2017): one frozen VGG19 encoder and
one reconstruction decoder per level, run coarse to fine (relu4_1, relu3_1, relu2_1, relu1_1).

At each level the current image is encoded, its features are given the style's statistics at that
level (WCT: full covariance, or AdaIN: per-channel mean/std), mixed with its own features by the
level's strength, and decoded back to an image that the next, finer level starts from. The coarse
levels move colour and large shapes, the fine ones lay down brush texture, and none of it had to be
learned: the decoders were trained only to reconstruct (:mod:`tfstyle.models.decoders`).

This module holds the networks and the per-style statistics (:class:`LevelStats`, computed once
per style: the WCT colouring matrix needs an eigen-decomposition). The cascade itself, with
regions, blends and tiles, is :mod:`tfstyle.engines.teacher`'s feature-level renderer run once
per level.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from tfstyle import transport
from tfstyle._keras import keras, tf
from tfstyle.features import build_vgg19
from tfstyle.models.decoders import (
    CHANNELS,
    LEVELS,
    MULTIPLES,
    build_level_decoder,
    build_level_encoder,
    check_level,
    shipped_decoders,
)
from tfstyle.ops import EPS

WCT_EPS = 1e-5
_CHUNK = 1 << 16  # rows per float64 block when summing moments (bounded memory at relu1_1)
BAND_ROWS = 256
"""Output rows per band of a layer that widens its input (:func:`_in_bands`)."""


@dataclass
class LevelStats:
    """A style's statistics at one level: per-channel mean and std (AdaIN), the WCT colouring
    matrix ``E sqrt(L) E^T`` of its covariance (float64, computed once per style) and, for the
    ``ot`` transform only, its quantiles along :mod:`tfstyle.transport`'s bases."""

    mean: np.ndarray
    std: np.ndarray
    colour: np.ndarray
    quantiles: np.ndarray | None = None

    @staticmethod
    def from_features(
        flat: np.ndarray, eps: float = EPS, wct_eps: float = WCT_EPS, sliced: bool = False
    ) -> LevelStats:
        """Statistics of ``flat`` ([N, C] features); ``sliced`` adds the quantiles (a seeded
        subsample of at most :data:`transport.SAMPLE` rows: 256 quantiles need no more)."""
        n, c = flat.shape
        s1, s2 = np.zeros(c), np.zeros((c, c))
        for i in range(0, n, _CHUNK):  # float32 BLAS per block, float64 across blocks
            block = np.asarray(flat[i : i + _CHUNK], np.float32)
            s1 += block.sum(0, dtype=np.float64)
            s2 += (block.T @ block).astype(np.float64)
        mean = s1 / n
        second = s2 / n - np.outer(mean, mean)  # population covariance
        std = np.sqrt(np.maximum(np.diag(second), 0.0) + eps)  # as tfstyle.ops.mean_std
        cov = second * n / max(n - 1, 1) + wct_eps * np.eye(c)  # as tfstyle.ops.wct
        vals, vecs = np.linalg.eigh(cov)
        colour = (vecs * np.sqrt(np.maximum(vals, wct_eps))) @ vecs.T
        quantiles = transport.style_quantiles(subsample(flat, transport.SAMPLE)) if sliced else None
        return LevelStats(mean, std, colour, quantiles)


def subsample(flat: np.ndarray, limit: int, seed: int = 0) -> np.ndarray:
    """At most ``limit`` rows of ``flat``, chosen by a seeded generator (all of them if fewer)."""
    if len(flat) <= limit:
        return flat
    keep = np.sort(np.random.default_rng(seed).choice(len(flat), limit, replace=False))
    return flat[keep]


@dataclass
class MultiCode:
    """What the multi-level teacher needs of a style: its :class:`LevelStats` at every level."""

    levels: dict[str, LevelStats]


class MultilevelTeacher:
    """Per-level encoders and decoders; images in and out are numpy H x W x 3 in [0, 1]."""

    def __init__(self, decoders: Mapping[str, str | None] | None = None):
        paths = shipped_decoders() if decoders is None else dict(decoders)
        self.style_encoder = build_vgg19(LEVELS, name="multilevel_style_encoder")
        self.encoders = {level: build_level_encoder(level) for level in LEVELS}
        self.decoders = {level: build_level_decoder(level) for level in LEVELS}
        for level, path in paths.items():
            if path:
                self.load_decoder(level, path)

    def load_decoder(self, level: str, path: str) -> None:
        from tfstyle.errors import WeightsError

        if not os.path.isfile(path):
            raise WeightsError(
                f"{path}: {level} reconstruction decoder not found "
                f"(train it with `python -m training.decoders --level {level} --ship`)"
            )
        self.decoders[check_level(level)].load_weights(path)

    def style_code(self, style: np.ndarray, sliced: tuple[str, ...] = ()) -> MultiCode:
        """One encoder pass over the style, then every level's statistics (with the sliced
        transport quantiles at the levels in ``sliced``)."""
        feats = self.style_encoder(tf.constant(np.asarray(style, np.float32)[None]), training=False)
        levels = {}
        for level in LEVELS:
            flat = tf.cast(feats[level], tf.float32).numpy().reshape(-1, CHANNELS[level])
            levels[level] = LevelStats.from_features(flat, sliced=level in sliced)
        return MultiCode(levels)

    def encode(self, level: str, image: np.ndarray) -> np.ndarray:
        """H x W x 3 -> ``level`` features of the image reflect-padded to the level's multiple."""
        m = MULTIPLES[level]
        x = tf.constant(np.asarray(image, np.float32)[None])
        h, w = image.shape[:2]
        if (-h) % m or (-w) % m:
            x = tf.pad(x, [[0, 0], [0, (-h) % m], [0, (-w) % m], [0, 0]], mode="REFLECT")
        return tf.cast(run_chain(self.encoders[level], x), tf.float32)[0].numpy()

    def decode(self, level: str, feats: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        out = run_chain(self.decoders[level], tf.constant(feats[None], tf.float32))
        return np.clip(tf.cast(out, tf.float32)[0, : shape[0], : shape[1]].numpy(), 0.0, 1.0)

    def reconstruct(self, level: str, image: np.ndarray) -> np.ndarray:
        """Encode and decode at ``level`` (what the cascade does where a level leaves the content)."""
        return self.decode(level, self.encode(level, image), image.shape[:2])


def run_chain(model: keras.Model, x: tf.Tensor) -> tf.Tensor:
    """``model(x)`` for a model whose layers form one path (the level encoders and decoders), run
    layer by layer so each activation is freed as soon as the next one exists.

    Why: Keras's functional call keeps a layer's input alive until that layer returns, so a full
    resolution bfloat16 activation sat next to its float32 cast in the decoders' ``to_rgb`` layer;
    here the cast is done first (as the layer's autocast would) and that layer runs in row bands
    (:func:`_in_bands`). The relu4_1 decoder on a 1024 px tile peaks at 384 MiB of TensorFlow
    memory instead of 596 (relu1_1 on 384 px: 55 instead of 134), with the same values."""
    x = tf.cast(x, model.inputs[0].dtype)  # as the functional call conforms its input
    for layer in _chain(model):
        if _widens(x.dtype, layer) and _row_local(layer):
            x = _in_bands(layer, x)
            continue
        if x.dtype != layer.compute_dtype:
            x = tf.cast(x, layer.compute_dtype)
        x = layer(x, training=False)
    return x


def _widens(dtype: tf.DType, layer: keras.layers.Layer) -> bool:
    return tf.as_dtype(layer.compute_dtype).size > dtype.size


def _row_local(layer: keras.layers.Layer) -> bool:
    """A stride-1, undilated, unpadded NHWC convolution: its output rows are computed from a band
    of input rows alone."""
    return (
        type(layer) is keras.layers.Conv2D
        and layer.padding == "valid"
        and layer.data_format == "channels_last"
        and tuple(layer.strides) == (1, 1)
        and tuple(layer.dilation_rate) == (1, 1)
    )


def _in_bands(layer: keras.layers.Layer, x: tf.Tensor) -> tf.Tensor:
    """``layer(x)`` band by band of :data:`BAND_ROWS` output rows, each band cast on its own.

    Why: the decoders' float32 ``to_rgb`` convolution on bfloat16 activations held the whole
    float32 cast and oneDNN's reordered copy of it at once (2 x 257 MiB at a 1024 px tile); per
    band, only a band of each. The same convolution of the same values at every output pixel."""
    k = layer.kernel_size[0]
    rows = x.shape[1] - k + 1
    bands = [
        layer(tf.cast(x[:, r : min(r + BAND_ROWS, rows) + k - 1], layer.compute_dtype), training=False)
        for r in range(0, rows, BAND_ROWS)
    ]
    return bands[0] if len(bands) == 1 else tf.concat(bands, axis=1)


def _chain(model: keras.Model) -> list:
    """The layers after the input of a single-path functional model; ValueError if it branches."""
    layers = model.layers
    single = len(model.outputs) == 1 and model.outputs[0] is layers[-1].output
    if not single or any(layer.input is not prev.output for prev, layer in itertools.pairwise(layers)):
        raise ValueError(f"{model.name}: not a single path of layers")
    return layers[1:]
