"""What every engine shares: the options (:class:`StylizeConfig`), a styled region (:class:`Region`),
the :class:`Engine` protocol and the generic tile-by-tile render (:func:`render_tiles`).

An engine turns a style image into a code, blends codes and stylizes a tile; that is all a student
network or a LiteRT interpreter has to provide, and :func:`render_tiles` then does the tiling and
blends the regions at pixel level. An engine may instead provide ``render`` and do the whole image
itself, as the teacher does to work at feature level (:mod:`tfstyle.engines.teacher`).

No TensorFlow here: engines import it when they first run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from tfstyle import tiling
from tfstyle.color import check_mode
from tfstyle.errors import TfstyleError

AUTO_TILE = 1024
"""With ``tile=None``, images with a side above this are processed in tiles of this size."""

STYLE_MAX = 1024
"""Default largest long side of a style image (its statistics gain nothing from more pixels)."""

MIN_SIDE = 16
MAX_REFINE = 100
METHODS = ("adain", "wct", "multilevel")
TEACHER_METHOD = "adain"
"""The teacher's transform when ``StylizeConfig.method`` is None (the default)."""
LEVELS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
"""Levels of the multi-level teacher, in the order ``--level-weights``/``--level-methods`` list them."""
LEVEL_METHODS = ("wct", "adain", "ot")  # ot: WCT, then sliced optimal transport (tfstyle.transport)
DEFAULT_LEVEL_WEIGHTS = (1.0, 1.0, 1.0, 1.0)
DEFAULT_LEVEL_METHODS = ("wct", "wct", "wct", "adain")  # WCT at relu4_1 loses the content (dev sweep)


ENGINES: dict[str, str] = {
    "teacher": "tfstyle.engines.teacher:TeacherEngine",
    "student": "tfstyle.engines.student:StudentEngine",
    "tflite": "tfstyle.engines.lite:TfliteEngine",
    "student_v2": "tfstyle.engines.student_v2:StudentV2Engine",
    "tflite_v2": "tfstyle.engines.lite_v2:TfliteV2Engine",
}
"""``--model`` name -> ``module:factory``; a new engine is one line here (:func:`tfstyle.engines.get_engine`
imports the module on first use). It lives here, not in the package, so that
:meth:`StylizeConfig.validate` can check names without importing upwards."""
LITERT_ENGINES = ("tflite", "tflite_v2")  # their factories take ``threads`` (LiteRT interpreter threads)


def check_engine_name(name) -> None:
    if isinstance(name, str) and name not in ENGINES:
        raise TfstyleError(f"unknown engine {name!r}; known: {', '.join(sorted(ENGINES))}")


@dataclass
class StylizeConfig:
    """Options shared by every engine (the CLI flags of ``tfstyle stylize``)."""

    alpha: float = 1.0  # style strength: 0 = content (as the engine reconstructs it), 1 = full style
    size: int | None = None  # long side of the content in px; None keeps it
    style_size: int | None = None  # long side of the styles; None = content's, at most STYLE_MAX
    preserve_color: str = "none"  # "none", "luminance" or "histogram"
    method: str | None = None  # "adain", "wct" or "multilevel" (teacher); None: the engine's default
    # multilevel: each level's strength (relu1_1..relu4_1, times alpha; 0 skips the level) and transform
    level_weights: tuple[float, ...] = DEFAULT_LEVEL_WEIGHTS
    level_methods: tuple[str, ...] = DEFAULT_LEVEL_METHODS
    residual: bool = False  # teacher: each level adds its decoded change (keeps detail; render_level)
    refine: int = 0  # Gatys-objective steps after the feed-forward pass (tfstyle.refine)
    tile: int | None = None  # None = auto (AUTO_TILE when a side exceeds it), 0 = never tile
    overlap: int = 64  # least overlap between tiles in px
    feather: float | None = None  # mask edge sigma in px; None = 1.5% of the short side; 0 = hard
    engine: str = "teacher"

    def validate(self) -> StylizeConfig:
        try:
            alpha = float(self.alpha)
        except (TypeError, ValueError):
            raise TfstyleError(f"alpha must be a number between 0 and 1, not {self.alpha!r}") from None
        if not 0.0 <= alpha <= 1.0:  # also rejects NaN
            raise TfstyleError(f"alpha must be between 0 and 1, not {self.alpha}")
        for name in ("size", "style_size"):
            value = getattr(self, name)
            if value is not None and int(value) < MIN_SIDE:
                raise TfstyleError(f"{name} must be at least {MIN_SIDE} px, not {value}")
        check_mode(self.preserve_color)
        if self.method is not None and self.method not in METHODS:
            raise TfstyleError(f"method must be one of {', '.join(METHODS)}, not {self.method!r}")
        self.level_weights = parse_level_weights(self.level_weights)
        self.level_methods = parse_level_methods(self.level_methods)
        if not isinstance(self.refine, (int, np.integer)) or not 0 <= int(self.refine) <= MAX_REFINE:
            raise TfstyleError(f"refine must be between 0 and {MAX_REFINE} steps, not {self.refine}")
        if self.tile is not None and self.tile != 0 and int(self.tile) < MIN_SIDE:
            raise TfstyleError(f"tile must be 0 (no tiling) or at least {MIN_SIDE} px, not {self.tile}")
        if int(self.overlap) < 0:
            raise TfstyleError(f"overlap must be >= 0 px, not {self.overlap}")
        if self.tile and int(self.overlap) > int(self.tile) // 2:
            raise TfstyleError(f"overlap ({self.overlap} px) must be at most half the tile ({self.tile} px)")
        if self.feather is not None and float(self.feather) < 0:
            raise TfstyleError(f"feather must be >= 0 px, not {self.feather}")
        check_engine_name(self.engine)
        return self

    def tile_for(self, shape: tuple[int, ...]) -> int:
        """The tile size for an image of ``shape``: 0 = one pass over the whole image."""
        longest = max(int(shape[0]), int(shape[1]))
        tile = AUTO_TILE if self.tile is None else int(self.tile)
        return tile if tile and longest > tile else 0


