"""VGG19 AdaIN teacher (Huang & Belongie 2017): frozen VGG19 encoder up to relu4_1, AdaIN (or WCT)
in feature space, and a mirrored decoder trained to invert the encoder.

The encoder also serves as the loss network, so one pass over the decoded image feeds the
content loss (relu4_1) and the mean/std style loss (relu1_1..relu4_1).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tfstyle import losses
from tfstyle._keras import keras, tf
from tfstyle.assets import TEACHER_DECODER
from tfstyle.features import build_vgg19
from tfstyle.models.decoders import FEATURE_SCALES, build_level_decoder
from tfstyle.ops import adain, mean_std, wct

ENCODER_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
BOTTLENECK = "relu4_1"
MULTIPLE = 8  # three poolings between the input and relu4_1
FEATURE_SCALE = FEATURE_SCALES[BOTTLENECK]  # order of relu4_1 activations (RMS about 1e3 on photos)
DEFAULT_DECODER = TEACHER_DECODER


def build_decoder(name: str = "teacher_decoder") -> keras.Model:
    """Mirror of VGG19 up to relu4_1: reflection-padded 3x3 convs, nearest-neighbour upsampling.

    The same network as the multi-level teacher's relu4_1 reconstruction decoder (one definition,
    :func:`tfstyle.models.decoders.build_level_decoder`), so either's weights load into the other.
    """
    return build_level_decoder("relu4_1", name=name)


def build_encoder(name: str = "teacher_encoder") -> keras.Model:
    return build_vgg19(ENCODER_LAYERS, name=name)


@dataclass
class StyleCode:
    """What the teacher needs of a style: relu4_1 mean/std (AdaIN) and features (WCT)."""

    mean: tf.Tensor
    std: tf.Tensor
    feats: tf.Tensor | None = None

    @staticmethod
    def blend(codes: Sequence[StyleCode], weights: Sequence[float]) -> StyleCode:
        total = float(sum(weights))
        ws = [w / total for w in weights]
        return StyleCode(
            sum(w * c.mean for c, w in zip(codes, ws)), sum(w * c.std for c, w in zip(codes, ws))
        )


def pad_to_multiple(images, multiple: int = MULTIPLE):
    """Reflect-pad H and W up to a multiple; returns the padded batch and the original size."""
    h, w = tf.shape(images)[1], tf.shape(images)[2]
    ph, pw = (-h) % multiple, (-w) % multiple
    padded = tf.pad(images, [[0, 0], [0, ph], [0, pw], [0, 0]], mode="REFLECT")
    return padded, (h, w)


class Teacher:
    """Frozen encoder + trainable decoder; ``stylize`` accepts any image size."""

    def __init__(self, decoder_weights: str | None = DEFAULT_DECODER):
        self.encoder = build_encoder()
        self.decoder = build_decoder()
        if decoder_weights:
            self.load_decoder(decoder_weights)

    def load_decoder(self, path: str) -> None:
        from tfstyle.errors import WeightsError

        if not os.path.isfile(path):
            raise WeightsError(f"{path}: teacher decoder weights not found (run `make train` to train them)")
        self.decoder.load_weights(path)

    def encode(self, images) -> dict:
        return encode(self.encoder, images)

    def style_code(self, style_images, with_features: bool = False) -> StyleCode:
        feats = self.encode(style_images)[BOTTLENECK]
        mean, std = mean_std(feats)
        return StyleCode(mean, std, feats if with_features else None)

    def transform(self, content_feats, code: StyleCode, alpha=1.0, method: str = "adain"):
        """Target features: AdaIN/WCT output mixed with the content features by ``alpha``."""
        if method == "wct":
            if code.feats is None:
                raise ValueError("WCT needs style features: style_code(..., with_features=True)")
            target = wct(content_feats, code.feats)
        else:
            target = adain(content_feats, code.mean, code.std)
        alpha = tf.cast(alpha, tf.float32)
        return alpha * target + (1.0 - alpha) * content_feats

    def decode(self, feats):
        return tf.cast(self.decoder(feats, training=False), tf.float32)

    def stylize(self, content_images, code: StyleCode, alpha=1.0, method: str = "adain"):
        """Images [B,H,W,3] in [0,1] of any size -> stylized images of the same size, in [0,1]."""
        padded, (h, w) = pad_to_multiple(tf.convert_to_tensor(content_images, tf.float32))
        feats = self.encode(padded)[BOTTLENECK]
        out = self.decode(self.transform(feats, code, alpha, method))
        return tf.clip_by_value(out[:, :h, :w, :], 0.0, 1.0)


def encode(encoder: keras.Model, images) -> dict:
    """Encoder features in float32 whatever the precision policy."""
    return {k: tf.cast(v, tf.float32) for k, v in encoder(images, training=False).items()}


def scaled_features(encoder: keras.Model, images) -> dict:
    """Encoder features divided by :data:`FEATURE_SCALE`, so loss terms are of order one."""
    return {k: v / FEATURE_SCALE for k, v in encode(encoder, images).items()}


def adain_target(encoder: keras.Model, content, style) -> tuple:
    """(scaled content relu4_1, scaled style features, AdaIN target): what every stylizer is taught."""
    fc = scaled_features(encoder, content)[BOTTLENECK]
    fs = scaled_features(encoder, style)
    s_mean, s_std = mean_std(fs[BOTTLENECK])
    return fc, fs, tf.stop_gradient(adain(fc, s_mean, s_std))


def perceptual_terms(
    encoder: keras.Model, output, target, style_feats, style_layers: Mapping[str, float] | None = None
) -> dict:
    """Content loss against the AdaIN target at relu4_1 and mean/std style loss over
    relu1_1..relu4_1, from one encoder pass over ``output`` (shared by teacher and student).

    ``style_layers`` reweights the style layers (default: equal). Equal weights on raw features
    leave relu4_1 about 80% of the term, so colour and fine texture (relu1_1-relu3_1) barely count;
    the student, whose gap is mostly there, is distilled with them weighted up.
    """
    fo = scaled_features(encoder, output)
    content_term = losses.content_loss(fo[BOTTLENECK], target)
    targets = losses.style_targets(style_feats, ENCODER_LAYERS)
    weights = dict.fromkeys(ENCODER_LAYERS, 1.0) if style_layers is None else dict(style_layers)
    style_term, _ = losses.style_loss(fo, targets, "mean_std", weights)
    return {"content": content_term, "style": style_term}


def training_losses(
    encoder: keras.Model,
    decoder: keras.Model,
    content,
    style,
    style_weight: float = 10.0,
    training: bool = True,
    identity_weight: float = 0.0,
) -> dict:
    """The AdaIN objective: :func:`perceptual_terms` of the decoded AdaIN target.

    With ``identity_weight`` the decoder must also reconstruct the content from its own features
    (pixel MSE; the identity loss of later arbitrary-style work), which teaches it to invert the
    encoder much faster than the AdaIN terms alone.
    """
    fc, fs, target = adain_target(encoder, content, style)
    batch = tf.shape(content)[0]
    decoder_in = tf.concat([target, fc], 0) if identity_weight else target
    decoded = tf.cast(decoder(decoder_in * FEATURE_SCALE, training=training), tf.float32)
    out = decoded[:batch]
    terms = perceptual_terms(encoder, out, target, fs)
    total = terms["content"] + style_weight * terms["style"]
    if identity_weight:
        terms["identity"] = losses.content_loss(decoded[batch:], tf.cast(content, tf.float32))
        total += identity_weight * terms["identity"]
    return {"total": total, **terms, "output": out}


def save_decoder_float16(decoder: keras.Model, path: str) -> None:
    """Ship the decoder as float16 h5 (half the size); Keras casts it back to float32 on load."""
    from tfstyle.models.io import save_weights_float16

    save_weights_float16(decoder, path)
