"""Video stylization with temporal consistency (``tfstyle video``).

Stylizing frame by frame flickers: a feed-forward network amplifies tiny changes between frames
(noise, sub-pixel motion, statistics that move with the picture) into different brush strokes.
``consistency`` picks the remedy:

* ``"flow"`` (default): :mod:`tfstyle.trajectories`. Keyframes are stylized and carried along the
  optical flow (frame-to-frame DIS flows composed, at ``flow_size`` px); each output resamples a
  keyframe once, pixels whose content the keyframe does not show are stylized afresh, a keyframe
  is renewed every ``refresh`` frames and at scene cuts, and fades in over ``fade`` frames.
  Resampling never accumulates in the stylized texture, so a zoom or a rotation does not smear the
  painting away (issue 26).
* ``"network"``: each frame on its own, relying on the network's own temporal stability (a
  student trained with a temporal term needs no flow at run time).
* ``"none"``: each frame on its own.

**Feature-level smoothing** (``feature_smoothing``, teacher only): the teacher mixes, before
decoding, its AdaIN relu4_1 target with the previous frame's (smoothed) target warped by the flow
(flow and mask averaged onto the feature grid, weight ``blend``), so the decoder draws strokes
consistent with the previous frame. Untiled frames only.

**Resumable output**: each finished frame is written atomically to ``OUT.frames/NNNNNN.png``
(numbered by input frame; the flow mode's keyframes listed in ``keys.json``, a keyframe that fades
in as ``NNNNNN.key``, a PNG; with feature smoothing, the latest target as ``NNNNNN.feats.npy``)
with ``state.json`` naming the input and a hash of every option and of the weights' contents; a
rerun after a crash skips the frames already there (the flow is still followed through them) and
restores the keyframes from their saved PNGs. The
chain always goes through the saved 8-bit frames, so a resumed run writes exactly the frames an
uninterrupted one would. The frames are then muxed into ``OUT`` (``mp4v`` for .mp4/.m4v/.mov,
``MJPG`` for .avi) through a temporary file and one rename, at the input's frame rate and size,
and the sidecar folder is removed.

Style codes are computed once per video (:class:`tfstyle.code_cache.CachedCodes`). Flow, warping
and the warping error live in :mod:`tfstyle.flow`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from tfstyle.code_cache import CachedCodes
from tfstyle.consistency import CONSISTENCY, DEFAULT_CONSISTENCY
from tfstyle.errors import InputError, TfstyleError
from tfstyle.files import atomic_path, sha256_file, write_text
from tfstyle.flow import (
    FLOW_METHODS,
    WarpingError,
    occlusion_mask,
    optical_flow,
    warp,
    warping_error,
)
from tfstyle.images import from_uint8, resize, resize_to, scaled_shape, to_uint8
from tfstyle.trajectories import KeyframeWarper, TrajectoryConfig

__all__ = [
    "CONSISTENCY",
    "FLOW_METHODS",
    "VIDEO_CODECS",
    "VideoConfig",
    "VideoInfo",
    "VideoResult",
    "WarpingError",
    "check_output_path",
    "occlusion_mask",
    "optical_flow",
    "probe",
    "read_frames",
    "stylize_video",
    "warp",
    "warping_error",
]

VIDEO_CODECS: dict[str, str] = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG"}
"""Output extension -> FourCC; both ship with every OpenCV build's FFmpeg backend."""

# FFmpeg reports unreadable input on stderr itself; InputError says it in one line instead
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET, read when FFmpeg is first used

UNREADABLE = "cannot read this video (not a video file, or a codec OpenCV cannot decode)"
STATE_FILE = "state.json"
FRAME_NAME = "{:06d}.png"
KEY_NAME = "{:06d}.key"  # a keyframe that fades in (its image is not its frame's): PNG bytes
SIDECAR_SUFFIX = ".frames"


# ----------------------------------------------------------------------------- configuration


_FLOW = TrajectoryConfig()