def _level_list(value, what: str) -> list[str]:
    items = value.split(",") if isinstance(value, str) else list(value)
    if len(items) != len(LEVELS):
        raise TfstyleError(f"{what} needs {len(LEVELS)} values ({', '.join(LEVELS)}), got {len(items)}")
    return items


def parse_level_weights(value) -> tuple[float, ...]:
    """Per-level strengths, ``"1,1,0.5,0"`` or a sequence (relu1_1..relu4_1), each in [0, 2]."""
    try:
        weights = tuple(float(w) for w in _level_list(value, "level_weights"))
    except ValueError:
        raise TfstyleError(f"level_weights {value!r}: expected numbers separated by commas") from None
    if not all(0.0 <= w <= 2.0 for w in weights):  # also rejects NaN
        raise TfstyleError(f"level_weights {value!r}: each must be between 0 and 2")
    return weights


def parse_level_methods(value) -> tuple[str, ...]:
    """Per-level transforms, ``"wct,wct,adain,adain"`` or a sequence (relu1_1..relu4_1)."""
    methods = tuple(str(m).strip() for m in _level_list(value, "level_methods"))
    bad = [m for m in methods if m not in LEVEL_METHODS]
    if bad:
        raise TfstyleError(f"level_methods: {bad[0]!r} is not one of {', '.join(LEVEL_METHODS)}")
    return methods


@dataclass
class Region:
    """Where (``weight``, H x W; None = everywhere) which styles (``codes``, mixed by ``blend``) apply,
    and how strongly (``strength``: this region's alpha, on top of ``config.alpha``)."""

    weight: np.ndarray | None
    codes: list
    blend: list[float]
    strength: float = 1.0


@runtime_checkable
class Engine(Protocol):
    """What a stylization backend provides; tiles are at most ``tile`` px and multiples of ``multiple``.

    Optional: ``check(config)`` (raise ``TfstyleError`` early for unsupported options or missing
    weights) and ``render(content, regions, rest, config, plan, callback) -> image`` to process the
    whole image itself (``plan`` is a :class:`tfstyle.tiling.TilePlan` or None for one pass).
    """

    name: str
    multiple: int

    def style_code(self, style: np.ndarray, config: StylizeConfig) -> Any: ...

    def blend(self, codes: Sequence[Any], weights: Sequence[float]) -> Any: ...

    def stylize_tile(self, tile: np.ndarray, code: Any, config: StylizeConfig) -> np.ndarray: ...


def render_tiles(
    engine: Engine,
    content: np.ndarray,
    regions: Sequence[Region],
    rest: np.ndarray | None,
    config: StylizeConfig,
    plan: tiling.TilePlan | None,
    callback: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Tile by tile with the engine's own (per-tile) statistics; regions blended at pixel level."""
    out = None
    total = len(regions) * (len(plan) if plan else 1)
    for r, region in enumerate(regions):
        code = engine.blend(region.codes, region.blend) if len(region.codes) > 1 else region.codes[0]
        cfg = config
        if region.strength < 1.0:  # the region's strength is its alpha
            cfg = dataclasses.replace(config, alpha=float(config.alpha) * region.strength)

        def fn(tile: np.ndarray, code=code, cfg=cfg) -> np.ndarray:
            return engine.stylize_tile(tile, code, cfg)

        def tile_done(i: int, _n: int, r=r) -> None:
            if callback is not None:
                callback(r * (total // len(regions)) + i, total)

        if plan is None:
            styled = np.asarray(fn(content), np.float32)
            tile_done(1, 1)
        else:
            styled = tiling.tiled_apply(content, fn, plan=plan, callback=tile_done)
        part = styled if region.weight is None else styled * region.weight[..., None]
        out = part if out is None else out + part
    if rest is not None:
        out = out + rest[..., None] * content
    return out
