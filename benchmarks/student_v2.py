"""Student v2 on the dev set: ``python -m benchmarks.student_v2 {check,sheets,latency,sweep}``.

* ``check``: alpha 1 and alpha 0 of the float (and INT8) v2 student against the teacher and the
  shipped student at 384 px: mean/std style distance, content SSIM, border ratio and grid (when
  ``tfstyle.metrics`` has them), alpha-0 SSIM against the content. Quick, for choosing checkpoints.
* ``sheets``: one contact sheet per dev style, 256 px cells: content, style, teacher, shipped
  student INT8, v2 float, v2 INT8, Magenta INT8 -> ``docs/img/student_v2/<style>.jpg``.
* ``latency``: what runs per photo at 384 px on 1 thread, v2 INT8 (encoder + float AdaIN +
  decoder) against Magenta INT8's transfer network, interleaved in the same run; prints the load.
* ``artifacts``: border ratio and grid of every method's full-strength sweep images, and the v2
  engines' alpha-0 content SSIM on every dev content.
* ``sweep``: :mod:`benchmarks.sweep` (strength sweep read at Magenta's content SSIM) with the v2
  engines beside the shipped ones.

Weights: ``--encoder/--decoder`` (.h5) and ``--tflite-encoder/--tflite-decoder`` default to the
shipped ones (``tfstyle/assets``); the engines read the same ``TFSTYLE_*`` variables.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from benchmarks.devset import dev_files, stem

SIZE = 384


def _set_paths(args) -> None:
    """Point the v2 engines at the weights under test (the engines read these variables)."""
    for var, value in (
        ("TFSTYLE_STUDENT_V2_ENCODER", args.encoder),
        ("TFSTYLE_STUDENT_V2_DECODER", args.decoder),
        ("TFSTYLE_TFLITE_V2_ENCODER", args.tflite_encoder),
        ("TFSTYLE_TFLITE_V2_DECODER", args.tflite_decoder),
    ):
        if value:
            os.environ[var] = os.path.abspath(value)


def _methods(names):
    import tfstyle

    out = {}
    for name in names:
        if name == "magenta":
            from benchmarks.magenta import Magenta

            magenta = Magenta(threads=2)
            out[name] = lambda c, s, a, m=magenta: m.stylize(c, s)
        else:
            out[name] = lambda c, s, a, e=name: tfstyle.stylize(c, s, engine=e, alpha=a)
    return out


def _metric_fns():
    from tfstyle import metrics

    fns = {"content_ssim": lambda out, c, s: metrics.content_ssim(out, c)}
    fns["style_mean_std"] = lambda out, c, s: metrics.style_distance(out, s)["mean_std"]
    for name in ("border_ratio", "grid_db"):
        metric = getattr(metrics, name, None)
        if metric is not None:
            fns[name] = lambda out, c, s, f=metric: f(out)
    return fns


def check(args) -> dict:
    from tfstyle.images import load_image

    names = args.methods.split(",")
    methods = _methods(names)
    fns = _metric_fns()
    contents, styles = dev_files()
    contents = contents[:: args.every]
    scores: dict[str, dict[str, list]] = {m: {} for m in names}
    zero: dict[str, list] = {m: [] for m in names if m.endswith("_v2")}
    style_images = {s: load_image(s, size=SIZE) for s in styles}
    for c in contents:
        content = load_image(c, size=SIZE)
        for m in zero:
            zero[m].append(
                fns["content_ssim"](methods[m](content, style_images[styles[0]], 0.0), content, None)
            )
        for s in styles:
            for m, fn in methods.items():
                out = fn(content, style_images[s], 1.0)
                for key, metric in fns.items():
                    scores[m].setdefault(key, []).append(metric(out, content, style_images[s]))
    result = {m: {k: float(np.mean(v)) for k, v in d.items()} for m, d in scores.items()}
    for m, values in zero.items():
        result[m]["alpha0_ssim"] = float(np.mean(values))
        result[m]["alpha0_ssim_min"] = float(np.min(values))
    for m, d in scores.items():
        if "border_ratio" in d:
            result[m]["border_ratio_max"] = float(np.max(d["border_ratio"]))
    print(json.dumps(result, indent=1))
    return result


def sheets(args) -> None:
    from PIL import Image

    from tfstyle.images import load_image, resize
    from tfstyle.sheets import contact_sheet

    names = ["teacher", "tflite", "student_v2", "tflite_v2", "magenta"]
    titles = ["content", "style", "teacher", "student v1 INT8", "student v2", "v2 INT8", "Magenta INT8"]
    methods = _methods(names)
    contents, styles = dev_files()
    contents = contents[:: args.every]
    os.makedirs(args.sheet_dir, exist_ok=True)
    for s in styles:
        style = load_image(s, size=SIZE)
        rows = []
        for c in contents:
            content = load_image(c, size=SIZE)
            rows.append([content, resize(style, 256)] + [methods[m](content, style, 1.0) for m in names])
        sheet = contact_sheet(rows, titles, None, cell=256, row_labels=[stem(c) for c in contents])
        path = os.path.join(args.sheet_dir, f"{stem(s)}.jpg")
        Image.fromarray(sheet).save(path, quality=85)
        print(path)


def latency(args) -> dict:
    """Median ms per photo, v2 INT8 and Magenta INT8 transfer interleaved (same load for both)."""
    from benchmarks.magenta import Magenta, _resize
    from tfstyle.engines.lite_v2 import LiteStudentV2
    from tfstyle.images import load_image

    contents, styles = dev_files()
    content = load_image(contents[0], size=SIZE)
    style = load_image(styles[0], size=SIZE)
    lite = LiteStudentV2(args.tflite_encoder, args.tflite_decoder, threads=1)
    magenta = Magenta(threads=1)
    fixed = _resize(content, magenta.content_size)
    code, vector = lite.style_code(style)[0], magenta.style_vector(style)
    square = _resize(content, (SIZE, SIZE))  # the same pixels Magenta gets
    for _ in range(2):  # warm-up
        lite.stylize(square[None], code)
        magenta.run_transfer(fixed, vector)
    ours, theirs, ours_cpu, theirs_cpu = [], [], [], []
    load_before = open("/proc/loadavg").read().split()[:3]
    for _ in range(args.repeats):  # wall and CPU time: under load, CPU time is the fairer figure
        t0, c0 = time.perf_counter(), time.process_time()
        lite.stylize(square[None], code)
        ours.append(time.perf_counter() - t0)
        ours_cpu.append(time.process_time() - c0)
        t0, c0 = time.perf_counter(), time.process_time()
        magenta.run_transfer(fixed, vector)
        theirs.append(time.perf_counter() - t0)
        theirs_cpu.append(time.process_time() - c0)
    load_after = open("/proc/loadavg").read().split()[:3]
    result = {
        "v2_int8_ms": 1000 * float(np.median(ours)),
        "magenta_int8_transfer_ms": 1000 * float(np.median(theirs)),
        "ratio": float(np.median(ours) / np.median(theirs)),
        "v2_int8_cpu_ms": 1000 * float(np.median(ours_cpu)),
        "magenta_int8_transfer_cpu_ms": 1000 * float(np.median(theirs_cpu)),
        "cpu_ratio": float(np.median(ours_cpu) / np.median(theirs_cpu)),
        "size": SIZE,
        "threads": 1,
        "load_before": " ".join(load_before),
        "load_after": " ".join(load_after),
        "bytes": {p: os.path.getsize(p) for p in (lite.encoder.path, lite.decoder.path)},
    }
    print(json.dumps(result, indent=1))
    return result


def artifacts(args) -> dict:
    """Border ratio and grid of each method's full-strength sweep images (``--out``), and the v2
    engines' alpha-0 content SSIM on every dev content."""
    import glob

    from tfstyle import metrics
    from tfstyle.images import load_image

    result: dict[str, dict] = {}
    for folder in sorted(glob.glob(os.path.join(args.out, "*", "a1"))):
        method = os.path.basename(os.path.dirname(folder))
        images = [load_image(p) for p in sorted(glob.glob(os.path.join(folder, "*.png")))]
        borders = [metrics.border_ratio(i) for i in images]
        grids = [metrics.grid_db(i) for i in images]
        result[method] = {
            "border_ratio_mean": float(np.mean(borders)),
            "border_ratio_max": float(np.max(borders)),
            "grid_db_mean": float(np.mean(grids)),
            "images": len(images),
        }
    methods = _methods(["student_v2", "tflite_v2"])
    contents, styles = dev_files()
    style = load_image(styles[0], size=SIZE)
    for name, fn in methods.items():
        values = []
        for c in contents:
            content = load_image(c, size=SIZE)
            values.append(metrics.content_ssim(fn(content, style, 0.0), content))
        result.setdefault(name, {})["alpha0_ssim_mean"] = float(np.mean(values))
        result[name]["alpha0_ssim_min"] = float(np.min(values))
    print(json.dumps(result, indent=1))
    return result


