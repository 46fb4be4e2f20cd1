"""Student v2: a style code the student *computes* (AdaIN at three scales), not one it guesses.

* ``encoder``: MobileNetV2 alpha 0.35 (ImageNet) up to its first 1/16 block, rebuilt with
  reflection padding wherever a convolution touches the border (no frame), tapped at 1/2, 1/4 and
  1/8 (shallow texture, mid structure, deep layout), plus the image itself at 1/2 (``tap0``): the
  MobileNet taps hold colour only weakly (RGB is 0.4-0.6 R^2 from the 1/2 tap), and a student fed
  only those painted grey for its first 700 steps; AdaIN of RGB is the palette transfer outright.
  Fine-tuned in distillation, with a 1x1 embedding of its 1/8 features onto the teacher's relu4_1
  (Collaborative Distillation).
* ``style code``: per-channel mean and std of the encoder's taps of the style image, concatenated,
  then the 3x3 colouring matrix of its RGB (the square root of the RGB covariance; :data:`CODE_DIM`
  floats). Computed, so it describes unseen paintings as AdaIN does; blends are linear in it.
  Strength (``alpha``) mixes the code with the content's own and scales the decoder's residual by
  alpha, so alpha 0 is the content exactly: a decoder trained to paint strongly also paints a
  little over the content's own code (alpha-0 SSIM 0.82 without the scaling).
* ``decoder``: the AdaIN'd taps -> a *residual* added to the colour base (:func:`colour_base`: the
  content's RGB whitened and coloured by the code's covariance, a palette transfer that is the content
  itself at alpha 0). Reflection-padded 3x3 convolutions, nearest-neighbour resize then
  convolution (no transposed convolutions: no lattice), each finer tap concatenated after its
  upsampling; the last convolution starts at zero and paints at 1/2, upsampled bilinearly. Why:
  decoding the whole image, the student painted grey for 800 steps; with the base it has the
  style's palette and the content's full-resolution detail from step 0 and learns only the
  texture, and it runs nothing at full resolution (a full-resolution convolution and its padding
  were a third of the decoder's time at 384 px).

The AdaIN itself sits between the two flat functional graphs, in float: in TFLite the encoder and
decoder are INT8 and the statistics (a few hundred floats) stay float in NumPy, which is what INT8
parity needs (quantised normalisation statistics cost the previous attempt 13 dB).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from tfstyle import weights as weights_mod
from tfstyle._keras import keras, tf
from tfstyle.errors import WeightsError
from tfstyle.images import as_batch
from tfstyle.models.layers import ReflectionPad2D
from tfstyle.ops import adain, cov_sqrt, mean_std
from tfstyle.style_codes import COLOUR_DIM, code_dim
from tfstyle.tiling import pad_to_multiple

TAPS = ("block_1_expand_relu", "block_3_expand_relu", "block_6_expand_relu")  # 1/2, 1/4, 1/8
TAP_CHANNELS = (3, 48, 48, 96)  # tap0 = RGB at 1/2, then the MobileNet taps
TAP_NAMES = tuple(f"tap{i}" for i in range(len(TAP_CHANNELS)))
CODE_DIM = code_dim(TAP_CHANNELS)  # per tap mean and std, then the RGB colouring matrix (row-major)
MULTIPLE = 8
EMBED_TAP = 3  # the 1/8 tap is embedded onto the teacher's relu4_1 (same grid)


@dataclass(frozen=True)
class StudentV2Config:
    """The architecture. ``widths``: decoder widths at 1/8, 1/4, 1/2 (strokes are mid-scale, so
    the width goes to 1/8 and 1/4, where a pixel is 16x and 4x cheaper than at 1/2; (64, 32, 16)
    trained from the teacher painted a colour transfer). ``tap1_width``: a learnt 1x1 projection of
    the 1/2 tap in the encoder (None: the raw 48 channels). The 1/2 tap is 70% of the values the
    runtime normalises per photo; :data:`LITE` projects it to 8 and is distilled from the full
    student (``training.student_v2_lite``), which is how it learns to paint at all."""

    widths: tuple = (96, 48, 16)
    tap1_width: int | None = None

    @property
    def tap_channels(self) -> tuple:
        return (TAP_CHANNELS[0], self.tap1_width or TAP_CHANNELS[1], *TAP_CHANNELS[2:])

    @property
    def code_dim(self) -> int:
        return code_dim(self.tap_channels)


LITE = StudentV2Config(widths=(64, 32, 16), tap1_width=8)


def config_of(decoder_weights: str) -> StudentV2Config:
    """The architecture a decoder weights file (h5) was saved from: widths from its kernels, the
    1/2 tap's width from what its ``dec2b`` reads (``dec2a``'s output, the 1/2 tap and RGB)."""
    import h5py

    def kernel(root, name):
        group = root[name][name]
        return group[next(k for k in group if k.startswith("kernel"))].shape

    try:
        with h5py.File(decoder_weights, "r") as f:
            root = f["model_weights"] if "model_weights" in f else f
            widths = tuple(int(kernel(root, n)[-1]) for n in ("dec8a", "dec4a", "dec2a"))
            tap1 = int(kernel(root, "dec2b")[2]) - widths[2] - TAP_CHANNELS[0]
    except (OSError, KeyError, StopIteration) as exc:
        raise WeightsError(f"{decoder_weights}: not a student v2 decoder weights file ({exc})") from None
    return StudentV2Config(widths, None if tap1 == TAP_CHANNELS[1] else tap1)


def _rebuilt_layer(layer):
    """A MobileNetV2 layer as a fresh layer, with 'same' 3x3 convolutions made 'valid' (the
    reflection padding in front of them does the padding)."""
    config = layer.get_config()
    if isinstance(layer, keras.layers.ZeroPadding2D):
        return ReflectionPad2D(config["padding"], name=layer.name.replace("_pad", "_rpad"))
    if getattr(layer, "kernel_size", (1, 1)) != (1, 1) and config.get("padding") == "same":
        config["padding"] = "valid"
    return layer.__class__.from_config(config)


def _same_pad(layer):
    """Reflection padding equivalent to TF 'same' for this layer (None when it needs none)."""
    if getattr(layer, "kernel_size", (1, 1)) == (1, 1) or layer.get_config().get("padding") != "same":
        return None
    if layer.strides == (2, 2):  # 'same' with stride 2 on even sizes pads bottom/right only
        return ((0, 1), (0, 1))
    return 1


def build_encoder(imagenet: bool = True, cfg: StudentV2Config = StudentV2Config()) -> keras.Model:
    """Image in [0, 1] -> RGB at 1/2 and the three taps, as one flat graph of built-in layers and
    reflection pads (the 1/2 tap projected when ``cfg.tap1_width`` says so)."""

    def build(w):
        return keras.applications.MobileNetV2(
            alpha=0.35, include_top=False, weights=w, input_shape=(None, None, 3)
        )

    source = weights_mod.load_application(weights_mod.MOBILENET_V2_035, build) if imagenet else build(None)
    inp = keras.Input((None, None, 3), name="image")
    tensors = {source.layers[0].name: keras.layers.Rescaling(2.0, offset=-1.0, name="to_signed")(inp)}
    last = source.layers.index(source.get_layer(TAPS[-1]))
    for layer in source.layers[1 : last + 1]:
        inbound = layer._inbound_nodes[0].inbound_layers
        inbound = inbound if isinstance(inbound, list) else [inbound]
        args = [tensors[src.name] for src in inbound]
        x = args if len(args) > 1 else args[0]
        pad = _same_pad(layer)
        if pad is not None:
            x = ReflectionPad2D(pad, name=f"{layer.name}_rpad")(x)
        new = _rebuilt_layer(layer)
        tensors[layer.name] = new(x)
        if layer.weights:
            new.set_weights(layer.get_weights())
    rgb = keras.layers.AveragePooling2D(2, name="rgb_half")(inp)
    taps = [tensors[t] for t in TAPS]
    if cfg.tap1_width:
        taps[0] = keras.layers.Conv2D(cfg.tap1_width, 1, use_bias=False, name="tap1_proj")(taps[0])
    return keras.Model(inp, [rgb] + taps, name="student_v2_encoder")


def _conv(x, filters, name, act=True, dtype=None):
    x = ReflectionPad2D(1, name=f"{name}_pad")(x)
    return keras.layers.Conv2D(filters, 3, activation="relu" if act else None, name=name, dtype=dtype)(x)


def build_decoder(cfg: StudentV2Config = StudentV2Config(), tap_gains: tuple | None = None) -> keras.Model:
    """AdaIN'd taps (RGB 1/2, 1/2, 1/4, 1/8) -> the residual over :func:`colour_base` (zero at first).
    ``tap_gains`` (one per tap) multiplies each tap on entry: the INT8 export's graph, whose
    concatenations quantise all their inputs on one scale (``export.student_v2.equalise``)."""
    inputs = [keras.Input((None, None, c), name=name) for name, c in zip(TAP_NAMES, cfg.tap_channels)]
    taps = [
        keras.layers.Rescaling(float(g), name=f"{name}_gain")(t) if g != 1.0 else t
        for name, t, g in zip(TAP_NAMES, inputs, tap_gains or [1.0] * len(inputs))
    ]
    w8, w4, w2 = cfg.widths
    x = _conv(taps[3], w8, "dec8a")
    x = _conv(x, w8, "dec8b")
    x = keras.layers.UpSampling2D(2, interpolation="nearest", name="up4")(x)
    x = _conv(x, w4, "dec4a")
    x = keras.layers.Concatenate(name="cat4")([x, taps[2]])
    x = _conv(x, w4, "dec4b")
    x = keras.layers.UpSampling2D(2, interpolation="nearest", name="up2")(x)
    x = _conv(x, w2, "dec2a")
    x = keras.layers.Concatenate(name="cat2")([x, taps[1], taps[0]])
    x = _conv(x, w2, "dec2b")
    x = ReflectionPad2D(1, name="to_rgb_pad")(x)
    x = keras.layers.Conv2D(3, 3, kernel_initializer="zeros", name="to_rgb", dtype="float32")(x)
    out = keras.layers.UpSampling2D(2, interpolation="bilinear", name="up1", dtype="float32")(x)
    return keras.Model(inputs, out, name="student_v2_decoder")


def warm_start(model: keras.Model, path: str) -> None:
    """Load ``path`` by layer name; a convolution that has gained input channels since (the RGB
    tap) keeps the saved kernel on its old channels and zeros on the new ones, so it starts as
    the saved function."""
    import h5py

    if not os.path.isfile(path):
        raise WeightsError(f"{path}: --init-from weights not found")
    model.load_weights(path, by_name=True, skip_mismatch=True)
    with h5py.File(path, "r") as f:
        for layer in model.layers:
            if not isinstance(layer, keras.layers.Conv2D) or layer.name not in f:
                continue
            group = f[layer.name][layer.name]
            saved = [group[w.name.split("/")[-1]][()].astype(np.float32) for w in layer.weights]
            current = layer.get_weights()[0]
            if saved[0].shape != current.shape and saved[0].shape[2] < current.shape[2]:
                grown = np.zeros_like(current)
                grown[:, :, : saved[0].shape[2], :] = saved[0]
                layer.set_weights([grown, *saved[1:]])


# ---- style codes: the same math in TensorFlow (training, Keras engine) and NumPy (runtime) ----


def code_from_taps(taps) -> tf.Tensor:
    """Taps [B,h,w,C_i] -> codes [B, CODE_DIM]: (mean, std) of each tap, then the RGB tap's
    colouring matrix (:func:`tfstyle.ops.cov_sqrt`), concatenated."""
    parts = []
    for tap in taps:
        mean, std = mean_std(tap)
        parts += [mean[:, 0, 0, :], std[:, 0, 0, :]]
    parts.append(tf.reshape(cov_sqrt(taps[0]), [-1, COLOUR_DIM]))
    return tf.concat(parts, -1)


def split_code(code, channels: tuple = TAP_CHANNELS) -> list[tuple]:
    """[B, D] -> per tap (mean, std), each [B, 1, 1, C] (works on tensors and arrays)."""
    out, start = [], 0
    for c in channels:
        mean, std = code[:, start : start + c], code[:, start + c : start + 2 * c]
        out.append((mean[:, None, None, :], std[:, None, None, :]))
        start += 2 * c
    return out


def colour_matrix(code) -> tf.Tensor:
    """[B, CODE_DIM] -> the RGB colouring matrices [B, 3, 3]."""
    return tf.reshape(tf.convert_to_tensor(code, tf.float32)[:, -COLOUR_DIM:], [-1, 3, 3])


def colour_base(image, own_code, code) -> tf.Tensor:
    """The image's RGB whitened by its own colouring matrix and coloured by ``code``'s, with the
    code's mean: the palette transfer the decoder's residual is added to. A full 3x3 transform, so
    it can desaturate and rotate a palette (a per-channel one left the caps of kodim03 saturated
    under escher); linear in ``code``, and the image itself at ``own_code`` (alpha 0). Arrays or
    tensors, [B, H, W, 3] with codes [B, CODE_DIM]; the runtime's twin is
    :func:`tfstyle.style_codes.colour_base`."""
    own_mean, mean = split_code(own_code)[0][0], split_code(code)[0][0]
    transform = tf.linalg.solve(colour_matrix(own_code), colour_matrix(code))  # inv(C_own) @ C
    centred = tf.convert_to_tensor(image, tf.float32) - own_mean
    return tf.einsum("bhwc,bcd->bhwd", centred, transform) + mean


def restyle(taps, code) -> list:
    """AdaIN of every tap by the code (TensorFlow, differentiable)."""
    channels = tuple(int(t.shape[-1]) for t in taps)
    return [adain(tap, mean, std) for tap, (mean, std) in zip(taps, split_code(code, channels))]


def mix_codes(code, content_code, alpha):
    """Strength's code: ``alpha * style + (1 - alpha) * content`` (alpha 0 restyles the content as
    itself); the caller also scales the residual by alpha."""
    return alpha * code + (1.0 - alpha) * content_code


class StudentV2:
    """Encoder + decoder in Keras; ``style_code`` then ``stylize`` any image size."""

    def __init__(
        self,
        encoder_weights: str | None = None,
        decoder_weights: str | None = None,
        cfg: StudentV2Config | None = None,
        *,
        imagenet: bool = False,
    ):
        for what, path in (("encoder", encoder_weights), ("decoder", decoder_weights)):
            if path is not None and not os.path.isfile(path):
                raise WeightsError(f"{path}: student v2 {what} weights not found (run `make train-v2`)")
        if cfg is None:  # the architecture the weights were saved from
            cfg = config_of(decoder_weights) if decoder_weights is not None else StudentV2Config()
        self.cfg = cfg
        self.encoder = build_encoder(imagenet=imagenet, cfg=cfg)
        self.decoder = build_decoder(cfg)
        for model, path in ((self.encoder, encoder_weights), (self.decoder, decoder_weights)):
            if path is not None:
                try:
                    model.load_weights(os.fspath(path))
                except (ValueError, OSError) as exc:
                    raise WeightsError(f"{path}: cannot load {model.name} weights: {exc}") from exc

    def taps(self, images) -> list:
        return [tf.cast(t, tf.float32) for t in self.encoder(images, training=False)]

    def style_code(self, style_images) -> np.ndarray:
        """Style images [B,H,W,3] (or one) in [0, 1] -> codes [B, CODE_DIM] (float32)."""
        return code_from_taps(self.taps(as_batch(style_images))).numpy()

    def stylize(self, content_batch, codes, alpha: float = 1.0) -> np.ndarray:
        """Content [B,H,W,3] in [0, 1] and codes [B, D] (or one [D]) -> stylized [B,H,W,3] in [0, 1]."""
        content = as_batch(content_batch)
        h, w = content.shape[1:3]
        padded = pad_to_multiple(content, MULTIPLE)
        taps = self.taps(padded)
        codes = np.asarray(codes, np.float32).reshape(-1, self.cfg.code_dim)
        codes = np.repeat(codes, len(content), 0) if len(codes) == 1 else codes
        own = code_from_taps(taps).numpy()
        if float(alpha) != 1.0:
            codes = mix_codes(codes, own, float(alpha))
        out = self.decoder(restyle(taps, tf.constant(codes)), training=False)
        out = float(alpha) * np.asarray(out, np.float32) + colour_base(padded, own, codes).numpy()
        return np.clip(out[:, :h, :w, :], 0.0, 1.0)
