"""Sliced optimal transport (tfstyle.transport) and the multilevel teacher's ``ot`` level method:
the map carries a cloud to the target distribution (checked along directions it never used), it is
a per-vector function (so tiles agree with the whole image), quantile blends are linear, and the
engine runs it with tiles, masks and blends."""

from __future__ import annotations

import numpy as np
import pytest

from tfstyle import transport


def _clouds(c: int = 12, seed: int = 0):
    rng = np.random.default_rng(seed)
    content = rng.standard_normal((6000, c)).astype(np.float32)
    # skewed, heavy-tailed and correlated: what WCT's two moments cannot express
    mixing = rng.standard_normal((c, c)) * 0.3
    style = (rng.exponential(size=(8000, c)) ** 1.5 @ mixing + 1.0).astype(np.float32)
    return content, style


def _marginal_gap(a: np.ndarray, b: np.ndarray, seed: int = 99) -> float:
    """Mean quantile gap along 16 fresh random directions, in units of b's spread."""
    rng = np.random.default_rng(seed)
    d = np.linalg.qr(rng.standard_normal((a.shape[1], a.shape[1])))[0][:, :16]
    levels = np.linspace(0.02, 0.98, 49)
    gap = np.abs(np.quantile(a @ d, levels, axis=0) - np.quantile(b @ d, levels, axis=0))
    return float((gap / (b @ d).std(0)).mean())


def test_quantiles_match_numpy():
    x = np.random.default_rng(3).standard_normal((1001, 5)).astype(np.float32)
    ours = transport._quantiles(x, 64)
    np.testing.assert_allclose(ours, np.quantile(x, np.linspace(0, 1, 64), axis=0), atol=1e-5)


def test_fit_carries_the_sample_to_the_style_distribution():
    content, style = _clouds()
    before = _marginal_gap(content, style)
    moved = transport.fit(content, transport.style_quantiles(style))(content)
    after = _marginal_gap(moved, style)
    assert after < before / 6, (before, after)
    np.testing.assert_allclose(moved.mean(0), style.mean(0), atol=0.05 * style.std())


def test_map_is_a_per_vector_function():
    """What makes tiling exact: a vector moves the same whatever else is in the batch."""
    content, style = _clouds()
    mapping = transport.fit(content[:3000], transport.style_quantiles(style))
    whole = mapping(content)
    np.testing.assert_allclose(mapping(content[4000:4100]), whole[4000:4100], atol=1e-5)
    grid = content[:600].reshape(20, 30, -1)
    np.testing.assert_allclose(mapping(grid).reshape(600, -1), whole[:600], atol=1e-5)


def test_quantile_blends_are_linear():
    _, style = _clouds()
    _, other = _clouds(seed=1)
    a, b = transport.style_quantiles(style), transport.style_quantiles(other)
    np.testing.assert_allclose(transport.blend_quantiles([a, b], [1, 0]), a)
    np.testing.assert_allclose(transport.blend_quantiles([a, b], [1, 3]), 0.25 * a + 0.75 * b, rtol=1e-5)


def test_bases_are_seeded_and_orthonormal():
    first, again = transport.bases(8, 3), transport.bases(8, 3)
    for q, r in zip(first, again):
        np.testing.assert_array_equal(q, r)
        np.testing.assert_allclose(q.T @ q, np.eye(8), atol=1e-5)
    assert np.abs(first[0] - first[1]).max() > 0.1


@pytest.fixture(scope="module")
def setup(data_dir):
    from tfstyle.engines.teacher import TeacherEngine
    from tfstyle.images import load_image, resize_to

    content = resize_to(load_image(data_dir / "dev" / "content" / "kodim01.png"), (61, 83))
    a = load_image(data_dir / "dev" / "style" / "la_muse.jpg", size=80)
    b = load_image(data_dir / "dev" / "style" / "mondrian.jpg", size=72)
    return TeacherEngine(), content, a, b


def test_ot_level_method_through_the_engine(setup):
    """ot differs from wct, tiles agree with the whole image at relu1_1 (the per-vector map and a
    global fit), masks keep uncovered pixels, a one-hot blend is the single style."""
    from tfstyle.driver import stylize

    engine, content, a, b = setup
    ot = {"method": "multilevel", "level_methods": ("ot", "wct", "wct", "adain")}
    fine = {**ot, "level_weights": (1, 0, 0, 0)}
    whole = stylize(content, a, engine=engine, tile=0, **fine)
    wct = stylize(content, a, engine=engine, tile=0, method="multilevel", level_weights=(1, 0, 0, 0))
    assert np.abs(whole - wct).mean() > 0.005
    tiled = stylize(content, a, engine=engine, tile=48, overlap=16, **fine)
    assert np.abs(whole - tiled).mean() < 0.01
    left = np.zeros(content.shape[:2], np.float32)
    left[:, :40] = 1.0
    masked = stylize(content, a, masks=left, feather=0, engine=engine, **ot)
    np.testing.assert_array_equal(masked[:, 48:], content[:, 48:])
    only_a = stylize(content, [a, b], weights=[1, 0], engine=engine, **ot)
    np.testing.assert_allclose(only_a, stylize(content, a, engine=engine, **ot), atol=1e-4)
