"""The temporal consistency modes of ``tfstyle video`` (no OpenCV or TensorFlow: the CLI reads them
when it builds its parser)."""

from __future__ import annotations

CONSISTENCY: dict[str, str] = {
    "flow": "keyframes carried along the optical flow (no smear on zooms and rotations)",
    "network": "each frame on its own, relying on the network's own temporal stability",
    "none": "each frame on its own",
}
"""Mode -> what it does."""

DEFAULT_CONSISTENCY = "flow"
"""The default: the mode that measured best in ``make bench-video`` (docs/QUALITY.md)."""
