"""Teacher v2 (multi-level, universal style transfer) against the old AdaIN teacher and Magenta INT8.

python -m benchmarks.teacher_v2 sweep --every 4 --per-style --methods "magenta@1;ml:1,1,1,0:wct@0.8,1"
python -m benchmarks.teacher_v2 report --every 4 --methods "magenta;adain;ml:1,1,1,0:wct"   # docs/quality
python -m benchmarks.teacher_v2 speed --methods "adain;ml:1,1,1,0:wct"                    # time + peak RSS

Methods: ``adain`` (the shipped teacher, ``--method adain``), ``magenta`` (INT8, its own strength),
``ml:W1,W2,W3,W4:M`` (``--method multilevel``, level weights relu1_1..relu4_1, M one transform for
every level or four comma-separated); ``SPEC@0.6,1`` gives a method its own alphas. Renders and scores go through :mod:`benchmarks.sweep`
(cached per method, alpha and pair under ``--out``), so adding one setting scores only that one.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Sequence

from benchmarks import sweep
from benchmarks.devset import DEV_C, DEV_S, stem
from benchmarks.report import machine


def parse_method(spec: str) -> tuple[str, dict]:
    """``ml:1,1,1,0:wct`` -> (folder-safe name, stylize options); a last field ``r`` (residual
    decoding) and/or ``pN`` (``--refine N``), e.g. ``ml:1,1,1,1:wct,wct,wct,adain:r,p5`` or
    ``adain:p5``."""
    head, *rest = spec.split(":")
    if head in ("adain", "magenta", "wct"):
        name, options, extra = head, {"method": head}, rest[0] if rest else ""
    elif head == "ml" and len(rest) in (2, 3):
        weights, methods, extra = rest[0], rest[1], rest[2] if len(rest) == 3 else ""
        level_methods = methods.split(",") if "," in methods else [methods] * 4
        level_weights = [float(w) for w in weights.split(",")]
        name = "ml_" + "-".join(f"{w:g}" for w in level_weights) + "_" + "".join(m[0] for m in level_methods)
        options = {"method": "multilevel", "level_weights": level_weights, "level_methods": level_methods}
    else:
        raise ValueError(f"unknown method {spec!r}")
    for flag in filter(None, extra.split(",")):
        if flag == "r":
            options["residual"] = True
        elif flag.startswith("p"):
            options["refine"] = int(flag[1:])
        else:
            raise ValueError(f"unknown flag {flag!r} in {spec!r}")
        name += "_" + flag
    return name, options


def methods_for(specs: Sequence[str]) -> dict[str, sweep.SweepMethod]:
    import tfstyle

    out: dict[str, sweep.SweepMethod] = {}
    for spec in specs:
        name, options = parse_method(spec)
        if name == "magenta":
            out.update(sweep.builtin_methods(["magenta"]))
        else:
            out[name] = lambda c, s, a, o=options: tfstyle.stylize(c, s, engine="teacher", alpha=a, **o)
    return out


def per_pair(out: str, method: str, alpha: float, pairs, key: str) -> list[float]:
    cache = json.load(open(os.path.join(out, "scores.json"), encoding="utf-8"))
    return [cache[f"{method}|{alpha:g}|{stem(c)}__{stem(s)}"][key] for c, s in pairs]


def split_spec(spec: str, default_alphas: str) -> tuple[str, list[float]]:
    """``ml:1,1,1,0:wct@0.6,1`` -> (method spec, its alphas); without ``@`` the default alphas."""
    method, _, alphas = spec.partition("@")
    return method, [float(a) for a in (alphas or default_alphas).split(",")]


def pairs_for(args) -> list[tuple[str, str]]:
    pairs = sweep.dev_pairs(args.every)
    return sweep.one_per_style(pairs) if args.per_style else pairs


def merge_into(src: str, out: str) -> None:
    """Scores and images of a sweep run in another folder (parallel runs) into ``out``'s cache."""
    import shutil

    from tfstyle.files import write_text

    path = os.path.join(out, "scores.json")
    cache = json.load(open(path, encoding="utf-8")) if os.path.exists(path) else {}
    cache.update(json.load(open(os.path.join(src, "scores.json"), encoding="utf-8")))
    for method in os.listdir(src):
        if os.path.isdir(os.path.join(src, method)):
            shutil.copytree(os.path.join(src, method), os.path.join(out, method), dirs_exist_ok=True)
    write_text(path, json.dumps(cache, indent=0, sort_keys=True))


