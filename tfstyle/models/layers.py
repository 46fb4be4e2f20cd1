"""Small custom Keras layers for the teacher (the student avoids custom layers so that QAT can wrap it)."""

from __future__ import annotations

from tfstyle._keras import keras, tf


class ReflectionPad2D(keras.layers.Layer):
    """Reflection padding: avoids the dark borders zero padding paints into decoded images."""

    def __init__(self, pad: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.pad = pad

    def call(self, x):
        p = self.pad
        return tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]], mode="REFLECT")

    def get_config(self):
        return {**super().get_config(), "pad": self.pad}
