"""Render methods over every dev (content, style) pair and score them with ``tfstyle evaluate``:
the one path all quality reports take, so their numbers are comparable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable

import numpy as np
from PIL import Image

from benchmarks.report import save_palette_png

DATA = os.environ.get("TFSTYLE_DATA", "../shared/data")
DEV_C, DEV_S = os.path.join(DATA, "dev", "content"), os.path.join(DATA, "dev", "style")
Method = Callable[[np.ndarray, np.ndarray], np.ndarray]


def stem(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


def dev_files() -> tuple[list[str], list[str]]:
    return (
        [os.path.join(DEV_C, n) for n in sorted(os.listdir(DEV_C))],
        [os.path.join(DEV_S, n) for n in sorted(os.listdir(DEV_S))],
    )


def render(methods: dict[str, Method], size: int, out: str) -> dict[str, str]:
    """Each method's output for every pair (content and style at long side ``size``) as PNGs."""
    from tfstyle.images import load_image, save_image

    contents, styles = dev_files()
    dirs = {name: os.path.join(out, name) for name in methods}
    style_images = {s: load_image(s, size=size) for s in styles}
    for c in contents:
        content = load_image(c, size=size)
        for s in styles:
            name = f"{stem(c)}__{stem(s)}.png"
            for method, fn in methods.items():
                save_image(os.path.join(dirs[method], name), fn(content, style_images[s]))
    return dirs


def evaluate(dirs: dict[str, str], size: int, report: str, sheet: str, js: str) -> dict:
    """``tfstyle evaluate`` over the rendered folders; returns the per-method means."""
    cmd = [sys.executable, "-m", "tfstyle.cli", "evaluate", "--content-dir", DEV_C, "--style-dir", DEV_S]
    cmd += [arg for m, d in dirs.items() for arg in ("--output", f"{m}={d}")]
    cmd += ["--content-baseline", "--size", str(size), "-o", report, "--json", js, "--sheet", sheet]
    subprocess.run([*cmd, "--cell", "128", "-q"], check=True)
    with Image.open(sheet) as image:
        image.load()
    save_palette_png(image, sheet)
    with open(js, encoding="utf-8") as fh:
        return json.load(fh)["means"]


def by_style_table(js: str) -> str:
    """Mean style distance (mean/std) and content SSIM per style and method: a mean over styles can
    hide one style that a method cannot do (the student's gap to the teacher is mostly one style)."""
    with open(js, encoding="utf-8") as fh:
        pairs = json.load(fh)["pairs"]
    methods = [m for m in pairs[0]["scores"] if m != "content"]
    rows: dict[str, list[dict]] = {}
    for pair in pairs:
        rows.setdefault(stem(pair["style"]), []).append(pair["scores"])
    head = "| style | " + " | ".join(methods) + " |\n|---|" + "---|" * len(methods) + "\n"

    def cell(scores: list[dict], m: str) -> str:
        d = sum(s[m]["style_mean_std"] for s in scores) / len(scores)
        q = sum(s[m]["content_ssim"] for s in scores) / len(scores)
        return f"{d:.3g} ({q:.2f})"

    return head + "".join(
        f"| {name} | " + " | ".join(cell(scores, m) for m in methods) + " |\n"
        for name, scores in sorted(rows.items())
    )


def means_table(means: dict) -> str:
    return (
        "| method | style distance mean/std | style distance Gram | content distance | content SSIM |\n"
        "|---|---|---|---|---|\n"
        + "".join(
            f"| {k} | {v['style_mean_std']:.4g} | {v['style_gram']:.4g} | {v['content_distance']:.3f} "
            f"| {v['content_ssim']:.3f} |\n"
            for k, v in means.items()
        )
    )
