"""``tfstyle video``: frames/fps kept, temporal consistency, resume after a crash, ranges, errors.

Clips are synthetic (:func:`benchmarks.video.synthetic_frames`: textured shapes over a textured
background; :func:`benchmarks.clips.camera_clip`: a zoom and a rotation over a dev photo) and tiny
(96 x 72, 12-16 frames); the engine is the shipped INT8 student on LiteRT with
one thread (about a millisecond a frame), so the whole file runs in seconds.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from benchmarks.clips import camera_clip
from benchmarks.video import run_clip, synthetic_frames, throughput, write_video
from tfstyle import cli
from tfstyle import video as V
from tfstyle.errors import InputError
from tfstyle.runtime import TfliteEngine

FPS = 12.5


class CountingEngine(TfliteEngine):
    """The LiteRT student engine, counting the frames it stylizes."""

    calls = 0

    def stylize_tile(self, tile, code, config):
        self.calls += 1
        return super().stylize_tile(tile, code, config)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("clips")
    return {
        "static": write_video(str(folder / "static.mp4"), synthetic_frames(16, 96, 72), FPS),
        "drift": write_video(str(folder / "drift.mp4"), synthetic_frames(16, 96, 72, drift=1), FPS),
        "zoom": write_video(str(folder / "zoom.mp4"), camera_clip(16, (96, 72), zoom=0.015), FPS),
        "rotation": write_video(str(folder / "rotation.mp4"), camera_clip(16, (96, 72), degrees=2.0), FPS),
    }


@pytest.fixture(scope="module")
def style(data_dir) -> str:
    return str(data_dir / "dev" / "style" / "udnie.jpg")


def _engine() -> CountingEngine:
    return CountingEngine(threads=1)


def _frames(folder: str) -> list[np.ndarray]:
    names = sorted(n for n in os.listdir(folder) if n.endswith(".png"))
    return [cv2.cvtColor(cv2.imread(os.path.join(folder, n)), cv2.COLOR_BGR2RGB) for n in names]


# ----------------------------------------------------------------------------- building blocks


def test_flow_at_a_reduced_size_is_scaled_back():
    rng = np.random.default_rng(2)
    scene = cv2.GaussianBlur(rng.random((120, 200, 3)).astype(np.float32), (0, 0), 3.0)
    prev, cur = scene[:, 8:168], scene[:, 2:162]  # cur(x) = prev(x - 6)
    flow = V.optical_flow(cur, prev, size=80)
    assert flow.shape == (120, 160, 2)
    assert np.median(flow[10:-10, 10:-10, 0]) == pytest.approx(-6.0, abs=0.5)


def test_flow_warp_and_occlusion_follow_a_shift():
    rng = np.random.default_rng(0)
    scene = cv2.GaussianBlur(rng.random((80, 120, 3)).astype(np.float32), (0, 0), 2.0)
    prev, cur = scene[:, 4:100], scene[:, 1:97]  # the camera moves 3 px left: cur(x) = prev(x - 3)
    backward = V.optical_flow(cur, prev)
    inner = backward[8:-8, 8:-8]
    assert np.allclose(np.median(inner[..., 0]), -3.0, atol=0.3) and abs(np.median(inner[..., 1])) < 0.3
    assert np.abs(V.warp(prev, backward) - cur)[8:-8, 8:-8].mean() < 0.01
    mask = V.occlusion_mask(backward, V.optical_flow(prev, cur))
    assert mask[:, 10:-10].mean() > 0.9  # seen in both frames
    assert mask[:, :2].max() < 0.5  # the left edge is new: it came from outside the previous frame


def test_warping_error_definition():
    rng = np.random.default_rng(1)
    scene = cv2.GaussianBlur(rng.random((72, 120, 3)).astype(np.float32), (0, 0), 2.0)
    contents = [scene[:, 12 - 3 * t : 108 - 3 * t] for t in range(4)]  # a pan, 3 px/frame
    assert V.warping_error(contents, contents) < 0.01  # moves exactly with the content
    frozen = [contents[0]] * 4  # a still picture over moving content: what the motion predicts is not there
    assert V.warping_error(contents, frozen) > 0.01
    flicker = [np.clip(c + (0.1 if t % 2 else 0.0), 0, 1) for t, c in enumerate(contents)]
    assert V.warping_error(contents, flicker) == pytest.approx(0.1, abs=0.02)
    with pytest.raises(ValueError):
        V.warping_error(contents, contents[:2])


# ----------------------------------------------------------------------------- the driver


@pytest.mark.parametrize("ext", [".mp4", ".avi"])
def test_frames_fps_and_size_are_kept(clips, style, tmp_path, ext):
    out = str(tmp_path / f"out{ext}")
    result = V.stylize_video(clips["static"], out, style, engine=_engine(), size=64)
    info = V.probe(out)
    assert (info.width, info.height, info.fps) == (96, 72, FPS)
    assert result.frames == 16 == sum(1 for _ in V.read_frames(out))
    assert not os.path.exists(V.sidecar_path(out))  # removed after muxing


def _detail(image: np.ndarray) -> float:
    """Mean |Laplacian|: the fine texture a smear washes out."""
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return float(np.abs(cv2.Laplacian(gray, cv2.CV_32F)).mean())


def test_flow_mode_halves_flicker_without_smearing(clips, style, tmp_path):
    """On every clip, zoom and rotation included: warping error well under per-frame, and the
    texture's fine detail kept: one sub-pixel resampling of a keyframe costs some of the
    pixel-level detail (~10 % of the |Laplacian| at this tiny size, more as a 1.5 %/frame zoom
    magnifies the keyframe), and it does not accumulate frame after frame."""
    for clip, src in clips.items():
        contents = list(V.read_frames(src))
        numbers = {}
        for mode in ("none", "flow"):
            out = str(tmp_path / f"{clip}_{mode}.mp4")
            V.stylize_video(src, out, style, engine=_engine(), consistency=mode, keep_frames=True)
            frames = _frames(V.sidecar_path(out))
            numbers[mode] = (V.warping_error(contents, frames), np.mean([_detail(f) for f in frames[4:]]))
        (err0, detail0), (err1, detail1) = numbers["none"], numbers["flow"]
        assert err1 <= 0.6 * err0, (clip, err1 / err0)
        assert detail1 >= 0.72 * detail0, (clip, detail1 / detail0)


def test_stretch_reads_a_zoom_and_ignores_a_pan():
    from tfstyle.trajectories import stretch

    yy, xx = np.mgrid[0:60, 0:80].astype(np.float32)
    pan = np.stack([np.full_like(xx, 5.0), np.full_like(yy, -2.0)], -1)
    zoom = np.stack([(xx - 40) * (1 / 1.1 - 1), (yy - 30) * (1 / 1.1 - 1)], -1)  # samples 1.1x closer in
    assert stretch(pan) == pytest.approx(1.0, abs=1e-4)
    assert stretch(zoom) == pytest.approx(1.1, rel=1e-3)
    assert stretch(-zoom * 0.5) > 1.0  # zooming out counts too


def test_keyframe_mix_keeps_the_texture_contrast():
    """Two unrelated textures mixed half and half keep their detail's energy (a plain average would
    lose ~30 %); a texture mixed with itself is left as it is (no gain compounding over keyframes)."""
    from tfstyle.trajectories import _vp_mix

    rng = np.random.default_rng(4)
    a, b = rng.random((2, 64, 64, 3)).astype(np.float32)
    half = np.full((64, 64, 1), 0.5, np.float32)

    def detail(x):
        return float(np.std(x - cv2.GaussianBlur(x, (0, 0), 2.0)))

    assert detail(0.5 * a + 0.5 * b) < 0.8 * detail(a)
    assert detail(_vp_mix(a, b, half)) == pytest.approx(detail(a), rel=0.1)
    np.testing.assert_allclose(_vp_mix(a, a, half), a, atol=1e-5)


def test_flow_that_drags_pixels_is_not_trusted():
    """Behind a moving object the composed flow drags the edge's pixels over a band (they all sample
    one column of the keyframe): untrusted there, trusted elsewhere; a uniform zoom is trusted."""
    from tfstyle.trajectories import _rigid

    yy, xx = np.mgrid[0:60, 0:120].astype(np.float32)
    drag = np.zeros((60, 120, 2), np.float32)
    drag[..., 0] = np.clip(40 - xx, -30, 0)  # x in 40..70 all sample x = 40
    rigid = _rigid(drag, 1.6)
    assert rigid[:, 50:60].max() == 0.0 and rigid[:, 5:30].min() == 1.0 and rigid[:, 80:115].min() == 1.0
    zoom = np.stack([(xx - 60) * (1 / 1.2 - 1), (yy - 30) * (1 / 1.2 - 1)], -1)
    assert _rigid(zoom, 1.6)[5:-5, 5:-5].min() == pytest.approx(1.0)


def test_keyframe_mix_keeps_each_bands_contrast():
    """Strokes, not only grain: two unrelated textures with all their energy at 4-8 px keep it when
    mixed half and half (the single-band mix of the eighth session restored only the finest scale)."""
    from tfstyle.trajectories import _pyramid, _vp_mix

    rng = np.random.default_rng(5)
    coarse = [cv2.resize(rng.random((16, 16, 3)).astype(np.float32), (96, 96)) for _ in range(2)]
    half = np.full((96, 96, 1), 0.5, np.float32)
    energy = [float(np.mean(b * b)) for b in _pyramid(coarse[0])[1:3]]
    plain = [float(np.mean(b * b)) for b in _pyramid(0.5 * coarse[0] + 0.5 * coarse[1])[1:3]]
    kept = [float(np.mean(b * b)) for b in _pyramid(_vp_mix(*coarse, half))[1:3]]
    for e, p, k in zip(energy, plain, kept, strict=True):
        assert p < 0.7 * e and k == pytest.approx(e, rel=0.2)


def test_restoring_detail_raises_soft_bands_only():
    """A resampled (softened) keyframe gets each band's contrast back up to the fresh frame's, with one
    gain per band; a keyframe already as sharp as the fresh frame is left as it is."""
    from tfstyle.trajectories import _collapse, _pyramid, _restored

    rng = np.random.default_rng(6)
    fresh = rng.random((64, 96, 3)).astype(np.float32)
    soft = cv2.GaussianBlur(fresh, (0, 0), 0.8)
    fine = [float(np.std(b)) for b in _pyramid(fresh)[:2]]
    before = [float(np.std(b)) for b in _pyramid(soft)[:2]]
    after = [float(np.std(b)) for b in _restored(_pyramid(soft), _pyramid(fresh))[:2]]
    assert before[0] < 0.7 * fine[0]
    assert after[0] > before[0] * 1.3 and after[0] <= fine[0] * 1.01 and after[1] <= fine[1] * 1.01
    same = _collapse(_restored(_pyramid(fresh), _pyramid(soft)))
    np.testing.assert_allclose(same, fresh, atol=1e-5)


def test_a_keyframe_fades_in(clips, style, tmp_path):
    """A new keyframe on a still camera: at once it is one jump; faded in over 4 frames the biggest
    frame-to-frame change is far smaller, and the journal holds the keyframe's own image."""
    jumps = {}
    for fade in (0, 4):
        out = str(tmp_path / f"fade{fade}.mp4")
        V.stylize_video(clips["static"], out, style, engine=_engine(), refresh=5, fade=fade, keep_frames=True)
        frames = [f.astype(np.float32) for f in _frames(V.sidecar_path(out))]
        changes = [float(np.abs(b - a).mean()) for a, b in itertools.pairwise(frames)]
        jumps[fade] = max(changes) - float(np.median(changes))  # above the moving shapes' own change
        keys = sorted(n for n in os.listdir(V.sidecar_path(out)) if n.endswith(".key"))
        assert keys == ([] if fade == 0 else ["000005.key", "000010.key", "000015.key"])
    assert jumps[4] < 0.35 * jumps[0], jumps  # a linear fade over 4 frames: 1/5 of the jump per frame


