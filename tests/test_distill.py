"""Student distillation: the task plugs into the shared loop and its loss goes down."""

from __future__ import annotations

import numpy as np
import pytest

from tfstyle._keras import keras, tf
from training.data import DataConfig, pair_dataset
from training.student import StudentTask


@pytest.fixture(scope="module")
def task(tmp_path_factory, data_dir):
    from tfstyle.models.teacher import build_decoder

    path = str(tmp_path_factory.mktemp("teacher") / "decoder.h5")
    keras.utils.set_random_seed(0)  # seeds Python, NumPy and TF: the same models every run
    build_decoder().save_weights(path)  # any fixed teacher works for the mechanics tested here
    t = StudentTask(DataConfig(root=str(data_dir / "train"), crop=64), teacher_decoder=path)
    t.build()
    return t


def test_one_distillation_step_lowers_the_loss_on_a_fixed_batch(task):
    ds, _ = pair_dataset(task.data, 2)
    batch = next(iter(ds))
    variables = task.trainable_variables()
    opt = keras.optimizers.Adam(1e-3)

    def loss():  # batch statistics, as in the step itself (BatchNorm moving averages lag behind)
        return task.losses(batch, training=True)

    before = loss()
    for _ in range(3):
        with tf.GradientTape() as tape:
            total = task.losses(batch, training=True)["total"]
        opt.apply_gradients(zip(tape.gradient(total, variables), variables))
    after = loss()
    # the distillation objective (output + feature + perceptual terms) drops clearly
    assert float(after["total"]) < 0.95 * float(before["total"])
    for key in ("output", "feature", "content", "style"):
        assert np.isfinite(float(after[key])), key


def test_stage_one_freezes_the_backbone(task):
    from tfstyle.models.student import backbone_layers

    frozen = backbone_layers(task.predictor)
    assert frozen and not any(layer.trainable for layer in frozen)
    names = {v.name for v in task.trainable_variables()}
    assert any("style_vector" in n for n in names) and any("film0_gamma" in n for n in names)
    assert not any(v.name in names for layer in frozen for v in layer.weights)
