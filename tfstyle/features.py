"""VGG19 as a multi-layer feature extractor that runs once per image and feeds every loss.

Layers are named as in the style-transfer literature (``relu1_1`` ... ``relu5_1``, ``conv4_2``):
Keras fuses ReLU into its convolutions, so the network is rebuilt with separate conv and ReLU
layers and the ImageNet kernels are copied in. Inputs are RGB in [0, 1]; the caffe-style VGG
preprocessing (BGR, 0-255, mean subtracted) is the first layer, a fixed 1x1 convolution, so it
travels with the model (and exports to TFLite as a plain conv).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from tfstyle import weights as weights_mod
from tfstyle._keras import keras, tf

# Caffe ImageNet means in BGR order, as used by keras.applications.vgg19.preprocess_input.
VGG_MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)
BLOCKS = (2, 2, 4, 4, 4)  # convolutions per block in VGG19
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
CONTENT_LAYER = "conv4_2"
ALL_LAYERS = tuple(
    f"{kind}{b + 1}_{i + 1}" for b, n in enumerate(BLOCKS) for i in range(n) for kind in ("conv", "relu")
)


def vgg_preprocess(images):
    """RGB [0,1] -> caffe BGR 0-255 minus ImageNet mean (reference for the fixed first layer)."""
    images = tf.cast(images, tf.float32)
    return images[..., ::-1] * 255.0 - VGG_MEAN_BGR


def _preprocess_kernel() -> tuple[np.ndarray, np.ndarray]:
    kernel = np.zeros((1, 1, 3, 3), np.float32)
    for out_ch, in_ch in enumerate((2, 1, 0)):  # BGR out from RGB in
        kernel[0, 0, in_ch, out_ch] = 255.0
    return kernel, -VGG_MEAN_BGR


@functools.lru_cache(maxsize=1)
def imagenet_vgg19_kernels() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """ImageNet VGG19 conv weights keyed ``conv{b}_{i}``; loaded once per process."""

    def build(w):
        return keras.applications.VGG19(include_top=False, weights=w, input_shape=(None, None, 3))

    model = weights_mod.load_application(weights_mod.VGG19, build)
    kernels = {}
    for b, n in enumerate(BLOCKS):
        for i in range(n):
            kernel, bias = model.get_layer(f"block{b + 1}_conv{i + 1}").get_weights()
            kernels[f"conv{b + 1}_{i + 1}"] = (kernel, bias)
    del model
    return kernels


def layer_depth(name: str) -> int:
    if name not in ALL_LAYERS:
        raise ValueError(f"unknown VGG19 layer {name!r}; known: {', '.join(ALL_LAYERS)}")
    return ALL_LAYERS.index(name)


def build_vgg19(
    outputs: Sequence[str],
    *,
    pooling: str = "max",
    input_tensor=None,
    name: str = "vgg19_features",
    trainable: bool = False,
) -> keras.Model:
    """A VGG19 truncated at the deepest of ``outputs`` returning ``{layer: tensor}``.

    ``pooling='avg'`` gives the smoother gradients Gatys et al. recommend for optimisation.
    """
    if pooling not in ("max", "avg"):
        raise ValueError("pooling must be 'max' or 'avg'")
    outputs = list(dict.fromkeys(outputs))
    last = max(layer_depth(o) for o in outputs)
    kernels = imagenet_vgg19_kernels()
    inp = input_tensor if input_tensor is not None else keras.Input((None, None, 3), name="image")
    pre = keras.layers.Conv2D(3, 1, name="vgg_preprocess", trainable=False, dtype="float32")
    x = pre(inp)
    pre.set_weights(list(_preprocess_kernel()))
    taps = {}
    Pool = keras.layers.MaxPooling2D if pooling == "max" else keras.layers.AveragePooling2D
    depth = 0
    for b, n in enumerate(BLOCKS):
        if b > 0:
            x = Pool(2, name=f"pool{b}")(x)
        for i in range(n):
            tag = f"{b + 1}_{i + 1}"
            conv = keras.layers.Conv2D(
                kernels[f"conv{tag}"][0].shape[-1], 3, padding="same", name=f"conv{tag}", trainable=trainable
            )
            x = conv(x)
            conv.set_weights(list(kernels[f"conv{tag}"]))
            taps[f"conv{tag}"] = x
            x = keras.layers.ReLU(name=f"relu{tag}")(x)
            taps[f"relu{tag}"] = x
            depth += 2
            if depth > last:
                break
        if depth > last:
            break
    model = keras.Model(inp, {o: taps[o] for o in outputs}, name=name)
    model.trainable = trainable
    return model


class VGGFeatures:
    """Callable extractor: ``features(images) -> {layer: float32 tensor}``.

    One forward pass serves every loss that needs any of ``layers`` (pystiche's multi-layer
    encoder idea); outputs are cast to float32 so loss math never runs in reduced precision.
    """

    def __init__(self, layers: Sequence[str] = STYLE_LAYERS + (CONTENT_LAYER,), pooling: str = "max"):
        self.layers = tuple(dict.fromkeys(layers))
        self.model = build_vgg19(self.layers, pooling=pooling)

    def __call__(self, images, training: bool = False) -> dict:
        out = self.model(images, training=training)
        return {k: tf.cast(v, tf.float32) for k, v in out.items()}
