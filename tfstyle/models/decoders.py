"""Reconstruction decoders, one per VGG19 level (universal style transfer, Li et al. 2017).

Each decoder mirrors the VGG19 encoder up to its level (``relu1_1`` ... ``relu4_1``) and is trained
only to give back the image its features came from (pixel + perceptual loss, no style loss): an
objective that converges in a few thousand small steps on a CPU, where the AdaIN decoder's style
objective does not. Texture then comes from the feature transforms of the multi-level cascade
(:mod:`tfstyle.models.multilevel`), not from training.

The ``relu4_1`` decoder has exactly the layers of the AdaIN teacher's decoder, so the shipped AdaIN
decoder (trained with an identity term) can serve as that level.
"""

from __future__ import annotations

import os

from tfstyle import losses
from tfstyle._keras import keras, tf
from tfstyle.assets import ASSETS, MULTILEVEL_DECODERS
from tfstyle.features import build_vgg19
from tfstyle.models.layers import ReflectionPad2D

LEVELS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
CHANNELS = {"relu1_1": 64, "relu2_1": 128, "relu3_1": 256, "relu4_1": 512}
MULTIPLES = {"relu1_1": 1, "relu2_1": 2, "relu3_1": 4, "relu4_1": 8}
# RMS of each level's activations on photos and paintings (256 px): dividing by it keeps the first
# decoder layers out of saturation and makes every level's perceptual term of order one.
FEATURE_SCALES = {"relu1_1": 50.0, "relu2_1": 200.0, "relu3_1": 300.0, "relu4_1": 1000.0}

# (filters, convolutions at that width, upsample after) mirroring VGG19 blocks 4..1; the decoder
# of level k uses the last 2(k-1) entries (relu1_1: only the output convolution).
_PLAN = (
    (256, 1, True),
    (256, 3, False),
    (128, 1, True),
    (128, 1, False),
    (64, 1, True),
    (64, 1, False),
)


def check_level(level: str) -> str:
    if level not in LEVELS:
        raise ValueError(f"unknown decoder level {level!r}; known: {', '.join(LEVELS)}")
    return level


def decoder_asset(level: str) -> str:
    """Where ``python -m training.decoders --ship`` puts the decoder of ``level``."""
    return os.path.join(ASSETS, f"decoder_{check_level(level)}.h5")


def shipped_decoders() -> dict[str, str]:
    """The decoders the multi-level teacher loads by default (relu4_1: the AdaIN teacher's)."""
    return dict(MULTILEVEL_DECODERS)


def build_level_decoder(level: str, name: str | None = None) -> keras.Model:
    """Features of ``level`` ([B, H/m, W/m, C]) -> RGB [B, H, W, 3]; reflection padding, nearest
    upsampling then convolution (no checkerboard artefacts of transposed convolutions)."""
    k = LEVELS.index(check_level(level)) + 1
    plan = _PLAN[len(_PLAN) - 2 * (k - 1) :] if k > 1 else ()
    inp = keras.Input((None, None, CHANNELS[level]), name="features")
    x = keras.layers.Rescaling(1.0 / FEATURE_SCALES[level], name="feature_scale")(inp)
    idx = 0
    for filters, repeats, upsample in plan:
        for _ in range(repeats):
            idx += 1
            x = ReflectionPad2D(1, name=f"pad{idx}")(x)
            x = keras.layers.Conv2D(filters, 3, activation="relu", name=f"conv{idx}")(x)
        if upsample:
            x = keras.layers.UpSampling2D(2, interpolation="nearest", name=f"up{idx}")(x)
    x = ReflectionPad2D(1, name="pad_out")(x)
    # float32 output under mixed policies; small initial kernel so the untrained decoder starts
    # near the image range
    init = keras.initializers.VarianceScaling(1e-4, mode="fan_in", distribution="truncated_normal")
    out = keras.layers.Conv2D(3, 3, name="to_rgb", dtype="float32", kernel_initializer=init)(x)
    return keras.Model(inp, out, name=name or f"decoder_{level}")


def build_level_encoder(level: str) -> keras.Model:
    """VGG19 truncated at ``level`` returning ``{level: features}`` (and nothing deeper)."""
    return build_vgg19([check_level(level)], name=f"encoder_{level}")


def reconstruction_losses(
    encoder: keras.Model,
    decoder: keras.Model,
    level: str,
    images,
    perceptual_weight: float = 0.1,
    training: bool = True,
) -> dict:
    """Pixel MSE plus the MSE of the decoded image's ``level`` features (scaled to order one)
    against the input's: the only objective of a reconstruction decoder."""
    images = tf.cast(images, tf.float32)
    scale = FEATURE_SCALES[level]
    feats = tf.cast(encoder(images, training=False)[level], tf.float32)
    out = tf.cast(decoder(feats, training=training), tf.float32)
    out_feats = tf.cast(encoder(out, training=False)[level], tf.float32)
    pixel = losses.content_loss(out, images)
    perceptual = losses.content_loss(out_feats / scale, tf.stop_gradient(feats) / scale)
    total = pixel + perceptual_weight * perceptual
    return {"total": total, "pixel": pixel, "perceptual": perceptual, "output": out}
