"""tfmot quantisation-aware wrapping of the student models.

The default 8-bit scheme covers Conv/BN/ReLU6, depthwise, Dense, Add and Reshape. The FiLM
``Multiply`` (feature x per-channel gamma) needs an :class:`OutputQuantizeConfig`, and the input map
``Rescaling`` a :class:`FixedOutputQuantizeConfig` once :func:`integer_input` has made it exact. Both
have no weights, so quantising their output is exactly what the TFLite kernels do (int8 MUL/ADD with
a requantised result). :func:`qat_model` is the whole recipe export uses.
"""

from __future__ import annotations

import contextlib
import inspect
import re
from collections.abc import Callable, Iterable, Iterator

import numpy as np
import tensorflow_model_optimization as tfmot
from tensorflow_model_optimization.python.core.quantization.keras import quant_ops
from tensorflow_model_optimization.python.core.quantization.keras.quantize_layer import QuantizeLayer

from tfstyle._keras import keras

Q = tfmot.quantization.keras


class OutputQuantizeConfig(Q.QuantizeConfig):
    """Weightless layer: fake-quantise the output with a moving-average 8-bit range."""

    def get_weights_and_quantizers(self, layer):
        return []

    def get_activations_and_quantizers(self, layer):
        return []

    def set_quantize_weights(self, layer, quantize_weights):
        pass

    def set_quantize_activations(self, layer, quantize_activations):
        pass

    def get_output_quantizers(self, layer):
        return [
            Q.quantizers.MovingAverageQuantizer(
                num_bits=8, per_axis=False, symmetric=False, narrow_range=False
            )
        ]

    def get_config(self):
        return {}


class FixedOutputQuantizeConfig(OutputQuantizeConfig):
    """Weightless layer whose output grid is known exactly: a fixed 8-bit range, never re-estimated."""

    def __init__(self, low: float, high: float):
        self.low, self.high = float(low), float(high)

    def get_output_quantizers(self, layer):
        return [
            Q.quantizers.FixedQuantizer(num_bits=8, init_min=self.low, init_max=self.high, narrow_range=False)
        ]

    def get_config(self):
        return {"low": self.low, "high": self.high}


NEEDS_CONFIG = (keras.layers.Rescaling, keras.layers.Multiply)
INPUT_MAP = "to_signed"
# uint8 pixel k -> (k - 128) / 255: the int8 value k - 128 on the image's own 1/255 grid
SIGNED_LOW, SIGNED_HIGH = -128 / 255, 127 / 255


def _consumer(model: keras.Model, name: str) -> str:
    """The one layer of ``model`` that reads layer ``name`` (from the functional config, so layers
    shared with other graphs do not confuse it)."""
    readers = [
        layer["name"]
        for layer in model.get_config()["layers"]
        if any(inbound[0] == name for node in layer["inbound_nodes"] for inbound in node)
    ]
    if len(readers) != 1:
        raise ValueError(f"{model.name}: {name} feeds {readers or 'nothing'}, expected one layer")
    return readers[0]


def integer_input(model: keras.Model) -> keras.Model:
    """The same function with an input map that int8 represents exactly.

    The students map [0, 1] to [-1, 1] (``2x - 1``) before their first convolution. In int8 that
    map lands between grid points: [-1, 1] in 255 steps cannot hold 0, so every pixel is rounded by
    up to half a step before the first layer, and the converter also requantises the QAT input to
    2/255 steps for the multiplication. ``x - 128/255`` keeps each uint8 pixel exactly (int8
    ``k - 128`` at 1/255); the factor 2 moves into the first convolution's kernel and the 1/510
    offset into its BatchNorm mean. Identical away from the image border; at the border, where
    the convolution reads zero padding, it differs by at most the kernel's sum / 255.
    """
    conv = model.get_layer(_consumer(model, INPUT_MAP))
    norm = model.get_layer(_consumer(model, conv.name))
    if not (
        isinstance(conv, keras.layers.Conv2D)
        and not conv.use_bias
        and isinstance(norm, keras.layers.BatchNormalization)
    ):
        raise ValueError(f"{model.name}: {INPUT_MAP} must feed a bias-free Conv2D and BatchNorm")

    def clone(layer):
        if layer.name == INPUT_MAP:
            return keras.layers.Rescaling(1.0, offset=SIGNED_LOW, name=INPUT_MAP)
        return layer.__class__.from_config(layer.get_config())

    out = keras.models.clone_model(model, clone_function=clone)
    out.set_weights(model.get_weights())
    kernel = conv.get_weights()[0]
    out.get_layer(conv.name).set_weights([2.0 * kernel])
    # 2W (x - 128/255) = W (2x - 1) - sum(W) / 255
    gamma_beta_mean_var = norm.get_weights()
    gamma_beta_mean_var[-2] = gamma_beta_mean_var[-2] - kernel.sum(axis=(0, 1, 2)) / 255.0
    out.get_layer(norm.name).set_weights(gamma_beta_mean_var)
    out._name = model.name
    return out