def sweep(args) -> None:
    from benchmarks import sweep as sweep_mod

    argv = ["--methods", args.methods, "--alphas", args.alphas, "--size", str(SIZE)]
    argv += ["--every", str(args.every), "--out", args.out, "--report", args.report]
    argv += ["--title", "Student v2: strength sweep on the dev set"]
    sweep_mod.main(argv)


def main(argv: list[str] | None = None) -> int:
    from tfstyle.assets import (
        STUDENT_V2_DECODER,
        STUDENT_V2_DECODER_TFLITE,
        STUDENT_V2_ENCODER,
        STUDENT_V2_ENCODER_TFLITE,
    )

    p = argparse.ArgumentParser(prog="python -m benchmarks.student_v2", description=__doc__)
    p.add_argument("command", choices=("check", "sheets", "latency", "sweep", "artifacts"))
    p.add_argument("--encoder", default=STUDENT_V2_ENCODER)
    p.add_argument("--decoder", default=STUDENT_V2_DECODER)
    p.add_argument("--tflite-encoder", default=STUDENT_V2_ENCODER_TFLITE)
    p.add_argument("--tflite-decoder", default=STUDENT_V2_DECODER_TFLITE)
    p.add_argument("--methods", default="student_v2,teacher,student")
    p.add_argument("--every", type=int, default=1, help="every N-th dev content")
    p.add_argument("--alphas", default="0.4,0.6,0.8,1", help="sweep strengths")
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--sheet-dir", default="docs/img/student_v2")
    p.add_argument("--out", default="runs/sweep_v2")
    p.add_argument("--report", default="docs/quality/sweep_v2.md")
    args = p.parse_args(argv)
    _set_paths(args)
    commands = {"check": check, "sheets": sheets, "latency": latency, "sweep": sweep, "artifacts": artifacts}
    commands[args.command](args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
