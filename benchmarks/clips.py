"""Benchmark clips for ``make bench-video``: camera moves over photos, and a real video.

Each maker returns RGB uint8 frames (384 x 256 unless said otherwise). The synthetic ones are a
virtual camera (an affine map per frame) over a dev photo, sampled from a photo at least as sharp
as the frame, so the content itself does not blur as the camera moves:

* ``pan``: 4 px/frame to the right.
* ``zoom``: zooming in 1.5 %/frame towards the centre (the texture's scale must not follow it
  forever: strokes would grow and blur).
* ``rotation``: 1.5 degrees/frame about the centre.
* ``occlusion``: a slow pan with a textured disc (cut from another photo) crossing in front.
* ``scene cut``: a pan over one photo, then a cut to a pan over another.
* ``real``: real videos from OpenCV's sample data (Debian package ``opencv-doc``), resized to
  384 px wide: ``tree.avi`` (a handheld camera on swaying leaves, 320 x 240, 15 fps; its first 68
  frames decode) and ``vtest.avi`` (a fixed camera over a square with people walking, 768 x 576).
"""

from __future__ import annotations

import os

import cv2
import numpy as np

from benchmarks.devset import DEV_C

SIZE = (384, 256)  # (width, height)
REAL_VIDEO = "/usr/share/doc/opencv-doc/examples/data/tree.avi"
REAL_HINT = "apt-get install opencv-doc (OpenCV's sample videos)"


def _photo(name: str, long_side: int = 640) -> np.ndarray:
    image = cv2.cvtColor(cv2.imread(os.path.join(DEV_C, name)), cv2.COLOR_BGR2RGB)
    scale = long_side / max(image.shape[:2])
    size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _camera(photo: np.ndarray, centers, scales, angles, size=SIZE) -> list[np.ndarray]:
    """One frame per (centre, scale, angle): the frame shows ``size`` px of ``photo`` scaled by
    ``scale`` (source px per frame px) and rotated by ``angle`` degrees about ``centre``."""
    w, h = size
    frames = []
    for (cx, cy), s, a in zip(centers, scales, angles):
        frame = cv2.warpAffine(photo, _photo_to_frame(cx, cy, s, a, w, h), (w, h), flags=cv2.INTER_CUBIC,
                               borderMode=cv2.BORDER_REFLECT)  # fmt: skip
        frames.append(frame)
    return frames


def _photo_to_frame(cx: float, cy: float, s: float, a: float, w: int, h: int) -> np.ndarray:
    """Affine map photo -> frame: the photo point (cx, cy) lands at the frame centre, scaled by 1/s
    and rotated by ``a`` degrees."""
    m = cv2.getRotationMatrix2D((cx, cy), float(a), 1.0 / float(s))
    m[:, 2] += (w / 2 - cx, h / 2 - cy)
    return m


def pan(n: int = 24, step: float = 4.0, photo: str = "kodim05.png") -> list[np.ndarray]:
    image = _photo(photo)
    cy = image.shape[0] / 2
    x0 = SIZE[0] / 2 + 4
    return _camera(image, [(x0 + step * t, cy) for t in range(n)], [1.0] * n, [0.0] * n)


def camera_clip(
    n: int, size=SIZE, zoom: float = 0.0, degrees: float = 0.0, photo: str = "kodim03.png"
) -> list[np.ndarray]:
    """A camera at the photo's centre zooming in by ``zoom`` per frame and turning ``degrees`` per
    frame; the first frame shows most of the photo (the whole frame inside it at any angle)."""
    w, h = size
    image = _photo(photo, max(720, 2 * max(size)))
    c = (image.shape[1] / 2, image.shape[0] / 2)
    fit = (
        min(image.shape[1], image.shape[0]) / np.hypot(w, h)
        if degrees
        else 0.95 * min(image.shape[1] / w, image.shape[0] / h)
    )
    return _camera(
        image, [c] * n, [fit * (1 - zoom) ** t for t in range(n)], [degrees * t for t in range(n)], size
    )


def zoom(n: int = 24, rate: float = 0.015) -> list[np.ndarray]:
    return camera_clip(n, zoom=rate, photo="kodim03.png")


def rotation(n: int = 24, degrees: float = 1.5) -> list[np.ndarray]:
    return camera_clip(n, degrees=degrees, photo="kodim01.png")


def occlusion(n: int = 24, photo: str = "kodim02.png", disc: str = "kodim06.png") -> list[np.ndarray]:
    frames = pan(n, 1.0, photo)
    texture = cv2.resize(_photo(disc), SIZE, interpolation=cv2.INTER_AREA)
    w, h = SIZE
    yy, xx = np.mgrid[0:h, 0:w]
    r = 0.28 * h
    out = []
    for t, frame in enumerate(frames):
        cx, cy = -r + (w + 2 * r) * t / max(n - 1, 1), 0.5 * h + 0.2 * h * np.sin(t / 4)
        inside = ((xx - cx) ** 2 + (yy - cy) ** 2 < r * r)[..., None]
        shifted = np.roll(
            texture, (int(cy - h / 2), int(cx - w / 2)), axis=(0, 1)
        )  # the disc's own texture moves with it
        out.append(np.where(inside, shifted, frame))
    return out


def scene_cut(n: int = 24) -> list[np.ndarray]:
    half = n // 2
    return pan(half, 3.0, "kodim04.png") + pan(n - half, 3.0, "golden_gate.jpg")


def real(n: int = 24, start: int = 30, path: str = REAL_VIDEO) -> list[np.ndarray]:
    """``n`` frames of a real video from frame ``start``, resized to 384 px wide."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: not found ({REAL_HINT})")
    cap = cv2.VideoCapture(path)
    frames = []
    index = 0
    while len(frames) < n:
        ok, frame = cap.read()
        if not ok:
            break
        if index >= start:
            h, w = frame.shape[:2]
            frame = cv2.resize(frame, (384, round(384 * h / w / 2) * 2), interpolation=cv2.INTER_CUBIC)
            frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
        index += 1
    cap.release()
    return frames


CLIPS = {
    "pan": pan,
    "zoom": zoom,
    "rotation": rotation,
    "occlusion": occlusion,
    "scene cut": scene_cut,
    "real (tree.avi)": real,
    "real (vtest.avi)": lambda n=24: real(n, 100, REAL_VIDEO.replace("tree.avi", "vtest.avi")),
}