def scope():
    """Custom objects for building, loading or converting a quantised student."""
    return Q.quantize_scope(
        {"OutputQuantizeConfig": OutputQuantizeConfig, "FixedOutputQuantizeConfig": FixedOutputQuantizeConfig}
    )


def quantize(model: keras.Model) -> keras.Model:
    """Flat functional student model -> QAT model with the float weights (fake-quant ranges fresh)."""

    def annotate(layer):
        if layer.name == INPUT_MAP and layer.get_config()["offset"] == SIGNED_LOW:
            return Q.quantize_annotate_layer(layer, FixedOutputQuantizeConfig(SIGNED_LOW, SIGNED_HIGH))
        if isinstance(layer, NEEDS_CONFIG):
            return Q.quantize_annotate_layer(layer, OutputQuantizeConfig())
        return layer  # the same layer object: clone_model keeps its weights

    annotated = keras.models.clone_model(model, clone_function=annotate)
    with scope():
        qat = Q.quantize_apply(Q.quantize_annotate_model(annotated))
    qat._name = f"{model.name}_qat"
    return qat


def freeze_batchnorm(qat: keras.Model) -> keras.Model:
    """Run the (wrapped) BatchNorm layers on their moving statistics: fine-tuning batches then
    adapt weights and int8 ranges without re-estimating the statistics the float model was
    calibrated with."""
    for layer in qat.layers:
        inner = getattr(layer, "layer", layer)
        if isinstance(inner, keras.layers.BatchNormalization):
            layer.trainable = False
    return qat


RANGE_VARIABLE = re.compile(r"_(min|max):0$")


@contextlib.contextmanager
def _patched(name: str, **forced) -> Iterator[None]:
    """Call tfmot's ``quant_ops.<name>`` with some arguments forced, while the graph is built."""
    original = getattr(quant_ops, name)
    signature = inspect.signature(original)

    def patched(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.arguments.update(forced)
        return original(*bound.args, **bound.kwargs)

    setattr(quant_ops, name, patched)
    try:
        yield
    finally:
        setattr(quant_ops, name, original)


def _batch_ranges():
    """Make every moving-average quantiser take the current batch's range outright (EMA decay 0).

    tfmot starts activation ranges at [-6, 6] and moves them with decay 0.999, so a few hundred
    fine-tuning steps leave them about two thirds at their initial value (measured: 31 dB INT8
    parity after 400 QAT steps against 46 dB for post-training calibration).
    """
    return _patched("MovingAvgQuantize", ema_decay=0.0)


@contextlib.contextmanager
def kept_activation_ranges() -> Iterator[None]:
    """Build a training graph in which activation and input ranges stay as calibrated, while the
    weight ranges still follow the weights (tfmot's last-value quantiser).

    In training mode tfmot moves activation ranges towards each small training crop's statistics
    and lets input ranges only widen (measured: the style-vector range grew from +-3.5 to
    [-5.0, 7.4], which coarsened every FiLM input, INT8 parity 45.1 dB against PTQ's 45.8). Freezing
    the weight ranges as well is worse: Adam's fixed-size steps push small-kernel channels out of
    their stale range (the transformer distillation loss rose by half in 120 steps).
    """
    with _patched("MovingAvgQuantize", is_training=False), _patched("AllValuesQuantize", is_training=False):
        yield


def calibrate_ranges(qat: keras.Model, samples: Callable[[], Iterable[dict]]) -> int:
    """Set every int8 range of ``qat`` to the min/max it sees over ``samples`` (as TFLite's
    post-training calibration does), so quantisation-aware training starts from calibrated ranges
    instead of tfmot's defaults. BatchNorm must already be frozen. Returns how many ranges were set."""
    ranges = [v for v in qat.variables if RANGE_VARIABLE.search(v.name)]
    seen: dict[int, np.ndarray] = {}
    with _batch_ranges():
        for sample in samples():
            qat(sample, training=True)
            for i, v in enumerate(ranges):
                value = v.numpy()
                if i in seen:
                    pick = np.minimum if v.name.endswith("_min:0") else np.maximum
                    value = pick(seen[i], value)
                seen[i] = value
    for i, v in enumerate(ranges):
        if i in seen:
            v.assign(seen[i])
    _pin_image_inputs(qat)
    return len(seen)


def _pin_image_inputs(qat: keras.Model) -> None:
    """Image inputs get exactly [0, 1], whatever the calibration images span: the uint8 input of
    the TFLite model is then the pixel itself (scale 1/255, zero point 0), which :func:`integer_input`
    carries into the first convolution without rounding."""
    for layer in qat.layers:
        if isinstance(layer, QuantizeLayer) and len(layer.input_shape) == 4:
            for v in layer.weights:
                if RANGE_VARIABLE.search(v.name):
                    v.assign(0.0 if v.name.endswith("_min:0") else 1.0)


def qat_model(model: keras.Model) -> keras.Model:
    """Float student model -> the QAT model that export fine-tunes and converts: exact int8 input
    map, fake quantisation, BatchNorm frozen."""
    return freeze_batchnorm(quantize(integer_input(model)))