@dataclass
class VideoConfig:
    """Temporal options of :func:`stylize_video` (the video-only flags of ``tfstyle video``).

    ``consistency``: ``"flow"`` (keyframes warped along the optical flow, :mod:`tfstyle.trajectories`),
    ``"network"`` (each frame on its own, relying on the network's own temporal stability) or
    ``"none"`` (each frame on its own). ``True``/``False`` are read as ``"flow"``/``"none"``.
    """

    consistency: str | bool = DEFAULT_CONSISTENCY
    # flow mode, defaults from :class:`TrajectoryConfig` (which says what each does)
    refresh: int = _FLOW.refresh
    keep: float = _FLOW.keep
    flow_size: int | None = _FLOW.flow_size
    tolerance: float = _FLOW.tolerance
    min_coverage: float = _FLOW.min_coverage
    max_stretch: float = _FLOW.max_stretch
    fade: int = _FLOW.fade
    feature_smoothing: bool = False  # teacher: blend relu4_1 targets with the previous frame's
    blend: float = 0.8  # feature smoothing: weight of the warped previous target where reliable
    occlusion: float = 0.7  # feature smoothing: forward-backward disagreement (px) tolerated
    flow: str = "auto"  # "auto" (DIS when available), "dis" or "farneback"
    start: int = 0  # first input frame (0-based)
    max_frames: int | None = None  # frames to stylize from ``start``; None = to the end
    keep_frames: bool = False  # keep the OUT.frames folder after muxing

    def validate(self) -> VideoConfig:
        if isinstance(self.consistency, bool):
            self.consistency = "flow" if self.consistency else "none"
        if self.consistency not in CONSISTENCY:
            raise TfstyleError(
                f"consistency must be one of {', '.join(CONSISTENCY)}, not {self.consistency!r}"
            )
        self.trajectories()  # checks refresh, keep, flow size, tolerance, coverage, stretch, fade
        if not 0.0 <= float(self.blend) <= 1.0:  # also rejects NaN
            raise TfstyleError(f"blend must be between 0 and 1, not {self.blend}")
        if not float(self.occlusion) >= 0.0:
            raise TfstyleError(f"occlusion must be >= 0 px, not {self.occlusion}")
        if self.flow not in FLOW_METHODS:
            raise TfstyleError(f"flow must be one of {', '.join(FLOW_METHODS)}, not {self.flow!r}")
        if int(self.start) < 0:
            raise TfstyleError(f"start must be >= 0, not {self.start}")
        if self.max_frames is not None and int(self.max_frames) < 1:
            raise TfstyleError(f"max_frames must be at least 1, not {self.max_frames}")
        return self

    def trajectories(self) -> TrajectoryConfig:
        """The flow mode's options."""
        return TrajectoryConfig(
            refresh=self.refresh, keep=self.keep, flow_size=self.flow_size, tolerance=self.tolerance,
            min_coverage=self.min_coverage, max_stretch=self.max_stretch, fade=self.fade, flow=self.flow,
        ).validate()  # fmt: skip


# ----------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class VideoInfo:
    path: str
    width: int
    height: int
    fps: float
    frames: int | None  # from the container header; None when it does not say


def _open(path: str) -> cv2.VideoCapture:
    if not os.path.exists(path):
        raise InputError(path, "no such file")
    if os.path.isdir(path):
        raise InputError(path, "is a folder, not a video")
    if os.path.getsize(path) == 0:
        raise InputError(path, "empty file, not a video")
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        cap.release()
        raise InputError(path, UNREADABLE)
    return cap


def probe(path: str | os.PathLike) -> VideoInfo:
    """Size, frame rate and frame count of a readable video with at least one frame, else InputError."""
    path = os.fspath(path)
    cap = _open(path)
    try:
        ok, frame = cap.read()
        if not ok or frame is None:
            raise InputError(path, "the video has no frames")
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    finally:
        cap.release()
    if not np.isfinite(fps) or fps <= 0.0:
        raise InputError(path, "the video does not state its frame rate")
    height, width = frame.shape[:2]
    return VideoInfo(path, int(width), int(height), fps, count if count > 0 else None)


