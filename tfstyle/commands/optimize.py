"""``tfstyle optimize``: Gatys et al. optimisation of one image."""

from __future__ import annotations

import argparse
import os

from tfstyle.commands._common import (
    add_label_inputs,
    add_precision,
    add_style_inputs,
    one_line_warnings,
    parse_weights,
    progress,
)

EPILOG = """\
examples:
  tfstyle optimize photo.jpg --style wave.jpg -o out.png
  tfstyle optimize photo.jpg --style a.jpg --style b.jpg --mask left.png --mask right.png -o out.png
  tfstyle optimize photo.jpg --labels seg.png --label-map classes.json -o out.png
  tfstyle optimize photo.jpg --style painting.jpg --labels seg.png --style-labels painting_seg.png -o out.png

Regions (--mask or --labels) are feathered by --feather and each matches its own style inside
itself; a class's strength scales its style term. With --style-labels each class of the content
matches the same class of the style image (semantic Gram matching).
"""


def register(sub) -> None:
    p = sub.add_parser(
        "optimize",
        help="stylize by optimising the image itself (Gatys et al.): slow, highest quality",
        description="Optimise an image so its VGG19 features match CONTENT's and its feature "
        "statistics match STYLE's.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("content", help="content image")
    p.add_argument("style_image", nargs="?", help="style image (or use --style, repeatable)")
    add_style_inputs(p)
    add_label_inputs(p, semantic=True)
    p.add_argument(
        "--feather",
        type=float,
        default=None,
        metavar="SIGMA",
        help="region edge blur in px (default 1.5%% of the short side; 0 = hard)",
    )
    p.add_argument("-o", "--output", required=True, help="output image (.png, .jpg, ...)")
    p.add_argument("--size", type=int, default=512, help="long side of the output in px (default 512)")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--optimizer", choices=("adam", "lbfgs"), default="adam")
    p.add_argument("--lr", type=float, default=0.02, help="Adam learning rate (pixels in [0,1])")
    p.add_argument("--init", choices=("content", "noise"), default="content")
    p.add_argument("--content-weight", type=float, default=1.0)
    p.add_argument("--style-weight", type=float, default=10.0)
    p.add_argument("--tv-weight", type=float, default=1.0)
    p.add_argument(
        "--content-weight-end", type=float, help="decay the content weight to this by the last step"
    )
    p.add_argument("--style-weight-end", type=float, help="grow the style weight to this by the last step")
    p.add_argument("--style-loss", choices=("gram", "mean_std"), default="gram")
    p.add_argument("--pooling", choices=("max", "avg"), default="max")
    add_precision(p)
    p.add_argument(
        "--snapshot-every", type=int, default=0, metavar="N", help="save OUT.stepNNNNN.EXT every N steps"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tfstyle.commands._common import load_label_inputs, load_style_inputs
    from tfstyle.images import load_image, save_image

    content = load_image(args.content, size=args.size)
    styles, masks = load_style_inputs(args, content.shape[:2])
    labels = load_label_inputs(args)
    weights = parse_weights(args.weights, len(styles))

    from tfstyle.gatys import GatysConfig, optimize

    config = GatysConfig(
        steps=args.steps,
        optimizer=args.optimizer,
        learning_rate=args.lr,
        init=args.init,
        content_weight=args.content_weight,
        style_weight=args.style_weight,
        tv_weight=args.tv_weight,
        content_weight_end=args.content_weight_end,
        style_weight_end=args.style_weight_end,
        style_loss=args.style_loss,
        pooling=args.pooling,
        precision=args.precision,
        preserve_color=args.preserve_color,
        feather=args.feather,
        seed=args.seed,
    )
    config.validate()
    stem, ext = os.path.splitext(args.output)
    bar = progress(total=args.steps, desc="optimize", unit="step", quiet=args.quiet)

    def on_step(step: int, terms: dict, get_image) -> None:
        bar.update(1)
        bar.set_postfix({k: f"{v:.3g}" for k, v in terms.items()}, refresh=False)
        if args.snapshot_every and (step + 1) % args.snapshot_every == 0:
            save_image(f"{stem}.step{step + 1:05d}{ext}", get_image())

    with bar, one_line_warnings():
        result = optimize(
            content, styles, config, style_weights=weights, masks=masks, labels=labels, callback=on_step
        )
    save_image(args.output, result.image)
    first, last = result.history[0]["total"], result.history[-1]["total"]
    if not args.quiet:
        print(
            f"wrote {args.output}: total loss {first:.4g} -> {last:.4g} "
            f"({100 * (1 - last / first):.1f}% lower), {result.seconds_per_step * 1000:.0f} ms/step, "
            f"{result.precision}"
        )
    return 0
