"""Student v2 -> INT8 TFLite: ``python -m export.student_v2 [--ship]``.

Two full-integer graphs, post-training quantised on real train images at 384 px (the deployment
size), with the AdaIN statistics in float NumPy between them (:mod:`tfstyle.style_codes`):

* ``encoder`` (signature ``encode``): uint8 image -> the taps (float32 out: the statistics
  are taken on dequantised values);
* ``decoder`` (signature ``decode``): the AdaIN'd taps (float32 in, quantised by the graph) ->
  the uint8-quantised residual the runtime adds to the colour base (in float NumPy). Calibrated on
  taps restyled by real style codes *and* by the content's own code, so full strength and alpha 0
  both fall inside the int8 ranges.

Then parity with the Keras float model on the dev pairs (end-to-end PSNR), and the op check: every
CONCATENATION (the reflection padding) / CONV_2D / DEPTHWISE_CONV_2D in both graphs must run on int8
tensors, and no MIRROR_PAD may appear (XNNPACK does not run it).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil

import numpy as np

from tfstyle import tflite_meta
from tfstyle.files import atomic_path

DATA = os.environ.get("TFSTYLE_DATA", "../shared/data")
SIGNATURES = {"encoder": ("encode", "image"), "decoder": ("decode", "residual")}


def _encoder_fn(encoder):
    from tfstyle._keras import tf
    from tfstyle.models.student_v2 import TAP_NAMES

    spec = [tf.TensorSpec([1, None, None, 3], tf.float32, name="image")]

    def encode(image):
        taps = encoder(image, training=False)
        return {name: tf.cast(t, tf.float32) for name, t in zip(TAP_NAMES, taps)}

    return tf.function(encode, input_signature=spec)


RESIDUAL_SCALE = 2  # the exported decoder stops before its bilinear 2x upsampling (the runtime does it)


def half_residual(decoder):
    """The decoder without its last layer, the bilinear 2x upsampling of the residual: in INT8 that
    layer cost 2.2 of 13.8 ms at 384 px and dequantised four times the values; the runtime
    upsamples the float residual with the same (half-pixel) sampling instead."""
    from tfstyle._keras import keras

    return keras.Model(decoder.inputs, decoder.get_layer("to_rgb").output, name=decoder.name)


def tap_channels(model, role: str) -> tuple:
    """The taps' widths as the encoder gives them or the decoder reads them."""
    return tuple(int(t.shape[-1]) for t in (model.outputs if role == "encoder" else model.inputs))


def _decoder_fn(decoder):
    from tfstyle._keras import tf
    from tfstyle.models.student_v2 import TAP_NAMES

    channels = tap_channels(decoder, "decoder")
    spec = [tf.TensorSpec([1, None, None, c], tf.float32, name=n) for n, c in zip(TAP_NAMES, channels)]
    half = half_residual(decoder)

    def decode(tap0, tap1, tap2, tap3):
        return {"residual": half([tap0, tap1, tap2, tap3], training=False)}

    return tf.function(decode, input_signature=spec)


def metadata(role: str, variant: str, channels: tuple) -> dict:
    from tfstyle.models.student_v2 import MULTIPLE, TAP_NAMES
    from tfstyle.style_codes import code_dim

    key, _ = SIGNATURES[role]
    extra = {"residual_scale": RESIDUAL_SCALE} if role == "decoder" else {}
    return {
        "format": tflite_meta.FORMAT,
        "role": role,
        "variant": variant,
        "signature": key,
        "inputs": ["image"] if role == "encoder" else list(TAP_NAMES),
        "output": TAP_NAMES[-1] if role == "encoder" else "residual",
        "taps": list(TAP_NAMES),
        "tap_channels": list(channels),
        "style_dim": code_dim(channels),
        "multiple": MULTIPLE,
        "image": "RGB, NHWC, batch 1, any height and width (multiples of 8); uint8 0..255",
        "code": "per tap mean then std per channel, then the RGB colouring matrix (float32); AdaIN between",
        **extra,
    }


def convert(model, role: str, calibration, variant: str = "int8") -> bytes:
    from tfstyle._keras import tf
    from tfstyle.models.layers import sliced_reflection

    fn = (_encoder_fn if role == "encoder" else _decoder_fn)(model)
    with sliced_reflection():  # no MIRROR_PAD: it would fall outside XNNPACK
        concrete = fn.get_concrete_function()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], model)
    if variant in ("int8", "int16x8"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = calibration
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.TFLITE_BUILTINS_INT8
            if variant == "int8"
            else tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
        ]
        if variant == "int8" and role == "encoder":
            converter.inference_input_type = tf.uint8
        elif variant == "int8":
            converter.inference_output_type = tf.uint8
    buf = converter.convert()
    meta = metadata(role, variant, tap_channels(model, role))
    return tflite_meta.add_metadata(buf, meta, signature_key=SIGNATURES[role][0])


OVERDRIVE = 1.3  # strength of the headroom samples in the decoder's calibration