def read_frames(
    path: str | os.PathLike, start: int = 0, max_frames: int | None = None
) -> Iterator[np.ndarray]:
    """RGB uint8 frames ``start .. start + max_frames - 1``.

    Frames before ``start`` are decoded and dropped rather than seeked over: container seeks land
    on key frames, and resuming must see exactly the same frames as the first run.
    """
    path = os.fspath(path)
    cap = _open(path)
    try:
        index, taken = 0, 0
        while max_frames is None or taken < max_frames:
            ok, frame = cap.read()
            if not ok or frame is None:
                break
            if index >= start:
                taken += 1
                yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            index += 1
    finally:
        cap.release()


def check_output_path(path: str | os.PathLike) -> None:
    """Fail before any work when the output's extension names no container we can write."""
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower()
    if ext not in VIDEO_CODECS:
        reason = f"unsupported video extension {ext!r}" if ext else "no video extension"
        raise InputError(path, f"{reason}; use one of {', '.join(sorted(VIDEO_CODECS))}")


# ----------------------------------------------------------------------------- engines


def _guided_teacher(base):
    """The teacher engine whose ``decode`` first pulls the target towards the previous frame's."""
    from tfstyle.engines.teacher import TeacherEngine, _to_grid

    class GuidedTeacher(TeacherEngine):
        """Feature-level smoothing on the relu4_1 targets (AdaIN'd content features, before decoding):
        ``target + blend · mask · (W(previous target) - target)``, flow and mask averaged onto the
        feature grid. The previous *target* is used, not the features of the previous output: the
        decoder re-stylizes whatever it is given, so feeding its output back in compounds the style."""

        frame_shape: tuple[int, int] | None = None  # (h, w) of the frames: a decode of it is untiled
        guide: tuple[np.ndarray, np.ndarray, np.ndarray, float] | None = None  # prev, flow, mask, blend
        last: np.ndarray | None = None  # the (smoothed) target of the frame just decoded; None if tiled

        def decode(self, feats: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
            if tuple(shape) != self.frame_shape:  # a tile: its features do not line up with the frame's
                self.last = None
                return super().decode(feats, shape)
            if self.guide is not None and self.guide[0].shape == feats.shape:
                prev, flow, mask, weight = self.guide
                grid, k = feats.shape[:2], self.multiple
                flow_grid = np.stack([_to_grid(flow[..., i], grid, k) for i in (0, 1)], -1) / k
                m = _to_grid(mask, grid, k).astype(np.float32)
                feats = feats + (weight * m)[..., None] * (warp(prev, flow_grid.astype(np.float32)) - feats)
            self.last = np.asarray(feats, np.float32)
            return super().decode(feats, shape)

    return GuidedTeacher(decoder=base.decoder_path, teacher=base.teacher)


# ----------------------------------------------------------------------------- resumable frames


@dataclass
class VideoResult:
    output: str
    frames: int  # frames in the output
    fps: float
    size: tuple[int, int]  # (width, height)
    reused: int  # frames found in the sidecar from an interrupted run
    seconds: float  # stylization wall time (frames computed in this run)


def sidecar_path(output: str | os.PathLike) -> str:
    return os.fspath(output) + SIDECAR_SUFFIX


def _frame_file(folder: str, index: int) -> str:
    return os.path.join(folder, FRAME_NAME.format(index))


def _key_file(folder: str, index: int) -> str:
    return os.path.join(folder, KEY_NAME.format(index))


def _clear_sidecar(folder: str) -> None:
    """Remove only what this module writes there (frames and state), then the folder if empty."""
    if not os.path.isdir(folder):
        return
    for name in os.listdir(folder):
        stem, ext = os.path.splitext(name)
        ours = (ext in (".png", ".key") and stem.isdigit()) or name.endswith(".feats.npy")
        if name in (STATE_FILE, KEYS_FILE) or ours or name.startswith("."):
            with contextlib.suppress(OSError):
                os.remove(os.path.join(folder, name))
    with contextlib.suppress(OSError):
        os.rmdir(folder)


def _open_sidecar(folder: str, state: dict) -> None:
    """Reuse ``folder`` if it was written for the same input and options, else start it afresh."""
    path = os.path.join(folder, STATE_FILE)
    try:
        with open(path, encoding="utf-8") as fh:
            same = json.load(fh) == state
    except (OSError, ValueError):
        same = False
    if not same:
        _clear_sidecar(folder)
        os.makedirs(folder, exist_ok=True)
        write_text(path, json.dumps(state, indent=1, sort_keys=True))


def _read_frame_bgr(path: str) -> np.ndarray:
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(path, "cannot read a stylized frame of the interrupted run (delete the folder)")
    return image


def _write_frame_png(path: str, bgr: np.ndarray) -> None:
    # fastest zlib level: the frames are a resume journal, removed once muxed
    ok, data = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise InputError(path, "cannot write a stylized frame")
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data.tobytes())


