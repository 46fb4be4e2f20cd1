"""Video benchmarks (issue 6: video with temporal consistency).

python -m benchmarks.video   # quality with/without consistency -> docs/QUALITY.md (video),
                             # throughput at 384 px per engine -> docs/BENCHMARKS.md (video-speed)

Three clips: two synthetic ones (textured shapes moving over a textured background, static or
drifting, made by :func:`synthetic_frames`, which the tests use too) and a pan across a dev content
image (a crop window sliding over it). Each is stylized per frame and with temporal consistency by
every engine; temporal error is :class:`tfstyle.video.TemporalError`, style distance the dev set's
mean/std one (:func:`tfstyle.metrics.style_distance`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Sequence

import cv2
import numpy as np

from benchmarks.devset import DEV_C, DEV_S
from benchmarks.report import machine, update_section

ENGINES = ("teacher", "student", "tflite")
STYLE = os.path.join(DEV_S, "udnie.jpg")
PAN_SOURCE = os.path.join(DEV_C, "avril.jpg")
STRIP_RUN = ("teacher", "synthetic, static camera")

# ----------------------------------------------------------------------------- clips


def synthetic_frames(
    n: int = 24, width: int = 128, height: int = 96, drift: int = 0, seed: int = 0
) -> list[np.ndarray]:
    """RGB uint8 frames: a textured background (drifting ``drift`` px/frame) and three textured shapes
    moving at different speeds and directions: motion, occlusions and disocclusions, static texture."""
    rng = np.random.default_rng(seed)
    pad = drift * n + 8
    base = rng.random((height // 8 + 2, (width + pad) // 8 + 2, 3)).astype(np.float32)
    smooth = cv2.resize(base, ((width + pad) + 16, height + 16), interpolation=cv2.INTER_CUBIC)
    grain = rng.random((height + 16, width + pad + 16, 1)).astype(np.float32)
    background = np.clip(0.75 * smooth + 0.25 * grain, 0, 1)[8 : 8 + height, 8 : 8 + width + pad]
    yy, xx = np.mgrid[0:height, 0:width]
    stripes = 0.5 + 0.5 * np.sin((xx + yy) * 0.9)
    checks = ((xx // 4 + yy // 4) % 2).astype(np.float32)
    frames = []
    for t in range(n):
        img = background[:, drift * t : drift * t + width].copy()
        cx, cy = 0.2 * width + 1.5 * t, 0.5 * height + 0.15 * height * np.sin(t / 5)
        disc = (xx - cx) ** 2 + (yy - cy) ** 2 < (0.16 * height) ** 2
        img[disc] = np.stack([0.9 * stripes, 0.3 + 0.2 * stripes, 0.2 * stripes], -1)[disc]
        x0, y0 = int(0.75 * width - 1.2 * t), int(0.15 * height + 0.6 * t)
        box = (xx >= x0) & (xx < x0 + width // 5) & (yy >= y0) & (yy < y0 + height // 4)
        img[box] = np.stack([0.2 + 0.6 * checks, 0.4 + 0.5 * checks, 0.9 * np.ones_like(checks)], -1)[box]
        tri = (yy > 0.7 * height) & (np.abs(xx - (0.5 * width + 0.8 * t) % width) < (yy - 0.7 * height))
        img[tri] = [0.95, 0.85, 0.2]
        frames.append(np.rint(np.clip(img, 0, 1) * 255).astype(np.uint8))
    return frames


def pan_frames(image: np.ndarray, n: int = 32, width: int = 384, step: int = 4) -> list[np.ndarray]:
    """RGB uint8 frames of a ``width`` x ``2/3 width`` window sliding ``step`` px/frame across ``image``."""
    from tfstyle.images import resize, to_uint8

    height = (2 * width // 3) // 2 * 2
    need = width + step * (n - 1)
    big = resize(image, max(height, round(need * image.shape[0] / image.shape[1])), side="short")
    if big.shape[1] < need:
        big = resize(image, need, side="long") if image.shape[1] >= image.shape[0] else big
    y0 = (big.shape[0] - height) // 2
    return [to_uint8(big[y0 : y0 + height, t * step : t * step + width]) for t in range(n)]


def write_video(path: str, frames: list[np.ndarray], fps: float) -> str:
    """Frames (RGB uint8) into ``path`` with the codec tfstyle writes for its extension."""
    from tfstyle.video import VIDEO_CODECS

    h, w = frames[0].shape[:2]
    codec = VIDEO_CODECS[os.path.splitext(path)[1].lower()]
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*codec), fps, (w, h))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


# ----------------------------------------------------------------------------- measuring


def _frames_of(folder: str) -> list[np.ndarray]:
    names = sorted(n for n in os.listdir(folder) if n.endswith(".png"))
    return [cv2.cvtColor(cv2.imread(os.path.join(folder, n)), cv2.COLOR_BGR2RGB) for n in names]


def throughput(result) -> float:
    """Frames/s over the frames this run drew (a ``VideoResult``'s time excludes reused frames)."""
    drawn = result.frames - result.reused
    if drawn <= 0 or result.seconds <= 0:
        raise ValueError(f"{result.output}: no frames drawn in this run, so no throughput")
    return drawn / result.seconds


def run_clip(src: str, style: str, engine: str, out: str, every: int = 4, **options) -> dict:
    """Stylize ``src`` afresh (frames kept), then: temporal errors, mean style distance over every
    ``every``-th frame, frame count and fps of the written video, stylization frames/s."""
    from tfstyle.images import load_image
    from tfstyle.metrics import style_distance
    from tfstyle.video import probe, read_frames, sidecar_path, stylize_video, temporal_error

    # without the earlier run's frames nothing is resumed: a rerun with unchanged weights and
    # options would draw no frame, and the teacher (unchanged between student releases) was
    # reported at 1.2e10 frames/s
    shutil.rmtree(sidecar_path(out), ignore_errors=True)
    result = stylize_video(src, out, style, engine=engine, keep_frames=True, **options)
    frames = _frames_of(sidecar_path(out))
    contents = list(read_frames(src, options.get("start", 0), options.get("max_frames")))
    style_image = load_image(style)
    written, source = probe(out), probe(src)
    return {
        "temporal": temporal_error(contents, frames),
        "temporal_flow": temporal_error(contents, frames, flow="farneback"),
        "style": float(np.mean([style_distance(f, style_image)["mean_std"] for f in frames[::every]])),
        "frames": sum(1 for _ in read_frames(out)),
        "expected_frames": len(contents),
        "fps_ok": abs(written.fps - source.fps) < 1e-3
        and (written.width, written.height) == (source.width, source.height),
        "fps": written.fps,
        "throughput": throughput(result),
        "stylized": frames,
        "contents": contents,
    }


def stable_pan_error(engine: str, style: str, n: int, width: int, step: int, clip: list[np.ndarray]) -> float:
    """Temporal error of a perfectly stable stylization of the pan: the whole strip the window
    sweeps, stylized once, seen through the same window (the floor of the flow-free metric)."""
    import tfstyle
    from tfstyle.images import load_image, resize, to_uint8
    from tfstyle.video import temporal_error

    height = clip[0].shape[0]
    need = width + step * (n - 1)
    image = load_image(PAN_SOURCE)
    big = resize(image, max(height, round(need * image.shape[0] / image.shape[1])), side="short")
    y0 = (big.shape[0] - height) // 2
    band = tfstyle.stylize(big[y0 : y0 + height, :need], style, engine=_engine(engine), style_size=width)
    return temporal_error(clip, [to_uint8(band[:, t * step : t * step + width]) for t in range(n)])


def _engine(name: str):
    if name == "tflite":
        from tfstyle.runtime import TfliteEngine

        return TfliteEngine(threads=os.cpu_count())
    return name


def _pct(new: float, old: float) -> str:
    return f"{100 * (new / old - 1):+.0f}%"


def _strip(result: dict, path: str, columns: int = 6) -> None:
    """Content / per-frame / consistent rows, then the per-pixel temporal error maps (x4) of both."""
    from tfstyle.sheets import contact_sheet

    contents, plain, stable = result["contents"], result["plain"]["stylized"], result["stable"]["stylized"]
    picks = np.linspace(1, len(contents) - 1, columns).round().astype(int)

    def error_map(s: list[np.ndarray], t: int) -> np.ndarray:
        ds = s[t].astype(np.float32) - s[t - 1]
        dc = contents[t].astype(np.float32) - contents[t - 1]
        return np.clip(4 * np.abs(ds - dc).mean(-1) / 255.0, 0, 1)

    rows = [
        [contents[t] for t in picks],
        [plain[t] for t in picks],
        [stable[t] for t in picks],
        [error_map(plain, t) for t in picks],
        [error_map(stable, t) for t in picks],
    ]
    labels = ["content", "per-frame", "consistent", "error, per-frame", "error, consistent"]
    contact_sheet(rows, [f"frame {t}" for t in picks], path, cell=160, row_labels=labels)


def measure(out: str, engines: Sequence[str], frames: int, teacher_frames: int) -> dict:
    from tfstyle.images import load_image

    os.makedirs(out, exist_ok=True)
    pan_n, pan_w, pan_step = frames, 384, 4
    clips = {
        "synthetic, static camera": write_video(
            os.path.join(out, "synthetic.mp4"), synthetic_frames(frames, 256, 192), 12.0
        ),
        "synthetic, drifting camera": write_video(
            os.path.join(out, "synthetic_drift.mp4"), synthetic_frames(frames, 256, 192, drift=1), 12.0
        ),
        "pan over avril.jpg": write_video(
            os.path.join(out, "pan.mp4"), pan_frames(load_image(PAN_SOURCE), pan_n, pan_w, pan_step), 24.0
        ),
    }
    results: dict = {}
    for engine in engines:
        limit = teacher_frames if engine == "teacher" else None
        for clip, src in clips.items():
            stem = os.path.splitext(os.path.basename(src))[0]
            row = {}
            conditions = {"plain": {"consistency": False}, "stable": {}}
            if engine == "teacher":
                conditions["feature"] = {"consistency": False, "feature_smoothing": True}
            for cond, options in conditions.items():
                dest = os.path.join(out, f"{stem}_{engine}_{cond}.mp4")
                row[cond] = run_clip(src, STYLE, _engine(engine), dest, max_frames=limit, **options)
                print(
                    f"{engine:8s} {clip:28s} {cond:8s}",
                    {k: v for k, v in row[cond].items() if k not in ("stylized", "contents")},
                    flush=True,
                )
            row["contents"] = row["plain"]["contents"]
            if clip.startswith("pan"):
                n = len(row["contents"])
                row["floor"] = stable_pan_error(engine, STYLE, n, pan_w, pan_step, row["contents"])
            results[engine, clip] = row
    return results


def quality_section(results: dict, frames: int, teacher_frames: int, strip: str) -> str:
    lines = [
        "## Video: temporal consistency (issue 6)",
        "",
        f"Measured with `python -m benchmarks.video` on {machine()}. Style: udnie.jpg; alpha 1; "
        f"consistency = `tfstyle video` defaults (DIS flow, forward-backward occlusion mask, blend 0.8); "
        f"per-frame = `--no-consistency`. Clips: *synthetic* ({frames} frames, 256x192, 12 fps: textured "
        "shapes moving over a textured background that is static, or drifts 1 px/frame), *pan* "
        f"({frames} frames, 384x256, 24 fps: a window sliding 4 px/frame across the dev image avril.jpg). "
        f"The teacher runs the first {teacher_frames} frames of each clip.",
        "",
        "* **temporal error**: mean |(S_t - S_t-1) - (C_t - C_t-1)| (the issue's definition; 0-1 scale).",
        "* **along motion**: the same with both differences taken along the content's optical flow "
        "(Farneback, not the DIS the method uses), over pixels visible in both frames: "
        "mean |(S_t - W(S_t-1)) - (C_t - W(C_t-1))|, the warping error of Lai et al. 2018.",
        "* **style distance**: the dev set's mean/std style distance to the style image (every 4th frame).",
        "",
        "| engine | clip | temporal error: per-frame -> consistent | along motion | style distance | frames, fps, size kept |",
        "|---|---|---|---|---|---|",
    ]
    for (engine, clip), row in results.items():
        a, b = row["plain"], row["stable"]
        kept = all(r["frames"] == r["expected_frames"] and r["fps_ok"] for r in (a, b))
        lines.append(
            f"| {engine} | {clip} | {a['temporal']:.4f} -> {b['temporal']:.4f} (**{_pct(b['temporal'], a['temporal'])}**) "
            f"| {a['temporal_flow']:.4f} -> {b['temporal_flow']:.4f} (**{_pct(b['temporal_flow'], a['temporal_flow'])}**) "
            f"| {a['style']:.3g} -> {b['style']:.3g} ({_pct(b['style'], a['style'])}) "
            f"| {'yes' if kept else '**no**'} ({b['frames']} frames, {b['fps']:g} fps) |"
        )
    feature = [(k, r) for k, r in results.items() if "feature" in r]
    if feature:
        lines += [
            "",
            "Teacher, feature-level smoothing alone (`--feature-smoothing --no-consistency`: the relu4_1 "
            "AdaIN target blended with the previous frame's target warped by the flow, before decoding):",
            "",
            "| clip | temporal error | along motion | style distance |",
            "|---|---|---|---|",
        ]
        for (_, clip), row in feature:
            a, f = row["plain"], row["feature"]
            lines.append(
                f"| {clip} | {a['temporal']:.4f} -> {f['temporal']:.4f} ({_pct(f['temporal'], a['temporal'])}) "
                f"| {a['temporal_flow']:.4f} -> {f['temporal_flow']:.4f} ({_pct(f['temporal_flow'], a['temporal_flow'])}) "
                f"| {a['style']:.3g} -> {f['style']:.3g} ({_pct(f['style'], a['style'])}) |"
            )
    floors = {e: r for (e, c), r in results.items() if "floor" in r}
    if floors:
        lines += [
            "",
            "Why the issue's metric barely moves on the pan: it compares the *stylized* texture's change "
            "with the *content's*, and when everything moves those are two unrelated textures shifting. A "
            "perfectly stable result (the whole strip the window sweeps stylized once and panned over, i.e. "
            "zero flicker by construction) scores no better than per-frame stylization (the teacher's is "
            "worse still: AdaIN over the whole strip gives it other statistics and stronger texture):",
            "",
            "| engine | per-frame | consistent | perfectly stable pan (floor) |",
            "|---|---|---|---|",
        ]
        for engine, row in floors.items():
            lines.append(
                f"| {engine} | {row['plain']['temporal']:.4f} | {row['stable']['temporal']:.4f} "
                f"| {row['floor']:.4f} ({_pct(row['floor'], row['plain']['temporal'])}) |"
            )

    def status(ok: bool) -> str:
        return "met" if ok else "**not met**"

    lines += ["", "| acceptance | engine | measured | goal | |", "|---|---|---|---|---|"]
    for (engine, clip), row in results.items():
        if clip.startswith("synthetic, drifting"):
            continue
        a, b = row["plain"], row["stable"]
        cut, flow_cut = 1 - b["temporal"] / a["temporal"], 1 - b["temporal_flow"] / a["temporal_flow"]
        style = b["style"] / a["style"] - 1
        lines.append(
            f"| {clip}: temporal error reduction | {engine} | {100 * cut:.0f}% (along motion: {100 * flow_cut:.0f}%) "
            f"| >= 30% | {status(cut >= 0.3)} (along motion: {status(flow_cut >= 0.3)}) |"
        )
        lines.append(
            f"| {clip}: style distance change | {engine} | {100 * style:+.0f}% | <= +10% | {status(style <= 0.1)} |"
        )
    kept = all(
        r[c]["frames"] == r[c]["expected_frames"] and r[c]["fps_ok"]
        for r in results.values()
        for c in ("plain", "stable")
    )
    lines.append(
        f"| frames and fps preserved | all | {'all runs' if kept else 'not all runs'} | all runs | {status(kept)} |"
    )
    lines += ["", f"![video strip](img/{os.path.basename(strip)})", ""]
    lines.append(
        f"Strip: the {STRIP_RUN[0]} on the {STRIP_RUN[1]} clip; the error rows are the per-pixel "
        "|(S_t - S_t-1) - (C_t - C_t-1)|, x4. Per-frame, the strokes in and around the moving shapes are "
        "redrawn in every frame; with consistency they move with the shapes and the error is left at "
        "their outlines (disocclusions, and stylized edges that differ from the content's). The price is "
        "some smearing inside the fast-moving striped disc."
    )
    return "\n".join(lines) + "\n"


def speed_section(results: dict) -> str:
    lines = [
        "## Video throughput (384 px)",
        "",
        f"Measured with `python -m benchmarks.video` on {machine()}: the 384x256 pan clip, `tfstyle.video."
        "stylize_video` wall time per frame (stylization, DIS flow both ways, occlusion mask, blend, PNG "
        "frame write; style code computed once), all cores (TensorFlow defaults, LiteRT "
        f"{os.cpu_count()} threads).",
        "",
        "| engine | frames | per-frame (frames/s) | consistent (frames/s) |",
        "|---|---|---|---|",
    ]
    for (engine, clip), row in results.items():
        if clip.startswith("pan"):
            lines.append(
                f"| {engine} | {row['stable']['frames']} | {row['plain']['throughput']:.1f} | {row['stable']['throughput']:.1f} |"
            )
    return "\n".join(lines) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--engines", default=",".join(ENGINES))
    p.add_argument("--frames", type=int, default=32)
    p.add_argument("--teacher-frames", type=int, default=12)
    p.add_argument("--out", default="runs/bench/video")
    p.add_argument("--quality", default="docs/QUALITY.md")
    p.add_argument("--speed", default="docs/BENCHMARKS.md")
    p.add_argument("--strip", default="docs/img/video_strip.png")
    args = p.parse_args()
    engines = [e for e in args.engines.split(",") if e]
    results = measure(args.out, engines, args.frames, args.teacher_frames)
    _strip(results.get(STRIP_RUN) or next(iter(results.values())), args.strip)
    update_section(
        args.quality,
        "video",
        quality_section(results, args.frames, args.teacher_frames, args.strip),
        title="# Quality",
    )
    update_section(args.speed, "video-speed", speed_section(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
