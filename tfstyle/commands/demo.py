"""``tfstyle demo``: a few photos x a few paintings through every engine, with a contact sheet.

A newcomer should see the product first: the feed-forward teacher, the distilled student and its
INT8 LiteRT twin, each with its time per image, and Gatys optimisation last (short, for reference).
Images come from ``--contents``/``--styles`` when given, else from the development set
(``$TFSTYLE_DATA/dev``) when present, else from scikit-image's samples; the command says which.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass, field

FEED_FORWARD = ("teacher", "student", "tflite")
# scikit-image samples: photos as content, its most textured images as "styles" (no paintings ship).
SAMPLE_CONTENTS = ("astronaut", "coffee", "chelsea")
SAMPLE_STYLES = ("immunohistochemistry", "hubble_deep_field")


@dataclass
class Source:
    """Where the demo's images come from: named (name, loader) pairs and a line saying which."""

    description: str
    contents: list = field(default_factory=list)
    styles: list = field(default_factory=list)


def register(sub) -> None:
    p = sub.add_parser("demo", help="stylize a few photos with a few paintings through every engine")
    p.add_argument("-o", "--output", default="demo_out", help="output folder (default demo_out)")
    p.add_argument("--contents", help="folder of photos (default: the dev set, else scikit-image samples)")
    p.add_argument("--styles", help="folder of paintings (default: the dev set, else scikit-image samples)")
    p.add_argument("--photos", type=int, default=3, help="how many photos (default 3)")
    p.add_argument("--paintings", type=int, default=2, help="how many paintings (default 2)")
    p.add_argument("--size", type=int, default=256, help="long side in px (default 256)")
    p.add_argument("--gatys-steps", type=int, default=40, help="Gatys steps on the first pair; 0 = skip")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=run)


def _spread(items: list, n: int) -> list:
    """``n`` items evenly spread over the sorted list (first and last included), so the demo shows
    a range of pictures rather than the first few names of the alphabet."""
    if n >= len(items):
        return items
    if n <= 1:
        return items[:1]
    step = (len(items) - 1) / (n - 1)
    return [items[round(i * step)] for i in range(n)]


def _folder(path: str, n: int, what: str) -> list:
    from tfstyle.evaluate import images_in

    return [(os.path.splitext(os.path.basename(f))[0], f) for f in _spread(images_in(path, what), n)]


def _samples(names: tuple, n: int) -> list:
    return [(name, f"skimage:{name}") for name in names[:n]]


def find_source(contents: str | None, styles: str | None, photos: int, paintings: int) -> Source:
    """The folders given, else ``$TFSTYLE_DATA/dev``, else scikit-image's samples (per side)."""
    dev = os.path.join(os.environ.get("TFSTYLE_DATA", ""), "dev") if os.environ.get("TFSTYLE_DATA") else ""
    said = []
    if contents:
        content_list, where = _folder(contents, photos, "photo"), contents
    elif dev and os.path.isdir(os.path.join(dev, "content")):
        content_list, where = _folder(os.path.join(dev, "content"), photos, "photo"), "the dev set"
    else:
        content_list, where = _samples(SAMPLE_CONTENTS, photos), "scikit-image samples"
    said.append(f"photos from {where}")
    if styles:
        style_list, where = _folder(styles, paintings, "painting"), styles
    elif dev and os.path.isdir(os.path.join(dev, "style")):
        style_list, where = _folder(os.path.join(dev, "style"), paintings, "painting"), "the dev set"
    else:
        style_list, where = (
            _samples(SAMPLE_STYLES, paintings),
            "scikit-image samples (textures, not paintings: pass --styles DIR for real ones)",
        )
    said.append(f"styles from {where}")
    return Source("; ".join(said), content_list, style_list)


def load(ref: str, size: int):
    """A path, or ``skimage:NAME`` for a scikit-image sample, as float RGB with long side ``size``."""
    import numpy as np

    from tfstyle.images import load_image, resize

    if not ref.startswith("skimage:"):
        return load_image(ref, size=size)
    import skimage.data

    image = getattr(skimage.data, ref.split(":", 1)[1])()
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return resize(image[..., :3].astype(np.float32) / 255.0, size)


def _stylize_all(engine: str, pairs: list, bar) -> tuple[list, list[float]]:
    """Every pair through one engine: the images and the seconds each took (the first includes
    building the engine, so it is reported apart)."""
    import tfstyle

    images, seconds = [], []
    for content, style in pairs:
        start = time.perf_counter()
        images.append(tfstyle.stylize(content, style, engine=engine))
        seconds.append(time.perf_counter() - start)
        bar.update(1)
    return images, seconds


def run(args: argparse.Namespace) -> int:
    from tfstyle.commands._common import progress
    from tfstyle.images import save_image
    from tfstyle.sheets import contact_sheet

    source = find_source(args.contents, args.styles, args.photos, args.paintings)
    print(f"demo: {source.description}", file=sys.stderr)
    contents = [(name, load(ref, args.size)) for name, ref in source.contents]
    styles = [(name, load(ref, args.size)) for name, ref in source.styles]
    pairs = [(c, s) for c in contents for s in styles]
    arrays = [(c[1], s[1]) for c, s in pairs]
    columns, timings = {}, {}
    total = len(pairs) * len(FEED_FORWARD) + (1 if args.gatys_steps else 0)
    with progress(total=total, desc="demo", unit="image", quiet=args.quiet) as bar:
        for engine in FEED_FORWARD:
            columns[engine], timings[engine] = _stylize_all(engine, arrays, bar)
        if args.gatys_steps:
            from tfstyle.gatys import GatysConfig, optimize

            start = time.perf_counter()
            result = optimize(arrays[0][0], [arrays[0][1]], GatysConfig(steps=args.gatys_steps))
            columns["gatys"] = [result.image] + [None] * (len(pairs) - 1)
            timings["gatys"] = [time.perf_counter() - start]
            bar.update(1)

    rows, labels = [], []
    for i, ((cname, content), (sname, style)) in enumerate(pairs):
        rows.append([content, style] + [columns[e][i] for e in columns])
        labels.append(f"{cname} x {sname}")
        for engine in columns:
            if columns[engine][i] is not None:
                save_image(os.path.join(args.output, f"{cname}__{sname}__{engine}.png"), columns[engine][i])
    titles = ["photo", "painting"] + [_title(e, timings[e], args) for e in columns]
    sheet = os.path.join(args.output, "contact_sheet.png")
    contact_sheet(rows, titles, sheet, cell=256, row_labels=labels)
    for engine in columns:
        print(f"{_title(engine, timings[engine], args)}", file=sys.stderr)
    print(f"wrote {sum(1 for e in columns for im in columns[e] if im is not None)} images and {sheet}")
    return 0


def _title(engine: str, seconds: list[float], args: argparse.Namespace) -> str:
    """Column title with the time per image; the first image, which builds the engine, is left out
    when there are others."""
    if engine == "gatys":
        return f"gatys {args.gatys_steps} steps {seconds[0]:.1f} s"
    per_image = statistics.median(seconds[1:]) if len(seconds) > 1 else seconds[0]
    return f"{engine} {per_image:.2f} s"