@contextlib.contextmanager
def _muxer(folder: str, output: str, fps: float, size: tuple[int, int]) -> Iterator[cv2.VideoWriter]:
    """The output video, encoded frame by frame as the loop makes them (reading the frame journal
    back for a second pass cost about 5 ms a frame at 384 px). It is written inside the sidecar
    ``folder`` (a hidden name its cleaning removes) and replaces ``output`` in one rename once the
    loop has finished: an interrupted run leaves the journal and no half video beside the output."""
    ext = os.path.splitext(output)[1].lower()
    partial = os.path.join(folder, f".video{ext}")
    writer = cv2.VideoWriter(partial, cv2.VideoWriter_fourcc(*VIDEO_CODECS[ext]), float(fps), size)
    if not writer.isOpened():
        raise InputError(output, "cannot write this video (OpenCV has no encoder for it)")
    try:
        yield writer
        writer.release()
        os.replace(partial, output)
    except BaseException:
        writer.release()
        with contextlib.suppress(OSError):
            os.remove(partial)
        raise


@dataclass
class _Previous:
    """The previous frame's index, content and (teacher feature smoothing) smoothed target."""

    index: int | None = None
    content: np.ndarray | None = None
    feats: np.ndarray | None = None


def _feats_file(folder: str, index: int) -> str:
    return os.path.join(folder, f"{index:06d}.feats.npy")


def _save_feats(folder: str, index: int, feats: np.ndarray | None, older: int | None) -> None:
    """Keep the latest frame's smoothed target for a resumed run (only the latest: they are large)."""
    if feats is not None:
        with atomic_path(_feats_file(folder, index)) as tmp, open(tmp, "wb") as fh:
            np.save(fh, feats)
    if older is not None:
        with contextlib.suppress(OSError):
            os.remove(_feats_file(folder, older))


def _load_feats(folder: str, index: int) -> np.ndarray | None:
    try:
        return np.load(_feats_file(folder, index))
    except (OSError, ValueError):
        return None


def _digest(value) -> str:
    array = np.ascontiguousarray(np.asarray(value))
    return hashlib.sha1(str(array.shape).encode() + array.tobytes()).hexdigest()


def _weights_id(path) -> str:
    """A weights file by path and content: retrained or upgraded weights at the same path must not
    resume frames the old ones drew."""
    return f"{path}:{sha256_file(path)}" if os.path.isfile(path) else str(path)


_NOT_IN_STATE = ("max_frames", "keep_frames")  # a longer or kept run reuses the same frames


