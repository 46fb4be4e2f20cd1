"""``tfstyle stylize``: fast feed-forward stylization of one image or a folder of images."""

from __future__ import annotations

import argparse
import os
import sys

from tfstyle.commands._common import (
    add_engine_inputs,
    add_label_inputs,
    add_style_inputs,
    check_threads,
    parse_weights,
    progress,
)
from tfstyle.engines.base import DEFAULT_LEVEL_METHODS, DEFAULT_LEVEL_WEIGHTS, METHODS, TEACHER_METHOD
from tfstyle.errors import InputError, TfstyleError

EPILOG = """\
examples:
  tfstyle stylize photo.jpg --style la_muse.jpg -o out.jpg
  tfstyle stylize photo.jpg --style a.jpg --style b.jpg --weights 0.7,0.3 --alpha 0.8 -o out.png
  tfstyle stylize photo.jpg --style a.jpg --style b.jpg --mask sky.png --mask ground.png -o out.png
  tfstyle stylize photo.jpg --labels seg.png --label-map classes.json -o out.png
  tfstyle stylize photos/ --style udnie.jpg --preserve-color luminance -o stylized/

With one --mask per style each style fills its own region (the blend weights are then unused);
with a single --mask the (blended) styles fill it. Pixels no mask covers keep the content.
--labels/--label-map give each class of a label map its own style and strength instead.
Images with a side above --tile px are processed in overlapping tiles, so memory is bounded by
the tile, not the photo.
"""


