"""Tiled processing of large images with overlap and seamless blending (NumPy only, no TensorFlow).

An image is split into overlapping tiles whose sides are ``tile`` pixels (a multiple of
``multiple``); along an axis that fits in one tile, the tile is the whole axis. Tiles are spread
evenly, and the last one is shifted inward to end at the image edge rather than padded, so every
pixel a tile function sees is real image content.

Blending. Between neighbours along an axis the overlap is split at its midpoint (the *cut*). The
later tile takes over from the earlier one with a raised-cosine ramp of width ``overlap // 2``
centred on the cut; the outer quarters of the overlap are left entirely to the tile they are
furthest from the edge of, so the zero-padding artefacts every convolutional network has at a tile
edge never reach the output. The two weights of a pair sum to exactly 1 (``sin² + cos²``), 2-D
weights are the product of the axis weights, so the blend is a partition of unity: an identity
function reproduces the image bit for bit and a position-independent pointwise function gives the
untiled result.

Memory. ``tiled_apply`` calls ``fn`` on one tile at a time, composes a row of tiles into a strip
(tile height x image width) with in-place linear interpolation, then the strip into the output, so
besides the input and the output only one tile, its result and one strip are alive.

Statistics. The cuts also define which tile *owns* each pixel (:meth:`Axis.owner_range`), an exact
partition of the image that engines use to accumulate global statistics over all tiles without
counting the overlaps twice (see :mod:`tfstyle.engines.teacher`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

__all__ = ["Axis", "Box", "TilePlan", "plan_tiles", "ramp", "tiled_apply"]


@dataclass(frozen=True)
class Box:
    """A tile's pixel range: rows ``y0:y1``, columns ``x0:x1``, and its index in the grid."""

    y0: int
    y1: int
    x0: int
    x1: int
    row: int = 0
    col: int = 0

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.y0, self.y1), slice(self.x0, self.x1)

    @property
    def shape(self) -> tuple[int, int]:
        return self.y1 - self.y0, self.x1 - self.x0


def ramp(length: int, margin: int, width: int) -> np.ndarray:
    """Weights of the incoming tile over an overlap of ``length`` px: 0 for ``margin`` px, a
    raised-cosine rise over ``width`` px (sampled at pixel centres), then 1."""
    x = np.arange(length, dtype=np.float64) - margin + 0.5
    t = np.clip(x / max(width, 1), 0.0, 1.0)
    return np.sin(0.5 * np.pi * t) ** 2