def _state(info: VideoInfo, config, video: VideoConfig, engine, styles, weights, masks) -> dict:
    """Everything that decides the frames' pixels; a sidecar made under another state is discarded."""
    options = {
        "stylize": dataclasses.asdict(config),
        "video": {k: v for k, v in dataclasses.asdict(video).items() if k not in _NOT_IN_STATE},
        "engine": [type(engine).__name__, getattr(engine, "name", "")]
        + [_weights_id(p) for p in (getattr(engine, "paths", None) or [getattr(engine, "decoder_path", "")])],
        "styles": [_digest(s) for s in styles],
        "weights": None if weights is None else [float(w) for w in weights],
        "masks": None if masks is None else [_digest(m) for m in masks],
    }
    blob = json.dumps(options, sort_keys=True, default=str).encode()
    return {
        "input": os.path.abspath(info.path),
        "input_bytes": os.path.getsize(info.path),
        "size": [info.width, info.height],
        "fps": info.fps,
        "options": hashlib.sha1(blob).hexdigest(),
    }


KEYS_FILE = "keys.json"


def _read_keys(folder: str) -> set[int]:
    """The flow mode's keyframes drawn so far (a resumed run restores its state from them)."""
    try:
        with open(os.path.join(folder, KEYS_FILE), encoding="utf-8") as fh:
            return {int(i) for i in json.load(fh)}
    except (OSError, ValueError, TypeError):
        return set()


def _write_keys(folder: str, keys: set[int]) -> None:
    write_text(os.path.join(folder, KEYS_FILE), json.dumps(sorted(keys)))


# ----------------------------------------------------------------------------- the driver


