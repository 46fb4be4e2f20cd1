"""Gatys optimisation benchmarks: time per step by precision, loss drop of the CLI, dev-set quality.

python -m benchmarks.gatys timing    # -> docs/BENCHMARKS.md (section gatys)
python -m benchmarks.gatys dev       # -> docs/QUALITY.md (section gatys) + contact sheet
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time

from benchmarks.report import machine, update_section

DATA = os.environ.get("TFSTYLE_DATA", "../shared/data")
PAIR = ("golden_gate.jpg", "udnie.jpg")


def timing(size: int, steps: int, out_dir: str) -> str:
    from tfstyle.gatys import GatysConfig, optimize
    from tfstyle.images import load_image

    content = load_image(os.path.join(DATA, "dev", "content", PAIR[0]), size=size)
    style = load_image(os.path.join(DATA, "dev", "style", PAIR[1]), size=size)
    rows = []
    for precision in ("float32", "mixed_bfloat16"):
        result = optimize(content, [style], GatysConfig(steps=steps, precision=precision))
        rows.append((precision, result.seconds_per_step))
    base = rows[0][1]
    table = "\n".join(f"| {p} | {s * 1000:.0f} | {base / s:.2f}x |" for p, s in rows)

    os.makedirs(out_dir, exist_ok=True)
    out = os.path.join(out_dir, "gatys_256_300.png")
    cmd = [
        sys.executable, "-m", "tfstyle.cli", "optimize",
        os.path.join(DATA, "dev", "content", PAIR[0]), os.path.join(DATA, "dev", "style", PAIR[1]),
        "--size", str(size), "--steps", "300", "-o", out,
    ]  # fmt: skip
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    summary = [line for line in proc.stdout.splitlines() if line.startswith("wrote ")][-1]
    drop = float(re.search(r"\(([\d.]+)% lower\)", summary).group(1))
    return (
        f"## Gatys optimisation ({size} px, {PAIR[0]} x {PAIR[1]})\n\n"
        f"Measured on {machine()}; {steps} Adam steps per precision, "
        "mean step time after 2 warm-up steps.\n\n"
        "| precision | ms / step | speed-up |\n|---|---|---|\n"
        f"{table}\n\n"
        f"`tfstyle optimize` (precision `auto`, 300 Adam steps, {size} px): total loss {drop:.1f}% below its "
        f"first value (target: at least 90%), {wall:.0f} s wall time including start-up.\n\n"
        f"`{summary}`\n"
    )


def dev(size: int, steps: int, out_dir: str) -> str:
    from tfstyle.features import VGGFeatures
    from tfstyle.gatys import GatysConfig, optimize
    from tfstyle.images import load_image, save_image

    cdir, sdir = os.path.join(DATA, "dev", "content"), os.path.join(DATA, "dev", "style")
    contents, styles = sorted(os.listdir(cdir)), sorted(os.listdir(sdir))
    extractor = VGGFeatures()
    os.makedirs(out_dir, exist_ok=True)
    times = []
    for c in contents:
        content = load_image(os.path.join(cdir, c), size=size)
        for s in styles:
            out = os.path.join(out_dir, f"{os.path.splitext(c)[0]}__{os.path.splitext(s)[0]}.png")
            if os.path.exists(out):
                continue
            style = load_image(os.path.join(sdir, s), size=size)
            start = time.perf_counter()
            result = optimize(content, [style], GatysConfig(steps=steps), extractor=extractor)
            times.append(time.perf_counter() - start)
            save_image(out, result.image)
            print(f"{out}: {times[-1]:.1f} s", flush=True)
    report_md = "docs/quality/gatys_dev.md"
    sheet = "docs/img/gatys_dev_sheet.png"
    cmd = [sys.executable, "-m", "tfstyle.cli", "evaluate", "--content-dir", cdir, "--style-dir", sdir]
    cmd += ["--output", f"gatys={out_dir}", "--content-baseline", "-o", report_md]
    subprocess.run([*cmd, "--sheet", sheet, "--cell", "128", "-q"], check=True)
    means = open(report_md, encoding="utf-8").read()
    return (
        f"## Gatys optimisation on the dev set\n\n"
        f"Every dev content x every dev style ({len(contents)} x {len(styles)} pairs), {size} px long side, "
        f"{steps} Adam steps, default weights, precision `auto`"
        + ". Full per-pair table: [quality/gatys_dev.md](quality/gatys_dev.md).\n\n"
        + _means_only(means)
        + f"\n![Gatys on the dev set](img/{os.path.basename(sheet)})\n"
    )


def _means_only(markdown: str) -> str:
    """The report's mean table (the part after its 'Mean' heading, up to the next heading)."""
    match = re.search(r"(#+ [^\n]*[Mm]ean[^\n]*\n.*?)(?=\n#+ |\Z)", markdown, re.S)
    return (match.group(1) if match else markdown).strip() + "\n"


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=("timing", "dev"))
    p.add_argument("--size", type=int)
    p.add_argument("--steps", type=int)
    p.add_argument("--out", default="runs/bench")
    args = p.parse_args()
    if args.what == "timing":
        body = timing(args.size or 256, args.steps or 30, args.out)
        update_section("docs/BENCHMARKS.md", "gatys", body)
    else:
        body = dev(args.size or 128, args.steps or 100, os.path.join(args.out, "gatys_dev"))
        update_section("docs/QUALITY.md", "gatys", body, title="# Quality")
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