def run_sweep(args) -> dict:
    """Each method at its own alphas (scores cached in ``--out``); prints the read-out at Magenta's SSIM."""
    pairs = pairs_for(args)
    for src in filter(None, args.merge.split(",")):
        merge_into(src, args.out)
    specs = [split_spec(spec, args.alphas) for spec in args.methods.split(";")]
    if args.scored_only:  # the pairs every method has already been scored on (no rendering)
        path = os.path.join(args.out, "scores.json")
        cache = json.load(open(path, encoding="utf-8")) if os.path.exists(path) else {}
        keys = [(parse_method(m)[0], a) for m, alphas in specs for a in alphas]
        pairs = [(c, s) for c, s in pairs if all(f"{n}|{a:g}|{stem(c)}__{stem(s)}" in cache for n, a in keys)]
        print(
            f"{len(pairs)} pairs scored for every method: {', '.join(stem(c) + '__' + stem(s) for c, s in pairs)}"
        )
    args.pairs = pairs
    table: dict = {}
    for method, alphas in specs:
        table.update(sweep.run(methods_for([method]), alphas, args.size, pairs, args.out))
    if sweep.REFERENCE in table:
        print(sweep.read_table(table)[1])
    print(sweep.sweep_table(table))
    return table


_SPEED_CHILD = r"""
import json, resource, sys, time
import tfstyle
from tfstyle.images import load_image, resize_to
h, w, tile, options = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[6])
content = resize_to(load_image(sys.argv[4]), (h, w))
style = load_image(sys.argv[5], size=512)
tfstyle.stylize(content[:256, :256], style, tile=0, style_size=512, **options)  # build and trace
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
out = tfstyle.stylize(content, style, tile=tile, style_size=512, **options)
sec = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": sec, "peak_mb": peak / 1024, "warm_mb": base / 1024}))
"""

SPEED_CASES = (
    ("512x341", 341, 512, 0),
    ("1024x683", 683, 1024, 0),
    ("4000x3000, tiles 1024", 3000, 4000, 1024),
)


def _precision() -> str:
    """The teacher's inference policy in the children (``$TFSTYLE_PRECISION`` or auto's choice)."""
    from tfstyle.engines.teacher import inference_precision

    return inference_precision()


def speed(specs: Sequence[str], sides: Sequence[int] = (512, 1024, 4000)) -> str:
    """Time and peak RSS of each method in a fresh process per case (one warm-up call first)."""
    content, style = os.path.join(DEV_C, "kodim01.png"), os.path.join(DEV_S, "udnie.jpg")
    rows = []
    for spec in specs:
        name, options = parse_method(spec)
        for label, h, w, tile in [c for c in SPEED_CASES if c[2] in sides]:
            load = open("/proc/loadavg", encoding="utf-8").read().split()[0]
            proc = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    _SPEED_CHILD,
                    str(h),
                    str(w),
                    str(tile),
                    content,
                    style,
                    json.dumps(options),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            rows.append(
                f"| {name} | {label} | {r['seconds']:.2f} | {r['peak_mb']:.0f} | {r['warm_mb']:.0f} | {load} |"
            )
    return (
        f"Measured on {machine()} with `python -m benchmarks.teacher_v2 speed`: `tfstyle.stylize` (teacher, "
        f"alpha 1, style at 512 px), {_precision()} inference, a warm-up call first, one fresh process per row; peak "
        "RSS of the whole process. The load average (1 min) at the start of each row is given: the machine "
        "was shared, so seconds are upper bounds.\n\n"
        "| teacher | content size | seconds | peak RSS (MB) | after warm-up (MB) | load |\n|---|---|---|---|---|---|\n"
        + "\n".join(rows)
        + "\n"
    )


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("what", choices=("sweep", "report", "speed"))
    p.add_argument("--methods", default="adain;magenta;ml:1,1,1,0:wct", help="';'-separated method specs")
    p.add_argument("--alphas", default="0.4,0.6,0.8,1")
    p.add_argument("--size", type=int, default=384)
    p.add_argument("--every", type=int, default=1, help="every N-th dev content (all styles)")
    p.add_argument("--per-style", action="store_true", help="only one of those pairs per style (tuning)")
    p.add_argument("--out", default="runs/sweep_teacher_v2")
    p.add_argument("--sides", default="512,1024,4000", help="speed: content widths to time")
    p.add_argument("--scored-only", action="store_true", help="report only pairs every method has scores for")
    p.add_argument("--merge", default="", help="','-separated sweep folders of parallel runs to merge first")
    p.add_argument("--report", default="docs/quality/teacher_v2_sweep.md")
    p.add_argument("--img-dir", default="docs/img")
    args = p.parse_args(argv)
    if args.what == "speed":
        specs = [split_spec(m, args.alphas)[0] for m in args.methods.split(";")]
        print(speed(specs, [int(x) for x in args.sides.split(",")]))
        return 0
    table = run_sweep(args)
    if args.what == "report":
        sweep.report(
            table, args.out, args.pairs, args.size, args.report, args.img_dir, "Teacher v2: strength sweep"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
