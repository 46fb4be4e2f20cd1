"""Stylization engines behind one small protocol (:class:`~tfstyle.engines.base.Engine`).

* :mod:`tfstyle.engines.base`: :class:`StylizeConfig`, :class:`Region`, the protocol, the generic
  tiled render and the registry :data:`ENGINES`.
* :mod:`tfstyle.engines.teacher`: the VGG19 AdaIN/WCT teacher (TensorFlow), feature-level regions
  with global statistics over the tiles.
* :mod:`tfstyle.engines.student`: the MobileNetV2 student (TensorFlow/Keras).
* :mod:`tfstyle.engines.lite`: the student's exported .tflite pair on LiteRT (no TensorFlow).

:func:`get_engine` imports an engine's module only when it is asked for, so importing this package
never imports TensorFlow or LiteRT.
"""

from __future__ import annotations

import functools
import importlib

from tfstyle.engines.base import (
    AUTO_TILE,
    ENGINES,
    LITERT_ENGINES,
    METHODS,
    MIN_SIDE,
    STYLE_MAX,
    Engine,
    Region,
    StylizeConfig,
    check_engine_name,
)

__all__ = [
    "AUTO_TILE",
    "ENGINES",
    "LITERT_ENGINES",
    "METHODS",
    "MIN_SIDE",
    "STYLE_MAX",
    "Engine",
    "Region",
    "StylizeConfig",
    "get_engine",
]


def get_engine(
    engine: str | Engine | None = None, config: StylizeConfig | None = None, threads: int | None = None
) -> Engine:
    """An engine instance: pass-through, or by name from :data:`ENGINES` (one instance per process).
    ``threads`` gives a LiteRT engine (:data:`LITERT_ENGINES`) its own instance on that many threads
    (the shared one runs on every core); other engines ignore it."""
    if engine is not None and not isinstance(engine, str):
        return engine
    name = engine or (config.engine if config is not None else "teacher")
    check_engine_name(name)
    if threads and name in LITERT_ENGINES:
        return _factory(name)(threads=int(threads))
    return _engine_by_name(name)


def _factory(name: str):
    module, _, attr = ENGINES[name].partition(":")
    return getattr(importlib.import_module(module), attr)


@functools.cache
def _engine_by_name(name: str) -> Engine:
    return _factory(name)()