def test_network_and_none_are_per_frame(clips, style, tmp_path):
    outs = {}
    for mode in ("network", "none"):
        out = str(tmp_path / f"{mode}.mp4")
        V.stylize_video(
            clips["zoom"], out, style, engine=_engine(), consistency=mode, max_frames=3, keep_frames=True
        )
        outs[mode] = _frames(V.sidecar_path(out))
    for a, b in zip(outs["network"], outs["none"], strict=True):
        np.testing.assert_array_equal(a, b)


def test_scene_cut_takes_a_keyframe(style, tmp_path):
    a, b = synthetic_frames(6, 96, 72, seed=0), synthetic_frames(6, 96, 72, drift=1, seed=5)
    src = write_video(str(tmp_path / "cut.mp4"), a + b, FPS)
    out = str(tmp_path / "out.mp4")
    V.stylize_video(src, out, style, engine=_engine(), refresh=100, keep_frames=True)
    with open(os.path.join(V.sidecar_path(out), V.KEYS_FILE)) as fh:
        assert json.load(fh) == [0, 6]  # the first frame, and the cut; no scheduled refresh


def test_resume_after_a_crash_redoes_nothing_and_matches(clips, style, tmp_path):
    """The crash falls in the middle of a fade (a keyframe at frame 4 fading in over 4 frames): the
    resumed run restores both keyframes from the journal and draws the same frames."""
    src = clips["drift"]
    whole = str(tmp_path / "whole.mp4")
    V.stylize_video(src, whole, style, engine=_engine(), refresh=4, keep_frames=True)

    out = str(tmp_path / "resumed.mp4")

    def crash(done: int, _total) -> None:
        if done == 6:
            raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError, match="simulated crash"):
        V.stylize_video(src, out, style, engine=_engine(), refresh=4, callback=crash, keep_frames=True)
    assert not os.path.exists(out) and len(_frames(V.sidecar_path(out))) == 6
    assert os.path.isfile(os.path.join(V.sidecar_path(out), "000004.key"))
    # the video is encoded as the frames come, inside the journal's folder: nothing half-made beside it
    assert sorted(os.listdir(tmp_path)) == ["resumed.mp4.frames", "whole.mp4", "whole.mp4.frames"]

    engine = _engine()
    result = V.stylize_video(src, out, style, engine=engine, refresh=4, keep_frames=True)
    assert result.reused == 6 and engine.calls == 16 - 6
    for a, b in zip(_frames(V.sidecar_path(whole)), _frames(V.sidecar_path(out)), strict=True):
        np.testing.assert_array_equal(a, b)
    assert sum(1 for _ in V.read_frames(out)) == 16

    # other options: the old frames are not reused
    engine = _engine()
    result = V.stylize_video(src, out, style, engine=engine, refresh=3)
    assert result.reused == 0 and engine.calls == 16
    assert not os.path.exists(V.sidecar_path(out))


