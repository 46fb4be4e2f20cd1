"""Student benchmarks (issue: MobileNetV2 student distilled from the teacher).

python -m benchmarks.student quality   # dev set at 384 px: student vs teacher vs Magenta INT8 -> docs/QUALITY.md
python -m benchmarks.student layers    # per-VGG-layer style distance of those renders -> docs/QUALITY.md
python -m benchmarks.student speed     # Keras student vs teacher latency, 384 px, 1 thread -> docs/BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import numpy as np

from benchmarks.devset import DEV_C, DEV_S, by_style_table, dev_files, evaluate, means_table, render, stem
from benchmarks.report import machine, update_section


def _agreement(dirs: dict[str, str], a: str, b: str) -> float:
    """Mean SSIM between two methods' outputs over all pairs."""
    from tfstyle.images import load_image
    from tfstyle.metrics import ssim

    names = sorted(os.listdir(dirs[a]))
    return float(
        np.mean(
            [ssim(load_image(os.path.join(dirs[a], n)), load_image(os.path.join(dirs[b], n))) for n in names]
        )
    )


def _teacher_shift_agreement(dirs: dict[str, str], size: int, shift: int = 1) -> float:
    """Mean SSIM between the teacher's renders and the teacher on the content moved by ``shift`` px.

    The reference for the student-vs-teacher SSIM: AdaIN decodes texture on the encoder's 8 px grid,
    so even the teacher does not reproduce its own texture once the content moves by one pixel.
    """
    import tfstyle
    from tfstyle.images import load_image
    from tfstyle.metrics import ssim

    contents, styles = dev_files()
    style_images = {s: load_image(s, size=size) for s in styles}
    scores, border = [], 8  # away from the reflect-padded border, which moves with the crop
    for c in contents:
        content = load_image(c, size=size)
        for s in styles:
            ref = load_image(os.path.join(dirs["teacher"], f"{stem(c)}__{stem(s)}.png"))
            moved = tfstyle.stylize(content[shift:, shift:], style_images[s], engine="teacher")
            h, w = moved.shape[0] - border, moved.shape[1] - border
            scores.append(ssim(moved[:h, :w], ref[shift : shift + h, shift : shift + w]))
    return float(np.mean(scores))


def quality(size: int, out: str) -> str:
    import tfstyle
    from benchmarks.magenta import Magenta
    from tfstyle.engines import StylizeConfig
    from tfstyle.errors import TfstyleError
    from tfstyle.runtime import TfliteEngine

    magenta = Magenta(threads=2)
    methods = {
        "teacher": lambda c, s: tfstyle.stylize(c, s, engine="teacher"),
        "student": lambda c, s: tfstyle.stylize(c, s, engine="student"),
        "student_tflite_int8": lambda c, s: tfstyle.stylize(c, s, engine=TfliteEngine(threads=2)),
        "magenta_int8": magenta.stylize,
    }
    try:
        TfliteEngine().check(StylizeConfig())
    except TfstyleError:
        del methods["student_tflite_int8"]  # before `make export-tflite`
    contents, styles = dev_files()
    dirs = render(methods, size, out)
    sheet = "docs/img/student_dev_sheet.png"
    js = "runs/bench/student_dev.json"
    means = evaluate(dirs, size, "docs/quality/student_dev.md", sheet, js)
    agree = _agreement(dirs, "student", "teacher")
    shifted = _teacher_shift_agreement(dirs, size)
    t, s, m = means["teacher"], means["student"], means["magenta_int8"]
    style_ratio = s["style_mean_std"] / t["style_mean_std"]
    ssim_gap = t["content_ssim"] - s["content_ssim"]
    beats = s["style_mean_std"] < m["style_mean_std"] and s["content_ssim"] >= m["content_ssim"]

    def goal(ok: bool) -> str:
        return "met" if ok else "**not met**"

    return (
        f"## Student vs teacher vs Magenta INT8 on the dev set ({size} px)\n\n"
        f"{len(contents)} x {len(styles)} dev pairs, long side {size} px, alpha 1, style at the content's size. "
        "Student: shipped Keras weights (`--model student`); student_tflite_int8: the shipped INT8 TFLite pair "
        "on LiteRT (`--model tflite`). Magenta: INT8 predictor (256x256) + INT8 transfer at its fixed "
        "384x384 input. Per-pair table: [quality/student_dev.md](quality/student_dev.md).\n\n"
        + means_table(means)
        + "\nPer style, style distance mean/std (content SSIM):\n\n"
        + by_style_table(js)
        + "\n| acceptance | measured | goal | |\n|---|---|---|---|\n"
        f"| student-vs-teacher SSIM | {agree:.3f} (teacher vs itself on the content moved by 1 px: "
        f"{shifted:.3f}) | >= 0.80 | {goal(agree >= 0.80)} |\n"
        f"| student / teacher style distance (mean/std) | {style_ratio:.2f}x | <= 1.2x | {goal(style_ratio <= 1.2)} |\n"
        f"| content SSIM, teacher - student | {ssim_gap:+.3f} | <= 0.03 | {goal(ssim_gap <= 0.03)} |\n"
        f"| student vs Magenta INT8: style distance, content SSIM | {s['style_mean_std']:.4g} vs "
        f"{m['style_mean_std']:.4g}, {s['content_ssim']:.3f} vs {m['content_ssim']:.3f} | lower, >= | {goal(beats)} |\n"
        f"\n![student vs teacher vs Magenta](img/{os.path.basename(sheet)})\n"
    )


