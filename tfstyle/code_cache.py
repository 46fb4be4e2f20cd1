"""Style codes computed once per style image, not once per frame (video, the web app's Live view).

A style's code (the student's style vector, the teacher's feature statistics) depends on the style
image alone, yet the driver asks for it on every call; for a video or a camera stream that is one
predictor run per frame for nothing. :class:`CachedCodes` wraps an engine and remembers the codes
by the style's pixels.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import numpy as np

__all__ = ["CachedCodes"]


class CachedCodes:
    """Engine proxy: ``style_code`` memoised by (pixels, method); everything else passes through."""

    def __init__(self, engine, size: int = 16):
        self._engine = engine
        self._codes: OrderedDict[tuple, object] = OrderedDict()
        self._size = size
        self._last: tuple[object, str] | None = None  # (style object, digest): a video passes the same one

    def _digest(self, style) -> str:
        if self._last is not None and self._last[0] is style:
            return self._last[1]  # the very same object as last time: hashing it again costs ms per frame
        array = np.ascontiguousarray(style)
        digest = f"{array.shape}:{hashlib.sha1(array.tobytes()).hexdigest()}"
        self._last = (style, digest)
        return digest

    def style_code(self, style: np.ndarray, config):
        key = (self._digest(style), config.method)
        if key in self._codes:
            self._codes.move_to_end(key)
        else:
            self._codes[key] = self._engine.style_code(style, config)
            if len(self._codes) > self._size:  # per-frame styles (histogram matching) stay bounded
                self._codes.popitem(last=False)
        return self._codes[key]

    def __getattr__(self, name: str):
        return getattr(self._engine, name)
