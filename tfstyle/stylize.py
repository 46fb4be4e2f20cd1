"""Feed-forward stylization: one content image, one or more styles, optional region masks.

``stylize(content, styles, ...)`` is the engine-independent driver behind ``tfstyle stylize``:

* **Inputs**: arrays (float H x W x 3 in [0, 1] or uint8) or paths, loaded with
  :mod:`tfstyle.images`; ``config.size`` resizes the content's long side, styles are resized to
  ``config.style_size`` (default: the content's long side, at most :data:`STYLE_MAX`).
* **Styles and regions**: ``weights`` interpolate several styles (feature-level interpolation,
  Huang & Belongie §7.3); ``masks`` (one for all styles, or one per style) are feathered with a
  Gaussian (:func:`tfstyle.masks.feather`) and normalised to a soft partition
  (:func:`tfstyle.masks.normalize_masks`): each style gets its own region, and pixels no mask
  covers keep the content. With one mask per style the blend weights are not used.
* **Label maps**: ``labels`` (a :class:`tfstyle.labels.LabelMap`, or a bare label image) give each
  class its own style and strength; they become the same feathered regions as masks, and each
  region's ``strength`` scales its style as ``alpha`` does the whole image's.
* **Colour**: ``preserve_color="histogram"`` matches each style's colours to the content before
  encoding, ``"luminance"`` keeps only the stylized luminance afterwards.
* **Tiling**: images larger than ``config.tile`` (auto: :data:`AUTO_TILE` when a side exceeds it)
  run tile by tile with overlap (:mod:`tfstyle.tiling`), so memory is bounded by the tile.

Engines. An :class:`Engine` turns a style image into a code, blends codes and stylizes a tile;
that is all a student network or a LiteRT interpreter has to provide, and the driver then does the
tiling and blends the regions at pixel level. An engine may instead provide ``render`` and do the
whole image itself, as :class:`TeacherEngine` does to work at feature level.
:class:`StudentEngine` (``--model student``) stays on the generic path: its code is a style vector,
blends are linear in it, and ``alpha`` mixes it with the content's own vector.

Teacher statistics (why ``render``). AdaIN normalises the content features with their own
per-channel mean and std; computed per tile, those statistics differ from tile to tile and every
tile gets a different colour cast. :class:`TeacherEngine` therefore makes two passes over the
tiles: pass 1 encodes each tile and accumulates, over the relu4_1 cells the tile *owns* (the
tiling's cut-to-cut partition, so overlaps count once), the weighted sums ``Σw``, ``Σw·f`` and
``Σw·f²`` (``Σw·f·fᵀ`` for WCT) for every region (``w`` = the region's mask averaged onto the
feature grid); pass 2 normalises every tile with these global statistics, applies each region's
style statistics, mixes the regions with their masks at feature level, mixes with the content
features by ``alpha`` and decodes. Untiled, the single tile owns every cell and this is exactly
``Teacher.stylize``. Pass 2 reuses pass 1's features when they fit in
:data:`FEATURE_CACHE_BYTES`, else encodes again (memory stays bounded by the tile).

No TensorFlow at import time: engines import it when they first run.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import inspect
import os
import sys
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from tfstyle import masks as masks_mod
from tfstyle import tiling
from tfstyle.assets import STUDENT_PREDICTOR as _DEFAULT_STUDENT_PREDICTOR
from tfstyle.assets import STUDENT_TRANSFORMER as _DEFAULT_STUDENT_TRANSFORMER
from tfstyle.assets import TEACHER_DECODER as _DEFAULT_TEACHER_DECODER
from tfstyle.color import check_mode, match_color, transfer_luminance
from tfstyle.errors import TfstyleError, WeightsError

__all__ = [
    "AUTO_TILE",
    "ENGINES",
    "METHODS",
    "Engine",
    "Region",
    "StudentEngine",
    "StylizeConfig",
    "TeacherEngine",
    "get_engine",
    "stylize",
]

AUTO_TILE = 1024
"""With ``tile=None``, images with a side above this are processed in tiles of this size."""

STYLE_MAX = 1024
"""Default largest long side of a style image (its statistics gain nothing from more pixels)."""

MIN_SIDE = 16
METHODS = ("adain", "wct")
FEATURE_CACHE_BYTES = 256 << 20
"""Pass-1 features kept for pass 2 up to this size; beyond it tiles are encoded again."""

ENGINES: dict[str, str] = {
    "teacher": "tfstyle.stylize:TeacherEngine",
    "student": "tfstyle.stylize:StudentEngine",
    "tflite": "tfstyle.runtime:TfliteEngine",
}
"""``--model`` name -> ``module:factory``; a new engine is one line here."""


# ----------------------------------------------------------------------------- configuration


@dataclass
class StylizeConfig:
    """Options shared by every engine (the CLI flags of ``tfstyle stylize``)."""

    alpha: float = 1.0  # style strength: 0 = content (as the engine reconstructs it), 1 = full style
    size: int | None = None  # long side of the content in px; None keeps it
    style_size: int | None = None  # long side of the styles; None = content's, at most STYLE_MAX
    preserve_color: str = "none"  # "none", "luminance" or "histogram"
    method: str = "adain"  # "adain" or "wct" (teacher only)
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
        if self.method not in METHODS:
            raise TfstyleError(f"method must be one of {', '.join(METHODS)}, not {self.method!r}")
        if self.tile is not None and self.tile != 0 and int(self.tile) < MIN_SIDE:
            raise TfstyleError(f"tile must be 0 (no tiling) or at least {MIN_SIDE} px, not {self.tile}")
        if int(self.overlap) < 0:
            raise TfstyleError(f"overlap must be >= 0 px, not {self.overlap}")
        if self.tile and int(self.overlap) > int(self.tile) // 2:
            raise TfstyleError(f"overlap ({self.overlap} px) must be at most half the tile ({self.tile} px)")
        if self.feather is not None and float(self.feather) < 0:
            raise TfstyleError(f"feather must be >= 0 px, not {self.feather}")
        if isinstance(self.engine, str) and self.engine not in ENGINES:
            raise TfstyleError(f"unknown engine {self.engine!r}; known: {', '.join(sorted(ENGINES))}")
        return self

    def tile_for(self, shape: tuple[int, ...]) -> int:
        """The tile size for an image of ``shape``: 0 = one pass over the whole image."""
        longest = max(int(shape[0]), int(shape[1]))
        tile = AUTO_TILE if self.tile is None else int(self.tile)
        return tile if tile and longest > tile else 0


@dataclass
class Region:
    """Where (``weight``, H x W; None = everywhere) which styles (``codes``, mixed by ``blend``) apply,
    and how strongly (``strength``: this region's alpha, on top of ``config.alpha``)."""

    weight: np.ndarray | None
    codes: list
    blend: list[float]
    strength: float = 1.0


# ----------------------------------------------------------------------------- engines


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


@functools.lru_cache(maxsize=2)
def _load_teacher(path: str):
    from tfstyle.models.teacher import Teacher

    return Teacher(decoder_weights=path)


def teacher_decoder_path() -> str:
    """``$TFSTYLE_TEACHER_DECODER`` if set, else the shipped ``tfstyle/assets/teacher_decoder.h5``."""
    return os.environ.get("TFSTYLE_TEACHER_DECODER") or _DEFAULT_TEACHER_DECODER


class TeacherEngine:
    """The VGG19 AdaIN/WCT teacher; the ``Teacher`` is built once per process and decoder file."""

    name = "teacher"
    multiple = 8  # three poolings between the input and relu4_1

    def __init__(self, decoder: str | os.PathLike | None = None, teacher=None):
        self._decoder = os.fspath(decoder) if decoder is not None else None
        self._teacher = teacher

    @property
    def decoder_path(self) -> str:
        return os.path.abspath(self._decoder or teacher_decoder_path())

    def check(self, config: StylizeConfig) -> None:
        path = self.decoder_path
        if self._teacher is None and not os.path.isfile(path):
            raise WeightsError(
                f"{path}: teacher decoder weights not found (train them with `make train`, "
                "or point TFSTYLE_TEACHER_DECODER at a decoder .h5)"
            )

    @property
    def teacher(self):
        if self._teacher is None:
            self.check(StylizeConfig())
            self._teacher = _load_teacher(self.decoder_path)
        return self._teacher

    # -- the generic Engine interface (per-tile statistics; used by the generic driver only)

    def style_code(self, style: np.ndarray, config: StylizeConfig):
        from tfstyle._keras import tf

        image = tf.constant(np.asarray(style, np.float32)[None])
        return self.teacher.style_code(image, with_features=config.method == "wct")

    def blend(self, codes, weights):
        from tfstyle.models.teacher import StyleCode

        return codes[0] if len(codes) == 1 else StyleCode.blend(codes, weights)

    def stylize_tile(self, tile: np.ndarray, code, config: StylizeConfig) -> np.ndarray:
        out = self.teacher.stylize(np.asarray(tile, np.float32)[None], code, config.alpha, config.method)
        return out[0].numpy()

    # -- feature-level rendering with global statistics

    def encode(self, image: np.ndarray) -> np.ndarray:
        """H x W x 3 -> relu4_1 features of the image reflect-padded to a multiple of 8 (numpy)."""
        from tfstyle._keras import tf
        from tfstyle.models.teacher import BOTTLENECK, pad_to_multiple

        padded, _ = pad_to_multiple(tf.constant(np.asarray(image, np.float32)[None]), self.multiple)
        return self.teacher.encode(padded)[BOTTLENECK][0].numpy()

    def decode(self, feats: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        from tfstyle._keras import tf

        out = self.teacher.decode(tf.constant(feats[None], tf.float32))[0, : shape[0], : shape[1]]
        return np.clip(out.numpy(), 0.0, 1.0)

    def render(
        self,
        content: np.ndarray,
        regions: Sequence[Region],
        rest: np.ndarray | None,
        config: StylizeConfig,
        plan: tiling.TilePlan | None = None,
        callback: Callable[[int, int], None] | None = None,
    ) -> np.ndarray:
        height, width = content.shape[:2]
        if plan is None:  # one tile that is the whole image
            whole = -(-max(height, width) // self.multiple) * self.multiple + 2 * self.multiple
            plan = tiling.plan_tiles(height, width, whole, 0, self.multiple)
        boxes = plan.boxes
        total, done = 2 * len(boxes), 0
        cells = [(_cells(b.y1 - b.y0, self.multiple), _cells(b.x1 - b.x0, self.multiple)) for b in boxes]
        cache_ok = sum(h * w for h, w in cells) * 512 * 4 <= FEATURE_CACHE_BYTES
        cache: dict[tiling.Box, np.ndarray] = {}
        full = config.method == "wct"
        everywhere = _Moments(full)
        moments = [everywhere if r.weight is None else _Moments(full) for r in regions]

        # pass 1: global (per-region) content statistics over the cells each tile owns
        for box in boxes:
            feats = self.encode(content[box.slices])
            own = _ownership(plan, box, feats.shape[:2], self.multiple)
            flat = feats.reshape(-1, feats.shape[-1])
            everywhere.add(flat, own.reshape(-1))
            for region, moment in zip(regions, moments):
                if region.weight is not None:
                    grid = _to_grid(region.weight[box.slices], feats.shape[:2], self.multiple)
                    moment.add(flat, (own * grid).reshape(-1))
            if cache_ok:
                cache[box] = feats
            done += 1
            if callback is not None:
                callback(done, total)

        transforms = [
            _region_transform(region, moment if moment.count >= 1.0 else everywhere, config.method)
            for region, moment in zip(regions, moments)
        ]
        alpha = float(config.alpha)

        def fn(tile: np.ndarray, box: tiling.Box) -> np.ndarray:
            feats = cache.pop(box) if box in cache else self.encode(tile)
            target = _mix(feats, regions, transforms, box, self.multiple)
            if alpha == 0.0:
                target = feats
            elif alpha < 1.0:
                target = alpha * target + (1.0 - alpha) * feats
            return self.decode(target, box.shape)

        def tile_done(i: int, _n: int) -> None:
            if callback is not None:
                callback(len(boxes) + i, total)

        out = tiling.tiled_apply(content, fn, with_box=True, plan=plan, callback=tile_done)
        if rest is not None:  # unstyled pixels are the content itself, not its reconstruction
            out *= 1.0 - rest[..., None]
            out += rest[..., None] * content
        return out


@functools.lru_cache(maxsize=2)
def _load_student(predictor: str, transformer: str):
    from tfstyle.models.student import Student

    return Student(predictor_weights=predictor, transformer_weights=transformer)


def student_paths() -> tuple[str, str]:
    """``$TFSTYLE_STUDENT_PREDICTOR`` / ``$TFSTYLE_STUDENT_TRANSFORMER`` if set, else the shipped files."""
    return (
        os.environ.get("TFSTYLE_STUDENT_PREDICTOR") or _DEFAULT_STUDENT_PREDICTOR,
        os.environ.get("TFSTYLE_STUDENT_TRANSFORMER") or _DEFAULT_STUDENT_TRANSFORMER,
    )


class StudentEngine:
    """The MobileNetV2 student: a style code is the predictor's style vector (a [D] array).

    * ``blend``: linear interpolation of the vectors (:func:`tfstyle.models.student.blend_vectors`).
    * ``alpha`` (Magenta's convention): the transformer is driven by
      ``alpha * v_style + (1 - alpha) * v_content``, where ``v_content`` is the predictor's vector
      of the content image itself; alpha 0 is the content restyled "as itself".
    * Regions, tiling and colour preservation go through the generic driver (pixel-level region
      blending, per-tile transformer: it has no instance statistics). :meth:`render` only computes
      ``v_content`` once, on the whole content at the styles' resolution, so that every tile and
      region is mixed with the same vector.
    """

    name = "student"
    multiple = 8  # the transformer downsamples three times

    def __init__(
        self,
        predictor: str | os.PathLike | None = None,
        transformer: str | os.PathLike | None = None,
        student=None,
    ):
        self._paths = (
            os.fspath(predictor) if predictor is not None else None,
            os.fspath(transformer) if transformer is not None else None,
        )
        self._student = student

    @property
    def paths(self) -> tuple[str, str]:
        default = student_paths()
        return tuple(os.path.abspath(p or d) for p, d in zip(self._paths, default))

    weights_what = ("student", ".h5", "train them with `make train`", "TFSTYLE_STUDENT_")
    """How a missing file is named: model, file type, how to make it, environment variable prefix."""

    def check(self, config: StylizeConfig) -> None:
        if config.method != "adain":
            raise TfstyleError(
                f"method {config.method!r} is for the teacher; the student has no feature transform"
            )
        if self._student is not None:
            return
        model, ext, make, env = self.weights_what
        for what, path in zip(("predictor", "transformer"), self.paths):
            if not os.path.isfile(path):
                raise WeightsError(
                    f"{path}: {model} {what} weights not found ({make}, "
                    f"or point {env}{what.upper()} at a {what} {ext})"
                )

    @property
    def student(self):
        """The given ``Student``, else the one for the current paths (built once per process and pair)."""
        if self._student is not None:
            return self._student
        self.check(StylizeConfig())
        return _load_student(*self.paths)

    def style_code(self, style: np.ndarray, config: StylizeConfig) -> np.ndarray:
        return self.student.style_vector(np.asarray(style, np.float32)[None])[0]

    def content_code(self, content: np.ndarray, config: StylizeConfig) -> np.ndarray:
        """The content's own style vector, at the resolution the styles are described at."""
        long = int(config.style_size or min(max(content.shape[:2]), STYLE_MAX))
        if max(content.shape[:2]) != long:
            from tfstyle.images import resize

            content = resize(content, long)
        return self.style_code(content, config)

    def blend(self, codes, weights) -> np.ndarray:
        from tfstyle.style_vectors import blend_vectors

        return blend_vectors(codes, weights)

    def mix(self, code: np.ndarray, content_code: np.ndarray, alpha: float) -> np.ndarray:
        alpha = float(alpha)
        if alpha == 1.0:
            return np.asarray(code, np.float32)
        return (alpha * np.asarray(code, np.float32) + (1.0 - alpha) * content_code).astype(np.float32)

    def stylize_tile(self, tile: np.ndarray, code, config: StylizeConfig) -> np.ndarray:
        """One tile; with ``alpha < 1`` called directly, ``v_content`` is the tile's own vector."""
        if float(config.alpha) < 1.0:
            code = self.mix(code, self.content_code(tile, config), config.alpha)
        return self.student.stylize(np.asarray(tile, np.float32)[None], code)[0]

    def render(
        self,
        content: np.ndarray,
        regions: Sequence[Region],
        rest: np.ndarray | None,
        config: StylizeConfig,
        plan: tiling.TilePlan | None = None,
        callback: Callable[[int, int], None] | None = None,
    ) -> np.ndarray:
        alpha = float(config.alpha)
        if alpha < 1.0 or any(r.strength < 1.0 for r in regions):
            v_content = self.content_code(content, config)
            mixed = [self.mix(self.blend(r.codes, r.blend), v_content, alpha * r.strength) for r in regions]
            regions = [Region(r.weight, [code], [1.0]) for r, code in zip(regions, mixed)]
            config = dataclasses.replace(config, alpha=1.0)
        return _render_generic(self, content, regions, rest, config, plan, callback)


def _cells(length: int, multiple: int = 8) -> int:
    return -(-int(length) // multiple)


class _Moments:
    """Weighted first and second moments of feature vectors (float64 accumulators)."""

    def __init__(self, full: bool):
        self.full = full
        self.count = 0.0
        self.s1: np.ndarray | float = 0.0
        self.s2: np.ndarray | float = 0.0

    def add(self, flat: np.ndarray, weight: np.ndarray) -> None:
        weight = weight.astype(np.float64)
        if not weight.any():
            return
        keep = weight > 0
        flat, weight = flat[keep].astype(np.float64), weight[keep]
        self.count += float(weight.sum())
        self.s1 = self.s1 + weight @ flat
        self.s2 = self.s2 + ((flat * weight[:, None]).T @ flat if self.full else weight @ (flat * flat))

    def mean(self) -> np.ndarray:
        return self.s1 / self.count

    def std(self, eps: float) -> np.ndarray:
        """Population std as ``tfstyle.ops.mean_std``: ``sqrt(var + eps)``."""
        mean = self.mean()
        return np.sqrt(np.maximum(self.s2 / self.count - mean * mean, 0.0) + eps)

    def cov(self, eps: float) -> np.ndarray:
        """Unbiased covariance plus ``eps·I``, as ``tfstyle.ops.wct``."""
        mean = self.mean()
        cov = (self.s2 - self.count * np.outer(mean, mean)) / max(self.count - 1.0, 1.0)
        return cov + eps * np.eye(len(mean))


def _ownership(plan: tiling.TilePlan, box: tiling.Box, grid: tuple[int, int], multiple: int) -> np.ndarray:
    """1 for the feature cells of ``box`` whose centre lies in the part of the image it owns."""

    def axis(ax: tiling.Axis, index: int, start: int, n: int) -> np.ndarray:
        lo, hi = ax.owner_range(index)
        centres = start + multiple * np.arange(n) + 0.5 * multiple
        return ((centres >= lo) & (centres < hi)).astype(np.float64)

    return np.outer(axis(plan.y, box.row, box.y0, grid[0]), axis(plan.x, box.col, box.x0, grid[1]))


def _to_grid(weight: np.ndarray, grid: tuple[int, int], multiple: int) -> np.ndarray:
    """A tile's H x W weights -> the feature grid: reflect-padded like the image, then area-averaged."""
    h, w = weight.shape
    ph, pw = grid[0] * multiple - h, grid[1] * multiple - w
    if ph or pw:
        weight = np.pad(weight, ((0, ph), (0, pw)), mode="reflect")
    return weight.reshape(grid[0], multiple, grid[1], multiple).mean(axis=(1, 3))


def _style_stats(code, method: str, eps: float):
    """(mean [C], scale): the style's std for AdaIN, its colouring matrix for WCT."""
    mean = np.asarray(code.mean, np.float64).reshape(-1)
    if method != "wct":
        return mean, np.asarray(code.std, np.float64).reshape(-1)
    if code.feats is None:
        raise TfstyleError("WCT needs the style features (style_code with method='wct')")
    flat = np.asarray(code.feats, np.float64).reshape(-1, mean.shape[0])
    centred = flat - flat.mean(0)
    cov = centred.T @ centred / max(len(flat) - 1, 1) + eps * np.eye(len(mean))
    vals, vecs = np.linalg.eigh(cov)
    colour = (vecs * np.sqrt(np.maximum(vals, eps))) @ vecs.T
    return flat.mean(0), colour


def _region_transform(region: Region, moments: _Moments, method: str):
    """The region's target as an affine map of the content features: ``f @ A + b`` (A: [C] or [C, C])."""
    from tfstyle.ops import EPS

    total = float(sum(region.blend))
    stats = [_style_stats(code, method, EPS) for code in region.codes]
    style_mean = sum(w / total * m for w, (m, _) in zip(region.blend, stats))
    style_scale = sum(w / total * s for w, (_, s) in zip(region.blend, stats))
    mean = moments.mean()
    if method == "wct":
        vals, vecs = np.linalg.eigh(moments.cov(1e-5))
        whiten = (vecs / np.sqrt(np.maximum(vals, 1e-5))) @ vecs.T
        matrix = whiten @ style_scale
        return matrix.astype(np.float32), (style_mean - mean @ matrix).astype(np.float32)
    scale = style_scale / moments.std(EPS)
    return scale.astype(np.float32), (style_mean - mean * scale).astype(np.float32)


def _apply(feats: np.ndarray, transform) -> np.ndarray:
    matrix, shift = transform
    return (feats @ matrix if matrix.ndim == 2 else feats * matrix) + shift


def _styled(feats: np.ndarray, region: Region, transform) -> np.ndarray:
    """The region's target mixed with the content features by its strength (feature-level alpha)."""
    target = _apply(feats, transform)
    strength = float(region.strength)
    return target if strength >= 1.0 else strength * target + (1.0 - strength) * feats


def _mix(feats: np.ndarray, regions: Sequence[Region], transforms, box: tiling.Box, multiple: int):
    """Each region's target weighted by its mask on the feature grid; the content features elsewhere."""
    if len(regions) == 1 and regions[0].weight is None:
        return _styled(feats, regions[0], transforms[0])
    grid = feats.shape[:2]
    out = np.zeros_like(feats)
    covered = np.zeros(grid, np.float32)
    for region, transform in zip(regions, transforms):
        if region.weight is None:
            w = np.ones(grid, np.float32)
        else:
            w = _to_grid(region.weight[box.slices], grid, multiple).astype(np.float32)
        if w.any():
            out += w[..., None] * _styled(feats, region, transform)
        covered += w
    rest = np.clip(1.0 - covered, 0.0, 1.0)
    return out + rest[..., None] * feats


def _render_generic(
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


def get_engine(engine: str | Engine | None = None, config: StylizeConfig | None = None) -> Engine:
    """An engine instance: pass-through, or by name from :data:`ENGINES` (one instance per process)."""
    if engine is not None and not isinstance(engine, str):
        return engine
    name = engine or (config.engine if config is not None else "teacher")
    if name not in ENGINES:
        raise TfstyleError(f"unknown engine {name!r}; known: {', '.join(sorted(ENGINES))}")
    return _engine_by_name(name)


@functools.cache
def _engine_by_name(name: str) -> Engine:
    module, _, attr = ENGINES[name].partition(":")
    return getattr(importlib.import_module(module), attr)()


# ----------------------------------------------------------------------------- inputs


def _as_image(image, what: str) -> np.ndarray:
    if isinstance(image, (str, os.PathLike)):
        from tfstyle.images import load_image

        return load_image(image)
    array = np.asarray(image)
    if array.dtype == np.uint8:
        array = array.astype(np.float32) / 255.0
    array = array.astype(np.float32)
    if array.ndim == 4 and array.shape[0] == 1:
        array = array[0]
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] != 3:
        raise TfstyleError(f"{what} must be an H x W x 3 image, got shape {array.shape}")
    if min(array.shape[:2]) < MIN_SIDE:
        raise TfstyleError(f"{what} is {array.shape[1]}x{array.shape[0]} px; at least {MIN_SIDE} px per side")
    return np.clip(np.nan_to_num(array), 0.0, 1.0)


def _styles_list(styles, required: bool = True) -> list:
    if isinstance(styles, (str, os.PathLike)) or (isinstance(styles, np.ndarray) and styles.ndim in (2, 3)):
        return [styles]
    styles = list(styles or [])
    if not styles and required:
        raise TfstyleError("at least one style image is needed")
    return styles


def _blend_weights(weights, n: int) -> list[float]:
    if weights is None:
        return [1.0] * n
    if isinstance(weights, str):
        from tfstyle.commands._common import parse_weights

        return parse_weights(weights, n)
    weights = [float(w) for w in weights]
    if len(weights) != n:
        raise TfstyleError(f"{len(weights)} blend weights for {n} styles")
    if any(not w >= 0 for w in weights) or sum(weights) <= 0:
        raise TfstyleError(f"blend weights {weights} must be non-negative and not all zero")
    return weights


def _load_masks(masks, shape: tuple[int, int], n_styles: int) -> list[np.ndarray] | None:
    if masks is None:
        return None
    if isinstance(masks, (str, os.PathLike)) or (isinstance(masks, np.ndarray) and masks.ndim == 2):
        masks = [masks]
    from tfstyle.images import load_mask, resize_to

    out = []
    for m in masks:
        if isinstance(m, (str, os.PathLike)):
            out.append(load_mask(m, shape=shape))
            continue
        array = np.asarray(m, np.float32)
        if array.ndim == 3 and array.shape[2] == 1:
            array = array[..., 0]
        if array.ndim != 2:
            raise TfstyleError(f"a mask must be an H x W array, got shape {array.shape}")
        out.append(resize_to(np.clip(array, 0.0, 1.0), shape) if array.shape != tuple(shape) else array)
    if not out:
        return None
    masks_mod.check_count(len(out), n_styles)
    return out


def _region_specs(labels, masks, image: np.ndarray, styles: list, blend: list[float]):
    """Region specs from a label map or from masks (None: the styles apply everywhere); a label
    map's own styles are appended to ``styles``."""
    if labels is None:
        mask_arrays = _load_masks(masks, image.shape[:2], len(styles))
        return None if mask_arrays is None else masks_mod.region_specs(mask_arrays, len(styles), blend)
    from tfstyle.labels import as_label_map, plan_regions

    if masks is not None:
        raise TfstyleError("give region masks or a label map, not both")
    plan = plan_regions(as_label_map(labels), image.shape[:2], len(styles), blend)
    if any(x is not None for x in plan.style_labels):
        raise TfstyleError(
            "style label maps (semantic Gram matching) are for Gatys optimisation (tfstyle optimize); "
            "feed-forward engines match whole styles"
        )
    styles.extend(_as_image(s, "style") for s in plan.styles)
    return plan.regions


def _regions(codes: list, weights: list[float], specs, shape, config: StylizeConfig):
    if specs is None:
        return [Region(None, codes, weights)], None
    sigma = masks_mod.auto_sigma(shape) if config.feather is None else float(config.feather)
    parts, rest = masks_mod.soft_regions(specs, sigma)
    regions = [
        Region(w, [codes[i] for i in s.styles], list(s.blend), float(s.strength))
        for w, s in zip(parts, specs)
    ]
    return regions, rest


# ----------------------------------------------------------------------------- the driver


def stylize(
    content,
    styles,
    *,
    weights: Sequence[float] | str | None = None,
    masks=None,
    labels=None,
    config: StylizeConfig | None = None,
    engine: str | Engine | None = None,
    output: str | os.PathLike | None = None,
    callback: Callable[[int, int], None] | None = None,
    **options,
) -> np.ndarray:
    """Stylize ``content`` with ``styles``; returns float32 H x W x 3 in [0, 1].

    ``content``/``styles``/``masks`` are arrays or paths (one style or a list); ``weights`` blend
    the styles (a list or "0.7,0.3"); ``labels`` is a :class:`tfstyle.labels.LabelMap` (per-class
    styles and strengths; its own styles may stand in for ``styles``); ``options`` override fields
    of ``config`` (:class:`StylizeConfig`: ``alpha``, ``size``, ``preserve_color``, ``tile``, ``overlap``,
    ``method``, ``feather``, ...). ``output`` also writes the result; ``callback(done, total)``
    reports tiles.

    >>> out = stylize("photo.jpg", ["a.jpg", "b.jpg"], weights=[0.7, 0.3], alpha=0.8)  # doctest: +SKIP
    """
    config = dataclasses.replace(config or StylizeConfig(), **options).validate()
    image = _as_image(content, "content")
    if config.size is not None:
        from tfstyle.images import resize

        image = resize(image, int(config.size))
    style_images = [_as_image(s, "style") for s in _styles_list(styles, required=labels is None)]
    blend = _blend_weights(weights, len(style_images))
    specs = _region_specs(labels, masks, image, style_images, blend)
    style_long = int(config.style_size or min(max(image.shape[:2]), STYLE_MAX))
    from tfstyle.images import resize

    style_images = [resize(s, style_long) if max(s.shape[:2]) != style_long else s for s in style_images]
    if config.preserve_color == "histogram":
        style_images = [match_color(s, image) for s in style_images]

    eng = get_engine(engine, config)
    check = getattr(eng, "check", None)
    if check is not None:
        check(config)
    codes = [eng.style_code(s, config) for s in style_images]
    regions, rest = _regions(codes, blend, specs, image.shape[:2], config)
    tile = config.tile_for(image.shape)
    plan = None
    if tile:
        overlap = min(int(config.overlap), tile // 2)
        plan = tiling.plan_tiles(image.shape[0], image.shape[1], tile, overlap, eng.multiple)
    render = getattr(eng, "render", None)
    if render is not None:
        out = render(image, regions, rest, config, plan, callback)
    else:
        out = _render_generic(eng, image, regions, rest, config, plan, callback)
    out = np.clip(np.asarray(out, np.float32), 0.0, 1.0)
    if config.preserve_color == "luminance":
        out = transfer_luminance(out, image)
    if output is not None:
        from tfstyle.images import save_image

        save_image(output, out)
    return out


# ``tfstyle.stylize`` names both this module and the function, and importing the module binds the
# package attribute to the module: so the module is callable, forwarding to the function.
class _CallableModule(types.ModuleType):
    def __call__(self, *args, **kwargs):
        return stylize(*args, **kwargs)


__signature__ = inspect.signature(stylize)
sys.modules[__name__].__class__ = _CallableModule
