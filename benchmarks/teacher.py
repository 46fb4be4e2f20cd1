"""Teacher benchmarks.

python -m benchmarks.teacher quality   # dev set at 512 px vs Magenta INT8 -> docs/QUALITY.md
python -m benchmarks.teacher speed     # time + peak RSS at 512, 1024, 4000x3000 -> docs/BENCHMARKS.md
python -m benchmarks.teacher train     # training images/s, float32 vs mixed_bfloat16 -> docs/BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time

from benchmarks.devset import DEV_C, DEV_S, dev_files, evaluate, means_table, render
from benchmarks.report import machine, update_section


def quality(size: int, out: str) -> str:
    import tfstyle
    from benchmarks.magenta import Magenta

    magenta = Magenta(threads=2)
    contents, styles = dev_files()
    dirs = render({"teacher": tfstyle.stylize, "magenta_int8": magenta.stylize}, size, out)
    sheet = "docs/img/teacher_dev_sheet.png"
    means = evaluate(dirs, size, "docs/quality/teacher_dev.md", sheet, "runs/bench/teacher_dev.json")
    t, m = means["teacher"], means["magenta_int8"]
    ratio = t["style_mean_std"] / m["style_mean_std"]
    gap = m["content_ssim"] - t["content_ssim"]
    verdict = "met" if ratio <= 0.8 and gap <= 0.05 else "not met"
    return (
        f"## Teacher vs Magenta INT8 on the dev set ({size} px)\n\n"
        f"{len(contents)} x {len(styles)} dev pairs, long side {size} px. Teacher: shipped decoder, alpha 1. "
        "Magenta: INT8 predictor (style at 256x256) + INT8 transfer at its fixed 384x384 input, resized back. "
        f"Per-pair table: [quality/teacher_dev.md](quality/teacher_dev.md).\n\n"
        + means_table(means)
        + f"\nTeacher/Magenta style distance (mean/std): **{ratio:.2f}x** (goal <= 0.8x); content SSIM "
        f"{t['content_ssim']:.3f} vs {m['content_ssim']:.3f} (gap {gap:+.3f}, goal <= 0.05): goal **{verdict}**.\n\n"
        f"![teacher vs Magenta](img/{os.path.basename(sheet)})\n"
    )


_SPEED_CHILD = r"""
import json, os, resource, sys, time
import numpy as np
import tfstyle
from tfstyle.images import load_image, resize_to
h, w, tile = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
content = resize_to(load_image(sys.argv[4]), (h, w))
style = load_image(sys.argv[5], size=512)
tfstyle.stylize(content[:256, :256], style, tile=0)  # warm-up: build and trace the teacher
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
out = tfstyle.stylize(content, style, tile=tile, style_size=512)
sec = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": sec, "peak_mb": peak / 1024, "warm_mb": base / 1024, "shape": list(out.shape)}))
"""


def speed() -> str:
    content, style = os.path.join(DEV_C, "kodim01.png"), os.path.join(DEV_S, "udnie.jpg")
    cases = [
        ("512x341", 341, 512, 0),
        ("1024x683", 683, 1024, 0),
        ("4000x3000, tiles 1024", 3000, 4000, 1024),
    ]
    rows = []
    for label, h, w, tile in cases:
        proc = subprocess.run(
            [sys.executable, "-c", _SPEED_CHILD, str(h), str(w), str(tile), content, style],
            capture_output=True,
            text=True,
            check=True,
        )
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        rows.append(f"| {label} | {r['seconds']:.2f} | {r['peak_mb']:.0f} | {r['warm_mb']:.0f} |")
    return (
        "## Teacher stylization: time and memory\n\n"
        f"Measured on {machine()}, `tfstyle.stylize` (teacher, alpha 1, style at 512 px), precision float32 "
        "inference, one warm-up call first. Peak RSS is the whole process (TensorFlow, VGG19 and "
        "decoder included); 'after warm-up' is the peak before the timed call.\n\n"
        "| content size | seconds | peak RSS (MB) | peak RSS after warm-up (MB) |\n|---|---|---|---|\n"
        + "\n".join(rows)
        + "\n"
    )


def train_throughput(steps: int) -> str:
    rows = []
    for precision in ("float32", "mixed_bfloat16"):
        out = f"/tmp/tfstyle_train_bench_{precision}"
        subprocess.run(["rm", "-rf", out], check=True)
        cmd = [sys.executable, "-m", "training.teacher", "--out", out, "--steps", str(steps), "--batch", "8"]
        cmd += ["--crop", "128", "--precision", precision, "--quiet", "--checkpoint-every", str(10 * steps)]
        t = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
        wall = time.perf_counter() - t
        ips = float(re.search(r"([\d.]+) img/s", proc.stdout).group(1))
        rows.append((precision, ips, wall))
    base = rows[0][1]
    return (
        "## Teacher training throughput\n\n"
        f"Measured on {machine()}: `python -m training.teacher`, global batch 8, 128 px crops, {steps} steps, "
        "images/s after the first two (tracing) steps, one replica, default objective (identity term included, so the decoder runs on 2x the batch).\n\n"
        "| precision | images/s | speed-up |\n|---|---|---|\n"
        + "".join(f"| {p} | {ips:.2f} | {ips / base:.2f}x |\n" for p, ips, _ in rows)
        + "\n`mixed_float16` needs an accelerator (on this CPU it is emulated and about 6x slower); "
        "no accelerator was available to this session.\n"
    )


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=("quality", "speed", "train"))
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--out", default="runs/bench/teacher_dev")
    args = p.parse_args()
    if args.what == "quality":
        update_section("docs/QUALITY.md", "teacher", quality(args.size, args.out), title="# Quality")
    elif args.what == "speed":
        update_section("docs/BENCHMARKS.md", "teacher-speed", speed())
    else:
        update_section("docs/BENCHMARKS.md", "teacher-train", train_throughput(args.steps))
    return 0


if __name__ == "__main__":
    sys.exit(main())
