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
edges and flow errors alike). Untrusted pixels take the fresh stylization of the current frame
``f(C_t)``.

A keyframe is taken every ``refresh`` frames, so fresh detail returns; as soon as the flow scales
the keyframe's texture by more than ``max_stretch`` (a zoom: strokes would grow and blur, or
shrink); and at once when less than ``min_coverage`` of the frame is trusted (a scene cut, a large
disocclusion). The new keyframe ``K' = mix(W(K), f(C_k), 1 - keep)`` keeps
``keep`` of the old one where trusted, so the jump at a keyframe is ``1 - keep`` of a full
re-stylization; the mix keeps the high frequencies' local energy (the texture's contrast neither
drops where the two disagree nor grows where they agree), and the old texture's weight decays as
``keep^n`` over keyframes, so resampling blur cannot build up.

The flow is computed at ``flow_size`` px (long side) and scaled up: motion is smooth, and flow at
full size costs more than the INT8 network.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from tfstyle.errors import TfstyleError
from tfstyle.flow import inside, optical_flow, warp

__all__ = ["KeyframeWarper", "TrajectoryConfig"]


@dataclass
class TrajectoryConfig:
    """Options of the flow mode (``tfstyle video --consistency flow``)."""

    refresh: int = 8  # a keyframe every N frames
    keep: float = 0.5  # share of the previous keyframe kept in a new one (where trusted)
    flow_size: int | None = 192  # long side the flow is computed at (None: the frames' size)
    tolerance: float = 0.08  # content mismatch (mean |RGB| after warping) above which a pixel is fresh
    min_coverage: float = 0.5  # below this trusted share a keyframe is taken at once (scene cut)
    max_stretch: float = 1.08  # a keyframe as soon as the flow scales its texture by more than this
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
        if not float(self.max_stretch) > 1.0:
            raise TfstyleError(f"max stretch must be > 1, not {self.max_stretch}")
        return self


def stretch(flow: np.ndarray) -> float:
    """How much sampling along ``flow`` scales a texture: the median of ``max(s, 1/s)`` with ``s²`` the
    area ratio (Jacobian determinant) of ``p -> p + flow(p)``. A zoom magnifies the keyframe's
    strokes (they grow and blur) or shrinks them; past a limit a fresh keyframe is due."""
    dx_dx = np.gradient(flow[..., 0], axis=1) + 1.0
    dy_dy = np.gradient(flow[..., 1], axis=0) + 1.0
    det = dx_dx * dy_dy - np.gradient(flow[..., 0], axis=0) * np.gradient(flow[..., 1], axis=1)
    scale = np.sqrt(np.clip(np.median(det), 1e-6, None))
    return float(max(scale, 1.0 / scale))


def _detail(x: np.ndarray, sigma: float = 2.0) -> np.ndarray:
    """The part of an image above a Gaussian of ``sigma`` px: its texture."""
    return x - cv2.GaussianBlur(x, (0, 0), sigma)


def _energy(d: np.ndarray, window: float = 8.0) -> np.ndarray:
    """Local mean square of a detail image (H x W x 1), over a Gaussian window of ``window`` px."""
    return cv2.GaussianBlur(np.mean(d * d, axis=-1), (0, 0), window)[..., None]


def _with_energy(image: np.ndarray, target: np.ndarray, max_gain: float = 1.6) -> np.ndarray:
    """``image`` with its detail scaled up (never down) towards the local energy ``target``."""
    d = _detail(image)
    gain = np.clip(np.sqrt(target / np.maximum(_energy(d), 1e-8)), 1.0, max_gain)
    return image - d + gain * d


def _vp_mix(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``(1 - t) a + t b`` with its detail rescaled to the local energy the two inputs' details have
    on average: two textures that do not line up lose contrast where mixed, two that do must not
    gain any (a fixed ``1 / sqrt((1 - t)² + t²)`` gain would compound over keyframes). ``t`` is per
    pixel (H x W x 1)."""
    target = (1.0 - t) * _energy(_detail(a)) + t * _energy(_detail(b))
    return _with_energy((1.0 - t) * a + t * b, target)


class KeyframeWarper:
    """The flow mode's state, fed frames in order.

    Per frame: :meth:`track` (every frame, also those a resumed run finds done: it only computes
    the flow), then, for frames to draw, :meth:`render`; a frame it reports as a keyframe is handed
    back through :meth:`set_key` as saved (8-bit), which is also how a resumed run restores it.
    """

    def __init__(self, config: TrajectoryConfig | None = None) -> None:
        self.config = (config or TrajectoryConfig()).validate()
        self.key_index: int | None = None
        self.key_content: np.ndarray | None = None
        self.key_out: np.ndarray | None = None
        self.to_key: np.ndarray | None = None  # flow from the current frame to the keyframe
        self.prev: np.ndarray | None = None  # the previous frame's content

    def track(self, content: np.ndarray) -> None:
        """Extend the flow to the keyframe by the step from the previous frame."""
        cfg = self.config
        if self.key_index is not None and self.prev is not None:
            step = optical_flow(content, self.prev, cfg.flow, cfg.flow_size)
            self.to_key = step + warp(self.to_key, step)
        self.prev = content

    def _warped_key(self, content: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The keyframe's stylization warped onto ``content``, and the trust mask (H x W)."""
        seen = warp(self.key_content, self.to_key)
        mismatch = cv2.GaussianBlur(np.abs(content - seen).mean(axis=-1), (0, 0), 1.0)
        tol = float(self.config.tolerance)
        mask = np.clip((2.0 * tol - mismatch) / tol, 0.0, 1.0) * inside(self.to_key)
        mask = np.minimum(mask, cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 1.0))
        return warp(self.key_out, self.to_key, cv2.INTER_CUBIC), mask.astype(np.float32)

    def render(self, index: int, content: np.ndarray, fresh: np.ndarray) -> tuple[np.ndarray, bool]:
        """The output for frame ``index`` (``fresh``: its own stylization) and whether it is a keyframe."""
        if self.key_index is None:
            return fresh, True
        warped, mask = self._warped_key(content)
        m = mask[..., None]
        scaled = stretch(self.to_key)
        limit = float(self.config.max_stretch)
        if float(mask.mean()) < float(self.config.min_coverage):
            return fresh, True  # a cut: nothing to keep
        if index - self.key_index >= int(self.config.refresh) or scaled > limit:
            # a keyframe the flow has scaled passes on less of its texture (strokes at the wrong size)
            keep = float(self.config.keep) * max(0.0, 1.0 - (scaled - 1.0) / (limit - 1.0))
            out = _vp_mix(warped, fresh, 1.0 - keep * m) if keep > 0 else fresh
            return np.clip(out, 0.0, 1.0).astype(np.float32), True
        if self.config.restore_detail:  # what resampling and a zoom's magnification took from the texture
            warped = _with_energy(warped, _energy(_detail(fresh)))
        return np.clip(fresh + m * (warped - fresh), 0.0, 1.0).astype(np.float32), False

    def set_key(self, index: int, content: np.ndarray, out: np.ndarray) -> None:
        """Frame ``index`` (its content and saved output) becomes the keyframe."""
        self.key_index, self.key_content, self.key_out = index, content, out
        self.to_key = np.zeros((*content.shape[:2], 2), np.float32)
        self.prev = content
