"""Student v2: computed style code, reflection-padded encoder, alpha 0, blends, INT8 export, engines,
and a short resumable training run. Untrained (seeded) weights: every check is a property that does
not depend on training."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
# absl's lines logged before it is initialised (TF_CPP_MIN_LOG_LEVEL does not silence them)
TF_LOG_LINE = re.compile(r"^([IWEF]\d{4} \d\d:\d\d:\d\d|WARNING: All log messages before absl::)")
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="module")
def v2_weights(tmp_path_factory) -> tuple[str, str]:
    from tfstyle._keras import keras
    from tfstyle.models import student_v2 as S

    keras.utils.set_random_seed(0)
    folder = tmp_path_factory.mktemp("student_v2")
    paths = str(folder / "encoder.h5"), str(folder / "decoder.h5")
    S.build_encoder(imagenet=True).save_weights(paths[0])
    decoder = S.build_decoder()
    layer = decoder.get_layer("to_rgb")  # starts at zero; random here so the residual path is tested
    kernel = np.random.default_rng(0).normal(0, 0.05, layer.kernel.shape).astype(np.float32)
    layer.set_weights([kernel, np.zeros(3, np.float32)])
    decoder.save_weights(paths[1])
    return paths


@pytest.fixture(scope="module")
def v2(v2_weights):
    from tfstyle.models.student_v2 import StudentV2

    return StudentV2(*v2_weights)


def _image(seed: int, h: int = 48, w: int = 64) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    base = np.stack([np.sin(6 * x + seed), np.cos(5 * y), x * y], -1) * 0.4 + 0.5
    return np.clip(base + 0.05 * rng.standard_normal((h, w, 3)), 0, 1).astype(np.float32)


def test_encoder_is_mobilenet_inside_and_reflects_at_the_border(v2):
    """Away from the border the rebuilt encoder is ImageNet MobileNetV2; at the border it reflects
    (a constant image gives constant taps: zero padding would paint a frame into them)."""
    from tfstyle import weights as W
    from tfstyle._keras import keras
    from tfstyle.models.student_v2 import TAPS, build_encoder

    enc = build_encoder(imagenet=True)
    source = W.load_application(
        W.MOBILENET_V2_035,
        lambda w: keras.applications.MobileNetV2(
            alpha=0.35, include_top=False, weights=w, input_shape=(None, None, 3)
        ),
    )
    ref = keras.Model(source.input, [source.get_layer(t).output for t in TAPS])
    x = _image(1, 128, 128)[None]
    for ours, theirs in zip(enc(x)[1:], ref(x * 2 - 1)):  # the border reaches 5 cells into the 1/8 tap
        np.testing.assert_allclose(ours.numpy()[:, 6:-6, 6:-6], theirs.numpy()[:, 6:-6, 6:-6], atol=1e-4)
    flat = np.full((1, 32, 32, 3), 0.4, np.float32)
    for tap in enc(flat):
        tap = tap.numpy()
        assert np.ptp(tap, axis=(1, 2)).max() < 1e-4


def test_numpy_codes_match_the_trained_math(v2):
    from tfstyle import style_codes
    from tfstyle._keras import tf
    from tfstyle.models.student_v2 import CODE_DIM, code_from_taps, restyle

    taps = v2.taps(_image(2)[None])
    code_tf = code_from_taps(taps).numpy()[0]
    np_taps = [t.numpy()[0] for t in taps]
    np.testing.assert_allclose(style_codes.code_of(np_taps), code_tf, rtol=1e-4, atol=1e-4)
    other = v2.style_code(_image(3))[0]
    ours = style_codes.restyle(np_taps, other)
    theirs = restyle(taps, tf.constant(other[None]))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b.numpy()[0], rtol=1e-3, atol=1e-3)
    assert other.shape == (CODE_DIM,)


def test_alpha_zero_returns_the_content_and_strength_mixes_codes_and_scales_the_residual(v2):
    from tfstyle._keras import tf
    from tfstyle.models.student_v2 import colour_base, restyle

    content, style = _image(4), _image(5)
    code = v2.style_code(style)[0]
    own = v2.style_code(content)[0]
    zero = v2.stylize(content[None], code, alpha=0.0)[0]
    np.testing.assert_allclose(zero, content, atol=1e-4)  # the residual is scaled away: the content
    half = v2.stylize(content[None], code, alpha=0.5)[0]
    mixed = (0.5 * code + 0.5 * own)[None]  # strength mixes the codes and halves the residual
    base = colour_base(content[None], own[None], mixed).numpy()[0]
    residual = v2.decoder(restyle(v2.taps(content[None]), tf.constant(mixed))).numpy()[0]
    assert np.abs(residual).max() > 1e-2
    np.testing.assert_allclose(half, np.clip(base + 0.5 * residual, 0, 1), atol=1e-4)
    assert not np.allclose(v2.stylize(content[None], code)[0], zero, atol=1e-3)


def test_colour_base_is_a_palette_transfer_that_returns_the_content_at_alpha_zero(v2):
    """The decoder's residual sits on the content with the style's RGB statistics; at the content's
    own code that base is the content itself, and a fresh decoder (last convolution at zero)
    returns exactly the base."""
    from tfstyle import style_codes
    from tfstyle.models.student_v2 import TAP_CHANNELS, StudentV2, build_decoder, colour_base

    content, style = _image(4), np.ascontiguousarray(_image(5)[::-1] * 0.5 + 0.3)
    own, code = v2.style_code(content)[0], v2.style_code(style)[0]
    np.testing.assert_allclose(colour_base(content[None], own[None], own[None])[0], content, atol=1e-5)
    base = style_codes.colour_base(content, code, own, TAP_CHANNELS)
    np.testing.assert_allclose(base, colour_base(content[None], own[None], code[None])[0], atol=1e-5)
    rgb_mean = style.reshape(-1, 3).mean(0)  # tap0 (2x2 means) keeps the image's mean
    np.testing.assert_allclose(base.reshape(-1, 3).mean(0), rgb_mean, atol=2e-3)
    # a full colour transform: the base's RGB covariance (on the tap's 2x2 grid) is the style's
    half = base.reshape(base.shape[0] // 2, 2, base.shape[1] // 2, 2, 3).mean((1, 3))
    np.testing.assert_allclose(style_codes.cov_sqrt(half), style_codes.colour_matrix(code), atol=5e-4)
    grey = style_codes.colour_base(
        content, v2.style_code(np.repeat(style.mean(-1, keepdims=True), 3, -1))[0], own, TAP_CHANNELS
    )
    assert np.abs(grey - grey.mean(-1, keepdims=True)).max() < 0.02  # a grey painting makes a grey base
    fresh = StudentV2.__new__(StudentV2)
    fresh.encoder, fresh.decoder, fresh.cfg = v2.encoder, build_decoder(), v2.cfg
    np.testing.assert_allclose(fresh.stylize(content[None], code)[0], np.clip(base, 0, 1), atol=1e-5)
    np.testing.assert_allclose(fresh.stylize(content[None], code, alpha=0.0)[0], content, atol=1e-5)


def test_engines_are_registered_and_a_missing_file_is_one_line(tmp_path):
    from tfstyle.engines import ENGINES

    assert {"student", "tflite", "student_v2", "tflite_v2"} <= set(ENGINES)
    content = tmp_path / "c.png"
    from tfstyle.images import save_image

    save_image(str(content), _image(6))
    env = dict(os.environ, TFSTYLE_TFLITE_V2_ENCODER=str(tmp_path / "missing.tflite"))
    cmd = [sys.executable, "-m", "tfstyle.cli", "stylize", str(content), "--style", str(content)]
    cmd += ["--model", "tflite_v2", "-o", str(tmp_path / "o.png")]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "missing.tflite" in lines[0] and "not found" in lines[0]


def test_student_v2_engine_blends_and_tiles(v2):
    from tfstyle import stylize
    from tfstyle.engines.student_v2 import StudentV2Engine

    engine = StudentV2Engine(model=v2)
    content, a, b = _image(7), _image(8), _image(9)
    out = stylize(content, [a, b], weights=[3.0, 1.0], engine=engine)
    code = 0.75 * v2.style_code(a)[0] + 0.25 * v2.style_code(b)[0]  # styles at the content's size
    np.testing.assert_allclose(out, v2.stylize(content[None], code)[0], atol=2e-3)
    assert out.shape == content.shape and 0.0 <= out.min() and out.max() <= 1.0
    tiled = stylize(content, a, engine=engine, tile=32, overlap=8)
    assert tiled.shape == content.shape


@pytest.fixture(scope="module")
def v2_tflite(v2, tmp_path_factory):
    """The INT8 pair, calibrated on a few synthetic images (parity is judged on the dev set in reports)."""
    from export import student_v2 as X
    from tfstyle import style_codes
    from tfstyle.models.student_v2 import TAP_NAMES

    contents = [_image(10 + i, 64, 64) for i in range(4)]
    codes = [v2.style_code(_image(20 + i, 64, 64))[0] for i in range(4)]

    def encoder():
        for c in contents:
            yield {"image": c[None]}

    def decoder():
        for i, c in enumerate(contents):
            taps = [t.numpy()[0] for t in v2.taps(c[None])]
            code = codes[i] if i % 2 else style_codes.code_of(taps)
            yield {n: x[None] for n, x in zip(TAP_NAMES, style_codes.restyle(taps, code))}

    folder = tmp_path_factory.mktemp("v2_tflite")
    paths, ops = [], []
    for role, model, calib in (("encoder", v2.encoder, encoder), ("decoder", v2.decoder, decoder)):
        buf = X.convert(model, role, calib)
        path = folder / f"{role}.tflite"
        path.write_bytes(buf)
        paths.append(str(path))
        ops.append(X.op_report(buf))
    return paths, ops


def test_int8_export_keeps_padding_integer_and_runs_without_tensorflow(v2, v2_tflite):
    from export.student_v2 import psnr
    from tfstyle.engines.lite_v2 import LiteStudentV2

    (enc_path, dec_path), ops = v2_tflite
    for report in ops:
        # reflection padding as slices + concatenations: integer, and inside XNNPACK (MIRROR_PAD is not)
        assert "MIRROR_PAD" not in report and report["CONCATENATION"] == ["INT8"]
        assert report["CONV_2D"] == ["INT8"]
    assert all(os.path.getsize(p) < 1.2e6 for p in (enc_path, dec_path))
    lite = LiteStudentV2(enc_path, dec_path)
    content, style = _image(30, 64, 64), _image(31, 64, 64)
    code_l, code_k = lite.style_code(style)[0], v2.style_code(style)[0]
    assert code_l @ code_k / np.linalg.norm(code_l) / np.linalg.norm(code_k) > 0.99
    assert lite.style_code(style) is not None and len(lite._cache) == 1  # cached per style
    out_l = lite.stylize(content[None], code_l)[0]
    assert out_l.shape == content.shape
    assert psnr(out_l, v2.stylize(content[None], code_k)[0]) > 20.0
    # the runtime path imports no TensorFlow
    code = (
        "import sys, numpy as np; from tfstyle.engines.lite_v2 import LiteStudentV2; "
        f"m = LiteStudentV2({enc_path!r}, {dec_path!r}); "
        "x = np.full((1, 40, 24, 3), 0.5, np.float32); "
        "print(m.stylize(x, m.style_code(x[0])[0], alpha=0.3).shape, 'tensorflow' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert proc.stdout.split()[-1] == "False" and "(1, 40, 24, 3)" in proc.stdout


def test_equalised_decoder_is_the_same_function_with_concat_inputs_on_one_range(v2):
    from export.student_v2 import CONCATS, equalise
    from tfstyle.models.student_v2 import TAP_NAMES

    taps = [[t.numpy() for t in v2.taps(_image(40 + k, 64, 64)[None])] for k in range(3)]
    taps[0][0] *= 0.01  # the RGB tap far below the convolutions it is concatenated with

    def calibration():
        for t in taps:
            yield dict(zip(TAP_NAMES, t))

    out = equalise(v2.decoder, calibration, v2.cfg)
    for t in taps:
        np.testing.assert_allclose(out(t).numpy(), v2.decoder(t).numpy(), rtol=1e-4, atol=1e-5)
    names = {layer.name for layer in out.layers}
    gains = {n: float(out.get_layer(f"{n}_gain").scale) for n in TAP_NAMES if f"{n}_gain" in names}
    assert gains["tap0"] > 3 * gains.get("tap1", 1.0)  # the small tap is scaled up most
    from tfstyle._keras import keras
    from tfstyle.models.student_v2 import TAP_CHANNELS

    for consumer, sources in CONCATS.items():  # every input of a concatenation now peaks alike
        probe = keras.Model(out.inputs, out.get_layer(consumer).input)
        joined = np.concatenate([probe(t).numpy() for t in taps], 0)
        start, peaks = 0, []
        for src in sources:
            width = TAP_CHANNELS[TAP_NAMES.index(src)] if src in TAP_NAMES else out.get_layer(src).filters
            peaks.append(np.abs(joined[..., start : start + width]).max())
            start += width
        assert max(peaks) / min(peaks) < 1.5, (consumer, peaks)


def test_lite_architecture_is_read_from_its_weights_and_keeps_the_full_encoder(v2_weights, v2, tmp_path):
    """The lite student: its weights say which architecture they are, its encoder is the full one
    with the 1/2 tap projected (the same MobileNet weights), and alpha 0 is still the content."""
    from tfstyle.models import student_v2 as S

    assert S.config_of(v2_weights[1]) == S.StudentV2Config()
    encoder = S.build_encoder(imagenet=False, cfg=S.LITE)
    encoder.load_weights(v2_weights[0], by_name=True, skip_mismatch=True)
    decoder = S.build_decoder(S.LITE)
    paths = str(tmp_path / "e.h5"), str(tmp_path / "d.h5")
    encoder.save_weights(paths[0])
    decoder.save_weights(paths[1])
    lite = S.StudentV2(*paths)
    assert lite.cfg == S.LITE and lite.decoder.count_params() < 0.6 * v2.decoder.count_params()
    image = _image(50, 64, 64)
    full_taps, lite_taps = v2.taps(image[None]), lite.taps(image[None])
    kernel = encoder.get_layer("tap1_proj").get_weights()[0][0, 0]  # [48, 8]
    for i in (0, 2, 3):
        np.testing.assert_allclose(lite_taps[i].numpy(), full_taps[i].numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(lite_taps[1].numpy(), full_taps[1].numpy() @ kernel, rtol=1e-4, atol=1e-4)
    code = lite.style_code(_image(51, 64, 64))
    assert code.shape == (1, S.LITE.code_dim) and S.LITE.code_dim < S.CODE_DIM
    np.testing.assert_allclose(lite.stylize(image[None], code, alpha=0.0)[0], image, atol=1e-5)
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not hdf5")
    from tfstyle.errors import WeightsError

    with pytest.raises(WeightsError, match="bad.h5"):
        S.config_of(str(bad))


def test_runtime_upsampling_is_the_keras_decoders_last_layer():
    from tfstyle._keras import keras
    from tfstyle.style_codes import upsample

    x = np.random.default_rng(0).normal(size=(1, 12, 20, 3)).astype(np.float32)
    keras_up = keras.layers.UpSampling2D(2, interpolation="bilinear")(x).numpy()[0]
    np.testing.assert_allclose(upsample(x[0], 2), keras_up, atol=1e-6)


def test_lite_distillation_trains_from_the_full_student_and_resumes(v2_weights, tmp_path):
    """``training.student_v2_lite``: from a full student's folder and a bank, trains, resumes and
    exports weights that load as the lite architecture."""
    import shutil

    from tfstyle.models import student_v2 as S

    source = tmp_path / "full"
    source.mkdir()
    shutil.copyfile(v2_weights[0], source / "student_v2_encoder.h5")
    shutil.copyfile(v2_weights[1], source / "student_v2_decoder.h5")
    bank_run = tmp_path / "bank_run"
    (bank_run / "bank").mkdir(parents=True)
    rng = np.random.default_rng(0)
    bank = {k: rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8) for k in ("content", "style", "teacher")}
    bank["target"] = rng.normal(size=(4, 4, 4, 8)).astype(np.float16)
    np.savez(bank_run / "bank" / "chunk_00000.npz", **bank)
    out = tmp_path / "lite"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    base = [sys.executable, "-m", "training.student_v2_lite", "--out", str(out), "--source", str(source)]
    base += ["--bank-run", str(bank_run), "--batch", "2", "--checkpoint-every", "1", "--quiet"]
    run_in = {"capture_output": True, "text": True, "env": env, "cwd": ROOT}
    for steps in (1, 2):
        proc = subprocess.run([*base, "--steps", str(steps)], **run_in)
        assert proc.returncode == 0, proc.stderr[-2000:]
    assert "student_v2_lite: step 2" in proc.stdout
    checkpoints = sorted(p.name for p in (out / "checkpoints").glob("ckpt-*.index"))
    assert checkpoints == ["ckpt-1.index", "ckpt-2.index"]
    assert S.config_of(str(out / "student_v2_decoder.h5")) == S.LITE
    elsewhere = [str(tmp_path / "other"), "--source", str(tmp_path / "nowhere")]
    missing = subprocess.run([*base[:4], *elsewhere, *base[7:], "--steps", "1"], **run_in)
    lines = [line for line in missing.stderr.splitlines() if not TF_LOG_LINE.match(line)]
    assert missing.returncode == 2 and len(lines) == 1 and "nowhere" in lines[0], missing.stderr


def test_training_builds_its_bank_trains_and_resumes(tmp_path, data_dir):
    out = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    base = [sys.executable, "-m", "training.student_v2", "--out", str(out), "--bank", "8", "--crop", "32"]
    base += ["--batch", "2", "--checkpoint-every", "1", "--sample-every", "100", "--quiet"]
    first = subprocess.run([*base, "--steps", "1"], capture_output=True, text=True, env=env, cwd=ROOT)
    assert first.returncode == 0, first.stderr[-2000:]
    chunks = sorted((out / "bank").glob("chunk_*.npz"))
    assert len(chunks) == 1
    bank = np.load(chunks[0])
    assert bank["teacher"].shape == (8, 32, 32, 3) and bank["target"].shape == (8, 4, 4, 512)
    assert bank["std_relu1_1"].shape == (8, 64) and (bank["std_relu1_1"] > 0).all()
    second = subprocess.run([*base, "--steps", "2"], capture_output=True, text=True, env=env, cwd=ROOT)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "student_v2: step 2" in second.stdout
    assert (out / "student_v2_encoder.h5").is_file() and (out / "student_v2_decoder.h5").is_file()


def test_bank_batches_are_pure_in_the_step_so_a_resumed_run_sees_the_same_data(tmp_path):
    """Step k's batch is the same whether the reader starts at 0 or resumes at k; every example is
    the bank's entry, flipped left-right or not."""
    from training.data import DataConfig
    from training.student_v2 import StudentV2Task

    rng = np.random.default_rng(0)
    (tmp_path / "bank").mkdir()
    n, size = 10, 8
    bank = {
        "content": rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8),
        "style": rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8),
        "teacher": rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8),
        "target": rng.normal(size=(n, 2, 2, 4)).astype(np.float16),
        "mean_relu1_1": rng.normal(size=(n, 4)).astype(np.float32),
    }
    np.savez(tmp_path / "bank" / "chunk_00000.npz", **bank)
    task = StudentV2Task(DataConfig(), bank_run=str(tmp_path))
    fresh = iter(task.dataset(4, 0))
    batches = [next(fresh) for _ in range(4)]
    resumed = next(iter(task.dataset(4, 3)))
    for key in bank:
        np.testing.assert_array_equal(resumed[key].numpy(), batches[3][key].numpy())
    flips = 0
    for step, batch in enumerate(batches):
        for i in range(4):
            j = (step * 4 + i) % n
            got = np.round(batch["content"][i].numpy() * 255).astype(np.uint8)
            flipped = np.array_equal(got, bank["content"][j][:, ::-1])
            assert flipped or np.array_equal(got, bank["content"][j])
            flips += flipped
            expect = bank["teacher"][j][:, ::-1] if flipped else bank["teacher"][j]
            np.testing.assert_array_equal(
                np.round(batch["teacher"][i].numpy() * 255).astype(np.uint8), expect
            )
            np.testing.assert_array_equal(batch["mean_relu1_1"][i].numpy(), bank["mean_relu1_1"][j])
    assert 0 < flips < 16


