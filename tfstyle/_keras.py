"""The one place where TensorFlow and Keras 2 are imported.

tfmot's quantisation-aware training only supports Keras 2, and sharing losses between Gatys,
training and export needs a single Keras, so every module imports ``tf`` and ``keras`` from here.
``TF_USE_LEGACY_KERAS`` must be set before TensorFlow is first imported.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf
import tf_keras as keras

__all__ = ["keras", "tf"]
