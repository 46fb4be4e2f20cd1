"""Keras student -> .tflite bytes, one function per variant, each stamped with tfstyle metadata.

Signatures are named for what a phone app calls: ``predict_style`` (``style_image`` ->
``style_vector``) and ``stylize`` (``content_image``, ``style_vector`` -> ``stylized_image``).
Images are RGB in [0, 1] (float variants) or uint8 0..255 (full-integer variants); the spatial size
is dynamic (batch 1), so runners resize the input tensors to the image.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from tfstyle import tflite_meta
from tfstyle._keras import keras, tf
from tfstyle.models.student import MULTIPLE

VARIANTS: dict[str, str] = {
    "float32": "float32 weights and compute (the reference)",
    "float16": "float16 weights, float32 compute",
    "dynamic": "int8 weights, float activations (dynamic-range quantisation)",
    "int8": "full integer from the QAT model; uint8 inputs and outputs",
    "ptq_int8": "full integer, post-training quantised from the float model (no QAT); uint8 I/O",
}
INTEGER = ("int8", "ptq_int8")
SIGNATURES = {
    "predictor": ("predict_style", ("style_image",), "style_vector"),
    "transformer": ("stylize", ("content_image", "style_vector"), "stylized_image"),
}
Calibration = Callable[[], Iterable[dict]]


def role_of(model: keras.Model) -> str:
    return "transformer" if len(model.inputs) == 2 else "predictor"


def _function(model: keras.Model, role: str):
    _, inputs, output = SIGNATURES[role]
    style_dim = int(model.inputs[1].shape[-1]) if role == "transformer" else None
    if role == "predictor":
        spec = [tf.TensorSpec([1, None, None, 3], tf.float32, name=inputs[0])]

        def predict_style(style_image):
            return {output: model(style_image, training=False)}

        return tf.function(predict_style, input_signature=spec)
    spec = [
        tf.TensorSpec([1, None, None, 3], tf.float32, name=inputs[0]),
        tf.TensorSpec([1, style_dim], tf.float32, name=inputs[1]),
    ]

    def stylize(content_image, style_vector):
        return {output: model([content_image, style_vector], training=False)}

    return tf.function(stylize, input_signature=spec)


def metadata(model: keras.Model, variant: str) -> dict:
    role = role_of(model)
    key, inputs, output = SIGNATURES[role]
    style_dim = int(model.inputs[1].shape[-1] if role == "transformer" else model.output.shape[-1])
    meta = {
        "format": tflite_meta.FORMAT,
        "role": role,
        "variant": variant,
        "signature": key,
        "inputs": list(inputs),
        "output": output,
        "style_dim": style_dim,
        "image": "RGB, NHWC, batch 1, any height and width; float [0, 1] or uint8 0..255",
    }
    if role == "transformer":
        meta["multiple"] = MULTIPLE  # pad H and W to a multiple of this
    return meta


def convert(model: keras.Model, variant: str, calibration: Calibration | None = None) -> bytes:
    """One variant of ``model`` (float or QAT) as .tflite bytes with metadata.

    ``calibration`` yields ``{input name: float32 array}``; the integer variants need it (for
    ``int8`` the QAT model carries its ranges, but the converter still checks the I/O on it).
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; known: {', '.join(VARIANTS)}")
    role = role_of(model)
    fn = _function(model, role)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], model)
    if variant == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif variant == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif variant in INTEGER:
        if calibration is None:
            raise ValueError(f"{variant} needs calibration data")
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = calibration
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.uint8
    buf = converter.convert()
    return tflite_meta.add_metadata(buf, metadata(model, variant), signature_key=SIGNATURES[role][0])