def register(sub) -> None:
    p = sub.add_parser(
        "stylize",
        help="stylize images with a feed-forward network (fast; any size, tiled when large)",
        description="Stylize CONTENT (an image, or a folder of images) with one or more styles.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("content", help="content image, or a folder of images (batch mode)")
    p.add_argument("style_image", nargs="?", help="style image (or use --style, repeatable)")
    add_style_inputs(p)
    add_label_inputs(p)
    p.add_argument("-o", "--output", required=True, help="output image, or output folder in batch mode")
    add_engine_inputs(p, default="teacher")
    p.add_argument("--size", type=int, help="long side of the output in px (default: the content's)")
    p.add_argument(
        "--style-size", type=int, help="long side of the styles in px (default: the output's, ≤1024)"
    )
    p.add_argument(
        "--method",
        choices=METHODS,
        default=None,
        help=f"teacher feature transform: adain/wct at relu4_1, or multilevel (relu4_1 .. relu1_1); "
        f"default {TEACHER_METHOD}",
    )
    p.add_argument(
        "--level-weights",
        default=",".join(f"{w:g}" for w in DEFAULT_LEVEL_WEIGHTS),
        metavar="W1,W2,W3,W4",
        help="multilevel: strength per level relu1_1,..,relu4_1 (times --alpha; 0 skips a level)",
    )
    p.add_argument(
        "--level-methods",
        default=",".join(DEFAULT_LEVEL_METHODS),
        metavar="M1,M2,M3,M4",
        help="multilevel: wct, adain or ot (WCT then sliced optimal transport: the style's whole feature "
        "distribution, stronger texture, slower) per level relu1_1,relu2_1,relu3_1,relu4_1",
    )
    p.add_argument(
        "--residual",
        action="store_true",
        help="teacher: each level adds its decoded change to the image instead of replacing it by the "
        "decoder's output (keeps fine detail and texture through the cascade)",
    )
    p.add_argument(
        "--refine",
        type=int,
        default=0,
        metavar="N",
        help="after the network, N small steps of the Gatys objective (15 with --method multilevel "
        "--residual: finer texture than Magenta's on the dev set; each step costs about one teacher "
        "pass; needs the whole image: no tiling)",
    )
    p.add_argument(
        "--tile",
        type=int,
        default=None,
        metavar="N",
        help="tile size in px (default: 1024 when the image is larger; 0 = never tile)",
    )
    p.add_argument("--overlap", type=int, default=64, metavar="N", help="tile overlap in px (default 64)")
    p.add_argument(
        "--feather",
        type=float,
        default=None,
        metavar="SIGMA",
        help="mask edge blur in px (default 1.5%% of the short side)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(func=run)


def _folder_images(folder: str) -> list[str]:
    from tfstyle.images import LOAD_EXTENSIONS

    names = sorted(n for n in os.listdir(folder) if not n.startswith("."))
    known = set(LOAD_EXTENSIONS)
    files = [os.path.join(folder, n) for n in names if os.path.isfile(os.path.join(folder, n))]
    files = [f for f in files if os.path.splitext(f)[1].lower() in known]
    if not files:
        raise InputError(folder, "no image files in this folder")
    return files


def _batch_output(out_dir: str, path: str) -> str:
    from tfstyle.images import SAVE_EXTENSIONS

    stem, ext = os.path.splitext(os.path.basename(path))
    return os.path.join(out_dir, stem + (ext if ext.lower() in SAVE_EXTENSIONS else ".png"))


_FIELDS = (
    "alpha",
    "size",
    "style_size",
    "tile",
    "overlap",
    "feather",
    "level_weights",
    "level_methods",
    "refine",
)


def _config(args: argparse.Namespace):
    from tfstyle.engines import StylizeConfig

    if not 0.0 <= args.alpha <= 1.0:  # also rejects nan
        raise TfstyleError(f"--alpha must be between 0 and 1, not {args.alpha:g}")
    config = StylizeConfig(
        alpha=args.alpha,
        size=args.size,
        style_size=args.style_size,
        preserve_color=args.preserve_color,
        method=args.method,
        # the multi-level teacher's options; commands without them (video) take the defaults
        level_weights=getattr(args, "level_weights", DEFAULT_LEVEL_WEIGHTS),
        level_methods=getattr(args, "level_methods", DEFAULT_LEVEL_METHODS),
        residual=getattr(args, "residual", False),
        refine=getattr(args, "refine", 0),
        tile=args.tile,
        overlap=args.overlap,
        feather=args.feather,
        engine=args.model,
    )
    try:
        return config.validate()
    except TfstyleError as exc:
        message = str(exc)
        field = message.split(" ", 1)[0]
        if field in _FIELDS:  # name the option as the user typed it
            message = "--" + field.replace("_", "-") + message[len(field) :]
        raise TfstyleError(message) from None


def run(args: argparse.Namespace) -> int:
    from tfstyle.commands._common import load_label_inputs, load_style_inputs, one_line_warnings
    from tfstyle.images import load_image

    config = _config(args)
    batch = os.path.isdir(args.content)
    if batch and args.labels:
        raise TfstyleError("--labels is the label map of one image; it cannot be used with a folder")
    contents = _folder_images(args.content) if batch else [args.content]
    out_dir = args.output if batch or os.path.isdir(args.output) else None
    if out_dir is None:
        from tfstyle.images import check_output_path

        check_output_path(args.output)
    elif os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise InputError(out_dir, "batch mode writes into a folder, but this is a file")

    # every input is read and checked before TensorFlow is imported, so bad input fails fast
    styles, masks = load_style_inputs(args)
    labels = load_label_inputs(args)
    weights = parse_weights(args.weights, len(styles))
    first = None if batch else load_image(args.content, size=args.size)

    from tfstyle.driver import stylize
    from tfstyle.engines import get_engine
    from tfstyle.images import save_image

    check_threads(args)
    engine = get_engine(args.model, threads=args.threads)
    getattr(engine, "check", lambda _config: None)(config)

    def one(path: str, image, callback=None) -> str:
        image = load_image(path, size=args.size) if image is None else image
        # the image is already at its final size; masks are resized to it inside stylize
        with one_line_warnings():
            result = stylize(
                image,
                styles,
                weights=weights,
                masks=masks,
                labels=labels,
                config=config,
                engine=engine,
                callback=callback,
                size=None,
            )
        dest = _batch_output(out_dir, path) if out_dir else args.output
        save_image(dest, result)
        return dest

    if not batch:
        with progress(desc="stylize", unit="tile", quiet=args.quiet, leave=False) as bar:

            def on_tile(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)

            dest = one(args.content, first, on_tile)
        if not args.quiet:
            print(f"wrote {dest}")
        return 0

    failed = 0
    with progress(total=len(contents), desc="stylize", unit="img", quiet=args.quiet) as bar:
        for path in contents:
            try:
                one(path, None)
            except InputError as exc:  # one line per unusable file; the others are still written
                failed += 1
                bar.write(f"tfstyle: error: {exc}", file=sys.stderr)
            bar.update(1)
    if not args.quiet:
        note = f" ({failed} failed)" if failed else ""
        print(f"wrote {len(contents) - failed} of {len(contents)} images to {out_dir}{note}")
    return 2 if failed else 0
