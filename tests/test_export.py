"""TFLite export and the LiteRT runner: metadata, parity with Keras, integer graph, errors,
reproducibility, and a runtime that never imports TensorFlow.

The student is built as distillation starts (ImageNet predictor, seeded transformer) and saved to
h5 files: the properties tested here do not depend on training.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from tfstyle import cli, tflite_meta
from tfstyle.errors import WeightsError
from tfstyle.images import load_image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def weights(student_weights) -> tuple[str, str]:
    return student_weights


@pytest.fixture(scope="module")
def student(weights):
    from tfstyle.models.student import Student

    return Student(*weights)


@pytest.fixture(scope="module")
def images(student_images):
    return student_images


def _calibration(student, images):
    content, a, b = images
    from tfstyle.models.student import MULTIPLE
    from tfstyle.tiling import pad_to_multiple

    vectors = [student.style_vector(s)[0] for s in (a, b)]

    def predictor():
        for s in (a, b):
            yield {"style_image": s[None]}

    def transformer():
        for v in vectors:
            yield {"content_image": pad_to_multiple(content[None], MULTIPLE), "style_vector": v[None]}

    return {"predictor": predictor, "transformer": transformer}


@pytest.fixture(scope="module")
def exported(student, images, tmp_path_factory) -> dict:
    """float32 and post-training INT8 files of both models: {variant: (predictor, transformer)}."""
    from export.convert import convert

    folder = tmp_path_factory.mktemp("tflite")
    calibration = _calibration(student, images)
    files = {}
    for variant in ("float32", "ptq_int8"):
        pair = []
        for role, model in (("predictor", student.predictor), ("transformer", student.transformer)):
            path = folder / f"{role}_{variant}.tflite"
            path.write_bytes(convert(model, variant, calibration[role]))
            pair.append(str(path))
        files[variant] = tuple(pair)
    return files


def test_metadata_and_named_signatures(exported):
    from ai_edge_litert.interpreter import Interpreter

    p, t = exported["float32"]
    meta = tflite_meta.read_metadata(open(t, "rb").read())
    assert meta["role"] == "transformer" and meta["style_dim"] == 64 and meta["multiple"] == 8
    assert meta["variant"] == "float32" and meta["signature"] == "stylize"
    sigs = Interpreter(model_path=t).get_signature_list()
    assert sigs == {"stylize": {"inputs": ["content_image", "style_vector"], "outputs": ["stylized_image"]}}
    sigs = Interpreter(model_path=p).get_signature_list()
    assert sigs == {"predict_style": {"inputs": ["style_image"], "outputs": ["style_vector"]}}
    assert tflite_meta.read_metadata(open(p, "rb").read())["role"] == "predictor"


def test_runner_matches_keras_at_an_odd_size(student, exported, images):
    from tfstyle.runtime import LiteStudent

    content, a, _ = images
    lite = LiteStudent(*exported["float32"], threads=1)
    v_keras, v_lite = student.style_vector(a), lite.style_vector(a)
    np.testing.assert_allclose(v_lite, v_keras, rtol=1e-3, atol=1e-3)
    out_keras, out_lite = student.stylize(content, v_keras), lite.stylize(content, v_keras)
    assert out_lite.shape == (1, 67, 101, 3) == out_keras.shape
    np.testing.assert_allclose(out_lite, out_keras, atol=2e-3)


def test_engine_options_match_the_keras_student_engine(student, exported, images):
    import tfstyle
    from tfstyle.engines.student import StudentEngine
    from tfstyle.runtime import LiteStudent, TfliteEngine

    content, a, b = images
    lite = TfliteEngine(student=LiteStudent(*exported["float32"]))
    keras_engine = StudentEngine(student=student)
    opts = {"weights": [0.6, 0.4], "alpha": 0.7, "preserve_color": "luminance"}
    ours = tfstyle.stylize(content, [a, b], engine=lite, **opts)
    ref = tfstyle.stylize(content, [a, b], engine=keras_engine, **opts)
    assert ours.shape == content.shape
    np.testing.assert_allclose(ours, ref, atol=3e-3)
    mask = np.zeros(content.shape[:2], np.float32)
    mask[:, :50] = 1
    masked = tfstyle.stylize(content, a, engine=lite, masks=mask, feather=0, tile=32, overlap=8)
    np.testing.assert_allclose(masked[:, 50:], content[:, 50:], atol=1e-6)


def test_integer_variant_is_integer_end_to_end(exported, images):
    from ai_edge_litert.interpreter import Interpreter

    from tfstyle.runtime import LiteStudent

    _, t = exported["ptq_int8"]
    it = Interpreter(model_path=t)
    io = it.get_input_details() + it.get_output_details()
    assert all(d["dtype"] == np.uint8 for d in io)
    float_tensors = [d["name"] for d in it.get_tensor_details() if d["dtype"] == np.float32]
    assert not float_tensors, f"float tensors in the INT8 graph: {float_tensors[:5]}"
    content, a, _ = images
    lite = LiteStudent(*exported["ptq_int8"])
    out = lite.stylize(content, lite.style_vector(a))
    assert out.shape == (1, 67, 101, 3) and 0.0 <= out.min() and out.max() <= 1.0


class _Counting:
    def __init__(self, model):
        self.model, self.calls = model, 0

    def __call__(self, **inputs):
        self.calls += 1
        return self.model(**inputs)


def test_style_vectors_are_cached_per_image(exported, images):
    from tfstyle.runtime import LiteStudent

    _, a, b = images
    lite = LiteStudent(*exported["float32"], cache_size=1)
    lite.predictor = counting = _Counting(lite.predictor)
    first = lite.style_vector(a)
    np.testing.assert_array_equal(lite.style_vector(a.copy()), first)  # same pixels: from the cache
    assert counting.calls == 1
    lite.style_vector(b)
    lite.style_vector(a)  # evicted by b (a cache of one): computed again
    assert counting.calls == 3


def test_float32_export_is_byte_reproducible(weights, student):
    from export.convert import convert
    from tfstyle.models.student import Student

    again = Student(*weights)  # same weight files, freshly built models
    assert convert(student.transformer, "float32") == convert(again.transformer, "float32")
    assert convert(student.predictor, "float32") == convert(again.predictor, "float32")


def test_bad_tflite_files_give_one_line_errors(exported, tmp_path):
    from tfstyle.runtime import LiteModel, LiteStudent

    p, t = exported["float32"]
    truncated = tmp_path / "truncated.tflite"
    truncated.write_bytes(open(t, "rb").read()[:5000])
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a model at all" * 10)
    bare = tmp_path / "bare.tflite"  # a valid TFLite model that tfstyle did not export
    buf = bytearray(open(t, "rb").read())
    bare.write_bytes(bytes(buf).replace(b'"format"', b'"formxt"'))
    cases = {
        truncated: "truncated.tflite: ",
        junk: "junk.tflite: not a TFLite flatbuffer",
        bare: "bare.tflite: unsupported tfstyle metadata",
        tmp_path / "missing.tflite": "missing.tflite: TFLite model not found",
    }
    for path, message in cases.items():
        with pytest.raises(WeightsError) as info:
            LiteModel(path)
        assert message in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(WeightsError, match="this is a style predictor, expected a style transformer"):
        LiteStudent(p, p)


def test_cli_model_tflite(exported, images, tmp_path, monkeypatch, capsys):
    from PIL import Image

    content, a, _ = images
    for name, image in (("c.png", content), ("s.png", a)):
        Image.fromarray((image * 255).round().astype(np.uint8)).save(tmp_path / name)
    monkeypatch.setenv("TFSTYLE_TFLITE_PREDICTOR", exported["ptq_int8"][0])
    monkeypatch.setenv("TFSTYLE_TFLITE_TRANSFORMER", exported["ptq_int8"][1])
    argv = ["stylize", str(tmp_path / "c.png"), str(tmp_path / "s.png"), "-o", str(tmp_path / "o.png")]
    assert cli.main([*argv, "--model", "tflite", "--threads", "1", "--alpha", "0.8"]) == 0
    assert load_image(tmp_path / "o.png").shape == content.shape

    corrupt = tmp_path / "corrupt.tflite"
    corrupt.write_bytes(b"\0" * 64)
    monkeypatch.setenv("TFSTYLE_TFLITE_TRANSFORMER", str(corrupt))
    capsys.readouterr()
    rc = cli.main([*argv[:-1], str(tmp_path / "o2.png"), "--model", "tflite"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "corrupt.tflite" in err[0]
    assert not (tmp_path / "o2.png").exists()


def test_runtime_never_imports_tensorflow(exported, images, tmp_path):
    content, a, _ = images
    np.save(tmp_path / "c.npy", content)
    np.save(tmp_path / "s.npy", a)
    code = f"""