def test_shipped_weights_paint_the_style_and_their_int8_pair_matches_them():
    """The shipped float student and its LiteRT pair (float32 encoder, INT8 decoder): the same
    picture (dev-set parity is in the export report), the style's palette, and alpha 0 is the content."""
    from tfstyle import assets
    from tfstyle.engines.lite_v2 import LiteStudentV2
    from tfstyle.metrics import psnr
    from tfstyle.models.student_v2 import StudentV2

    keras_v2 = StudentV2(assets.STUDENT_V2_ENCODER, assets.STUDENT_V2_DECODER)
    lite = LiteStudentV2(assets.STUDENT_V2_ENCODER_TFLITE, assets.STUDENT_V2_DECODER_TFLITE)
    content = _image(20, 96, 128)
    pattern = _image(21, 96, 128)
    style = np.ascontiguousarray(pattern * np.array([0.3, 0.25, 0.1], np.float32) + [0.6, 0.45, 0.2])
    out_k = keras_v2.stylize(content[None], keras_v2.style_code(style))[0]
    out_l = lite.stylize(content[None], lite.style_code(style))[0]
    assert psnr(out_l, out_k) > 28.0
    np.testing.assert_allclose(out_k.reshape(-1, 3).mean(0), style.reshape(-1, 3).mean(0), atol=0.08)
    zero = lite.stylize(content[None], lite.style_code(style), alpha=0.0)[0]
    np.testing.assert_allclose(zero, content, atol=1e-4)


def test_threads_flag_drives_both_litert_engines():
    """``--threads`` (``get_engine(threads=)``) reaches the v2 LiteRT engine as well as v1's, in an
    instance of its own; bad counts are one-line errors."""
    import argparse

    from tfstyle.commands._common import check_threads
    from tfstyle.engines import get_engine
    from tfstyle.engines.lite import TfliteEngine
    from tfstyle.engines.lite_v2 import TfliteV2Engine
    from tfstyle.errors import TfstyleError

    for model, cls in (("tflite", TfliteEngine), ("tflite_v2", TfliteV2Engine)):
        engine = get_engine(model, threads=1)
        assert isinstance(engine, cls) and engine.threads == 1
        assert engine is not get_engine(model)  # the shared instance keeps every core
    with pytest.raises(TfstyleError, match="--threads"):
        check_threads(argparse.Namespace(model="tflite_v2", threads=0))