def stylize_video(
    source: str | os.PathLike,
    output: str | os.PathLike,
    styles,
    *,
    weights: Sequence[float] | str | None = None,
    masks=None,
    config=None,
    video: VideoConfig | None = None,
    engine=None,
    callback: Callable[[int, int | None], None] | None = None,
    **options,
) -> VideoResult:
    """Stylize the video ``source`` into ``output`` at its frame rate and size; resumable after a crash.

    ``styles``, ``weights``, ``masks``, ``config`` (:class:`tfstyle.engines.StylizeConfig`; its
    ``size`` is the long side frames are stylized at, then resized back) and ``engine`` are as for
    :func:`tfstyle.stylize`; ``video`` holds the temporal options, and ``options``
    override fields of either config. ``callback(done, total)`` follows the frames (total is None
    when the container does not say).
    """
    from tfstyle import driver as S
    from tfstyle import engines as E
    from tfstyle.engines.teacher import TeacherEngine

    video_fields = {f.name for f in dataclasses.fields(VideoConfig)}
    video = dataclasses.replace(
        video or VideoConfig(), **{k: v for k, v in options.items() if k in video_fields}
    ).validate()
    config = dataclasses.replace(
        config or E.StylizeConfig(), **{k: v for k, v in options.items() if k not in video_fields}
    ).validate()
    if config.method is None:  # temporal feature smoothing works on the single-level relu4_1 targets
        config = dataclasses.replace(config, method="adain")
    output = os.fspath(output)
    check_output_path(output)
    info = probe(source)
    start, limit = int(video.start), video.max_frames
    if info.frames is not None and start >= info.frames:
        raise InputError(info.path, f"start frame {start} is past the end ({info.frames} frames)")
    total = None if info.frames is None else info.frames - start
    if limit is not None:
        total = int(limit) if total is None else min(total, int(limit))

    # styles are loaded and sized once, at the size stylize() would give them for every frame
    shape = (info.height, info.width)
    work = shape if config.size is None else scaled_shape(shape, int(config.size))
    style_long = int(config.style_size or min(max(work), E.STYLE_MAX))
    style_images = [S._as_image(s, "style") for s in S._styles_list(styles)]
    style_images = [resize(s, style_long) if max(s.shape[:2]) != style_long else s for s in style_images]
    blend = S._blend_weights(weights, len(style_images))
    mask_arrays = S._load_masks(masks, work, len(style_images))

    base = E.get_engine(engine, config)
    getattr(base, "check", lambda _c: None)(config)
    guided = None
    if video.feature_smoothing and float(video.blend) > 0.0:
        if not isinstance(base, TeacherEngine):
            raise TfstyleError("feature smoothing blends the teacher's relu4_1 targets: use --model teacher")
        guided = _guided_teacher(base)
        guided.frame_shape = work
    eng = CachedCodes(guided or base)
    warper = KeyframeWarper(video.trajectories()) if video.consistency == "flow" else None
    frame_config = dataclasses.replace(config, size=None)

    folder = sidecar_path(output)
    _open_sidecar(folder, _state(info, config, video, base, style_images, blend, mask_arrays))
    keys = _read_keys(folder)

    def to_work(frame: np.ndarray) -> np.ndarray:  # also how a saved 8-bit frame enters the chain
        image = from_uint8(frame)
        return image if image.shape[:2] == work else resize_to(image, work)

    def to_saved(image: np.ndarray) -> np.ndarray:  # a stylized image as the journal keeps it
        return to_uint8(image if image.shape[:2] == shape else resize_to(image, shape))

    prev = _Previous()
    done, reused, busy = 0, 0, 0.0
    with _muxer(folder, output, info.fps, (info.width, info.height)) as writer:
        for offset, frame in enumerate(read_frames(info.path, start, limit)):
            index = start + offset
            content = to_work(frame)
            path = _frame_file(folder, index)
            tic = time.perf_counter()
            if warper is not None:
                warper.track(content)
            if os.path.isfile(path):
                reused += 1
                prev.feats = None  # loaded only if the next frame has to be computed
                bgr = _read_frame_bgr(path)
                if warper is not None and index in keys:
                    key_path = _key_file(folder, index)
                    fades_in = os.path.isfile(key_path)
                    key_rgb = cv2.cvtColor(_read_frame_bgr(key_path) if fades_in else bgr, cv2.COLOR_BGR2RGB)
                    warper.set_key(index, content, to_work(key_rgb), fades_in)
            else:
                if guided is not None and prev.index is not None and prev.feats is None:
                    prev.feats = _load_feats(folder, prev.index)
                backward = mask = None
                if guided is not None and prev.content is not None:
                    backward = optical_flow(content, prev.content, video.flow)
                    mask = occlusion_mask(
                        backward, optical_flow(prev.content, content, video.flow), video.occlusion
                    )
                if guided is not None:
                    guided.last = None
                    ok = prev.feats is not None and backward is not None
                    guided.guide = (prev.feats, backward, mask, float(video.blend)) if ok else None
                out = S.stylize(
                    content, style_images, weights=blend, masks=mask_arrays, config=frame_config, engine=eng
                )
                key = None
                if warper is not None:
                    out, key = warper.render(index, content, out)
                saved = to_saved(out)
                if guided is not None:  # the features first: a frame's PNG means all of it is on disk
                    prev.feats = guided.last
                    _save_feats(folder, index, prev.feats, prev.index)
                key_saved = saved
                if key is not None:  # the keyframe and the key list first, for the same reason
                    if key.fades_in:
                        key_saved = to_saved(key.image)
                        _write_frame_png(_key_file(folder, index), cv2.cvtColor(key_saved, cv2.COLOR_RGB2BGR))
                    keys.add(index)
                    _write_keys(folder, keys)
                bgr = cv2.cvtColor(saved, cv2.COLOR_RGB2BGR)
                _write_frame_png(path, bgr)
                if key is not None:
                    warper.set_key(index, content, to_work(key_saved), key.fades_in)
            busy += time.perf_counter() - tic
            writer.write(bgr)
            done += 1
            prev.content, prev.index = content, index
            if callback is not None:
                callback(done, total)
        if not done:  # no half-written video replaces the output
            raise InputError(info.path, f"no frames from frame {start} on")
    if guided is not None:
        guided.guide = guided.last = None
    if not video.keep_frames:
        _clear_sidecar(folder)
    return VideoResult(output, done, info.fps, (info.width, info.height), reused, busy)
