"""``tfstyle dataset``: stylize a whole dataset (a folder tree) on Ray Data, resumably, with a manifest."""

from __future__ import annotations

import argparse
import sys

from tfstyle.commands._common import progress
from tfstyle.errors import TfstyleError

EPILOG = """\
examples:
  tfstyle dataset imagenet/train --styles paintings/ -o stylized/              # local Ray, every CPU
  tfstyle dataset photos/ --styles paintings/ -o out/ --alpha-range 0.5,1 --workers 2
  tfstyle dataset imagenet/train --styles paintings/ -o /shared/stylized --ray-address HEAD:6379

Each image gets one style and strength drawn from --seed and its path, so the result does not
depend on the number of workers. OUT mirrors SRC's folders and gets manifest.parquet (source,
style, strength, engine, output, status, error: one row per input). A rerun skips finished
outputs; unreadable inputs are listed in the manifest as failed and do not stop the run.
"""


def register(sub) -> None:
    from tfstyle.engines import ENGINES

    p = sub.add_parser(
        "dataset",
        help="stylize a whole dataset with random styles on Ray (Stylized-ImageNet style)",
        description="Stylize every image under SRC with a random style from --styles, into OUT.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("src", help="folder of images (sub-folders such as classes are kept)")
    p.add_argument("--styles", required=True, metavar="DIR", help="folder of style images (paintings)")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output folder")
    p.add_argument(
        "--model",
        choices=sorted(ENGINES),
        default="tflite",
        help="engine: tflite (INT8 student on LiteRT, fastest; default), student (Keras) or teacher "
        "(VGG19 AdaIN, as Stylized-ImageNet)",
    )
    strength = p.add_mutually_exclusive_group()
    strength.add_argument("--alpha", type=float, default=None, help="style strength 0..1 (default 1)")
    strength.add_argument(
        "--alpha-range", metavar="LO,HI", help="a random strength per image, uniform in [LO, HI]"
    )
    p.add_argument("--size", type=int, default=224, help="long side of the outputs in px (default 224)")
    p.add_argument("--seed", type=int, default=0, help="seed of the style and strength draws (default 0)")
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="Ray workers, one CPU each (default: every CPU; 0: no Ray, one process)",
    )
    p.add_argument("--ray-address", metavar="ADDR", help="join this Ray cluster (default: a local Ray)")
    p.add_argument("--batch-size", type=int, default=32, metavar="N", help="images per Ray task (32)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(func=run)


def strength_range(alpha: float | None, alpha_range: str | None) -> tuple[float, float]:
    """``--alpha A`` -> (A, A); ``--alpha-range LO,HI`` -> (LO, HI); neither -> (1, 1)."""
    if alpha_range is None:
        value = 1.0 if alpha is None else float(alpha)
        if not 0.0 <= value <= 1.0:
            raise TfstyleError(f"--alpha must be between 0 and 1, not {value:g}")
        return value, value
    try:
        lo, hi = (float(x) for x in alpha_range.split(","))
    except ValueError:
        raise TfstyleError(f"--alpha-range {alpha_range!r}: expected two numbers LO,HI") from None
    if not 0.0 <= lo <= hi <= 1.0:
        raise TfstyleError(f"--alpha-range {alpha_range!r}: need 0 <= LO <= HI <= 1")
    return lo, hi


def run(args: argparse.Namespace) -> int:
    from tfstyle.dataset import DatasetConfig
    from tfstyle.dataset import run as run_dataset

    config = DatasetConfig(
        engine=args.model,
        strength=strength_range(args.alpha, args.alpha_range),
        size=args.size,
        seed=args.seed,
        workers=args.workers,
        batch_size=args.batch_size,
        ray_address=args.ray_address,
    )
    with progress(desc="dataset", unit="img", quiet=args.quiet) as bar:
        summary = run_dataset(args.src, args.styles, args.output, config, progress=bar.update)
    if not args.quiet:
        for source, error in summary.failed[:10]:
            print(f"tfstyle: skipped {source}: {error}", file=sys.stderr)
        more = len(summary.failed) - 10
        if more > 0:
            print(f"tfstyle: ... and {more} more unreadable inputs (see the manifest)", file=sys.stderr)
        failed = f", {len(summary.failed)} unreadable (listed in the manifest)" if summary.failed else ""
        print(
            f"wrote {summary.written} images to {args.output} ({summary.existing} already there{failed}) "
            f"in {summary.seconds:.0f} s with {summary.workers or 'no Ray'} worker(s)"
        )
    return 0