def layers(size: int, out: str) -> str:
    """Per-layer mean/std style distance of each method's dev renders (from ``quality``): which
    VGG layer the student's gap to the teacher and to Magenta lies in."""
    from tfstyle.images import load_image
    from tfstyle.metrics import STYLE_LAYER_WEIGHTS, default_extractor, style_distance_by_layer

    methods = sorted(os.listdir(out) if os.path.isdir(out) else [], key=lambda m: (m != "teacher", m))
    if not methods:
        raise SystemExit(f"{out}: no renders; run `python -m benchmarks.student quality` first")
    contents, styles = dev_files()
    style_images = {stem(s): load_image(s, size=size) for s in styles}  # as `evaluate --size`
    extractor, names = default_extractor(), list(STYLE_LAYER_WEIGHTS)
    means = {}
    for method in methods:
        rows = [
            style_distance_by_layer(
                load_image(os.path.join(out, method, f"{stem(c)}__{s}.png"), size=size),
                style_images[s],
                extractor,
            )
            for c in contents
            for s in style_images
        ]
        means[method] = {n: float(np.mean([r[n] for r in rows])) for n in names}
    head = "| method | " + " | ".join(names) + " | sum |\n|---|" + "---|" * (len(names) + 1) + "\n"
    body = "".join(
        f"| {m} | " + " | ".join(f"{v[n]:.3g}" for n in names) + f" | {sum(v.values()):.4g} |\n"
        for m, v in means.items()
    )
    return (
        "### Where the style distance lies (per VGG layer)\n\n"
        f"`python -m benchmarks.student layers`: the terms the mean/std style distance sums, per layer, "
        f"mean over the {len(contents) * len(styles)} dev renders above; each row sums to that method's "
        "style distance in the table above.\n\n" + head + body
    )


_SPEED_CHILD = r"""
import json, sys, time
import numpy as np
from tfstyle._keras import tf
tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)
import tfstyle
from tfstyle.images import load_image
engine, runs = sys.argv[1], int(sys.argv[4])
content, style = load_image(sys.argv[2], size=384), load_image(sys.argv[3], size=384)
for _ in range(2):
    tfstyle.stylize(content, style, engine=engine, tile=0)
times = []
for _ in range(runs):
    t = time.perf_counter()
    tfstyle.stylize(content, style, engine=engine, tile=0)
    times.append(time.perf_counter() - t)
print(json.dumps({"median_ms": 1000 * float(np.median(times)), "p90_ms": 1000 * float(np.percentile(times, 90))}))
"""


def speed(runs: int) -> str:
    from tfstyle.models.student import build_style_predictor, build_transformer
    from tfstyle.models.teacher import build_decoder, build_encoder

    content, style = os.path.join(DEV_C, "kodim01.png"), os.path.join(DEV_S, "udnie.jpg")
    rows = {}
    for engine in ("teacher", "student"):
        proc = subprocess.run(
            [sys.executable, "-c", _SPEED_CHILD, engine, content, style, str(runs)],
            capture_output=True,
            text=True,
            check=True,
        )
        rows[engine] = json.loads(proc.stdout.strip().splitlines()[-1])
    teacher_params = build_encoder().count_params() + build_decoder().count_params()
    student_params = build_style_predictor(imagenet=False).count_params() + build_transformer().count_params()
    t, s = rows["teacher"], rows["student"]
    return (
        "## Student vs teacher: latency and size (Keras, 384 px, 1 thread)\n\n"
        f"Measured on {machine()}: `tfstyle.stylize` end to end (style encoding included) on a 384x256 "
        f"content with a 384 px style, TensorFlow limited to one thread, float32, median of {runs} runs "
        "after two warm-up calls.\n\n"
        "| model | parameters | median ms | p90 ms |\n|---|---|---|---|\n"
        f"| teacher (VGG19 encoder to relu4_1 + decoder) | {teacher_params:,} | {t['median_ms']:.0f} | {t['p90_ms']:.0f} |\n"
        f"| student (MobileNetV2 predictor + transformer) | {student_params:,} | {s['median_ms']:.0f} | {s['p90_ms']:.0f} |\n"
        f"\nStudent/teacher: **{student_params / teacher_params:.3f}x** the parameters (goal <= 0.1x), "
        f"**{t['median_ms'] / s['median_ms']:.1f}x** faster.\n"
    )


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=("quality", "layers", "speed"))
    p.add_argument("--size", type=int, default=384)
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--out", default="runs/bench/student_dev")
    args = p.parse_args()
    if args.what == "quality":
        update_section("docs/QUALITY.md", "student", quality(args.size, args.out), title="# Quality")
    elif args.what == "layers":
        update_section("docs/QUALITY.md", "student-layers", layers(args.size, args.out), title="# Quality")
    else:
        update_section("docs/BENCHMARKS.md", "student-speed", speed(args.runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
