"""Feed-forward stylization with the teacher: plumbing, tiling with global AdaIN statistics, masks, CLI.

The Teacher is built once per module. With the shipped decoder (tfstyle/assets/teacher_decoder.h5)
every test uses it; without one, a seeded random decoder whose output layer is rescaled to give
images around 0.5 +- 0.15 stands in: deterministic, and its output depends on the features in a
non-trivial way, which is all the plumbing properties need. Only the "each style in its region"
test needs a trained decoder and is skipped without one.
"""

from __future__ import annotations

import os
import pathlib

import numpy as np
import pytest
from PIL import Image

import tfstyle
from tfstyle import cli, tiling
from tfstyle.engines import Region, StylizeConfig
from tfstyle.engines.base import render_tiles
from tfstyle.engines.teacher import TeacherEngine
from tfstyle.images import load_image, resize, resize_to

SHIPPED = pathlib.Path(tfstyle.__file__).parent / "assets" / "teacher_decoder.h5"
TRAINED = SHIPPED.is_file()


@pytest.fixture(scope="module")
def decoder_path(tmp_path_factory) -> str:
    if TRAINED:
        return str(SHIPPED)
    from tfstyle._keras import keras
    from tfstyle.models.teacher import BOTTLENECK, build_decoder, build_encoder

    keras.utils.set_random_seed(0)
    encoder, decoder = build_encoder(), build_decoder()
    rng = np.random.default_rng(0)
    sample = rng.random((1, 64, 64, 3), dtype=np.float32)
    out = decoder(encoder(sample)[BOTTLENECK]).numpy()
    mean, std = out.mean(axis=(0, 1, 2)), out.std(axis=(0, 1, 2))
    layer = decoder.get_layer("to_rgb")
    kernel, bias = layer.get_weights()
    layer.set_weights([kernel * (0.15 / std), (bias - mean) * (0.15 / std) + 0.5])
    path = tmp_path_factory.mktemp("decoder") / "random_decoder.h5"
    decoder.save_weights(str(path))
    return str(path)


@pytest.fixture(scope="module")
def engine(decoder_path):
    return TeacherEngine(decoder=decoder_path)


@pytest.fixture(scope="module")
def teacher(engine):
    return engine.teacher


@pytest.fixture(scope="module")
def images(data_dir):
    content = resize_to(load_image(data_dir / "dev" / "content" / "kodim01.png"), (256, 384))
    a = load_image(data_dir / "dev" / "style" / "la_muse.jpg", size=128)
    b = load_image(data_dir / "dev" / "style" / "mondrian.jpg", size=128)
    c = load_image(data_dir / "dev" / "style" / "udnie.jpg", size=128)
    return content, a, b, c


def _small(content):
    return resize_to(content, (67, 101))


# ----------------------------------------------------------------------------- plumbing


def test_alpha_zero_is_the_decoders_reconstruction_at_odd_size(engine, teacher, images):
    from tfstyle._keras import tf
    from tfstyle.models.teacher import pad_to_multiple

    content = _small(images[0])
    out = tfstyle.stylize(content, images[1], alpha=0.0, engine=engine)
    assert out.shape == (67, 101, 3) and out.dtype == np.float32
    padded, _ = pad_to_multiple(tf.constant(content[None]))
    ref = teacher.decode(teacher.encode(padded)["relu4_1"])[0, :67, :101].numpy()
    np.testing.assert_allclose(out, np.clip(ref, 0, 1), atol=1e-5)


def test_untiled_equals_teacher_stylize(engine, teacher, images):
    content, style = _small(images[0]), images[1]
    out = tfstyle.stylize(content, style, alpha=0.7, engine=engine)
    code = teacher.style_code(resize(style, 101)[None])  # styles default to the content's long side
    ref = teacher.stylize(content[None], code, 0.7)[0].numpy()
    np.testing.assert_allclose(out, ref, atol=2e-3)
    assert np.abs(out - ref).mean() < 2e-4


def test_blend_weights_one_zero_equal_single_style(engine, images):
    content, a, b = _small(images[0]), images[1], images[2]
    single = tfstyle.stylize(content, a, engine=engine)
    blended = tfstyle.stylize(content, [a, b], weights=[1.0, 0.0], engine=engine)
    np.testing.assert_allclose(blended, single, atol=1e-5)
    other = tfstyle.stylize(content, [a, b], weights="0.5,0.5", engine=engine)
    assert np.abs(other - single).mean() > 1e-3


def test_wct_and_colour_preservation_run(engine, images):
    from tfstyle.color import rgb_to_yuv

    content, style = _small(images[0]), images[1]
    wct = tfstyle.stylize(content, style, method="wct", engine=engine)
    assert wct.shape == content.shape and np.isfinite(wct).all()
    lum = tfstyle.stylize(content, style, preserve_color="luminance", engine=engine)
    chroma = np.abs(rgb_to_yuv(lum)[..., 1:] - rgb_to_yuv(content)[..., 1:])
    assert chroma.mean() < 2e-3  # exact but where the RGB result had to be clipped
    hist = tfstyle.stylize(content, style, preserve_color="histogram", engine=engine)
    assert hist.shape == content.shape


