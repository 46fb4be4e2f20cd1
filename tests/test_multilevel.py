"""The multi-level teacher: reconstruction decoders (shapes, training), the coarse-to-fine cascade
(alpha and level weights at zero, agreement with the single-level teacher), regions and blends
through it, and the WCT covariance property. Tiny images: the file runs in well under a minute."""

from __future__ import annotations

import os
import pathlib
import shutil
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # training/ is a top-level folder, not part of the installed package
    sys.path.insert(0, str(ROOT))

LEVELS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")


@pytest.fixture(scope="module")
def images(data_dir):
    from tfstyle.images import load_image, resize_to

    content = resize_to(load_image(data_dir / "dev" / "content" / "kodim01.png"), (61, 83))
    a = load_image(data_dir / "dev" / "style" / "la_muse.jpg", size=80)
    b = load_image(data_dir / "dev" / "style" / "mondrian.jpg", size=72)
    return content, a, b


@pytest.fixture(scope="module")
def engine():
    """The teacher engine with the shipped multilevel decoders (built once for the module)."""
    from tfstyle.engines.teacher import TeacherEngine

    return TeacherEngine()


@pytest.mark.parametrize("level", LEVELS)
def test_decoder_inverts_the_encoder_grid_at_any_size(level):
    from tfstyle._keras import tf
    from tfstyle.models.decoders import MULTIPLES, build_level_decoder, build_level_encoder

    m = MULTIPLES[level]
    image = tf.random.uniform([2, 5 * m, 7 * m, 3], seed=1)
    feats = build_level_encoder(level)(image)[level]
    out = build_level_decoder(level)(feats)
    assert tuple(out.shape) == (2, 5 * m, 7 * m, 3)
    assert out.dtype == tf.float32


@pytest.mark.parametrize("level", ("relu1_1", "relu4_1"))
def test_run_chain_gives_the_keras_calls_values(level, monkeypatch):
    """Layer by layer, with the float32 output layer in row bands (several, the last one short),
    the level networks give exactly what their Keras call gives under the inference policy."""
    from tfstyle._keras import tf
    from tfstyle.models import multilevel
    from tfstyle.models.decoders import MULTIPLES, build_level_decoder, build_level_encoder
    from tfstyle.precision import policy_scope

    monkeypatch.setattr(multilevel, "BAND_ROWS", 5)
    m = MULTIPLES[level]
    with policy_scope("mixed_bfloat16"):
        encoder, decoder = build_level_encoder(level), build_level_decoder(level)
    image = tf.random.uniform([1, 13 * m, 7 * m, 3], seed=3)
    feats = multilevel.run_chain(encoder, image)
    np.testing.assert_array_equal(feats.numpy(), encoder(image, training=False)[level].numpy())
    out = multilevel.run_chain(decoder, tf.cast(feats, tf.float32))
    assert out.dtype == tf.float32 and tuple(out.shape) == (1, 13 * m, 7 * m, 3)
    np.testing.assert_array_equal(out.numpy(), decoder(tf.cast(feats, tf.float32), training=False).numpy())


def test_run_chain_refuses_a_branching_model():
    from tfstyle._keras import keras
    from tfstyle.models.multilevel import run_chain

    inp = keras.Input((None, None, 3))
    model = keras.Model(inp, keras.layers.Add()([inp, keras.layers.Conv2D(3, 1)(inp)]))
    with pytest.raises(ValueError, match="single path"):
        run_chain(model, np.zeros((1, 4, 4, 3), np.float32))


def test_relu4_1_level_has_the_adain_decoders_layers():
    """So the shipped AdaIN decoder can serve as the cascade's relu4_1 level."""
    from tfstyle.models.decoders import build_level_decoder
    from tfstyle.models.teacher import build_decoder

    ours, theirs = build_level_decoder("relu4_1"), build_decoder()
    assert [w.shape for w in ours.weights] == [w.shape for w in theirs.weights]


def test_a_training_step_lowers_the_reconstruction_loss():
    from tfstyle._keras import keras, tf
    from tfstyle.models.decoders import build_level_decoder, build_level_encoder, reconstruction_losses

    keras.utils.set_random_seed(0)
    encoder, decoder = build_level_encoder("relu2_1"), build_level_decoder("relu2_1")
    images = tf.random.uniform([2, 32, 32, 3], seed=2)
    opt = keras.optimizers.Adam(1e-3)
    before = float(reconstruction_losses(encoder, decoder, "relu2_1", images)["total"])
    for _ in range(3):
        with tf.GradientTape() as tape:
            loss = reconstruction_losses(encoder, decoder, "relu2_1", images)["total"]
        variables = decoder.trainable_variables
        opt.apply_gradients(zip(tape.gradient(loss, variables), variables))
    after = float(reconstruction_losses(encoder, decoder, "relu2_1", images)["total"])
    assert after < before