def test_start_and_max_frames(clips, style, tmp_path):
    import tfstyle

    src, out = clips["static"], str(tmp_path / "part.mp4")
    result = V.stylize_video(
        src, out, style, engine=_engine(), start=3, max_frames=4, consistency=False, keep_frames=True
    )
    assert result.frames == 4 == sum(1 for _ in V.read_frames(out))
    assert sorted(os.listdir(V.sidecar_path(out)))[:4] == [f"{i:06d}.png" for i in range(3, 7)]
    frame3 = next(V.read_frames(src, start=3))
    expected = tfstyle.stylize(frame3, style, engine=_engine(), style_size=96)
    got = _frames(V.sidecar_path(out))[0]
    assert np.abs(got.astype(int) - np.rint(expected * 255).astype(int)).max() <= 1
    with pytest.raises(InputError, match="past the end"):
        V.stylize_video(src, str(tmp_path / "x.mp4"), style, engine=_engine(), start=16)


def test_teacher_feature_smoothing_and_its_resume(clips, style, tmp_path):
    from tfstyle.engines.teacher import TeacherEngine

    engine = TeacherEngine()
    if not os.path.isfile(engine.decoder_path):
        pytest.skip("no teacher decoder")
    options = {"engine": engine, "max_frames": 4, "size": 64, "feature_smoothing": True, "keep_frames": True}
    resumed = str(tmp_path / "resumed.mp4")

    def crash(done: int, _total) -> None:
        if done == 2:
            raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError):
        V.stylize_video(clips["drift"], resumed, style, callback=crash, **options)
    assert sorted(os.listdir(V.sidecar_path(resumed)))[:3] == ["000000.png", "000001.feats.npy", "000001.png"]
    V.stylize_video(clips["drift"], resumed, style, **options)
    whole = str(tmp_path / "whole.mp4")
    V.stylize_video(clips["drift"], whole, style, **options)
    for a, b in zip(_frames(V.sidecar_path(whole)), _frames(V.sidecar_path(resumed)), strict=True):
        np.testing.assert_array_equal(a, b)

    outs = {}
    for smooth in (False, True):
        out = str(tmp_path / f"t{smooth}.mp4")
        V.stylize_video(
            clips["drift"], out, style, engine=engine, max_frames=3, consistency=False,
            feature_smoothing=smooth, size=64, keep_frames=True,
        )  # fmt: skip
        outs[smooth] = _frames(V.sidecar_path(out))
    np.testing.assert_array_equal(outs[False][0], outs[True][0])  # nothing to smooth with yet
    for a, b in zip(outs[False][1:], outs[True][1:]):
        assert np.abs(a.astype(int) - b.astype(int)).mean() > 0.5


