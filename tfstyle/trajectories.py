"""Flow-mode temporal consistency without smear: the stylized texture is resampled once per keyframe.

Warping the previous stylized frame and blending it into the next (issue 6's design) resamples
the stylized texture once per frame: bilinear blur accumulates along the motion, and a zoom or a
rotation washes the painting's texture out within a few frames. Here each output frame is

    S_t = M_t · W_{t→k}(K) + (1 - M_t) · f(C_t)

where ``K`` is the stylization of the latest *keyframe* ``k``, ``W_{t→k}`` samples it along the
flow from frame t to frame k (the frame-to-frame flows composed, so a rotation or zoom far from the
keyframe is still followed; one resampling of ``K`` whatever t - k is), and ``M_t`` trusts a pixel
only where the keyframe's *content*, warped the same way, matches the current content and the flow
lands inside the keyframe (a photometric check: occlusions, disocclusions, new content at the frame
edges and flow errors alike), and where the flow does not stretch the keyframe much more than
the frame as a whole (behind a moving object the composed flow drags the object's edge along,
and a smooth wall behind it passes the photometric check: streaks). Untrusted pixels take the
fresh stylization of the current frame ``f(C_t)``.

A keyframe is taken every ``refresh`` frames, so fresh detail returns; as soon as the flow scales
the keyframe's texture by more than ``max_stretch`` (a zoom: strokes would grow and blur, or
shrink); and at once when less than ``min_coverage`` of the frame is trusted (a scene cut, a large
disocclusion). The new keyframe ``K' = mix(W(K), f(C_k), 1 - keep)`` keeps
``keep`` of the old one where trusted, and the old texture's weight decays as ``keep^n`` over
keyframes, so resampling blur cannot build up. ``K'`` then *fades in* over ``fade`` frames, both
keyframes carried along their own flows: a jump spread over n frames costs far less flicker than
one jump, because the measured change of each frame is the step's size added to the motion's own
residual, not summed with it (a scene cut still switches at once).

Mixes of two textures (the fade, a new keyframe, the trust mask's edges) keep each band's local
energy (a Laplacian pyramid: a plain average of two textures that do not line up loses about
30% of their contrast, strokes and grain alike), and the warped keyframe's bands are brought back
up to the fresh frame's energy (resampling and a zoom's magnification soften it), with one gain
per band and frame: a local gain would follow the fresh frame's own flicker.

The flow is computed at ``flow_size`` px (long side) and scaled up: motion is smooth, and flow at
full size costs more than the INT8 network.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from tfstyle.errors import TfstyleError
from tfstyle.flow import inside, optical_flow, warp

__all__ = ["Keyframe", "KeyframeWarper", "TrajectoryConfig"]

BANDS = 4  # Laplacian pyramid levels of the energy-keeping mixes (strokes up to ~16 px)
MAX_GAIN = 1.6  # the most a band's contrast is raised by


@dataclass
class TrajectoryConfig:
    """Options of the flow mode (``tfstyle video --consistency flow``)."""

    refresh: int = 8  # a keyframe every N frames
    keep: float = 0.5  # share of the previous keyframe kept in a new one (where trusted)
    flow_size: int | None = 288  # long side the flow is computed at (None: the frames' size; 192 left the
    # v2 student's rotation at 0.53x per-frame flicker, 288 gives 0.43x: docs/experiments/video.md)
    tolerance: float = 0.08  # content mismatch (mean |RGB| after warping) above which a pixel is fresh
    min_coverage: float = 0.5  # below this trusted share a keyframe is taken at once (scene cut)
    max_stretch: float = 1.08  # a keyframe as soon as the flow scales its texture by more than this
    fade: int = 4  # a new keyframe fades in over this many frames (0: at once)
    max_smear: float = 1.6  # pixels the flow stretches this much more than the frame are fresh
    restore_detail: bool = True  # scale the warped keyframe's detail up to the fresh frame's energy
    flow: str = "auto"  # "auto" (DIS), "dis" or "farneback"

    def validate(self) -> TrajectoryConfig:
        if int(self.refresh) < 1:
            raise TfstyleError(f"refresh must be at least 1 frame, not {self.refresh}")
        if not 0.0 <= float(self.keep) < 1.0:
            raise TfstyleError(f"keep must be in [0, 1), not {self.keep}")
        if self.flow_size is not None and int(self.flow_size) < 16:
            raise TfstyleError(f"flow size must be at least 16 px, not {self.flow_size}")
        if not float(self.tolerance) > 0.0:
            raise TfstyleError(f"tolerance must be > 0, not {self.tolerance}")
        if not 0.0 <= float(self.min_coverage) <= 1.0:
            raise TfstyleError(f"min coverage must be between 0 and 1, not {self.min_coverage}")
        if not float(self.max_smear) > 1.0:
            raise TfstyleError(f"max smear must be > 1, not {self.max_smear}")
        if int(self.fade) < 0:
            raise TfstyleError(f"fade must be >= 0 frames, not {self.fade}")
        if not float(self.max_stretch) > 1.0:
            raise TfstyleError(f"max stretch must be > 1, not {self.max_stretch}")
        return self


def _area_ratio(flow: np.ndarray) -> np.ndarray:
    """Per pixel, the area ratio (Jacobian determinant, central differences) of ``p -> p + flow(p)``."""
    fx, fy = flow[..., 0], flow[..., 1]
    dx_dx = cv2.Sobel(fx, cv2.CV_32F, 1, 0, ksize=1) * 0.5 + 1.0
    dy_dy = cv2.Sobel(fy, cv2.CV_32F, 0, 1, ksize=1) * 0.5 + 1.0
    return (
        dx_dx * dy_dy
        - cv2.Sobel(fx, cv2.CV_32F, 0, 1, ksize=1) * cv2.Sobel(fy, cv2.CV_32F, 1, 0, ksize=1) * 0.25
    )


def _median(x: np.ndarray) -> float:
    return float(np.median(x[::2, ::2]))  # a quarter of the samples: the same median at a quarter of the sort


def stretch(flow: np.ndarray) -> float:
    """How much sampling along ``flow`` scales a texture: the median of ``max(s, 1/s)`` with ``s²`` the
    area ratio (Jacobian determinant) of ``p -> p + flow(p)``. A zoom magnifies the keyframe's
    strokes (they grow and blur) or shrinks them; past a limit a fresh keyframe is due."""
    scale = np.sqrt(max(_median(_area_ratio(flow)), 1e-6))
    return float(max(scale, 1.0 / scale))


def _pyramid(x: np.ndarray, levels: int = BANDS) -> list[np.ndarray]:
    """Laplacian pyramid of an H x W x C image: ``levels`` detail bands, then the low-pass rest."""
    bands, cur = [], x
    for _ in range(levels):
        low = cv2.pyrDown(cur)
        up = cv2.pyrUp(low, dstsize=(cur.shape[1], cur.shape[0]))
        bands.append(cur - (up if up.ndim == cur.ndim else up[..., None]))
        cur = low if low.ndim == x.ndim else low[..., None]
    return [*bands, cur]


def _collapse(pyramid: list[np.ndarray]) -> np.ndarray:
    cur = pyramid[-1]
    for band in reversed(pyramid[:-1]):
        up = cv2.pyrUp(cur, dstsize=(band.shape[1], band.shape[0]))
        cur = band + (up if up.ndim == band.ndim else up[..., None])
    return cur


_CHANNEL_MEAN = np.full((1, 3), 1.0 / 3.0, np.float32)


def _energy(d: np.ndarray, window: float = 4.0) -> np.ndarray:
    """Local mean square of a band (H x W x 1), over a Gaussian window of ``window`` of its pixels."""
    square = cv2.transform(d * d, _CHANNEL_MEAN) if d.shape[-1] == 3 else np.mean(d * d, axis=-1)
    return cv2.GaussianBlur(square, (0, 0), window).reshape(*d.shape[:2], 1)


def _level(t: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A per-pixel weight map (H x W x 1) at a pyramid level's size."""
    if t.shape[:2] == shape[:2]:
        return t
    return cv2.resize(t, (shape[1], shape[0]), interpolation=cv2.INTER_AREA).reshape(*shape[:2], 1)