import sys
import numpy as np
import tfstyle.runtime as rt
assert "tensorflow" not in sys.modules
out = rt.stylize(np.load({str(tmp_path / "c.npy")!r}), np.load({str(tmp_path / "s.npy")!r}), alpha=0.5,
                 engine=rt.TfliteEngine(*{exported["ptq_int8"]!r}, threads=1))
assert out.shape == (67, 101, 3), out.shape
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "tf_keras", "keras"))
print("HEAVY", heavy)
"""
    env = {**os.environ, "PYTHONPATH": ROOT}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "HEAVY []" in proc.stdout


def test_quantized_model_wraps_every_layer_and_converts_to_int8(student, images):
    from export.convert import convert
    from export.quantize import calibrate_ranges, qat_model

    qat = qat_model(student.transformer)
    calibration = _calibration(student, images)["transformer"]
    calibrate_ranges(qat, calibration)
    names = [layer.name for layer in qat.layers]
    assert any(n.startswith("quant_film0_scale") for n in names) and any("to_signed" in n for n in names)
    buf = convert(qat, "int8", calibration)
    assert tflite_meta.read_metadata(buf)["variant"] == "int8"
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=buf)
    ops = [op["op_name"] for op in interpreter._get_ops_details()]
    assert "DEQUANTIZE" not in ops  # no float island: the phone path stays integer
    content = next(d for d in interpreter.get_input_details() if "content" in d["name"])
    scale, zero_point = content["quantization"]
    assert abs(scale - 1 / 255) < 1e-9 and zero_point == 0  # uint8 input is the pixel itself


def test_integer_input_map_keeps_the_function(student, images):
    """x - 128/255 into a doubled first kernel equals 2x - 1 into the original one, except where
    the convolution reads the zero padding."""
    from export.quantize import integer_input
    from tfstyle.models.student import MULTIPLE
    from tfstyle.tiling import pad_to_multiple

    content, a, _ = images
    x = pad_to_multiple(content[None], MULTIPLE)
    v = student.style_vector(a)
    before = student.transformer([x, v], training=False).numpy()
    after = integer_input(student.transformer)([x, v], training=False).numpy()
    assert np.abs(after - before)[:, :-16, :-16].max() < 1e-4
    assert np.abs(after - before).max() < 2e-2
    vectors = student.predictor(a[None]).numpy(), integer_input(student.predictor)(a[None]).numpy()
    assert np.allclose(*vectors, atol=1e-2)
    assert integer_input(student.transformer).get_layer("to_signed").get_config()["offset"] == -128 / 255


def test_calibrated_ranges_cover_the_data_and_track_the_float_model(student, images):
    """tfmot starts ranges at [-6, 6]; calibration sets each to the data's own min/max, which
    brings the fake-quantised transformer far closer to the float one."""
    from export.quantize import RANGE_VARIABLE, calibrate_ranges, qat_model
    from tfstyle.metrics import psnr
    from tfstyle.models.student import MULTIPLE
    from tfstyle.tiling import pad_to_multiple

    content, a, _ = images
    x = pad_to_multiple(content[None], MULTIPLE)
    v = student.style_vector(a)
    reference = student.transformer([x, v], training=False).numpy()

    def error(model) -> float:
        return float(psnr(np.clip(model([x, v], training=False).numpy(), 0, 1), np.clip(reference, 0, 1)))

    qat = qat_model(student.transformer)
    fresh = error(qat)
    count = calibrate_ranges(qat, _calibration(student, images)["transformer"])
    ranges = {w.name: w.numpy() for w in qat.variables if RANGE_VARIABLE.search(w.name)}
    assert count == len(ranges) > 20
    input_ranges = {
        (float(ranges[n]), float(ranges[n.replace("_min:0", "_max:0")]))
        for n in ranges
        if "quantize_layer" in n and n.endswith("_min:0")
    }
    assert (0.0, 1.0) in input_ranges  # the content image: the full uint8 range, pixel for pixel
    assert all(np.all(r != -6.0) for n, r in ranges.items() if n.endswith("_min:0"))  # none left at init
    assert error(qat) > fresh + 10.0


def test_qat_training_keeps_activation_ranges_and_tracks_weight_ranges(student, images):
    """Inside kept_activation_ranges a training call leaves every calibrated activation/input range
    alone while weight ranges follow the weights; outside it, tfmot moves them."""
    from export.quantize import RANGE_VARIABLE, calibrate_ranges, kept_activation_ranges, qat_model
    from tfstyle.models.student import MULTIPLE
    from tfstyle.tiling import pad_to_multiple

    content, a, _ = images
    qat = qat_model(student.transformer)
    calibrate_ranges(qat, _calibration(student, images)["transformer"])
    ranges = [v for v in qat.variables if RANGE_VARIABLE.search(v.name)]
    kernel = [v for v in ranges if "kernel_" in v.name]
    activation = [v for v in ranges if "kernel_" not in v.name]
    assert kernel and activation

    def snapshot(variables):
        return [v.numpy().copy() for v in variables]

    conv = next(w for w in qat.get_layer("quant_stem_conv").trainable_weights if "kernel" in w.name)
    conv.assign(conv * 1.5)  # as if the optimiser had grown the kernel
    x = pad_to_multiple(content[None], MULTIPLE) * 0.5  # a batch with a narrower range than calibration
    v = 3.0 * student.style_vector(a)  # and a wider one
    calibrated = snapshot(activation)
    with kept_activation_ranges():
        qat([x, v], training=True)
    assert all(np.array_equal(a, b) for a, b in zip(calibrated, snapshot(activation)))
    stem_max = next(w for w in qat.variables if w.name == "quant_stem_conv/kernel_max:0")
    assert np.allclose(stem_max.numpy(), np.abs(conv.numpy()).max(axis=(0, 1, 2)), rtol=1e-5)
    qat([x, v], training=True)  # plain tfmot training mode does move them
    assert not all(np.array_equal(a, b) for a, b in zip(calibrated, snapshot(activation)))


def test_parity_check_fails_loudly_below_thresholds():
    from export import parity

    good = {"int8": {"psnr": 33.0, "ssim": 0.97}}
    assert parity.check(good) == []
    bad = parity.check({"int8": {"psnr": 28.0, "ssim": 0.97}})
    assert bad == ["int8 transformer psnr 28.0 < 30.0"]
    assert parity.check({}) != []


def test_qat_task_steps_lower_its_loss_and_keep_calibrated_ranges(weights, data_dir):
    """The QAT task as ``python -m export.qat`` runs it: calibrated at build, a few optimiser steps
    on a fixed batch lower the distillation loss against the float student, and no activation
    range moves from its calibration."""
    from export.calibration import Calibration
    from export.qat import QatTask
    from export.quantize import RANGE_VARIABLE
    from tfstyle._keras import keras, tf
    from training.data import DataConfig, pair_dataset

    data = DataConfig(root=str(data_dir / "train"), crop=64)
    task = QatTask(
        data,
        stage=2,
        predictor_weights=weights[0],
        transformer_weights=weights[1],
        calibration=Calibration(str(data_dir / "train"), count=2, size=64),
    )
    task.build()
    activation = [
        v
        for model in (task.predictor, task.transformer)
        for v in model.variables
        if RANGE_VARIABLE.search(v.name) and "kernel_" not in v.name
    ]
    calibrated = [v.numpy().copy() for v in activation]
    batch = next(iter(pair_dataset(data, 2)[0]))
    variables = task.trainable_variables()
    opt = keras.optimizers.Adam(1e-4)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            total = task.losses(batch, training=True)["total"]
        opt.apply_gradients(zip(tape.gradient(total, variables), variables))
        return total

    before = float(step())
    for _ in range(4):
        after = float(step())
    assert after < before
    assert all(np.array_equal(v.numpy(), c) for v, c in zip(activation, calibrated))


def test_parity_report_compares_qat_with_ptq_pair_by_pair():
    from export import parity

    def row(psnr, ssim):
        return {
            "psnr": float(np.mean(psnr)),
            "min_psnr": min(psnr),
            "ssim": float(np.mean(ssim)),
            "cosine": 0.99,
            "e2e_psnr": 40.0,
            "e2e_ssim": 0.99,
            "pairs": 3,
            "per_pair": {"psnr": psnr, "ssim": ssim},
        }

    results = {
        "int8": row([47.0, 46.0, 45.0], [0.995, 0.99, 0.98]),
        "ptq_int8": row([46.0, 45.5, 45.2], [0.99, 0.991, 0.98]),
    }
    text = parity.report(results, 384)
    assert "QAT is better on both; QAT is ahead on 2/3 pairs in PSNR and 1/3 in SSIM" in text
    results["int8"] = row([45.0, 45.0, 45.0], [0.995, 0.995, 0.995])
    assert "QAT is NOT better on both" in parity.report(results, 384)


def test_a_qat_run_from_other_float_weights_is_not_resumed(tmp_path):
    """Retraining the float student must not let ``export`` reuse the old student's QAT run."""
    from export.qat import FLOAT_STAMP, check_float_source
    from tfstyle._keras import tf
    from tfstyle.errors import TfstyleError

    pred, trans = tmp_path / "p.h5", tmp_path / "t.h5"
    pred.write_bytes(b"predictor v1")
    trans.write_bytes(b"transformer v1")
    run = tmp_path / "qat"
    check_float_source(str(run), str(pred), str(trans))  # fresh: records the weights
    assert (run / FLOAT_STAMP).is_file()
    tf.train.Checkpoint(step=tf.Variable(1)).save(str(run / "checkpoints" / "ckpt"))
    check_float_source(str(run), str(pred), str(trans))  # same weights: resumes
    trans.write_bytes(b"transformer v2")
    with pytest.raises(TfstyleError, match="started from other float weights, not .*p.h5 and .*t.h5"):
        check_float_source(str(run), str(pred), str(trans))
    (run / FLOAT_STAMP).unlink()
    with pytest.raises(TfstyleError, match="started from unrecorded float weights"):
        check_float_source(str(run), str(pred), str(trans))


def test_lite_models_use_every_core_unless_told(exported):
    """LiteRT's own default is one thread; ``threads=None`` (what --threads leaves) means every core."""
    import os

    from tfstyle.engines.lite import LiteStudent

    assert LiteStudent(*exported["float32"]).transformer.threads == (os.cpu_count() or 1)
    assert LiteStudent(*exported["float32"], threads=1).transformer.threads == 1