def test_training_script_resumes_and_exports_float16(tmp_path, data_dir):
    import h5py

    from training.decoders import main

    for kind in ("content", "style"):
        (tmp_path / "data" / kind).mkdir(parents=True)
        for f in sorted((data_dir / "train" / kind).iterdir())[:2]:
            shutil.copy(f, tmp_path / "data" / kind / f.name)
    args = ["--level", "relu1_1", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "run")]
    args += ["--batch", "2", "--crop", "32", "--checkpoint-every", "1", "--quiet"]
    main([*args, "--steps", "1"])
    main([*args, "--steps", "2"])  # resumes at step 1
    assert sorted(os.listdir(tmp_path / "run" / "checkpoints"))[-1].startswith("ckpt-2")
    with h5py.File(tmp_path / "run" / "decoder_relu1_1.h5") as f:
        dtypes = set()
        f.visititems(lambda _n, o: dtypes.add(o.dtype) if isinstance(o, h5py.Dataset) else None)
    assert dtypes == {np.dtype(np.float16)}


def test_shipped_decoders_reconstruct(engine, images):
    content = images[0]
    model = engine.multilevel
    for level in LEVELS:
        out = model.reconstruct(level, content)
        psnr = -10 * np.log10(np.mean((out - content) ** 2))
        assert psnr > 14.0, (level, psnr)


def test_alpha_zero_and_zero_level_weights_give_the_content(engine, images):
    from tfstyle.driver import stylize

    content, style, _ = images
    out = stylize(content, style, engine=engine, method="multilevel", alpha=0.0)
    np.testing.assert_array_equal(out, content)
    out = stylize(content, style, engine=engine, method="multilevel", level_weights=(0, 0, 0, 0))
    np.testing.assert_array_equal(out, content)


def test_small_alpha_is_the_cascade_of_reconstructions(engine, images):
    from tfstyle.driver import stylize

    content, style, _ = images
    model = engine.multilevel
    recon = content
    for level in LEVELS[::-1]:
        recon = model.reconstruct(level, recon)
    out = stylize(content, style, engine=engine, method="multilevel", alpha=1e-3)
    assert np.abs(out - recon).mean() < 2e-3
    full = stylize(content, style, engine=engine, method="multilevel", alpha=1.0)
    assert np.abs(full - recon).mean() > 0.05


def test_relu4_1_only_is_the_single_level_teacher(engine, images):
    """Level weights (0, 0, 0, 1) with AdaIN run only relu4_1 with the AdaIN decoder: the old teacher."""
    from tfstyle.driver import stylize

    content, style, _ = images
    options = {"level_weights": (0, 0, 0, 1), "level_methods": ("wct", "wct", "wct", "adain")}
    ml = stylize(content, style, engine=engine, method="multilevel", alpha=0.7, **options)
    single = stylize(content, style, engine=engine, method="adain", alpha=0.7)
    assert np.abs(ml - single).max() < 1e-2


def test_masks_and_blends_work_through_the_cascade(engine, images):
    from tfstyle.driver import stylize

    content, a, b = images
    left = np.zeros(content.shape[:2], np.float32)
    left[:, :40] = 1.0
    out = stylize(content, a, masks=left, feather=0, engine=engine, method="multilevel")
    np.testing.assert_array_equal(out[:, 48:], content[:, 48:])  # pixels no mask covers keep the content
    assert np.abs(out[:, :32] - content[:, :32]).mean() > 0.05
    only_a = stylize(content, [a, b], weights=[1, 0], engine=engine, method="multilevel")
    np.testing.assert_allclose(only_a, stylize(content, a, engine=engine, method="multilevel"), atol=1e-5)
    mixed = stylize(content, [a, b], weights=[0.5, 0.5], engine=engine, method="multilevel")
    assert np.abs(mixed - only_a).mean() > 0.01


def test_tiles_use_global_statistics(engine, images):
    """Tiled and whole agree up to the decoders' tile borders. On images this small the deep levels'
    decoders see mostly border (a 48 px tile is 6 relu4_1 cells), so the check runs relu1_1-relu2_1;
    relu1_1 alone agrees to 1e-6, relu2_1 alone to about 0.03 (measured)."""
    from tfstyle.driver import stylize

    content, style, _ = images
    options = {"method": "multilevel", "level_weights": (1, 1, 0, 0)}
    whole = stylize(content, style, engine=engine, tile=0, **options)
    tiled = stylize(content, style, engine=engine, tile=48, overlap=16, **options)
    assert np.abs(whole - tiled).mean() < 0.05
    assert np.abs(whole - content).mean() > 0.05


def test_style_statistics_are_computed_once_per_style(engine, images):
    _, style, _ = images
    first = engine.multilevel_code(style)
    assert engine.multilevel_code(style.copy()) is first


