"""The on-device runtime: the exported student on LiteRT, with only ai-edge-litert, NumPy and Pillow
(``pip install tfstyle`` without extras; importing this module never imports TensorFlow).

* :class:`LiteModel`, :class:`LiteStudent`, :class:`TfliteEngine`, :func:`default_paths`: see
  :mod:`tfstyle.engines.lite`, where they live.
* :func:`stylize`: ``tfstyle.stylize`` with the TFLite engine.
"""

from __future__ import annotations

from tfstyle.driver import stylize as _stylize
from tfstyle.engines.lite import LiteModel, LiteStudent, TfliteEngine, default_paths

__all__ = ["LiteModel", "LiteStudent", "TfliteEngine", "default_paths", "stylize"]


def stylize(content, styles, *, threads: int | None = None, engine: TfliteEngine | None = None, **kwargs):
    """:func:`tfstyle.stylize` on LiteRT (same arguments; ``threads`` for the interpreters)."""
    return _stylize(content, styles, engine=engine or TfliteEngine(threads=threads), **kwargs)
