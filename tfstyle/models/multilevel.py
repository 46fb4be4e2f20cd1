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

import os
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from tfstyle import transport
from tfstyle._keras import tf
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
        return tf.cast(self.encoders[level](x, training=False)[level], tf.float32)[0].numpy()

    def decode(self, level: str, feats: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        out = self.decoders[level](tf.constant(feats[None], tf.float32), training=False)
        return np.clip(tf.cast(out, tf.float32)[0, : shape[0], : shape[1]].numpy(), 0.0, 1.0)

    def reconstruct(self, level: str, image: np.ndarray) -> np.ndarray:
        """Encode and decode at ``level`` (what the cascade does where a level leaves the content)."""
        return self.decode(level, self.encode(level, image), image.shape[:2])