def test_wct_gives_the_content_the_styles_covariance():
    from tfstyle.engines.base import Region
    from tfstyle.engines.teacher import _apply, _Moments, _region_transform
    from tfstyle.models.multilevel import LevelStats

    rng = np.random.default_rng(0)
    c = 6
    content = rng.normal(size=(4000, c)) @ rng.normal(size=(c, c)) + 2.0
    style = rng.normal(size=(3000, c)) @ rng.normal(size=(c, c)) - 1.0
    moments = _Moments(full=True)
    moments.add(content, np.ones(len(content)))
    code = LevelStats.from_features(style.astype(np.float32))
    out = _apply(content.astype(np.float32), _region_transform(Region(None, [code], [1.0]), moments, "wct"))
    np.testing.assert_allclose(np.cov(out.T), np.cov(style.T), rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(out.mean(0), style.mean(0), atol=1e-3)


def test_bad_level_options_are_one_line_errors():
    from tfstyle.engines import StylizeConfig
    from tfstyle.errors import TfstyleError

    with pytest.raises(TfstyleError, match="4 values"):
        StylizeConfig(level_weights="1,1").validate()
    with pytest.raises(TfstyleError, match="between 0 and 2"):
        StylizeConfig(level_weights=(1, 1, 1, 3)).validate()
    with pytest.raises(TfstyleError, match="not one of"):
        StylizeConfig(level_methods="wct,wct,gram,wct").validate()


def test_residual_decoding_cancels_the_decoders_loss():
    """A level whose transform leaves the features as they are gives back the tile exactly in
    residual mode, however lossy the decoder; a real change still comes through."""
    from tfstyle.engines.base import Region
    from tfstyle.engines.teacher import _Coder, render_level
    from tfstyle.models.multilevel import LevelStats

    rng = np.random.default_rng(0)
    image = rng.random((24, 32, 3)).astype(np.float32)

    def encode(x):
        return x.reshape(12, 2, 16, 2, 3).mean(axis=(1, 3)) * 100.0  # 2x2 cells, 3 channels

    def decode(feats, shape):
        return np.repeat(np.repeat(feats / 100.0, 2, 0), 2, 1)[: shape[0], : shape[1]]  # blocky

    coder = _Coder(encode, decode, 2, 3)
    own = LevelStats.from_features(encode(image).reshape(-1, 3))  # the content's own statistics
    same = render_level(coder, image, [Region(None, [own], [1.0])], "adain", 1.0, residual=True)
    np.testing.assert_allclose(same, image, atol=1e-4)
    lossy = render_level(coder, image, [Region(None, [own], [1.0])], "adain", 1.0)
    assert np.abs(lossy - image).mean() > 0.05  # the decoder alone does lose detail
    other = LevelStats.from_features(encode(image[::-1] * 0.5).reshape(-1, 3))
    moved = render_level(coder, image, [Region(None, [other], [1.0])], "adain", 1.0, residual=True)
    feats = encode(image)
    expected = np.clip(image + decode(_adain(feats, other), (24, 32)) - decode(feats, (24, 32)), 0, 1)
    np.testing.assert_allclose(moved, expected, atol=1e-4)


def _adain(feats, stats):
    flat = feats.reshape(-1, feats.shape[-1]).astype(np.float64)
    mean, std = flat.mean(0), np.sqrt(flat.var(0) + 1e-5)
    return ((feats - mean) / std * stats.std + stats.mean).astype(np.float32)


def test_residual_cascade_keeps_more_of_the_content(engine, images):
    from tfstyle import metrics
    from tfstyle.driver import stylize

    content, style, _ = images
    plain = stylize(content, style, engine=engine, method="multilevel", alpha=0.6)
    residual = stylize(content, style, engine=engine, method="multilevel", alpha=0.6, residual=True)
    assert metrics.content_ssim(residual, content) > metrics.content_ssim(plain, content) + 0.03
    assert np.abs(residual - content).mean() > 0.03  # still stylized


def test_fine_levels_of_a_tiled_run_use_smaller_tiles():
    from tfstyle import tiling
    from tfstyle.engines.teacher import FINE_TILE, _level_plan

    plan = tiling.plan_tiles(3000, 4000, 1024, 64, 8)
    assert _level_plan(plan, "relu4_1") is plan and _level_plan(None, "relu1_1") is None
    fine = _level_plan(plan, "relu1_1")
    assert max(fine.y.size, fine.x.size) <= FINE_TILE["relu1_1"]
    covered = np.zeros((3000, 4000), bool)
    for box in fine.boxes:
        covered[box.slices] = True
    assert covered.all() and fine.y.length == 3000 and fine.x.length == 4000
    small = tiling.plan_tiles(600, 500, FINE_TILE["relu1_1"], 64, 8)
    assert _level_plan(small, "relu1_1") is small
