"""Strength sweeps over the dev pairs, read the way a person compares stylizers.

A stylizer trades content for style, so one point per method proves nothing: every method runs at
several strengths, and each curve (style distance against content SSIM) is read at one content
level, Magenta INT8's full-strength content SSIM. Two style measures sit side by side: mean/std
(colour and contrast per channel) and sliced Wasserstein (texture layout,
:func:`tfstyle.metrics.sliced_wasserstein`); ``relu4_1`` content distance goes with them.

python -m benchmarks.sweep --methods teacher,student,tflite,magenta --alphas 0.4,0.6,0.8,1 \
    --size 384 --every 1 --out runs/sweep --report docs/quality/sweep.md

Scores are cached per (method, alpha, pair) in ``OUT/scores.json``, so a rerun with one more method
scores only that method. Other benchmarks call :func:`run` with their own methods.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable, Sequence

import numpy as np

from benchmarks.devset import dev_files, stem
from benchmarks.report import machine, save_palette_png

SweepMethod = Callable[[np.ndarray, np.ndarray, float], np.ndarray]
KEYS = ("style_mean_std", "style_swd", "content_distance", "content_ssim")
REFERENCE = "magenta"


def builtin_methods(names: Sequence[str], threads: int = 2) -> dict[str, SweepMethod]:
    """The shipped engines through ``tfstyle.stylize`` and Magenta INT8 with its own strength."""
    import tfstyle

    methods: dict[str, SweepMethod] = {}
    for name in names:
        if name == REFERENCE:
            from benchmarks.magenta import Magenta

            magenta = Magenta(threads=threads)
            methods[name] = magenta.stylize
        else:
            methods[name] = lambda c, s, a, engine=name: tfstyle.stylize(c, s, engine=engine, alpha=a)
    return methods


def dev_pairs(every: int = 1) -> list[tuple[str, str]]:
    """Every ``every``-th dev content with every dev style (all styles always: a mean over styles
    must not drop the hard ones)."""
    contents, styles = dev_files()
    return [(c, s) for c in contents[::every] for s in styles]


def _load_cache(path: str) -> dict:
    if os.path.exists(path):
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    return {}


def _save_cache(path: str, cache: dict) -> None:
    from tfstyle.files import write_text

    write_text(path, json.dumps(cache, indent=0, sort_keys=True))


def run(
    methods: dict[str, SweepMethod],
    alphas: Sequence[float],
    size: int,
    pairs: Sequence[tuple[str, str]],
    out: str,
    *,
    save_images: bool = True,
) -> dict[str, dict[float, dict[str, float]]]:
    """Render and score every (method, alpha, pair); returns ``{method: {alpha: mean scores}}``.

    Images go to ``OUT/<method>/a<alpha>/<content>__<style>.png`` (for sheets), scores to
    ``OUT/scores.json`` (reused on the next call)."""
    from tfstyle.images import load_image, save_image
    from tfstyle.metrics import Scorer, default_extractor

    os.makedirs(out, exist_ok=True)
    cache_path = os.path.join(out, "scores.json")
    cache = _load_cache(cache_path)
    extractor = default_extractor()
    styles = {s: load_image(s, size=size) for s in sorted({s for _, s in pairs})}
    for c, s in pairs:
        content = load_image(c, size=size)
        scorer = None
        for method, fn in methods.items():
            for alpha in alphas:
                key = f"{method}|{alpha:g}|{stem(c)}__{stem(s)}"
                if key in cache:
                    continue
                image = np.clip(np.asarray(fn(content, styles[s], float(alpha)), np.float32), 0, 1)
                if save_images:
                    save_image(os.path.join(out, method, f"a{alpha:g}", f"{stem(c)}__{stem(s)}.png"), image)
                scorer = scorer or Scorer(content, styles[s], extractor, texture=True)
                cache[key] = {k: scorer(image)[k] for k in KEYS}
        _save_cache(cache_path, cache)
    return means(cache, methods, alphas, pairs)


def means(cache: dict, methods, alphas, pairs) -> dict[str, dict[float, dict[str, float]]]:
    table: dict[str, dict[float, dict[str, float]]] = {}
    for method in methods:
        for alpha in alphas:
            rows = [cache[f"{method}|{alpha:g}|{stem(c)}__{stem(s)}"] for c, s in pairs]
            table.setdefault(method, {})[float(alpha)] = {
                k: float(np.mean([r[k] for r in rows])) for k in KEYS
            }
    return table


def read_at(curve: dict[float, dict[str, float]], ssim: float, key: str) -> tuple[float, bool]:
    """``key`` on a method's sweep curve at content SSIM ``ssim``, linear between the two nearest
    sweep points (by SSIM); ``(value, outside)``. A curve that never reaches ``ssim`` gives its
    nearest end (no extrapolation: a straight line past full strength is a guess, not a picture)."""
    points = sorted((v["content_ssim"], v[key]) for v in curve.values())
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    if ssim <= xs[0] or ssim >= xs[-1] or len(points) == 1:
        end = 0 if ssim <= xs[0] else -1
        return float(ys[end]), not np.isclose(xs[end], ssim)
    i = int(np.searchsorted(xs, ssim)) - 1
    t = (ssim - xs[i]) / (xs[i + 1] - xs[i])
    return float(ys[i] + t * (ys[i + 1] - ys[i])), False


def read_table(table: dict, reference: str = REFERENCE) -> tuple[float, str]:
    """Markdown: every method's mean/std, texture and content distance at the reference's
    full-strength content SSIM, and each as a ratio to the reference's."""
    ref = table[reference][max(table[reference])]
    target = ref["content_ssim"]
    lines = [
        f"Read at {reference}'s full-strength content SSIM **{target:.3f}** "
        "(linear between sweep points; * = the curve never reaches it: the value at its nearest end).\n",
        "| method | style mean/std | ratio | texture (SWD) | ratio | content distance relu4_1 | ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    for method, curve in table.items():
        cells = []
        for key in ("style_mean_std", "style_swd", "content_distance"):
            value, extra = read_at(curve, target, key)
            cells += [f"{value:.4g}{'*' if extra else ''}", f"{value / ref[key]:.2f}x"]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return target, "\n".join(lines) + "\n"


def sweep_table(table: dict) -> str:
    lines = [
        "| method | alpha | style mean/std | texture (SWD) | content distance | content SSIM |",
        "|---|---|---|---|---|---|",
    ]
    for method, curve in table.items():
        for alpha, v in sorted(curve.items()):
            lines.append(
                f"| {method} | {alpha:g} | {v['style_mean_std']:.4g} | {v['style_swd']:.3f} "
                f"| {v['content_distance']:.3f} | {v['content_ssim']:.3f} |"
            )
    return "\n".join(lines) + "\n"


def per_style_table(out: str, methods: Sequence[str], alpha: float | dict[str, float], pairs) -> str:
    """Texture distance and content SSIM per style at one strength (or one per method: each
    method's strongest swept alpha): a mean can hide one style."""
    cache = _load_cache(os.path.join(out, "scores.json"))
    styles = sorted({stem(s) for _, s in pairs})
    alphas = alpha if isinstance(alpha, dict) else {m: alpha for m in methods}
    lines = [
        "| style | " + " | ".join(f"{m} @ {alphas[m]:g}" for m in methods) + " |",
        "|---|" + "---|" * len(methods),
    ]
    for style in styles:
        cells = []
        for m in methods:
            rows = [cache[f"{m}|{alphas[m]:g}|{stem(c)}__{style}"] for c, s in pairs if stem(s) == style]
            cells.append(
                f"{np.mean([r['style_swd'] for r in rows]):.3f} / {np.mean([r['content_ssim'] for r in rows]):.2f}"
            )
        lines.append(f"| {style} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\nCells: texture distance (SWD) / content SSIM.\n"


def chart(table: dict, path: str, target: float | None = None) -> None:
    """Style distance (mean/std and SWD) against content SSIM, one line per method, alphas marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), dpi=100)
    for ax, key, title in zip(
        axes, ("style_mean_std", "style_swd"), ("mean/std style distance", "texture (SWD)")
    ):
        for method, curve in table.items():
            pts = sorted(curve.items())
            ax.plot([v["content_ssim"] for _, v in pts], [v[key] for _, v in pts], "o-", label=method)
            for alpha, v in pts:
                ax.annotate(
                    f"{alpha:g}",
                    (v["content_ssim"], v[key]),
                    fontsize=7,
                    xytext=(3, 3),
                    textcoords="offset points",
                )
        if target is not None:
            ax.axvline(target, color="grey", lw=0.8, ls="--")
        ax.set_xlabel("content SSIM (higher keeps more content)")
        ax.set_ylabel(f"{title} (lower = closer)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    from tfstyle.files import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def sheet(out: str, columns: Sequence[tuple[str, float]], pairs, path: str, cell: int = 256) -> None:
    """Contact sheet: one row per pair (content, style, then each (method, alpha) column)."""
    from PIL import Image

    from tfstyle.images import load_image
    from tfstyle.sheets import contact_sheet

    rows, labels = [], []
    for c, s in pairs:
        name = f"{stem(c)}__{stem(s)}.png"
        rows.append(
            [load_image(c, size=cell), load_image(s, size=cell)]
            + [load_image(os.path.join(out, m, f"a{a:g}", name)) for m, a in columns]
        )
        labels.append(f"{stem(c)[:10]} x {stem(s)[:10]}")
    titles = ["content", "style"] + [f"{m} a={a:g}" for m, a in columns]
    grid = contact_sheet(rows, titles, None, cell=cell, row_labels=labels)
    save_palette_png(Image.fromarray(grid), path)


def one_per_style(pairs) -> list[tuple[str, str]]:
    """One pair per style (contents taken in turn): a sheet of every style that stays readable."""
    styles = sorted({s for _, s in pairs})
    contents = sorted({c for c, _ in pairs})
    return [(contents[i % len(contents)], s) for i, s in enumerate(styles)]


def report(table: dict, out: str, pairs, size: int, path: str, img_dir: str, title: str) -> None:
    from tfstyle.files import write_text

    os.makedirs(img_dir, exist_ok=True)
    base = os.path.splitext(os.path.basename(path))[0]
    chart_path = os.path.join(img_dir, f"{base}_chart.png")
    sheet_path = os.path.join(img_dir, f"{base}_sheet.png")
    target, read = read_table(table) if REFERENCE in table else (None, "")
    chart(table, chart_path, target)
    sheet(out, [(m, max(table[m])) for m in table], one_per_style(pairs), sheet_path)
    rel = os.path.relpath(img_dir, os.path.dirname(path))
    top = {m: max(table[m]) for m in table}  # each method at its strongest swept alpha
    text = (
        f"# {title}\n\n{len(pairs)} dev pairs at {size} px; {machine()}.\n\n{read}\n"
        f"![sweep]({rel}/{os.path.basename(chart_path)})\n\n## Sweep means\n\n{sweep_table(table)}\n"
        f"## Per style\n\n{per_style_table(out, list(table), top, pairs)}\n"
        f"## Contact sheet (one pair per style, each method at its strongest swept alpha)\n\n![sheet]({rel}/{os.path.basename(sheet_path)})\n"
    )
    write_text(path, text)


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--methods", default="teacher,student,tflite,magenta")
    p.add_argument("--alphas", default="0.4,0.6,0.8,1")
    p.add_argument("--size", type=int, default=384)
    p.add_argument("--every", type=int, default=1, help="every N-th dev content (all styles)")
    p.add_argument("--out", default="runs/sweep")
    p.add_argument("--report", default="docs/quality/sweep.md")
    p.add_argument("--img-dir", default="docs/img")
    p.add_argument("--title", default="Strength sweep on the dev set")
    args = p.parse_args(argv)
    alphas = [float(a) for a in args.alphas.split(",")]
    pairs = dev_pairs(args.every)
    table = run(builtin_methods(args.methods.split(",")), alphas, args.size, pairs, args.out)
    report(table, args.out, pairs, args.size, args.report, args.img_dir, args.title)
    print(open(args.report, encoding="utf-8").read())


if __name__ == "__main__":
    main()
