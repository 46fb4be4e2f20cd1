"""The VGG19 AdaIN/WCT teacher engine (``--model teacher``) and its feature-level region statistics.

Why ``render`` (global statistics). AdaIN normalises the content features with their own
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

TensorFlow is imported when the engine first runs; :meth:`TeacherEngine.check` says in one line
when it is not installed.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

from tfstyle import tiling, transport
from tfstyle.assets import MULTILEVEL_DECODERS
from tfstyle.assets import TEACHER_DECODER as _DEFAULT_TEACHER_DECODER
from tfstyle.engines.base import LEVELS, TEACHER_METHOD, Region, StylizeConfig
from tfstyle.errors import TfstyleError, WeightsError, require
from tfstyle.precision import inference_precision

__all__ = ["FEATURE_CACHE_BYTES", "TeacherEngine", "method_of", "render_level", "teacher_decoder_path"]

FEATURE_CACHE_BYTES = 256 << 20
"""Pass-1 features kept for pass 2 up to this size; beyond it tiles are encoded again."""

FINE_TILE = {"relu1_1": 384, "relu2_1": 384, "relu3_1": 512}
"""Largest tile side at the fine levels of a tiled multilevel run: a 1024 px tile holds 256 MB of
relu1_1 features alone (64 channels at full resolution, float32), plus the encoder's and decoder's
full-resolution activations. Measured per level at 12 MP with 1024 px tiles, relu3_1 was the peak
(+204 MB over the AdaIN teacher's); with these caps no level goes above the relu4_1 level's."""

STYLE_CODE_CACHE = 8
"""Multilevel style statistics kept per engine (each is a few MB: the relu4_1 colouring matrix)."""


@functools.lru_cache(maxsize=2)
def _load_teacher(path: str, precision: str):
    from tfstyle.models.teacher import Teacher
    from tfstyle.precision import policy_scope

    with policy_scope(precision):
        return Teacher(decoder_weights=path)


@functools.lru_cache(maxsize=1)
def _load_multilevel(paths: tuple[tuple[str, str], ...], precision: str):
    from tfstyle.models.multilevel import MultilevelTeacher
    from tfstyle.precision import policy_scope

    with policy_scope(precision):
        return MultilevelTeacher(dict(paths))


def method_of(config: StylizeConfig) -> str:
    """The teacher's transform for ``config``: its ``method``, or :data:`TEACHER_METHOD` when None."""
    return config.method or TEACHER_METHOD


def teacher_decoder_path() -> str:
    """``$TFSTYLE_TEACHER_DECODER`` if set, else the shipped ``tfstyle/assets/teacher_decoder.h5``."""
    return os.environ.get("TFSTYLE_TEACHER_DECODER") or _DEFAULT_TEACHER_DECODER


class TeacherEngine:
    """The VGG19 AdaIN/WCT teacher; the ``Teacher`` is built once per process and decoder file."""

    name = "teacher"
    multiple = 8  # three poolings between the input and relu4_1

    def __init__(self, decoder: str | os.PathLike | None = None, teacher=None, multilevel=None):
        self._decoder = os.fspath(decoder) if decoder is not None else None
        self._teacher = teacher
        self._multilevel = multilevel
        self._codes: dict[tuple, object] = {}  # multilevel style statistics, by style content

    @property
    def decoder_path(self) -> str:
        return os.path.abspath(self._decoder or teacher_decoder_path())

    def check(self, config: StylizeConfig) -> None:
        if self._teacher is None or (method_of(config) == "multilevel" and self._multilevel is None):
            require("tensorflow", "the teacher engine")
        if method_of(config) == "multilevel":
            self._check_multilevel()
            return
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
            self._teacher = _load_teacher(self.decoder_path, inference_precision())
        return self._teacher

    def multilevel_paths(self) -> dict[str, str]:
        """The shipped reconstruction decoders; relu4_1 is this engine's AdaIN decoder."""
        return {**MULTILEVEL_DECODERS, "relu4_1": self.decoder_path}

    def _check_multilevel(self) -> None:
        if self._multilevel is not None:
            return
        for level, path in self.multilevel_paths().items():
            if not os.path.isfile(path):
                raise WeightsError(
                    f"{path}: {level} reconstruction decoder not found (train it with "
                    f"`python -m training.decoders --level {level} --ship`, see `make train`)"
                )

    @property
    def multilevel(self):
        """The multi-level teacher (:class:`tfstyle.models.multilevel.MultilevelTeacher`), built once."""
        if self._multilevel is None:
            self._check_multilevel()
            paths = tuple(sorted(self.multilevel_paths().items()))
            self._multilevel = _load_multilevel(paths, inference_precision())
        return self._multilevel

    def multilevel_code(self, style: np.ndarray, sliced: tuple[str, ...] = ()):
        """Every level's statistics of ``style`` (WCT eigen-decompositions included; transport
        quantiles at the ``sliced`` levels), computed once per style image and kept for the next
        call (the web app and video reuse styles)."""
        style = np.ascontiguousarray(style, np.float32)
        key = (style.shape, hashlib.sha1(style.tobytes()).hexdigest(), tuple(sliced))
        if key not in self._codes:
            if len(self._codes) >= STYLE_CODE_CACHE:
                self._codes.pop(next(iter(self._codes)))
            self._codes[key] = self.multilevel.style_code(style, tuple(sliced))
        return self._codes[key]

    # -- the generic Engine interface (per-tile statistics; used by the generic driver only)

    def style_code(self, style: np.ndarray, config: StylizeConfig):
        from tfstyle._keras import tf

        if method_of(config) == "multilevel":
            sliced = tuple(level for level, m in zip(LEVELS, config.level_methods) if m == "ot")
            return self.multilevel_code(style, sliced)
        image = tf.constant(np.asarray(style, np.float32)[None])
        return self.teacher.style_code(image, with_features=method_of(config) == "wct")

    def blend(self, codes, weights):
        from tfstyle.models.teacher import StyleCode

        if len(codes) > 1 and not isinstance(codes[0], StyleCode):  # multilevel: blended per level
            return _Blend(codes, list(weights))
        return codes[0] if len(codes) == 1 else StyleCode.blend(codes, weights)

    def stylize_tile(self, tile: np.ndarray, code, config: StylizeConfig) -> np.ndarray:
        if method_of(config) == "multilevel":
            codes, weights = (code.codes, code.weights) if isinstance(code, _Blend) else ([code], [1.0])
            tile = np.asarray(tile, np.float32)
            return self._render_multilevel(tile, [Region(None, codes, weights)], config, None, None)
        out = self.teacher.stylize(np.asarray(tile, np.float32)[None], code, config.alpha, method_of(config))
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
        method = method_of(config)
        if method == "multilevel":
            out = self._render_multilevel(content, regions, config, plan, callback)
        else:
            coder = _Coder(self.encode, self.decode, self.multiple, 512)
            out = render_level(
                coder, content, regions, method, float(config.alpha), plan, callback, config.residual
            )
        if rest is not None:  # unstyled pixels are the content itself, not its reconstruction
            out *= 1.0 - rest[..., None]
            out += rest[..., None] * content
        return out

    def _render_multilevel(self, content, regions, config: StylizeConfig, plan, callback) -> np.ndarray:
        """Coarse to fine: each level with a non-zero strength re-stylizes the previous level's output."""
        from tfstyle.models.decoders import CHANNELS, MULTIPLES

        model = self.multilevel
        steps = [
            (level, float(config.alpha) * w, method)
            for level, w, method in zip(LEVELS, config.level_weights, config.level_methods)
            if float(config.alpha) * w > 0.0
        ][::-1]
        image = np.asarray(content, np.float32)
        for k, (level, strength, method) in enumerate(steps):
            coder = _Coder(
                functools.partial(model.encode, level),
                functools.partial(model.decode, level),
                MULTIPLES[level],
                CHANNELS[level],
            )
            level_regions = [
                Region(r.weight, [code.levels[level] for code in r.codes], r.blend, r.strength)
                for r in regions
            ]

            def progress(done: int, total: int, k=k) -> None:
                if callback is not None:
                    callback(k * total + done, len(steps) * total)

            level_plan = _level_plan(plan, level)
            image = render_level(
                coder, image, level_regions, method, strength, level_plan, progress, config.residual, k > 0
            )
        return image if steps else image.copy()


def _level_plan(plan: tiling.TilePlan | None, level: str) -> tiling.TilePlan | None:
    """``plan``, or the same image cut into smaller tiles at a level with a :data:`FINE_TILE` cap."""
    limit = FINE_TILE.get(level)
    if plan is None or limit is None or max(plan.y.size, plan.x.size) <= limit:
        return plan
    overlap = min(2 * plan.y.width, limit // 2)
    return tiling.plan_tiles(plan.y.length, plan.x.length, limit, overlap, 8)


class _Blend(NamedTuple):
    """Several multilevel style codes and their weights (blended per level by the renderer)."""

    codes: list
    weights: list[float]


class _Coder(NamedTuple):
    """One level's feature space: image -> features (padded to ``multiple``) and back."""

    encode: Callable[[np.ndarray], np.ndarray]
    decode: Callable[[np.ndarray, tuple[int, int]], np.ndarray]
    multiple: int
    channels: int


def render_level(
    coder: _Coder,
    content: np.ndarray,
    regions: Sequence[Region],
    method: str,
    alpha: float,
    plan: tiling.TilePlan | None = None,
    callback: Callable[[int, int], None] | None = None,
    residual: bool = False,
    inplace: bool = False,
) -> np.ndarray:
    """Two passes over the tiles at one level: global per-region statistics, then transform and decode.

    ``residual``: the tile plus ``decode(target) - decode(features)`` instead of ``decode(target)``,
    so what the decoder cannot reconstruct (fine detail, the earlier levels' texture) is kept rather
    than blurred away at every level of a cascade. ``inplace``: the result overwrites ``content``
    (a cascade's own intermediate image, never the caller's)."""
    multiple = coder.multiple
    height, width = content.shape[:2]
    if plan is None:  # one tile that is the whole image
        whole = -(-max(height, width) // 8) * 8 + 16
        plan = tiling.plan_tiles(height, width, whole, 0, 8)
    boxes = plan.boxes
    total, done = 2 * len(boxes), 0
    cells = [(_cells(b.y1 - b.y0, multiple), _cells(b.x1 - b.x0, multiple)) for b in boxes]
    cache_ok = sum(h * w for h, w in cells) * coder.channels * 4 <= FEATURE_CACHE_BYTES
    cache: dict[tiling.Box, np.ndarray] = {}
    full = method in ("wct", "ot")
    everywhere = _Moments(full)
    moments = [everywhere if r.weight is None else _Moments(full) for r in regions]
    # ot: a seeded sample of each region's features, to fit the transport map on
    rate = min(1.0, transport.SAMPLE / (_cells(height, multiple) * _cells(width, multiple)))
    sampler = np.random.default_rng(0)
    whole: list[np.ndarray] = []  # the image's sample, as `everywhere` is its moments
    samples: list[list[np.ndarray]] = [whole if r.weight is None else [] for r in regions]

    # pass 1: global (per-region) content statistics over the cells each tile owns
    for box in boxes:
        feats = coder.encode(content[box.slices])
        own = _ownership(plan, box, feats.shape[:2], multiple)
        flat = feats.reshape(-1, feats.shape[-1])
        everywhere.add(flat, own.reshape(-1))
        keep = sampler.random(len(flat)) < rate if method == "ot" else None
        if keep is not None:
            whole.append(flat[keep & (own.reshape(-1) > 0.5)])
        for region, moment, sample in zip(regions, moments, samples):
            if region.weight is not None:
                grid = _to_grid(region.weight[box.slices], feats.shape[:2], multiple)
                weight = (own * grid).reshape(-1)
                moment.add(flat, weight)
                if keep is not None:
                    sample.append(flat[keep & (weight > 0.5)])
        if cache_ok:
            cache[box] = feats
        done += 1
        if callback is not None:
            callback(done, total)

    if method == "ot":  # a region too small to sample borrows the whole image's sample
        image_sample = np.concatenate(whole)
        samples = [np.concatenate(s) if sum(map(len, s)) >= 2 else image_sample for s in samples]
    transforms = [
        _region_transform(
            region, moment if moment.count >= 1.0 else everywhere, method, sample if method == "ot" else None
        )
        for region, moment, sample in zip(regions, moments, samples)
    ]

    def target_of(feats: np.ndarray, box: tiling.Box) -> np.ndarray:
        target = _mix(feats, regions, transforms, box, multiple)
        if alpha == 0.0:
            return feats
        return target if alpha == 1.0 else alpha * target + (1.0 - alpha) * feats

    def fn(tile: np.ndarray, box: tiling.Box) -> np.ndarray:
        feats = cache.pop(box) if box in cache else coder.encode(tile)
        if not residual or alpha == 0.0:
            return coder.decode(target_of(feats, box), box.shape)
        # the decoded change only, so the decoder's blur cancels; the features are decoded first
        # and dropped before the target is, so each decoder call has one feature map beside it
        before = coder.decode(feats, box.shape)
        target = target_of(feats, box)
        del feats
        after = coder.decode(target, box.shape)
        del target
        return np.clip(tile + after - before, 0.0, 1.0)

    def tile_done(i: int, _n: int) -> None:
        if callback is not None:
            callback(len(boxes) + i, total)

    out = content if inplace and content.dtype == np.float32 else None
    return tiling.tiled_apply(content, fn, with_box=True, plan=plan, callback=tile_done, out=out)


_CHUNK = 1 << 16


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
        ones = bool((weight == 1.0).all())
        rows = None
        if not ones:  # the kept rows are gathered block by block, not copied all at once
            rows = np.flatnonzero(weight > 0)
            weight = weight[rows]
        self.count += float(weight.sum())
        # float32 BLAS per block, float64 across blocks: exact enough, fast, bounded memory
        for i in range(0, len(weight), _CHUNK):
            block = flat[i : i + _CHUNK] if rows is None else flat[rows[i : i + _CHUNK]]
            block = np.asarray(block, np.float32)
            weighted = block if ones else block * weight[i : i + _CHUNK, None].astype(np.float32)
            self.s1 = self.s1 + weighted.sum(0, dtype=np.float64)
            second = weighted.T @ block if self.full else (weighted * block).sum(0, dtype=np.float64)
            self.s2 = self.s2 + second.astype(np.float64)

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
    if getattr(code, "colour", None) is not None:  # computed once per style (multilevel)
        return mean, code.colour
    if code.feats is None:
        raise TfstyleError("WCT needs the style features (style_code with method='wct')")
    flat = np.asarray(code.feats, np.float64).reshape(-1, mean.shape[0])
    centred = flat - flat.mean(0)
    cov = centred.T @ centred / max(len(flat) - 1, 1) + eps * np.eye(len(mean))
    vals, vecs = np.linalg.eigh(cov)
    colour = (vecs * np.sqrt(np.maximum(vals, eps))) @ vecs.T
    return flat.mean(0), colour


def _region_transform(region: Region, moments: _Moments, method: str, sample: np.ndarray | None = None):
    """The region's target as an affine map of the content features, ``f @ A + b`` (A: [C] or
    [C, C]); for ``ot``, WCT's map followed by the sliced transport map fitted on ``sample``."""
    from tfstyle.ops import EPS

    if method == "ot":
        affine = _region_transform(region, moments, "wct")
        tables = [code.quantiles for code in region.codes]
        if any(t is None for t in tables):
            raise TfstyleError("the ot transform needs the style's quantiles (style_code with an 'ot' level)")
        target = transport.blend_quantiles(tables, region.blend)
        return _Chain(affine, transport.fit(_apply(sample, affine), target))
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


class _Chain(NamedTuple):
    """An affine map (WCT) then a sliced transport map: the ``ot`` level transform."""

    affine: tuple[np.ndarray, np.ndarray]
    sliced: transport.SlicedMap


def _apply(feats: np.ndarray, transform) -> np.ndarray:
    if isinstance(transform, _Chain):
        return transform.sliced(_apply(feats, transform.affine))
    matrix, shift = transform
    if matrix.ndim == 1:
        out = feats * matrix
    else:  # one 2-D matmul: numpy runs an H x W x C array times a matrix as H small matmuls (30x slower)
        out = (feats.reshape(-1, feats.shape[-1]) @ matrix).reshape(feats.shape[:-1] + (matrix.shape[1],))
    out += shift  # in place: no second feature-map-sized temporary
    return out


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
