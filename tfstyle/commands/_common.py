"""Options and parsing shared by the subcommands (styles, blend weights, masks, label maps, precision)."""

from __future__ import annotations

import argparse
import contextlib
import sys
import warnings

from tfstyle.driver import parse_weights
from tfstyle.errors import TfstyleError
from tfstyle.progress import progress

__all__ = ["parse_weights", "progress"]  # re-exported: the subcommands take them from here


def add_engine_inputs(p: argparse.ArgumentParser, default: str) -> None:
    """--model, --threads and --alpha: how every feed-forward command picks and drives an engine."""
    from tfstyle.engines import ENGINES

    p.add_argument("--alpha", type=float, default=1.0, help="style strength from 0 (content) to 1 (default)")
    p.add_argument(
        "--model",
        choices=sorted(ENGINES),
        default=default,
        help="teacher (VGG19 AdaIN, slowest), student (MobileNetV2, Keras) or tflite (the student on "
        f"LiteRT, INT8, fastest); default {default}",
    )
    p.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help="--model tflite / tflite_v2: interpreter threads (default: every core)",
    )


def check_threads(args: argparse.Namespace) -> None:
    if args.threads is not None and args.threads < 1:
        raise TfstyleError(f"--threads must be at least 1, not {args.threads}")


def add_style_inputs(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--style", action="append", default=[], metavar="IMAGE", help="style image; repeat to blend"
    )
    p.add_argument("--weights", help="blend weights, one per style, e.g. 0.7,0.3")
    p.add_argument(
        "--mask",
        action="append",
        default=[],
        metavar="PNG",
        help="region mask (white = styled): one for all styles, or one per style",
    )
    p.add_argument("--preserve-color", choices=("none", "luminance", "histogram"), default="none")


def add_label_inputs(p: argparse.ArgumentParser, semantic: bool = False) -> None:
    """``--labels``/``--label-map`` (and, for Gatys, ``--style-labels``): per-class styles and strengths."""
    p.add_argument(
        "--labels",
        metavar="PNG",
        help="label map of the content: integer classes (8/16-bit grayscale or palette PNG) from any "
        "segmentation tool; resized with nearest neighbour",
    )
    p.add_argument(
        "--label-map",
        metavar="JSON",
        help='class -> style and strength, e.g. {"1": {"style": "sky.jpg", "strength": 1.0}, '
        '"2": {"strength": 0.3}, "default": {"strength": 0}}; paths relative to the JSON; without '
        "a style a class gets --style. Unlisted classes keep the content",
    )
    if semantic:
        p.add_argument(
            "--style-labels",
            metavar="PNG",
            help="label map of the --style image: each class of the content matches the statistics "
            "of the same class in the style (semantic Gram matching)",
        )


def load_label_inputs(args: argparse.Namespace):
    """The command's :class:`tfstyle.labels.LabelMap` (None without ``--labels``), read and checked
    before TensorFlow is imported so that a bad file fails fast with one line."""
    from tfstyle.labels import LabelMap, load_labels, load_table

    style_labels = getattr(args, "style_labels", None)
    if args.labels is None:
        for flag, value in (("--label-map", args.label_map), ("--style-labels", style_labels)):
            if value:
                raise TfstyleError(f"{flag} needs --labels (the content's label map)")
        return None
    if args.mask:
        raise TfstyleError("give --mask or --labels, not both")
    for path in (args.labels, style_labels):
        if path:
            load_labels(path)  # checked now; read again (cheap) where the path names it in messages
    return LabelMap(args.labels, load_table(args.label_map) if args.label_map else None, style_labels or None)


@contextlib.contextmanager
def one_line_warnings(prog: str = "tfstyle"):
    """Show label-table warnings (ignored classes, ...) as ``tfstyle: warning: ...`` lines on stderr."""
    from tfstyle.labels import LabelWarning

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        if issubclass(category, LabelWarning):
            print(f"{prog}: warning: {message}", file=sys.stderr)
        else:
            original(message, category, filename, lineno, file, line)

    with warnings.catch_warnings():  # restores showwarning on exit
        warnings.simplefilter("always", LabelWarning)
        original = warnings.showwarning
        warnings.showwarning = show
        yield


def add_precision(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--precision",
        choices=("auto", "float32", "mixed_bfloat16", "mixed_float16"),
        default="auto",
        help="auto: bfloat16 on CPUs with BF16, float16 on GPUs, float32 otherwise",
    )


def style_paths(args: argparse.Namespace) -> list[str]:
    """The command's style images; none is fine when a label table names its own styles."""
    paths = ([args.style_image] if getattr(args, "style_image", None) else []) + list(args.style)
    if not paths and not getattr(args, "label_map", None):
        raise TfstyleError("no style image given (positional STYLE or --style)")
    return paths


def load_style_inputs(args: argparse.Namespace, shape: tuple[int, int] | None = None):
    """Load every style image and mask the command names; with ``shape`` the styles' long side
    becomes the content's and the masks are resized to it, else both keep their own size."""
    from tfstyle.images import load_image, load_mask
    from tfstyle.masks import check_count

    paths = style_paths(args)
    styles = [load_image(p, size=max(shape) if shape else None) for p in paths]
    masks = [load_mask(m, shape=shape) for m in args.mask] or None
    if masks is not None and styles:
        check_count(len(masks), len(styles))
    return styles, masks
