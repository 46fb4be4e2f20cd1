"""Options and parsing shared by the subcommands (styles, blend weights, masks, precision)."""

from __future__ import annotations

import argparse
import sys

from tfstyle.errors import TfstyleError


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


def add_precision(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--precision",
        choices=("auto", "float32", "mixed_bfloat16", "mixed_float16"),
        default="auto",
        help="auto: bfloat16 on CPUs with BF16, float16 on GPUs, float32 otherwise",
    )


def parse_weights(text: str | None, n: int) -> list[float]:
    if not text:
        return [1.0] * n
    try:
        weights = [float(w) for w in text.split(",")]
    except ValueError:
        raise TfstyleError(f"--weights {text!r}: expected numbers separated by commas") from None
    if len(weights) != n:
        raise TfstyleError(f"--weights gives {len(weights)} values for {n} styles")
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise TfstyleError(f"--weights {text!r}: weights must be non-negative and not all zero")
    return weights


def style_paths(args: argparse.Namespace) -> list[str]:
    paths = ([args.style_image] if getattr(args, "style_image", None) else []) + list(args.style)
    if not paths:
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
    if masks is not None:
        check_count(len(masks), len(styles))
    return styles, masks


def progress(quiet: bool = False, **kwargs):
    """A tqdm bar on stderr: off when ``quiet``, and off by itself when stderr is not a terminal."""
    from tqdm import tqdm

    return tqdm(file=sys.stderr, dynamic_ncols=True, disable=True if quiet else None, **kwargs)
