"""Small custom Keras layers for the teacher (the student avoids custom layers so that QAT can wrap it)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from tfstyle._keras import keras, tf
from tfstyle.ops import reflect_pad

_SLICED_REFLECTION = False


@contextlib.contextmanager
def sliced_reflection() -> Iterator[None]:
    """Within this block, reflection pads are traced as slices and concatenations
    (:func:`tfstyle.ops.reflect_pad`): for TFLite conversion, where MIRROR_PAD falls outside
    XNNPACK. TensorFlow itself keeps ``tf.pad``: one copy per pad instead of two (12 MP teacher
    peak memory about +300 MB with slices)."""
    global _SLICED_REFLECTION
    previous, _SLICED_REFLECTION = _SLICED_REFLECTION, True
    try:
        yield
    finally:
        _SLICED_REFLECTION = previous


class ReflectionPad2D(keras.layers.Layer):
    """Reflection padding: avoids the dark borders zero padding paints into decoded images.

    ``pad`` is one width for every side, or ``((top, bottom), (left, right))`` (the student v2
    encoder replaces MobileNetV2's one-sided zero padding before its stride-2 convolutions).
    """

    def __init__(self, pad=1, **kwargs):
        super().__init__(**kwargs)
        self.pad = pad if isinstance(pad, int) else tuple(tuple(int(v) for v in side) for side in pad)

    def call(self, x):
        if isinstance(self.pad, int):
            top = bottom = left = right = self.pad
        else:
            (top, bottom), (left, right) = self.pad
        if _SLICED_REFLECTION:
            return reflect_pad(x, top, bottom, left, right)
        return tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]], mode="REFLECT")

    def get_config(self):
        return {**super().get_config(), "pad": self.pad}