# the decoder's concatenations: the convolution that reads each, and its inputs in order
CONCATS = {"dec4b": ("dec4a", "tap2"), "dec2b": ("dec2a", "tap1", "tap0")}


def equalise(decoder, calibration, cfg):
    """The same function as ``decoder`` with the inputs of each concatenation spanning equal ranges.

    Why: an INT8 concatenation quantises all its inputs on one scale. The RGB tap (0..1.4) shared a
    scale set by a convolution's output (0..54) and sat on steps of 0.27, a few levels for all its
    colour; stronger styles then lost up to 7 dB of parity in bright regions. A convolution's output
    is scaled in its kernel and bias (ReLU commutes with a positive scale), a tap by a Rescaling on
    entry, and the convolution that reads the concatenation takes the inverse on those kernel rows.
    Peaks are the float model's largest magnitudes on the calibration inputs."""
    from tfstyle._keras import keras
    from tfstyle.models.student_v2 import TAP_NAMES, build_decoder

    convs = [src for sources in CONCATS.values() for src in sources if src not in TAP_NAMES]
    probe = keras.Model(decoder.inputs, [decoder.get_layer(n).output for n in convs])
    peaks: dict[str, float] = {}
    for feed in calibration():
        taps = [feed[n] for n in TAP_NAMES]
        values = list(zip(convs, probe(taps, training=False))) + list(zip(TAP_NAMES, taps))
        for name, x in values:
            peaks[name] = max(peaks.get(name, 0.0), float(np.max(np.abs(x))))
    gains = {}
    for sources in CONCATS.values():
        top = max(peaks[src] for src in sources)
        gains.update({src: top / max(peaks[src], 1e-6) for src in sources})
    out = build_decoder(cfg, tap_gains=tuple(gains.get(n, 1.0) for n in TAP_NAMES))
    for layer in out.layers:
        if not layer.weights or layer.name.endswith("_gain"):
            continue
        weights = [w.copy() for w in decoder.get_layer(layer.name).get_weights()]
        if layer.name in gains:  # kernel and bias
            weights = [w * gains[layer.name] for w in weights]
        if layer.name in CONCATS:
            start = 0
            for src in CONCATS[layer.name]:
                width = decoder.get_layer(src).output.shape[-1]
                weights[0][:, :, start : start + width, :] /= gains[src]
                start += width
        layer.set_weights(weights)
    return out