# ----------------------------------------------------------------------------- the command line


def test_cli_video(clips, style, tmp_path, capsys):
    out = tmp_path / "cli.avi"
    argv = ["video", clips["static"], "--style", style, "-o", str(out), "--model", "tflite", "--threads", "1"]
    assert cli.main([*argv, "--max-frames", "3", "--start", "2", "--size", "64"]) == 0
    assert "3 frames at 12.5 fps, 96x72" in capsys.readouterr().out
    assert V.probe(out).fps == FPS and sum(1 for _ in V.read_frames(out)) == 3
    for mode in ("network", "flow"):
        argv_mode = [*argv, "--max-frames", "2", "--consistency", mode, "--refresh", "4", "--flow-size", "48"]
        assert cli.main(argv_mode) == 0
        assert "frames/s" in capsys.readouterr().out


def _bad_inputs(tmp_path) -> dict[str, str]:
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 20)
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "folder.mp4").mkdir()
    zero = str(tmp_path / "zero.avi")
    cv2.VideoWriter(zero, cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 64)).release()
    return {
        str(text): "cannot read this video",
        str(tmp_path / "empty.mp4"): "empty file",
        str(tmp_path / "folder.mp4"): "is a folder",
        str(tmp_path / "missing.mp4"): "no such file",
        zero: "the video has no frames",
    }


