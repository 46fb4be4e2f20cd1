"""``tfstyle demo``: stylize scikit-image's sample photos, so a fresh install can show results
without any data of its own."""

from __future__ import annotations

import argparse
import os

# (content, style) pairs from skimage.data: photos as content, textured images as styles.
PAIRS = (("astronaut", "immunohistochemistry"), ("coffee", "hubble_deep_field"), ("chelsea", "rocket"))


def register(sub) -> None:
    p = sub.add_parser("demo", help="stylize scikit-image sample photos and write a contact sheet")
    p.add_argument("-o", "--output", default="demo_out", help="output folder (default demo_out)")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=run)


def sample(name: str):
    """A skimage.data image as float RGB in [0, 1]."""
    import numpy as np
    import skimage.data

    image = getattr(skimage.data, name)()
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return image[..., :3].astype(np.float32) / 255.0


def run(args: argparse.Namespace) -> int:
    from tfstyle.commands._common import progress
    from tfstyle.gatys import GatysConfig, optimize
    from tfstyle.images import resize, save_image
    from tfstyle.sheets import contact_sheet

    rows = []
    with progress(total=len(PAIRS) * args.steps, desc="demo", unit="step", quiet=args.quiet) as bar:
        for content_name, style_name in PAIRS:
            content = resize(sample(content_name), args.size)
            style = resize(sample(style_name), args.size)
            result = optimize(
                content, [style], GatysConfig(steps=args.steps), callback=lambda *_: bar.update(1)
            )
            out = os.path.join(args.output, f"{content_name}__{style_name}.png")
            save_image(out, result.image)
            rows.append([content, style, result.image])
    sheet = os.path.join(args.output, "contact_sheet.png")
    contact_sheet(rows, ["content", "style", "gatys"], sheet)
    print(f"wrote {len(rows)} images and {sheet}")
    return 0