@dataclass(frozen=True)
class Axis:
    """Tile starts along one axis of ``length`` px, tiles of ``size`` px, blend ramp ``width``."""

    length: int
    size: int
    starts: tuple[int, ...]
    width: int

    @property
    def count(self) -> int:
        return len(self.starts)

    def end(self, k: int) -> int:
        return self.starts[k] + self.size

    def overlap(self, k: int) -> int:
        """Pixels tile ``k`` shares with everything before it (0 for the first tile)."""
        return 0 if k == 0 else self.end(k - 1) - self.starts[k]

    def cut(self, k: int) -> float:
        """Midpoint of the overlap between tiles ``k - 1`` and ``k``."""
        return 0.5 * (self.starts[k] + self.end(k - 1))

    def incoming(self, k: int) -> np.ndarray:
        """Weights of tile ``k`` over its overlap with tile ``k - 1`` (relative to its start)."""
        overlap = self.overlap(k)
        width = min(self.width, overlap)
        return ramp(overlap, (overlap - width) // 2, width)

    def owner_range(self, k: int) -> tuple[float, float]:
        """Image coordinates ``[lo, hi)`` owned by tile ``k``: cut to cut (edges: unbounded)."""
        lo = -math.inf if k == 0 else self.cut(k)
        hi = math.inf if k == self.count - 1 else self.cut(k + 1)
        return lo, hi

    def weights(self, k: int) -> np.ndarray:
        """Tile ``k``'s final blend weight per pixel along this axis (the weights of all tiles sum to 1)."""
        w = np.ones(self.size, np.float64)
        if k > 0:
            w[: self.overlap(k)] = self.incoming(k)
        if k + 1 < self.count:
            n = self.overlap(k + 1)
            w[self.size - n :] *= 1.0 - self.incoming(k + 1)
        return w


def _axis(length: int, tile: int, overlap: int, multiple: int) -> Axis:
    width = max(1, overlap // 2)
    if length <= tile:
        return Axis(length, length, (0,), width)
    span = length - tile
    n = math.ceil(span / (tile - overlap)) + 1
    for count in range(n, span + 2):
        # evenly spread, snapped down to the grid (so tiles line up with the network's pooling
        # grid), the last one flush with the far edge
        starts = sorted({(k * span // (count - 1)) // multiple * multiple for k in range(count - 1)} | {span})
        if all(starts[k] + tile - starts[k + 1] >= overlap for k in range(len(starts) - 1)):
            return Axis(length, tile, tuple(starts), width)
    starts = sorted({k * span // (n - 1) for k in range(n)})  # grid snapping impossible: unsnapped
    return Axis(length, tile, tuple(starts), width)


@dataclass(frozen=True)
class TilePlan:
    """The tiles of an image: ``rows`` x ``cols`` boxes in raster order."""

    y: Axis
    x: Axis

    @property
    def boxes(self) -> list[Box]:
        return [
            Box(y0, y0 + self.y.size, x0, x0 + self.x.size, i, j)
            for i, y0 in enumerate(self.y.starts)
            for j, x0 in enumerate(self.x.starts)
        ]

    def __len__(self) -> int:
        return self.y.count * self.x.count

    def __iter__(self) -> Iterator[Box]:
        return iter(self.boxes)

    def weights(self, box: Box) -> np.ndarray:
        """The 2-D blend weight of ``box`` (tile-sized); over all tiles they sum to 1 per pixel."""
        return np.outer(self.y.weights(box.row), self.x.weights(box.col))


def plan_tiles(height: int, width: int, tile: int = 512, overlap: int = 64, multiple: int = 8) -> TilePlan:
    """Overlapping tiles covering a ``height`` x ``width`` image.

    ``tile`` is rounded down to a multiple of ``multiple``; ``overlap`` (0 .. tile / 2) is the
    least overlap between neighbours (more where the tiles are spread evenly).
    """
    tile, overlap, multiple = int(tile), int(overlap), int(multiple)
    if multiple < 1:
        raise ValueError(f"multiple must be at least 1, not {multiple}")
    tile = tile // multiple * multiple
    if tile < 2 * multiple:
        raise ValueError(f"tile must be at least {2 * multiple} px, not {tile}")
    if not 0 <= overlap <= tile // 2:
        raise ValueError(f"overlap must be between 0 and half the tile ({tile // 2} px), not {overlap}")
    if height < 1 or width < 1:
        raise ValueError(f"image size must be positive, not {height}x{width}")
    return TilePlan(_axis(int(height), tile, overlap, multiple), _axis(int(width), tile, overlap, multiple))


def _lerp_into(dst: np.ndarray, src: np.ndarray, weight: np.ndarray) -> None:
    """``dst += weight * (src - dst)`` in place (exact where ``src == dst`` or ``weight`` is 0 or 1)."""
    dst += (weight * (src - dst)).astype(dst.dtype, copy=False)


def tiled_apply(
    image: np.ndarray,
    fn: Callable[..., np.ndarray],
    tile: int = 512,
    overlap: int = 64,
    multiple: int = 8,
    *,
    with_box: bool = False,
    callback: Callable[[int, int], None] | None = None,
    plan: TilePlan | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Apply ``fn`` tile by tile to an H x W x C image and blend the results without seams.

    ``fn(tile)`` (or ``fn(tile, box)`` with ``with_box``) gets a view of at most ``tile`` x ``tile``
    pixels and returns an array of the same height and width (any channel count). ``callback(done,
    total)`` is called after each tile. Returns float32 H x W x C_out, written into ``out`` when
    given: that may be ``image`` itself (a cascade's intermediate image, one full-size array fewer
    at 12 MP), since rows are written only once no later tile reads them.
    """
    image = np.asarray(image)
    if image.ndim != 3:
        raise ValueError(f"expected an H x W x C image, got shape {image.shape}")
    height, width = image.shape[:2]
    plan = plan or plan_tiles(height, width, tile, overlap, multiple)
    total, done = len(plan), 0
    pending: np.ndarray | None = None  # the last strip's rows the next strip overlaps (not yet written)
    for i, y0 in enumerate(plan.y.starts):
        y1 = y0 + plan.y.size
        strip: np.ndarray | None = None
        for j, x0 in enumerate(plan.x.starts):
            box = Box(y0, y1, x0, x0 + plan.x.size, i, j)
            tile_in = image[box.slices]
            result = np.asarray(fn(tile_in, box) if with_box else fn(tile_in), dtype=np.float32)
            if result.ndim == 2:
                result = result[..., None]
            if result.shape[:2] != box.shape:
                raise ValueError(f"tile function returned shape {result.shape} for a {box.shape} tile")
            if strip is None:
                strip = np.empty((plan.y.size, width, result.shape[2]), np.float32)
            n = plan.x.overlap(j)
            if n:
                _lerp_into(strip[:, x0 : x0 + n], result[:, :n], plan.x.incoming(j)[None, :, None])
            strip[:, x0 + n : box.x1] = result[:, n:]
            done += 1
            if callback is not None:
                callback(done, total)
        if out is None:
            out = np.empty((height, width, strip.shape[2]), np.float32)
        n = plan.y.overlap(i)
        if n:
            _lerp_into(pending, strip[:n], plan.y.incoming(i)[:, None, None])
            strip[:n] = pending
        last = i + 1 == len(plan.y.starts)
        next_start = y1 if last else plan.y.starts[i + 1]
        out[y0:next_start] = strip[: next_start - y0]
        pending = None if last else strip[next_start - y0 :].copy()
    return out


def pad_to_multiple(images: np.ndarray, multiple: int) -> np.ndarray:
    """Reflect-pad a batch [B, H, W, C] at the bottom and right so H and W are multiples of ``multiple``."""
    h, w = images.shape[1:3]
    ph, pw = (-h) % multiple, (-w) % multiple
    if not (ph or pw):
        return images
    # numpy's reflect also covers pads longer than the side (sides of 1-3 px): it reflects again
    mode = "reflect" if min(h, w) > 1 else "edge"
    return np.pad(images, ((0, 0), (0, ph), (0, pw), (0, 0)), mode=mode)