def test_cli_unusable_videos_give_one_line(style, tmp_path, capsys):
    for path, reason in _bad_inputs(tmp_path).items():
        rc = cli.main(["video", path, "--style", style, "-o", str(tmp_path / "o.mp4")])
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 2 and len(err) == 1 and err[0].startswith(f"tfstyle: error: {path}: {reason}"), err
    for argv, message in (
        (["-o", str(tmp_path / "o.gif")], "unsupported video extension '.gif'"),
        (["-o", str(tmp_path / "o.mp4"), "--blend", "2"], "--blend must be between 0 and 1"),
        (["-o", str(tmp_path / "o.mp4"), "--max-frames", "0"], "--max-frames must be at least 1"),
        (["-o", str(tmp_path / "o.mp4"), "--refresh", "0"], "--refresh must be at least 1"),
        (["-o", str(tmp_path / "o.mp4"), "--fade", "-1"], "--fade must be >= 0"),
        (
            ["-o", str(tmp_path / "o.mp4"), "--feature-smoothing"],
            "--feature-smoothing is for --model teacher",
        ),
    ):
        assert cli.main(["video", str(tmp_path / "notes.mp4"), "--style", style, *argv]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0]
    assert not os.path.exists(tmp_path / "o.mp4")


def test_cli_text_file_as_video_in_a_real_process(style, tmp_path):
    """Nothing but the one line reaches stderr (FFmpeg's own complaint is silenced)."""
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video\n")
    argv = ["video", str(bad), "--style", style, "-o", str(tmp_path / "o.mp4")]
    proc = subprocess.run(
        [sys.executable, "-m", "tfstyle.cli", *argv],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"tfstyle: error: {bad}: " + V.UNREADABLE]