def test_bad_options_raise_one_line_errors(engine, images):
    from tfstyle.errors import TfstyleError

    content, style = _small(images[0]), images[1]
    for options in ({"alpha": 1.5}, {"method": "nope"}, {"tile": 64, "overlap": 40}, {"preserve_color": "x"}):
        with pytest.raises(TfstyleError):
            tfstyle.stylize(content, style, engine=engine, **options)
    with pytest.raises(TfstyleError, match="blend weights"):
        tfstyle.stylize(content, [style, style], weights=[1.0], engine=engine)
    with pytest.raises(TfstyleError, match="masks for 2 styles"):
        tfstyle.stylize(content, [style, style], masks=[np.ones((67, 101))] * 3, engine=engine)


# ----------------------------------------------------------------------------- tiling


def _interior(plan: tiling.TilePlan, shape, margin: int) -> np.ndarray:
    """Pixels farther than ``margin`` from every tile edge inside the image."""
    keep = np.ones(shape, bool)
    for axis, ax in ((plan.y, 0), (plan.x, 1)):
        for k in range(axis.count):
            for edge in (axis.starts[k], axis.end(k)):
                if 0 < edge < axis.length:
                    lo, hi = max(0, edge - margin), min(axis.length, edge + margin)
                    if ax == 0:
                        keep[lo:hi] = False
                    else:
                        keep[:, lo:hi] = False
    return keep


def _gradients(image):
    return np.abs(np.diff(image, axis=0)).mean(axis=(1, 2)), np.abs(np.diff(image, axis=1)).mean(axis=(0, 2))


def _border_indices(axis: tiling.Axis) -> list[int]:
    """Gradient indices (between pixel i and i+1) at every tile edge and every cut."""
    idx = set()
    for k in range(axis.count):
        for edge in (axis.starts[k], axis.end(k)):
            if 0 < edge < axis.length:
                idx.add(edge - 1)
        if k:
            idx.add(int(axis.cut(k)) - 1)
            idx.add(int(axis.cut(k)))
    return sorted(idx)


def test_tiled_matches_untiled_without_seams(engine, images):
    """Tiles of 128 px with the default 64 px overlap, so each cut lies 32 px from both tile edges.
    (With 32 px, cuts 20 px from the edges, a partly trained decoder's 8-px grid pattern, which is
    stronger near tile edges, put one border column 14% above the image's largest gradient.)"""
    content, style = images[0], images[1]
    untiled = tfstyle.stylize(content, style, engine=engine, tile=0)
    calls = []

    def count(done, total):
        calls.append((done, total))

    tiled = tfstyle.stylize(content, style, engine=engine, tile=128, overlap=64, callback=count)
    plan = tiling.plan_tiles(256, 384, 128, 64)
    assert calls[-1] == (2 * len(plan), 2 * len(plan))  # two passes over the tiles
    diff = np.abs(tiled - untiled).mean(axis=2)
    interior = _interior(plan, diff.shape, 16)
    assert diff[interior].mean() < 0.03, diff[interior].mean()

    # the reason for global statistics: per-tile AdaIN statistics shift each tile's colours
    codes = [engine.style_code(resize(style, 384), StylizeConfig())]
    region = Region(None, codes, [1.0])
    per_tile = render_tiles(engine, content, [region], None, StylizeConfig(), plan)
    assert np.abs(tiled - untiled).mean() < 0.5 * np.abs(per_tile - untiled).mean()

    # no seams: gradients across tile borders are not above the image's own largest gradient
    gy, gx = _gradients(tiled)
    ref_y, ref_x = _gradients(untiled)
    assert gy[_border_indices(plan.y)].max() <= ref_y.max()
    assert gx[_border_indices(plan.x)].max() <= ref_x.max()


def test_tile_function_never_sees_more_than_a_tile(engine, images, monkeypatch):
    content, style = images[0][:200, :300], images[1]
    shapes = []
    encode = engine.encode

    def spy(image):
        shapes.append(image.shape)
        return encode(image)

    monkeypatch.setattr(engine, "encode", spy)
    tfstyle.stylize(content, style, engine=engine, tile=96, overlap=16)
    plan = tiling.plan_tiles(200, 300, 96, 16)
    assert len(shapes) == len(plan)  # every tile encoded once: pass 2 reuses pass 1's features
    assert all(s[0] <= 96 and s[1] <= 96 for s in shapes)


# ----------------------------------------------------------------------------- masks


