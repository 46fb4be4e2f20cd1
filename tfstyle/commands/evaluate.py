"""``tfstyle evaluate``: score stylised outputs against their content and style images."""

from __future__ import annotations

import argparse
import os

from tfstyle.errors import TfstyleError

EPILOG = """\
inputs: either a CSV manifest with header content,style,<method>,... (paths relative to the CSV),
or --content-dir/--style-dir with one --output NAME=DIR per method, where DIR holds
{content_stem}__{style_stem}.png for every content x style combination.

examples:
  tfstyle evaluate runs.csv --compare teacher,student -o report.md --sheet sheet.png
  tfstyle evaluate --content-dir data/dev/content --style-dir data/dev/style \\
      --output gatys=out/gatys --output magenta=out/magenta --content-baseline --json report.json
"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="score stylised outputs (style/content distances, parity between methods)",
        description="Score each method's outputs: Gram and mean/std style distances (VGG19), relu4_1 content "
        "distance and luminance SSIM to the content, and PSNR/SSIM between compared methods.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("manifest", nargs="?", help="CSV manifest: content,style,<method>,...")
    p.add_argument("--content-dir", help="folder of content images")
    p.add_argument("--style-dir", help="folder of style images")
    p.add_argument(
        "--output",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="a method's output folder (repeatable)",
    )
    p.add_argument(
        "--compare",
        action="append",
        default=[],
        metavar="A,B",
        help="PSNR/SSIM between two methods (repeatable)",
    )
    p.add_argument(
        "--content-baseline",
        action="store_true",
        help="also score the content image itself as pseudo-method 'content'",
    )
    p.add_argument("-o", "--report", metavar="REPORT.md", help="write the full Markdown report")
    p.add_argument("--json", metavar="REPORT.json", help="write all numbers as JSON")
    p.add_argument("--sheet", metavar="SHEET.png", help="write a contact sheet: content | style | outputs")
    p.add_argument("--cell", type=int, default=192, help="contact sheet cell size in pixels (default 192)")
    p.add_argument("--size", type=int, default=None, help="load images with this long side (default: native)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _parse_outputs(specs: list[str]) -> dict[str, str]:
    outputs: dict[str, str] = {}
    for spec in specs:
        name, sep, directory = spec.partition("=")
        name, directory = name.strip(), directory.strip()
        if not sep or not name or not directory:
            raise TfstyleError(f"--output expects NAME=DIR, got {spec!r}")
        if name in outputs:
            raise TfstyleError(f"--output {name!r} given twice")
        outputs[name] = os.path.expanduser(directory)
    return outputs


def _rows(args):
    from tfstyle import evaluate as ev

    use_dirs = bool(args.content_dir or args.style_dir or args.output)
    if args.manifest and use_dirs:
        raise TfstyleError("give either a MANIFEST.csv or --content-dir/--style-dir/--output, not both")
    if args.manifest:
        return ev.load_manifest(args.manifest)
    if not (args.content_dir and args.style_dir and args.output):
        raise TfstyleError("give a MANIFEST.csv, or all of --content-dir, --style-dir and --output NAME=DIR")
    return ev.rows_from_dirs(args.content_dir, args.style_dir, _parse_outputs(args.output))


def run(args) -> int:
    from tfstyle import evaluate as ev
    from tfstyle.files import write_text

    if args.cell < 8:
        raise TfstyleError("--cell must be at least 8 pixels")
    if args.size is not None and args.size < 16:
        raise TfstyleError("--size must be at least 16 pixels")
    rows = _rows(args)
    methods = list(rows[0].outputs)
    # Validate everything cheap before TensorFlow and VGG19 load.
    ev.check_rows(rows, methods)
    ev.parse_compare(args.compare)
    report = ev.evaluate(
        rows,
        methods=methods,
        compare=args.compare,
        progress=not args.quiet,
        include_content_baseline=args.content_baseline,
        size=args.size,
    )
    print(report.mean_markdown())
    if args.report:
        write_text(args.report, report.to_markdown())
    if args.json:
        write_text(args.json, report.to_json())
    if args.sheet:
        ev.write_contact_sheet(rows, methods, args.sheet, cell=args.cell)
    return 0