def test_resume_discards_frames_drawn_by_other_weights(clips, style, tmp_path):
    """Retrained or upgraded weights at the same path: the old frames are not resumed."""
    import shutil

    from tfstyle.runtime import default_paths

    paths = [str(tmp_path / os.path.basename(p)) for p in default_paths()]
    for src, dest in zip(default_paths(), paths, strict=True):
        shutil.copyfile(src, dest)
    out = str(tmp_path / "out.mp4")
    V.stylize_video(
        clips["static"], out, style, engine=CountingEngine(*paths, threads=1), max_frames=4, keep_frames=True
    )

    engine = CountingEngine(*paths, threads=1)
    assert (
        V.stylize_video(clips["static"], out, style, engine=engine, max_frames=6, keep_frames=True).reused
        == 4
    )
    assert engine.calls == 2  # same weights: resumed

    with open(paths[0], "ab") as fh:  # other bytes at the same path (the flatbuffer ignores a tail)
        fh.write(b"\0" * 8)
    engine = CountingEngine(*paths, threads=1)
    assert (
        V.stylize_video(clips["static"], out, style, engine=engine, max_frames=6, keep_frames=True).reused
        == 0
    )
    assert engine.calls == 6


def test_benchmark_reruns_are_drawn_and_timed_again(clips, style, tmp_path):
    out = str(tmp_path / "bench.mp4")
    first = run_clip(clips["static"], style, _engine(), out, max_frames=4)
    engine = _engine()
    again = run_clip(clips["static"], style, engine, out, max_frames=4)  # would resume all 4 frames
    assert engine.calls == 4
    assert 0 < again["throughput"] < 1e4 and 0 < first["throughput"] < 1e4
    resumed = V.stylize_video(clips["static"], out, style, engine=_engine(), max_frames=4, keep_frames=True)
    assert resumed.reused == 4
    with pytest.raises(ValueError, match="no frames drawn"):
        throughput(resumed)


def test_cli_video_defaults_are_the_library_defaults():
    """``tfstyle video``'s flags repeat :class:`~tfstyle.video.VideoConfig`'s defaults as literals (the
    parser is built at start-up, before the video modules are imported): the two must agree."""
    from tfstyle import cli
    from tfstyle.video import VideoConfig

    args = cli.build_parser().parse_args(["video", "in.mp4", "--style", "s.jpg", "-o", "out.mp4"])
    defaults = VideoConfig()
    assert (args.flow_size or None) == defaults.flow_size
    for name in ("consistency", "refresh", "fade", "blend", "occlusion", "flow", "start"):
        assert getattr(args, name) == getattr(defaults, name), name
    assert args.model == "tflite_v2"