def _halves(shape):
    left = np.zeros(shape, np.float32)
    left[:, : shape[1] // 2] = 1.0
    return left, 1.0 - left


def test_single_mask_keeps_the_content_outside(engine, images):
    content, style = images[0][:128, :192], images[1]
    left, _ = _halves(content.shape[:2])
    out = tfstyle.stylize(content, style, masks=[left], feather=0, engine=engine)
    np.testing.assert_array_equal(out[:, 96:], content[:, 96:])
    assert np.abs(out[:, :80] - content[:, :80]).mean() > 0.05
    soft = tfstyle.stylize(content, style, masks=left, engine=engine)  # feathered: a ramp, not a step
    edge = np.abs(np.diff(soft.mean(axis=2), axis=1))[:, 94:97].mean()
    hard = np.abs(np.diff(out.mean(axis=2), axis=1))[:, 94:97].mean()
    assert edge < hard


@pytest.mark.skipif(
    not TRAINED,
    reason="needs the trained teacher decoder tfstyle/assets/teacher_decoder.h5 (a random decoder "
    "does not reproduce style statistics)",
)
def test_two_masks_put_each_style_in_its_region(engine, images, vgg):
    from tfstyle.metrics import style_distance

    content, _, a, b = images  # mondrian and udnie: flat primaries vs blue/orange swirls
    left, right = _halves(content.shape[:2])
    out = tfstyle.stylize(content, [a, b], masks=[left, right], engine=engine)

    def dist(style, mask):
        return style_distance(out, style, vgg, mask=mask)["mean_std"]

    assert dist(a, left) < dist(b, left)
    assert dist(b, right) < dist(a, right)


# ----------------------------------------------------------------------------- CLI


@pytest.fixture
def cli_env(monkeypatch, decoder_path):
    monkeypatch.setenv("TFSTYLE_TEACHER_DECODER", decoder_path)


def _save(path, array):
    Image.fromarray((np.clip(array, 0, 1) * 255).astype(np.uint8)).save(path)


def test_cli_single_image_keeps_odd_size(tmp_path, cli_env, images, capsys):
    _save(tmp_path / "c.png", _small(images[0]))
    _save(tmp_path / "s.png", images[1])
    out = tmp_path / "out.png"
    rc = cli.main(["stylize", str(tmp_path / "c.png"), "--style", str(tmp_path / "s.png"), "-o", str(out)])
    assert rc == 0
    assert Image.open(out).size == (101, 67)


def test_cli_batch_writes_every_good_image_and_reports_bad_ones(tmp_path, cli_env, images, capsys):
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    content = images[0]
    _save(folder / "one.png", resize_to(content, (64, 80)))
    _save(folder / "two.jpg", resize_to(content, (72, 48)))
    (folder / "bad.png").write_text("not an image\n")
    (folder / "notes.txt").write_text("ignored: not an image extension\n")
    _save(tmp_path / "s.png", images[1])
    rc = cli.main(
        ["stylize", str(folder), "--style", str(tmp_path / "s.png"), "-o", str(out), "--alpha", "0.5"]
    )
    captured = capsys.readouterr()
    assert rc == 2
    assert sorted(os.listdir(out)) == ["one.png", "two.jpg"]
    assert Image.open(out / "one.png").size == (80, 64) and Image.open(out / "two.jpg").size == (48, 72)
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "bad.png" in lines[0] and lines[0].startswith("tfstyle: error:")
    assert "2 of 3" in captured.out


@pytest.mark.parametrize("alpha", ["1.5", "-0.1", "nan"])
def test_cli_alpha_out_of_range(tmp_path, alpha, capsys):
    rc = cli.main(
        ["stylize", "missing.png", "--style", "s.png", "-o", str(tmp_path / "o.png"), "--alpha", alpha]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "--alpha" in err[0]


def test_cli_bad_style_fails_fast_with_one_line(tmp_path, capsys):
    _save(tmp_path / "c.png", np.full((32, 32, 3), 0.5))
    (tmp_path / "s.png").write_text("nope")
    rc = cli.main(
        [
            "stylize",
            str(tmp_path / "c.png"),
            "--style",
            str(tmp_path / "s.png"),
            "-o",
            str(tmp_path / "o.png"),
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "s.png" in err[0]
    assert not (tmp_path / "o.png").exists()


def test_teacher_bfloat16_inference_matches_float32(monkeypatch, decoder_path):
    """$TFSTYLE_PRECISION picks the teacher's inference policy; mixed_bfloat16 (auto's choice on
    CPUs with native BF16) gives the float32 picture within what an 8-bit image can show."""
    from tfstyle.engines import teacher as teacher_engine

    content = np.random.default_rng(1).random((64, 96, 3), dtype=np.float32)
    style = np.random.default_rng(2).random((64, 64, 3), dtype=np.float32)
    outs = {}
    for policy in ("float32", "mixed_bfloat16"):
        monkeypatch.setenv("TFSTYLE_PRECISION", policy)
        assert teacher_engine.inference_precision() == policy
        engine = TeacherEngine(decoder=decoder_path)
        assert engine.teacher.decoder.layers[1].compute_dtype == policy.replace("mixed_b", "b")
        config = StylizeConfig(method="adain")
        outs[policy] = engine.stylize_tile(content, engine.style_code(style, config), config)
    mse = float(np.mean((outs["float32"] - outs["mixed_bfloat16"]) ** 2))
    assert 10 * np.log10(1.0 / max(mse, 1e-12)) > 38.0
    monkeypatch.setenv("TFSTYLE_PRECISION", "float16x")
    with pytest.raises(tfstyle.errors.TfstyleError):
        teacher_engine.inference_precision()
