"""``tfstyle video``: stylize a video with temporal consistency (keyframes along the optical flow)."""

from __future__ import annotations

import argparse

from tfstyle.commands._common import (
    add_engine_inputs,
    add_style_inputs,
    check_threads,
    parse_weights,
    progress,
)
from tfstyle.consistency import CONSISTENCY, DEFAULT_CONSISTENCY
from tfstyle.errors import TfstyleError

EPILOG = """\
examples:
  tfstyle video clip.mp4 --style udnie.jpg -o out.mp4
  tfstyle video clip.mp4 --style a.jpg --style b.jpg --weights 0.7,0.3 --model tflite --size 384 -o out.mp4
  tfstyle video long.mp4 --style udnie.jpg --start 300 --max-frames 120 --model student -o part.avi
  tfstyle video clip.mp4 --style udnie.jpg --consistency none -o flicker.mp4

The output keeps the input's frame rate and size (.mp4/.m4v/.mov: MPEG-4, .avi: MJPEG).
--consistency flow (default): keyframes are stylized and carried along the optical flow, each
output resampling a keyframe once (no smear, even on zooms and rotations); pixels the keyframe does
not show (occlusions, new content) are stylized afresh; a new keyframe every --refresh frames and at
scene cuts, fading in over --fade frames. network: every frame on its own, relying on the network's
own stability. none: every frame on its own.
Finished frames go to OUT.frames/ first: after a crash, rerunning the same command continues where
it stopped; the folder is removed once OUT is written.
"""


def register(sub) -> None:
    p = sub.add_parser(
        "video",
        help="stylize a video, temporally consistent (keyframes along the optical flow), resumable",
        description="Stylize the video INPUT into OUTPUT, frame by frame, at its frame rate and size.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input", help="input video (anything OpenCV reads: .mp4, .avi, .mov, ...)")
    p.add_argument("style_image", nargs="?", help="style image (or use --style, repeatable)")
    add_style_inputs(p)
    p.add_argument("-o", "--output", required=True, help="output video: .mp4, .m4v, .mov or .avi")
    add_engine_inputs(p, default="tflite_v2")
    p.add_argument(
        "--size", type=int, help="stylize at this long side in px, then resize back (default: the input size)"
    )
    p.add_argument("--style-size", type=int, help="long side of the styles in px (default: the frames')")
    p.add_argument(
        "--consistency",
        choices=list(CONSISTENCY),
        default=DEFAULT_CONSISTENCY,
        help=f"flow: keyframes along the optical flow; network: per frame, relying on the network's "
        f"stability; none: per frame (default {DEFAULT_CONSISTENCY})",
    )
    p.add_argument("--no-consistency", dest="consistency", action="store_const", const="none", help="= none")
    p.add_argument("--refresh", type=int, default=8, metavar="N", help="flow: a new keyframe every N frames")
    p.add_argument(
        "--fade",
        type=int,
        default=4,
        metavar="N",
        help="flow: a new keyframe fades in over N frames (0: at once)",
    )
    p.add_argument(
        "--flow-size",
        type=int,
        default=288,
        metavar="PX",
        help="flow: long side the optical flow is computed at (0: the frames' size; default 288)",
    )
    p.add_argument(
        "--feature-smoothing",
        action="store_true",
        help="teacher only: blend relu4_1 targets with the warped previous frame's before decoding",
    )
    p.add_argument(
        "--blend",
        type=float,
        default=0.8,
        help="--feature-smoothing: weight of the warped previous target where the flow is reliable",
    )
    p.add_argument(
        "--occlusion",
        type=float,
        default=0.7,
        metavar="PX",
        help="--feature-smoothing: forward-backward flow disagreement in px above which a pixel is occluded",
    )
    p.add_argument("--flow", choices=("auto", "dis", "farneback"), default="auto", help="optical flow method")
    p.add_argument("--start", type=int, default=0, metavar="N", help="first frame to stylize (0-based)")
    p.add_argument("--max-frames", type=int, metavar="N", help="stylize at most N frames")
    p.add_argument("--keep-frames", action="store_true", help="keep the OUT.frames folder of PNG frames")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(func=run, method="adain", tile=None, overlap=64, feather=None)


def _check(args: argparse.Namespace) -> None:
    if args.start < 0:
        raise TfstyleError(f"--start must be >= 0, not {args.start}")
    if args.max_frames is not None and args.max_frames < 1:
        raise TfstyleError(f"--max-frames must be at least 1, not {args.max_frames}")
    if not 0.0 <= args.blend <= 1.0:
        raise TfstyleError(f"--blend must be between 0 and 1, not {args.blend:g}")
    if not args.occlusion >= 0.0:
        raise TfstyleError(f"--occlusion must be >= 0 px, not {args.occlusion:g}")
    if args.refresh < 1:
        raise TfstyleError(f"--refresh must be at least 1 frame, not {args.refresh}")
    if args.fade < 0:
        raise TfstyleError(f"--fade must be >= 0 frames, not {args.fade}")
    if args.flow_size and args.flow_size < 16:
        raise TfstyleError(f"--flow-size must be 0 (full size) or at least 16 px, not {args.flow_size}")
    if args.feature_smoothing and args.model != "teacher":
        raise TfstyleError("--feature-smoothing is for --model teacher (it blends the teacher's features)")
    check_threads(args)


def run(args: argparse.Namespace) -> int:
    from tfstyle.commands._common import load_style_inputs
    from tfstyle.commands.stylize import _config
    from tfstyle.video import VideoConfig, check_output_path, probe

    _check(args)
    config = _config(args)
    # every input is checked before TensorFlow is imported, so bad input fails fast
    check_output_path(args.output)
    info = probe(args.input)
    styles, masks = load_style_inputs(args)
    weights = parse_weights(args.weights, len(styles))
    video = VideoConfig(
        consistency=args.consistency,
        refresh=args.refresh,
        fade=args.fade,
        flow_size=args.flow_size or None,
        blend=args.blend,
        occlusion=args.occlusion,
        feature_smoothing=args.feature_smoothing,
        flow=args.flow,
        start=args.start,
        max_frames=args.max_frames,
        keep_frames=args.keep_frames,
    )

    from tfstyle.engines import get_engine
    from tfstyle.video import stylize_video

    engine = get_engine(args.model, threads=args.threads)  # --threads checked above
    with progress(desc="video", unit="frame", quiet=args.quiet) as bar:  # tqdm shows frames/s

        def on_frame(done: int, total: int | None) -> None:
            bar.total = total
            bar.update(done - bar.n)

        result = stylize_video(
            info.path, args.output, styles, weights=weights, masks=masks, config=config,
            video=video, engine=engine, callback=on_frame,
        )  # fmt: skip
    if not args.quiet:
        reused = f", {result.reused} reused from an interrupted run" if result.reused else ""
        drawn = result.frames - result.reused
        speed = f", {drawn / result.seconds:.1f} frames/s" if drawn > 0 and result.seconds > 0 else ""
        print(
            f"wrote {result.output}: {result.frames} frames at {result.fps:g} fps, "
            f"{result.size[0]}x{result.size[1]}{reused}{speed}"
        )
    return 0
