"""Small custom Keras layers for the teacher (the student avoids custom layers so that QAT can wrap it)."""

from __future__ import annotations

from tfstyle._keras import keras
from tfstyle.ops import reflect_pad


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
            return reflect_pad(x, self.pad, self.pad, self.pad, self.pad)
        (top, bottom), (left, right) = self.pad
        return reflect_pad(x, top, bottom, left, right)

    def get_config(self):
        return {**super().get_config(), "pad": self.pad}
