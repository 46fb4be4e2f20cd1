"""MobileNetV2 student, split the way a phone app uses it.

* ``style predictor``: MobileNetV2 (alpha 0.35, ImageNet) -> global pool -> a small style vector,
  computed once per style. Vectors are plain arrays: save, interpolate and blend them.
* ``transformer``: content image + style vector -> stylized image. Inverted-residual encoder down
  to 1/8 resolution (the teacher's relu4_1 grid, so the body sees as much context as the teacher's
  AdaIN), residual blocks modulated by the style vector (FiLM: per-channel scale and shift from a
  Dense layer), nearest-upsampling decoder with an additive skip from the 1/4 encoder features so
  that content edges survive the narrow bottleneck. The skip and every decoder stage are
  FiLM-modulated too, as Magenta's conditional instance norm conditions every layer: otherwise the
  skip carries the content's own colours straight to the output and the decoder cannot paint the
  style's palette and texture.

The transformer uses BatchNorm (folded into the convolutions at export) and FiLM instead of
instance/AdaIN normalisation: MEAN/SQUARED_DIFFERENCE/RSQRT are slow and lossy in INT8 TFLite,
whereas FiLM is a broadcast MUL and ADD, so the phone path stays integer. Both models are flat
functional graphs of built-in layers (no nesting, no Lambda) so tfmot QAT can wrap them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from tfstyle import weights as weights_mod
from tfstyle._keras import keras
from tfstyle.assets import STUDENT_PREDICTOR, STUDENT_TRANSFORMER
from tfstyle.errors import WeightsError
from tfstyle.images import as_batch
from tfstyle.style_vectors import blend_vectors  # noqa: F401  (re-exported: part of the student API)
from tfstyle.tiling import pad_to_multiple

DEFAULT_PREDICTOR = STUDENT_PREDICTOR
DEFAULT_TRANSFORMER = STUDENT_TRANSFORMER
MULTIPLE = 8  # the transformer downsamples three times


@dataclass(frozen=True)
class StudentConfig:
    style_dim: int = 64
    stem: int = 24
    skip: int = 48  # channels at 1/4: encoder output there and first decoder stage (added)
    width: int = 64  # body at 1/8
    blocks: int = 4
    expand: int = 2
    decoder: tuple = (48, 24, 16)  # after each 2x upsampling; decoder[0] == skip


def _conv_bn(x, filters, kernel, stride, name, act=True, style=None):
    """Conv, BatchNorm, ReLU6, then (given a style vector) FiLM.

    FiLM sits after the activation, not between BatchNorm and ReLU6 as conditional instance norm
    does: there its int8 MUL/ADD tensors spanned about +-30 of which ReLU6 keeps only [0, 6]. After
    ReLU6 they stay within the activation's own range (INT8 transformer parity 35.65 dB, was 34.82;
    without decoder FiLM it was 46.7). The rest of that gap is not lost here: layer by layer, int8
    noise builds up in the body's FiLM products and residual sums (a few large channels stretch
    their per-tensor grid) and the decoder holds it (docs/experiments/student.md).
    """
    x = keras.layers.Conv2D(filters, kernel, stride, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    if act:
        x = keras.layers.ReLU(6.0, name=f"{name}_relu")(x)
    return _film(x, style, f"{name}_film") if style is not None else x


def _inverted_residual(x, filters, expand, stride, name):
    """MobileNetV2 block: 1x1 expand, 3x3 depthwise, 1x1 linear projection, residual when shapes match."""
    inp = x
    channels = x.shape[-1]
    x = _conv_bn(x, channels * expand, 1, 1, f"{name}_expand")
    x = keras.layers.DepthwiseConv2D(3, stride, padding="same", use_bias=False, name=f"{name}_dw")(x)
    x = keras.layers.BatchNormalization(name=f"{name}_dw_bn")(x)
    x = keras.layers.ReLU(6.0, name=f"{name}_dw_relu")(x)
    x = _conv_bn(x, filters, 1, 1, f"{name}_project", act=False)
    if stride == 1 and channels == filters:
        x = keras.layers.Add(name=f"{name}_add")([inp, x])
    return x


def _film(x, style, name):
    """Feature-wise linear modulation by the style vector: x * gamma(style) + beta(style).

    Starts as the identity (zero kernels, gamma bias 1), so FiLM layers added to a trained
    transformer leave its function unchanged until training moves them.
    """
    channels = x.shape[-1]
    gamma = keras.layers.Dense(
        channels, kernel_initializer="zeros", bias_initializer="ones", name=f"{name}_gamma"
    )(style)
    beta = keras.layers.Dense(channels, kernel_initializer="zeros", name=f"{name}_beta")(style)
    gamma = keras.layers.Reshape((1, 1, channels), name=f"{name}_gamma_4d")(gamma)
    beta = keras.layers.Reshape((1, 1, channels), name=f"{name}_beta_4d")(beta)
    x = keras.layers.Multiply(name=f"{name}_scale")([x, gamma])
    return keras.layers.Add(name=f"{name}_shift")([x, beta])


def build_transformer(cfg: StudentConfig = StudentConfig()) -> keras.Model:
    content = keras.Input((None, None, 3), name="content_image")
    style = keras.Input((cfg.style_dim,), name="style_vector")
    x = keras.layers.Rescaling(2.0, offset=-1.0, name="to_signed")(content)
    x = _conv_bn(x, cfg.stem, 3, 2, "stem")  # 1/2
    skip = _inverted_residual(x, cfg.skip, cfg.expand * 2, 2, "down1")  # 1/4
    x = _inverted_residual(skip, cfg.width, cfg.expand * 2, 2, "down2")  # 1/8
    for i in range(cfg.blocks):
        x = _film(x, style, f"film{i}")
        x = _inverted_residual(x, cfg.width, cfg.expand, 1, f"block{i}")
    for i, filters in enumerate(cfg.decoder):
        x = keras.layers.UpSampling2D(2, interpolation="nearest", name=f"up{i}")(x)
        x = _conv_bn(x, filters, 3, 1, f"dec{i}", style=style)
        if i == 0:
            x = keras.layers.Add(name="skip_add")([x, _film(skip, style, "skip_film")])
    out = keras.layers.Conv2D(3, 3, padding="same", activation="sigmoid", name="to_rgb", dtype="float32")(x)
    return keras.Model([content, style], out, name="student_transformer")


def build_style_predictor(cfg: StudentConfig = StudentConfig(), imagenet: bool = True) -> keras.Model:
    """MobileNetV2 alpha 0.35 built on our input tensor, so its layers sit in one flat graph."""
    inp = keras.Input((None, None, 3), name="style_image")
    x = keras.layers.Rescaling(2.0, offset=-1.0, name="to_signed")(inp)

    def build(w):
        return keras.applications.MobileNetV2(alpha=0.35, include_top=False, weights=w, input_tensor=x)

    if imagenet:
        backbone = weights_mod.load_application(weights_mod.MOBILENET_V2_035, build)
    else:
        backbone = build(None)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(backbone.output)
    out = keras.layers.Dense(cfg.style_dim, name="style_vector", dtype="float32")(x)
    return keras.Model(inp, out, name="student_style_predictor")


def backbone_layers(predictor: keras.Model) -> list:
    """The ImageNet-initialised layers (frozen in distillation stage one)."""
    return [
        layer
        for layer in predictor.layers
        if layer.name not in ("style_image", "to_signed", "pool", "style_vector")
    ]


class Student:
    """Style predictor + transformer, built once; ``style_vector`` then ``stylize`` any image size.

    ``predictor_weights`` / ``transformer_weights`` are weight files (``save_weights`` h5, float32
    or float16); None leaves that model as built (``imagenet=True`` gives the predictor its ImageNet
    backbone, as distillation starts). Prebuilt models can be passed instead of being built.
    """

    def __init__(
        self,
        predictor_weights: str | None = DEFAULT_PREDICTOR,
        transformer_weights: str | None = DEFAULT_TRANSFORMER,
        cfg: StudentConfig = StudentConfig(),
        *,
        imagenet: bool = False,
        predictor: keras.Model | None = None,
        transformer: keras.Model | None = None,
    ):
        _check_files(predictor_weights, transformer_weights)  # before the models are built
        self.cfg = cfg
        self.predictor = predictor if predictor is not None else build_style_predictor(cfg, imagenet=imagenet)
        self.transformer = transformer if transformer is not None else build_transformer(cfg)
        self.load(predictor_weights, transformer_weights)

    @property
    def style_dim(self) -> int:
        return int(self.predictor.output.shape[-1])

    def load(self, predictor_path: str | None, transformer_path: str | None) -> None:
        """Load either or both models' weights (None skips one); a missing file is a ``WeightsError``."""
        _check_files(predictor_path, transformer_path)
        for model, path in ((self.predictor, predictor_path), (self.transformer, transformer_path)):
            if path is None:
                continue
            try:
                model.load_weights(os.fspath(path))
            except (ValueError, OSError) as exc:  # wrong architecture/config, or not an h5 file
                raise WeightsError(f"{path}: cannot load {model.name} weights: {exc}") from exc

    def style_vector(self, style_images) -> np.ndarray:
        """Style images [B, H, W, 3] (or one [H, W, 3]) in [0, 1], any size -> vectors [B, style_dim]."""
        return self.predictor(as_batch(style_images), training=False).numpy().astype(np.float32)

    def stylize(self, content_batch, vectors) -> np.ndarray:
        """Content [B, H, W, 3] (or [H, W, 3]) in [0, 1], any H and W, and style vectors [B, D] (or one
        [D] for the whole batch) -> stylized float32 [B, H, W, 3] in [0, 1], same size as the content.

        The content is reflect-padded to a multiple of :data:`MULTIPLE` and the output cropped back.
        """
        content = as_batch(content_batch)
        vectors = np.asarray(vectors, np.float32)
        if vectors.ndim == 1:
            vectors = vectors[None]
        if vectors.shape[0] == 1 and content.shape[0] > 1:
            vectors = np.repeat(vectors, content.shape[0], axis=0)
        if vectors.shape != (content.shape[0], self.style_dim):
            raise ValueError(
                f"style vectors of shape {vectors.shape} for {content.shape[0]} images "
                f"(expected [{content.shape[0]}, {self.style_dim}])"
            )
        h, w = content.shape[1:3]
        out = self.transformer([pad_to_multiple(content, MULTIPLE), vectors], training=False)
        return np.asarray(out, np.float32)[:, :h, :w, :]


def _check_files(predictor_path: str | None, transformer_path: str | None) -> None:
    for what, path in (("predictor", predictor_path), ("transformer", transformer_path)):
        if path is not None and not os.path.isfile(path):
            raise WeightsError(f"{path}: student {what} weights not found (run `make train` to train them)")
