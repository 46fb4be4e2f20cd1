"""VGG19 extractor: preprocessing convention, layer naming, parity with keras.applications."""

from __future__ import annotations

import os

import numpy as np
import pytest

from tfstyle._keras import keras
from tfstyle.features import ALL_LAYERS, STYLE_LAYERS, build_vgg19, vgg_preprocess


def test_preprocessing_matches_keras_convention():
    x = np.random.default_rng(0).random((2, 8, 8, 3), dtype=np.float32)
    expected = keras.applications.vgg19.preprocess_input(x * 255.0)
    np.testing.assert_allclose(vgg_preprocess(x).numpy(), expected, atol=1e-3)


def test_first_layer_is_the_preprocessing(vgg):
    x = np.random.default_rng(1).random((1, 8, 8, 3), dtype=np.float32)
    pre = vgg.model.get_layer("vgg_preprocess")
    np.testing.assert_allclose(pre(x).numpy(), vgg_preprocess(x).numpy(), atol=1e-3)


def test_layers_named_and_shaped(vgg):
    x = np.random.default_rng(2).random((1, 64, 48, 3), dtype=np.float32)
    feats = vgg(x)
    expected = {"relu1_1": 64, "relu2_1": 128, "relu3_1": 256, "relu4_1": 512, "relu5_1": 512, "conv4_2": 512}
    for name, channels in expected.items():
        scale = 2 ** (int(name[4]) - 1)
        assert feats[name].shape == (1, 64 // scale, 48 // scale, channels), name
        assert feats[name].dtype.name == "float32"
    for name in STYLE_LAYERS:
        assert float(np.min(feats[name])) >= 0.0  # post-ReLU
    assert float(np.min(feats["conv4_2"])) < 0.0  # pre-ReLU
    assert len(ALL_LAYERS) == 32


def test_matches_keras_vgg19_features():
    model = build_vgg19(["relu3_1", "relu4_1"])
    ref = keras.applications.VGG19(include_top=False, weights=os.environ["TFSTYLE_VGG19_WEIGHTS"])
    tap = keras.Model(ref.input, ref.get_layer("block4_conv1").output)
    x = np.random.default_rng(3).random((1, 48, 48, 3), dtype=np.float32)
    expected = tap(keras.applications.vgg19.preprocess_input(x * 255.0)).numpy()
    got = model(x)["relu4_1"].numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-2 * np.abs(expected).max())


def test_unknown_layer_is_rejected():
    with pytest.raises(ValueError, match="unknown VGG19 layer"):
        build_vgg19(["relu9_9"])


@pytest.mark.parametrize("pads", [(1, 1, 1, 1), (0, 1, 0, 1), (2, 1, 3, 0)])
def test_reflect_pad_equals_tf_reflect_with_unknown_sizes(pads):
    """The slice-and-concatenate reflection (what TFLite keeps inside XNNPACK) is tf.pad's REFLECT,
    also traced with unknown height and width, and its gradient is the same."""
    from tfstyle._keras import tf
    from tfstyle.ops import reflect_pad

    top, bottom, left, right = pads
    paddings = [[0, 0], [top, bottom], [left, right], [0, 0]]
    x = tf.constant(np.random.default_rng(0).standard_normal((2, 7, 9, 3)).astype(np.float32))
    want = tf.pad(x, paddings, mode="REFLECT")
    spec = [tf.TensorSpec([None, None, None, 3])]
    traced = tf.function(lambda t: reflect_pad(t, *pads), input_signature=spec)
    np.testing.assert_array_equal(traced(x).numpy(), want.numpy())
    weights = tf.constant(np.random.default_rng(1).standard_normal(want.shape).astype(np.float32))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        ours = tf.reduce_sum(reflect_pad(x, *pads) * weights)
        theirs = tf.reduce_sum(tf.pad(x, paddings, mode="REFLECT") * weights)
    np.testing.assert_allclose(tape.gradient(ours, x).numpy(), tape.gradient(theirs, x).numpy(), atol=1e-6)
