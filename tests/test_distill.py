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


def test_warm_start_keeps_the_function_of_a_transformer_that_lacks_new_film_layers(tmp_path, capsys):
    """Stage runs start from older weights by layer name: FiLM layers the file lacks start as the
    identity, so the warm-started transformer computes exactly what the saved one did."""
    import h5py

    from tfstyle.models.student import build_transformer
    from training.student import _warm_start

    keras.utils.set_random_seed(1)
    saved = build_transformer()
    for layer in saved.layers:  # make every FiLM layer (and the rest) non-trivial
        layer.set_weights([np.random.default_rng(2).normal(0, 0.2, w.shape) for w in layer.get_weights()])
    path = str(tmp_path / "transformer.h5")
    saved.save_weights(path)
    dropped = [
        layer.name
        for layer in saved.layers
        if layer.name.startswith(("dec", "skip_film")) and layer.name.endswith(("_film_gamma", "_film_beta"))
    ]
    with h5py.File(path, "a") as f:  # the file of a transformer built before the decoder had FiLM
        for name in dropped:
            del f[name]
        kept = [n for n in f.attrs["layer_names"].astype(str) if n not in dropped]
        f.attrs["layer_names"] = np.array(kept, "S")
    for name in dropped:  # what that older transformer computed: the same with identity FiLM there
        layer = saved.get_layer(name)
        kernel, bias = layer.get_weights()
        identity = np.ones_like(bias) if name.endswith("_gamma") else np.zeros_like(bias)
        layer.set_weights([np.zeros_like(kernel), identity])

    warm = build_transformer()
    _warm_start(warm, path)
    assert f"{len(dropped)} layers not in the file" in capsys.readouterr().out
    rng = np.random.default_rng(3)
    content, vector = rng.random((1, 40, 48, 3), np.float32), rng.normal(size=(1, 64)).astype(np.float32)
    np.testing.assert_allclose(warm([content, vector]).numpy(), saved([content, vector]).numpy(), atol=1e-6)
    assert len(dropped) == 8 and not np.any(warm.get_layer(dropped[0]).get_weights()[0])


def test_loss_weights_option_changes_only_the_named_terms(capsys):
    from training.student import DistillWeights, parse_args

    args = parse_args(["--weights", "style=20,output=10"])
    assert args.weights == DistillWeights(output=10.0, feature=1.0, content=1.0, style=20.0)
    assert parse_args([]).weights == DistillWeights()
    for bad in ("colour=1", "style=lots"):
        with pytest.raises(SystemExit):  # argparse's one usage line naming the bad item
            parse_args(["--weights", bad])
        assert bad in capsys.readouterr().err


def test_style_crops_option_and_a_step_on_a_style_larger_than_the_content(task, capsys):
    from training.loop import _grid
    from training.student import parse_args

    assert parse_args(["--style-crops", "192, 256,384"]).style_crops == (192, 256, 384)
    assert parse_args([]).style_crops == ()
    for bad in ("256,big", "16", ","):
        with pytest.raises(SystemExit):
            parse_args(["--style-crops", bad])
        assert bad in capsys.readouterr().err

    ds, _ = pair_dataset(DataConfig(root=task.data.root, crop=64, style_crops=(96,)), 2)
    batch = next(iter(ds))
    assert batch["style"].shape == (2, 96, 96, 3) and batch["content"].shape == (2, 64, 64, 3)
    terms = task.losses(batch, training=False)
    assert terms["student"].shape == (2, 64, 64, 3)
    for key in ("total", "output", "feature", "content", "style"):
        assert np.isfinite(float(terms[key])) and float(terms[key]) > 0, key
    grid = _grid(task.samples(batch))  # the loop's sample sheet: the style shown at the content's size
    assert grid.shape == (2 * 64, 4 * 64, 3)


def test_style_layers_option_reweights_the_style_term(task, capsys):
    from training.student import parse_args

    assert parse_args(["--style-layers", "relu1_1=23, relu4_1=1"]).style_layers == {
        "relu1_1": 23.0,
        "relu4_1": 1.0,
    }
    assert parse_args([]).style_layers is None
    for bad in ("relu5_1=1", "relu1_1=x", ","):
        with pytest.raises(SystemExit):
            parse_args(["--style-layers", bad])
        assert bad.strip(",") in capsys.readouterr().err

    ds, _ = pair_dataset(task.data, 2)
    batch = next(iter(ds))

    def style_term(layers):
        task.style_layers = layers
        try:
            return float(task.losses(batch, training=False)["style"])
        finally:
            task.style_layers = None

    one, two = style_term({"relu1_1": 1.0}), style_term({"relu3_1": 1.0})
    assert one > 0 and two > 0
    # the term is the weighted sum of the named layers only; equal weights are the default
    assert style_term({"relu1_1": 2.0, "relu3_1": 3.0}) == pytest.approx(2 * one + 3 * two, rel=1e-5)
    equal = style_term({k: 1.0 for k in ("relu1_1", "relu2_1", "relu3_1", "relu4_1")})
    assert style_term(None) == pytest.approx(equal, rel=1e-6)


def test_warm_start_from_a_missing_file_is_one_line(tmp_path):
    from tfstyle.errors import WeightsError
    from tfstyle.models.student import build_transformer
    from training.student import _warm_start

    missing = tmp_path / "student_transformer.h5"
    with pytest.raises(WeightsError, match="student_transformer.h5: --init-from weights not found"):
        _warm_start(build_transformer(), str(missing))