def _mix_bands(pa: list[np.ndarray], pb: list[np.ndarray], t: np.ndarray) -> list[np.ndarray]:
    """:func:`_vp_mix` on two Laplacian pyramids, giving the mixed pyramid."""
    out = []
    for da, db in zip(pa[:-1], pb[:-1], strict=True):
        tl = _level(t, da.shape)
        mixed = da + tl * (db - da)
        ea = _energy(da)
        target = ea + tl * (_energy(db) - ea)
        out.append(mixed * np.clip(np.sqrt(target / np.maximum(_energy(mixed), 1e-8)), 1.0, MAX_GAIN))
    tl = _level(t, pa[-1].shape)
    out.append(pa[-1] + tl * (pb[-1] - pa[-1]))
    return out


def _vp_mix(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``(1 - t) a + t b`` with each band's local energy rescaled to what the two inputs' bands have
    on average: two textures that do not line up lose contrast where mixed, two that do must not
    gain any (a fixed ``1 / sqrt((1 - t)² + t²)`` gain would compound over keyframes). ``t`` is per
    pixel (H x W x 1)."""
    return _collapse(_mix_bands(_pyramid(a), _pyramid(b), t))


def _restored(pw: list[np.ndarray], pf: list[np.ndarray]) -> list[np.ndarray]:
    """The warped keyframe's pyramid ``pw`` with each band's contrast raised (never lowered) to the
    fresh frame's ``pf``, one gain per band: what resampling and a zoom's magnification took from
    the keyframe's texture."""
    out = []
    for w, f in zip(pw[:-1], pf[:-1], strict=True):
        gain = np.sqrt(float(np.vdot(f, f)) / max(float(np.vdot(w, w)), 1e-10))
        out.append(w * np.float32(np.clip(gain, 1.0, MAX_GAIN)))
    return [*out, pw[-1]]


def _rigid(flow: np.ndarray, limit: float) -> np.ndarray:
    """1 where the flow scales areas as the frame does on the whole (up to ``limit``x apart), falling
    to 0 at ``limit²``: behind a moving object the composed flow drags the edge's pixels along
    (a disoccluded smooth wall still passes the photometric check), which the keyframe would paint
    as long streaks of one stroke."""
    area = np.maximum(cv2.GaussianBlur(_area_ratio(flow), (0, 0), 2.0), 1e-3)
    ratio = area / max(_median(area), 1e-3)
    apart = np.maximum(ratio, 1.0 / ratio)
    return np.clip((limit * limit - apart) / (limit * limit - limit), 0.0, 1.0)


@dataclass
class _Key:
    """A keyframe: its index, content and stylization, and the flow from the current frame to it."""

    index: int
    content: np.ndarray
    out: np.ndarray
    to_key: np.ndarray


@dataclass
class Keyframe:
    """A keyframe that :meth:`KeyframeWarper.render` starts: its image, and whether it fades in (its
    image is then not the frame's output, so the video journal stores it beside the frame)."""

    image: np.ndarray
    fades_in: bool


class KeyframeWarper:
    """The flow mode's state, fed frames in order.

    Per frame: :meth:`track` (every frame, also those a resumed run finds done: it only computes
    the flow), then, for frames to draw, :meth:`render`; a keyframe it starts is handed back through
    :meth:`set_key` as saved (8-bit), which is also how a resumed run restores it.
    """

    def __init__(self, config: TrajectoryConfig | None = None) -> None:
        self.config = (config or TrajectoryConfig()).validate()
        self.key: _Key | None = None
        self.old: _Key | None = None  # the keyframe the current one fades in over
        self.age = 0  # frames since the current keyframe
        self.prev: np.ndarray | None = None  # the previous frame's content

    def track(self, content: np.ndarray) -> None:
        """Extend the flows to the keyframes by the step from the previous frame."""
        cfg = self.config
        if self.key is not None and self.prev is not None:
            self.age += 1
            if self.old is not None and self.age >= int(cfg.fade):
                self.old = None  # faded out
            step = optical_flow(content, self.prev, cfg.flow, cfg.flow_size)
            for key in (self.key, self.old):
                if key is not None:
                    key.to_key = step + warp(key.to_key, step)
        self.prev = content

    def _warped(self, key: _Key, content: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A keyframe's stylization warped onto ``content``, and the trust mask (H x W x 1)."""
        seen = warp(key.content, key.to_key)
        mismatch = cv2.GaussianBlur(cv2.transform(np.abs(content - seen), _CHANNEL_MEAN), (0, 0), 1.0)
        tol = float(self.config.tolerance)
        mask = np.clip((2.0 * tol - mismatch) / tol, 0.0, 1.0) * inside(key.to_key)
        mask = mask * _rigid(key.to_key, float(self.config.max_smear))
        mask = np.minimum(mask, cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 1.0))
        return warp(key.out, key.to_key, cv2.INTER_CUBIC), mask.astype(np.float32)[..., None]

    def render(
        self, index: int, content: np.ndarray, fresh: np.ndarray
    ) -> tuple[np.ndarray, Keyframe | None]:
        """The output for frame ``index`` (``fresh``: its own stylization), and the keyframe it starts."""
        cfg = self.config
        if self.key is None:
            return fresh, Keyframe(fresh, fades_in=False)
        warped, m = self._warped(self.key, content)
        if float(m.mean()) < float(cfg.min_coverage):
            return fresh, Keyframe(fresh, fades_in=False)  # a cut: nothing to keep, nothing to fade
        started = None
        fade, limit = int(cfg.fade), float(cfg.max_stretch)
        scaled = 1.0 if self.old is not None else stretch(self.key.to_key)  # no new keyframe while fading
        pw, pf = _pyramid(warped), _pyramid(fresh)
        if self.old is not None:  # the current keyframe is fading in
            older, old_m = self._warped(self.old, content)
            pw = _mix_bands(_pyramid(older), pw, 1.0 - (1.0 - (self.age + 1) / (fade + 1)) * old_m)
        elif self.age >= int(cfg.refresh) or scaled > limit:
            # a keyframe the flow has scaled passes on less of its texture (strokes at the wrong size)
            keep = float(cfg.keep) * max(0.0, 1.0 - (scaled - 1.0) / (limit - 1.0))
            new = _collapse(_mix_bands(pw, pf, 1.0 - keep * m)) if keep > 0 else fresh
            new = np.clip(new, 0.0, 1.0).astype(np.float32)
            if fade == 0:
                return new, Keyframe(new, fades_in=False)
            started = Keyframe(new, fades_in=True)
            pw = _mix_bands(pw, _pyramid(new), 1.0 - (1.0 - 1.0 / (fade + 1)) * m)
            m = np.ones_like(m)  # the new keyframe took the fresh frame where the old was untrusted
        if cfg.restore_detail:  # what resampling and a zoom's magnification took from the texture
            pw = _restored(pw, pf)
        out = _collapse(_mix_bands(pf, pw, m))
        return np.clip(out, 0.0, 1.0).astype(np.float32), started

    def set_key(self, index: int, content: np.ndarray, out: np.ndarray, fades_in: bool = False) -> None:
        """Frame ``index`` (its content and saved keyframe image) becomes the keyframe; one that fades
        in keeps the current keyframe until it has."""
        zero = np.zeros((*content.shape[:2], 2), np.float32)
        self.old = self.key if fades_in and int(self.config.fade) > 0 else None
        self.key = _Key(index, content, out, zero)
        self.age = 0
        self.prev = content
