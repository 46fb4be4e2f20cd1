"""Tiling and masks: NumPy-only properties (no TensorFlow, no network)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from tfstyle import masks, tiling

SHAPES = [
    (256, 384, 128, 32),
    (67, 101, 32, 8),
    (200, 200, 128, 64),
    (1000, 1333, 512, 64),
    (130, 50, 64, 16),
]


def _image(h, w, c=3, seed=0):
    return np.random.default_rng(seed).random((h, w, c), dtype=np.float32)


@pytest.mark.parametrize(("h", "w", "tile", "overlap"), SHAPES)
def test_identity_is_exact(h, w, tile, overlap):
    image = _image(h, w)
    out = tiling.tiled_apply(image, lambda t: t, tile, overlap)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, image)


@pytest.mark.parametrize(("h", "w", "tile", "overlap"), SHAPES)
def test_pointwise_fn_equals_untiled(h, w, tile, overlap):
    image = _image(h, w)

    def fn(x):
        return np.sqrt(x) * 0.5 + x**2 - 0.25 * x[..., ::-1]

    np.testing.assert_array_equal(tiling.tiled_apply(image, fn, tile, overlap), fn(image))


@pytest.mark.parametrize(("h", "w", "tile", "overlap"), SHAPES)
def test_tiles_are_bounded_aligned_and_inside(h, w, tile, overlap):
    """Memory bound: fn never sees more than tile x tile; tiles are multiples of 8 along axes longer
    than a tile, lie inside the image (edge tiles shifted inward, nothing padded) and overlap enough."""
    seen = []

    def fn(t, box):
        seen.append((t.shape, box))
        return t

    tiling.tiled_apply(_image(h, w), fn, tile, overlap, 8, with_box=True)
    assert seen
    for shape, box in seen:
        assert shape[0] <= tile and shape[1] <= tile
        assert shape[:2] == box.shape
        assert 0 <= box.y0 < box.y1 <= h and 0 <= box.x0 < box.x1 <= w
        for length, side in ((h, shape[0]), (w, shape[1])):
            assert side == length if length <= tile else side % 8 == 0
    plan = tiling.plan_tiles(h, w, tile, overlap)
    for axis in (plan.y, plan.x):
        assert axis.starts[0] == 0 and axis.end(axis.count - 1) == axis.length
        assert all(axis.overlap(k) >= overlap for k in range(1, axis.count))


@pytest.mark.parametrize(("h", "w", "tile", "overlap"), SHAPES)
def test_weights_and_ownership_partition_the_image(h, w, tile, overlap):
    plan = tiling.plan_tiles(h, w, tile, overlap)
    weight = np.zeros((h, w))
    owners = np.zeros((h, w), int)
    ys, xs = np.arange(h) + 0.5, np.arange(w) + 0.5
    for box in plan:
        weight[box.slices] += plan.weights(box)
        (ylo, yhi), (xlo, xhi) = plan.y.owner_range(box.row), plan.x.owner_range(box.col)
        owners += np.outer((ys >= ylo) & (ys < yhi), (xs >= xlo) & (xs < xhi))
    np.testing.assert_allclose(weight, 1.0, atol=1e-12)
    assert (owners == 1).all()


def test_per_tile_offsets_blend_without_seams():
    """A tile function with a different colour shift per tile (what per-tile statistics cause):
    the raised-cosine blend spreads each step over the ramp instead of leaving a seam."""
    image = np.full((256, 384, 3), 0.5, np.float32)
    rng = np.random.default_rng(1)

    def fn(t):
        return t + rng.uniform(-0.1, 0.1)

    out = tiling.tiled_apply(image, fn, 128, 32)
    step = max(np.abs(np.diff(out, axis=0)).max(), np.abs(np.diff(out, axis=1)).max())
    assert step < 0.2 * np.pi / (2 * 16)  # largest offset difference x steepest ramp slope
    naive = np.empty_like(image)
    for box in tiling.plan_tiles(256, 384, 128, 32):
        naive[box.slices] = fn(image[box.slices])
    assert max(np.abs(np.diff(naive, axis=0)).max(), np.abs(np.diff(naive, axis=1)).max()) > 5 * step


@pytest.mark.parametrize(("h", "w", "tile", "overlap"), SHAPES)
def test_in_place_output_equals_a_fresh_one(h, w, tile, overlap):
    """Writing the result into the input itself (a cascade's intermediate image) gives the same
    bytes as a fresh array: no tile ever reads a row a previous one has overwritten."""
    rng = np.random.default_rng(3)
    offsets = {}

    def fn(t, box):  # depends on the whole tile it reads, with a per-tile shift
        shift = offsets.setdefault((box.row, box.col), rng.uniform(-0.1, 0.1))
        return np.sqrt(t) * 0.5 + t.mean() + shift

    image = _image(h, w)
    fresh = tiling.tiled_apply(image, fn, tile, overlap, with_box=True)
    inplace = image.copy()
    out = tiling.tiled_apply(inplace, fn, tile, overlap, with_box=True, out=inplace)
    assert out is inplace
    np.testing.assert_array_equal(out, fresh)


def test_channels_may_change_and_bad_output_is_reported():
    out = tiling.tiled_apply(_image(100, 90), lambda t: t[..., :1] * 2, 64, 16)
    assert out.shape == (100, 90, 1)
    with pytest.raises(ValueError, match="returned shape"):
        tiling.tiled_apply(_image(100, 90), lambda t: t[:-1], 64, 16)


@pytest.mark.parametrize(("tile", "overlap"), [(8, 0), (64, 40), (64, -1)])
def test_plan_rejects_bad_settings(tile, overlap):
    with pytest.raises(ValueError):
        tiling.plan_tiles(100, 100, tile, overlap)


def test_single_tile_when_image_fits():
    plan = tiling.plan_tiles(67, 101, 128, 32)
    assert len(plan) == 1 and plan.boxes[0].shape == (67, 101)


# ----------------------------------------------------------------------------- masks


def _half_mask(h=60, w=80):
    m = np.zeros((h, w), np.float32)
    m[:, : w // 2] = 1.0
    return m


def test_feather_zero_is_hard_and_sigma_smooths():
    m = _half_mask()
    np.testing.assert_array_equal(masks.feather(m, 0), m)
    soft = masks.feather(m, 4.0)
    assert soft.dtype == np.float32 and soft.min() >= 0 and soft.max() <= 1
    edge = soft[:, 36:44]
    assert ((edge > 0.01) & (edge < 0.99)).all()  # a soft ramp across the edge
    assert soft[:, :20].min() > 0.999 and soft[:, 60:].max() < 0.001
    np.testing.assert_allclose(soft[:, 39] + soft[:, 40], 1.0, atol=1e-5)  # symmetric about the edge
    assert masks.auto_sigma((1000, 2000, 3)) == pytest.approx(15.0)


def test_feather_numpy_fallback_matches_opencv(monkeypatch):
    m = _half_mask()
    m[10:30, 50:70] = 0.7
    with_cv2 = masks.feather(m, 3.0)
    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 -> ImportError
    np.testing.assert_allclose(masks.feather(m, 3.0), with_cv2, atol=2e-3)


def test_normalize_masks_soft_partition():
    a = _half_mask()
    b = np.zeros_like(a)
    b[:, 30:60] = 1.0  # overlaps a on columns 30..39; columns 60.. are unstyled
    b[0, 70] = 0.25  # partially covered
    (wa, wb), rest = masks.normalize_masks([a, b])
    np.testing.assert_allclose(wa + wb + rest, 1.0, atol=1e-6)
    np.testing.assert_allclose(wa[:, 30:40], 0.5)
    assert (wa[:, :30] == 1).all() and (rest[1:, 60:] == 1).all()
    assert rest[0, 70] == pytest.approx(0.75) and wb[0, 70] == pytest.approx(0.25)
    np.testing.assert_allclose(masks.coverage([wa, wb]), 1.0 - rest, atol=1e-6)
    (wa, wb), rest = masks.normalize_masks([a, b], unstyled=False)
    assert rest is None
    np.testing.assert_allclose(wa + wb, 1.0, atol=1e-6)
    (full,), rest = masks.normalize_masks([np.ones_like(a)])
    assert rest is None and (full == 1).all()
    with pytest.raises(ValueError, match="differ in size"):
        masks.normalize_masks([a, a[:10]])


def test_numpy_modules_and_package_import_no_tensorflow():
    code = (
        "import sys, types, tfstyle, tfstyle.tiling, tfstyle.masks, tfstyle.driver, tfstyle.runtime;"
        "import tfstyle.commands.stylize, tfstyle.engines.teacher, tfstyle.engines.student;"
        "assert isinstance(tfstyle.stylize, types.FunctionType), tfstyle.stylize;"
        "from tfstyle import stylize; assert stylize is tfstyle.driver.stylize;"
        "from tfstyle.engines import get_engine; assert get_engine('teacher').name == 'teacher';"
        "assert 'tensorflow' not in sys.modules, 'tensorflow imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