def calibration_sets(student, root: str, count: int, size: int) -> dict:
    """Representative inputs per role from ``count`` train contents and styles at ``size`` px."""
    from export.calibration import _images
    from tfstyle import style_codes
    from tfstyle.models.student_v2 import MULTIPLE, TAP_NAMES
    from tfstyle.tiling import pad_to_multiple

    contents = [
        pad_to_multiple(c[None], MULTIPLE)[0] for c in _images(os.path.join(root, "content"), count, size)
    ]
    styles = _images(os.path.join(root, "style"), count, size)
    codes = [student.style_code(s)[0] for s in styles]

    def taps(image):
        return [t[0].numpy() for t in student.taps(image[None])]

    def encoder():
        for image in contents + [pad_to_multiple(s[None], MULTIPLE)[0] for s in styles[: count // 2]]:
            yield {"image": image[None]}

    def decoder():
        for i, image in enumerate(contents):
            t = taps(image)
            own = style_codes.code_of(t)
            code = codes[i % len(codes)] if i % 4 else own  # every 4th: alpha 0
            if i % 4 == 2:  # and one in 4 past full strength: headroom for styles stronger than these
                code = style_codes.mix(code, own, OVERDRIVE)
            yield {n: x[None] for n, x in zip(TAP_NAMES, style_codes.restyle(t, code))}

    return {"encoder": encoder, "decoder": decoder}


def op_report(buf: bytes) -> dict:
    """Per builtin op: the dtypes of its first input (the check that padding stays integer)."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(bytearray(buf), 0)
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    types = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    report: dict[str, set] = {}
    for graph in model.subgraphs:
        for op in graph.operators:
            code = model.operatorCodes[op.opcodeIndex]
            name = names.get(max(code.builtinCode, code.deprecatedBuiltinCode), "?")
            dtype = types[graph.tensors[op.inputs[0]].type] if len(op.inputs) else "-"
            report.setdefault(name, set()).add(dtype)
    return {k: sorted(v) for k, v in sorted(report.items())}


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(1.0 / mse)


def parity(student, lite, size: int = 384, every: int = 1) -> dict:
    """End-to-end PSNR of the LiteRT pair against Keras float on every dev pair, at alpha 1 and 0."""
    from tfstyle.images import load_image

    folder = os.path.join(DATA, "dev")
    contents = [
        load_image(os.path.join(folder, "content", n), size=size)
        for n in sorted(os.listdir(os.path.join(folder, "content")))[::every]
    ]
    styles = [
        load_image(os.path.join(folder, "style", n), size=size)
        for n in sorted(os.listdir(os.path.join(folder, "style")))
    ]
    full, zero, code_cos = [], [], []
    for s in styles:
        code_k, code_l = student.style_code(s)[0], lite.style_code(s)[0]
        code_cos.append(float(code_k @ code_l / np.linalg.norm(code_k) / np.linalg.norm(code_l)))
        for c in contents:
            full.append(psnr(lite.stylize(c[None], code_l)[0], student.stylize(c[None], code_k)[0]))
    for c in contents:
        zero.append(
            psnr(lite.stylize(c[None], code_l, alpha=0.0)[0], student.stylize(c[None], code_k, alpha=0.0)[0])
        )
    return {
        "psnr_alpha1_mean": float(np.mean(full)),
        "psnr_alpha1_min": float(np.min(full)),
        "psnr_alpha0_mean": float(np.mean(zero)),
        "code_cosine_min": float(np.min(code_cos)),
        "pairs": len(full),
    }


def restore_run(student, run_dir: str, out: str) -> None:
    """Load a training run's latest checkpoint into ``student`` and save it as float16 .h5 in ``out``."""
    from tfstyle._keras import tf
    from tfstyle.errors import TfstyleError
    from tfstyle.models.io import save_weights_float16

    latest = tf.train.latest_checkpoint(os.path.join(run_dir, "checkpoints"))
    if latest is None:
        raise TfstyleError(f"{run_dir}: no checkpoints to export")
    tf.train.Checkpoint(encoder=student.encoder, decoder=student.decoder).restore(latest).expect_partial()
    os.makedirs(out, exist_ok=True)
    save_weights_float16(student.encoder, os.path.join(out, "student_v2_encoder.h5"))
    save_weights_float16(student.decoder, os.path.join(out, "student_v2_decoder.h5"))
    print(f"{latest} -> {out}/student_v2_{{encoder,decoder}}.h5")


def main(argv: list[str] | None = None) -> int:
    from tfstyle.assets import (
        STUDENT_V2_DECODER,
        STUDENT_V2_DECODER_TFLITE,
        STUDENT_V2_ENCODER,
        STUDENT_V2_ENCODER_TFLITE,
    )
    from tfstyle.engines.lite_v2 import LiteStudentV2
    from tfstyle.models.student_v2 import LITE, StudentV2

    p = argparse.ArgumentParser(prog="python -m export.student_v2", description=__doc__)
    p.add_argument("--encoder", default=STUDENT_V2_ENCODER)
    p.add_argument("--decoder", default=STUDENT_V2_DECODER)
    p.add_argument("--out", default="export/out")
    p.add_argument("--calibration", type=int, default=32, help="train images per role")
    p.add_argument("--size", type=int, default=384)
    p.add_argument("--every", type=int, default=1, help="parity on every N-th dev content (all styles)")
    p.add_argument(
        "--from-run",
        help="a training --out folder: convert its latest checkpoint (also saved as .h5 in --out)",
    )
    p.add_argument(
        "--lite", action="store_true", help="with --from-run: the run trained the lite architecture"
    )
    p.add_argument("--ship", action="store_true", help="copy the INT8 pair into tfstyle/assets")
    args = p.parse_args(argv)
    if args.from_run:
        student = StudentV2(None, None, LITE if args.lite else None)
        restore_run(student, args.from_run, args.out)
    else:
        student = StudentV2(args.encoder, args.decoder)
    calib = calibration_sets(student, os.path.join(DATA, "train"), args.calibration, args.size)
    os.makedirs(args.out, exist_ok=True)
    paths, ops = {}, {}
    for role, model, variant in (
        ("encoder", student.encoder, "float32"),
        ("encoder", student.encoder, "int8"),
        ("decoder", student.decoder, "int8"),
    ):
        if role == "decoder":
            model = equalise(model, calib[role], student.cfg)
        buf = convert(model, role, calib[role], variant)
        key = f"{role}_{variant}"
        paths[key] = os.path.join(args.out, f"student_v2_{key}.tflite")
        with atomic_path(paths[key]) as tmp, open(tmp, "wb") as fh:
            fh.write(buf)
        ops[key] = op_report(buf)
        print(f"{paths[key]}: {len(buf) / 1e6:.3f} MB, ops {json.dumps(ops[key])}")
    report = {"ops": ops, "bytes": {k: os.path.getsize(p) for k, p in paths.items()}, "parity": {}}
    for encoder in ("encoder_float32", "encoder_int8"):
        lite = LiteStudentV2(paths[encoder], paths["decoder_int8"])
        report["parity"][f"{encoder}+decoder_int8"] = result = parity(student, lite, args.size, args.every)
        print(encoder, "+ decoder_int8:", json.dumps(result))
    with atomic_path(os.path.join(args.out, "student_v2_parity.json")) as tmp, open(tmp, "w") as fh:
        json.dump(report, fh, indent=1)
    if args.ship:
        for key, dst in (
            ("encoder_float32", STUDENT_V2_ENCODER_TFLITE),
            ("decoder_int8", STUDENT_V2_DECODER_TFLITE),
        ):
            shutil.copyfile(paths[key], dst)
            print(f"shipped {dst}")
    return 0


if __name__ == "__main__":
    from tfstyle.errors import guarded

    raise SystemExit(guarded("export", main))
