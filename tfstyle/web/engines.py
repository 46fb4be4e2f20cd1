"""The engines behind the web app: each built once per process and used by one job at a time.

Models are heavy to load (seconds, hundreds of MB), so requests share them; a lock per engine
keeps a Keras model or a LiteRT interpreter from being called from two worker threads at once
(LiteRT interpreters are not thread-safe), while different engines may run side by side.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Callable, Sequence

import numpy as np

from tfstyle.code_cache import CachedCodes
from tfstyle.errors import TfstyleError

Progress = Callable[[int, int], None]


class Stylizer:
    """``stylizer(content, styles, weights, config, progress) -> image`` with shared engines."""

    def __init__(self, names: Sequence[str]):
        self.names = tuple(names)
        self._locks = {name: threading.Lock() for name in self.names}
        self._load_lock = threading.Lock()
        self._cached: dict[str, CachedCodes] = {}

    def missing(self, name: str) -> str | None:
        """Why ``name`` cannot run here (weights or runtime missing), or None when it can."""
        from tfstyle.engines import StylizeConfig, get_engine

        if name not in self.names:
            return f"engine {name!r} is not offered by this server"
        if name == "tflite" and importlib.util.find_spec("ai_edge_litert") is None:
            return "the tflite engine needs ai-edge-litert (pip install ai-edge-litert)"
        try:
            engine = get_engine(name)
            getattr(engine, "check", lambda _config: None)(StylizeConfig(engine=name))
        except TfstyleError as exc:
            return str(exc)
        return None

    def available(self) -> list[str]:
        return [name for name in self.names if self.missing(name) is None]

    def engine(self, name: str):
        from tfstyle.engines import get_engine

        reason = self.missing(name)
        if reason:
            raise TfstyleError(reason)
        with self._load_lock:  # one thread builds an engine's models; the others wait for it
            if name not in self._cached:  # a style's code once, not per request (the Live view: per frame)
                self._cached[name] = CachedCodes(get_engine(name))
            return self._cached[name]

    def warm(self, name: str, size: int = 64) -> None:
        """Build the models and run them once at the usual size, so the first request pays no
        start-up cost and the idle memory already holds what a typical request allocates."""
        rng = np.random.default_rng(0)
        image = rng.random((size, size, 3), dtype=np.float32)
        self(image, [image], [1.0], self._config(name), None)

    @staticmethod
    def _config(name: str):
        from tfstyle.engines import StylizeConfig

        return StylizeConfig(engine=name)

    def __call__(self, content, styles, weights, config, progress: Progress | None) -> np.ndarray:
        from tfstyle.driver import stylize

        engine = self.engine(config.engine)
        with self._locks[config.engine]:
            return stylize(content, styles, weights=weights, config=config, engine=engine, callback=progress)
