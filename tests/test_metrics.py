"""Quality metrics: zero at identity, ordered sensibly, robust to the style image's resolution."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tfstyle import metrics


def _texture(kind: str, size: int = 64, reps: int = 1) -> np.ndarray:
    """A periodic (period 16 px) colour texture; ``reps`` tiles it ``reps`` x ``reps`` at the same scale."""
    yy, xx = np.mgrid[0 : size * reps, 0 : size * reps].astype(np.float32)
    if kind == "stripes":
        t = 0.5 + 0.5 * np.sin(2 * np.pi * (xx + yy) / 16)
        img = np.stack([0.2 + 0.7 * t, 0.1 + 0.2 * t, 0.9 - 0.7 * t], -1)
    elif kind == "checks":
        t = ((xx // 8 + yy // 8) % 2).astype(np.float32)
        img = np.stack([0.9 - 0.5 * t, 0.8 * np.ones_like(t), 0.1 + 0.3 * t], -1)
    else:
        raise ValueError(kind)
    return np.clip(img, 0, 1).astype(np.float32)


def _upsample2x(img: np.ndarray) -> np.ndarray:
    from tfstyle.images import resize

    return resize(img, 2 * max(img.shape[:2]))


@pytest.fixture(scope="module")
def dev_images(data_dir):
    from tfstyle.images import load_image

    content = load_image(min((data_dir / "dev" / "content").iterdir()), size=80)
    styles = sorted((data_dir / "dev" / "style").iterdir())
    return content, load_image(styles[0], size=80), load_image(styles[1], size=80)


def test_style_distance_zero_to_itself_positive_otherwise(vgg, dev_images):
    content, style, other = dev_images
    same = metrics.style_distance(style, style, vgg)
    assert set(same) == {"gram", "mean_std"}
    assert same["gram"] == pytest.approx(0.0, abs=1e-3) and same["mean_std"] == pytest.approx(0.0, abs=1e-3)
    diff = metrics.style_distance(other, style, vgg)
    assert diff["gram"] > 0 and diff["mean_std"] > 0
    assert metrics.style_distance(content, style, vgg)["gram"] > 0


def test_style_distance_uses_the_shared_loss(vgg, dev_images):
    """The metric is exactly losses.style_loss on the style resized to the output's short side."""
    from tfstyle import losses
    from tfstyle.images import resize

    content, style, _ = dev_images
    out = content[:, :64]  # non-square output: short side 64
    ref = resize(style, 64, side="short")
    targets = losses.style_targets(vgg(ref[None]))
    want, _ = losses.style_loss(vgg(out[None]), targets, kind="mean_std")
    got = metrics.style_distance(out, style, vgg)["mean_std"]
    assert got == pytest.approx(float(want), rel=0.05)  # Lanczos (images) vs antialiased bilinear (metrics)


def test_style_distance_by_layer_sums_to_the_distance(vgg, dev_images):
    """The per-layer terms are the ones style_distance adds up, over every style layer."""
    from tfstyle.features import STYLE_LAYERS

    content, style, other = dev_images
    layers = metrics.style_distance_by_layer(content, style, vgg)
    assert list(layers) == list(STYLE_LAYERS) and all(v > 0 for v in layers.values())
    assert sum(layers.values()) == pytest.approx(
        metrics.style_distance(content, style, vgg)["mean_std"], rel=1e-5
    )
    assert sum(metrics.style_distance_by_layer(style, style, vgg).values()) == pytest.approx(0.0, abs=1e-3)
    gram = metrics.style_distance_by_layer(other, style, vgg, kind="gram")
    assert sum(gram.values()) == pytest.approx(metrics.style_distance(other, style, vgg)["gram"], rel=1e-5)


def test_style_distance_scale_robust(vgg):
    stripes, checks = _texture("stripes"), _texture("checks")
    other = metrics.style_distance(stripes, checks, vgg)
    # The same texture given as a 2x-resolution style image is resized back to the output's scale.
    hi_res = metrics.style_distance(stripes, _upsample2x(stripes), vgg)
    # Normalised Gram: the texture over twice the area (same scale) matches the small tile.
    tiled = metrics.style_distance(_texture("stripes", reps=2), stripes, vgg, resize_style=False)
    tiled_other = metrics.style_distance(_texture("stripes", reps=2), checks, vgg, resize_style=False)
    for kind in ("gram", "mean_std"):
        assert hi_res[kind] < 0.1 * other[kind]
        assert tiled[kind] < 0.2 * tiled_other[kind]  # ~0.06: only the borders differ


def test_style_distance_mask(vgg):
    stripes, checks = _texture("stripes"), _texture("checks")
    half = np.concatenate([stripes[:, :32], checks[:, 32:]], axis=1)
    left = np.zeros((64, 64), np.float32)
    left[:, :32] = 1
    on_stripes = metrics.style_distance(half, stripes, vgg, mask=left)
    on_checks = metrics.style_distance(half, stripes, vgg, mask=1 - left)
    assert on_stripes["gram"] < on_checks["gram"] and on_stripes["mean_std"] < on_checks["mean_std"]


def test_content_distance(vgg, dev_images):
    content, style, _ = dev_images
    assert metrics.content_distance(content, content, vgg) == pytest.approx(0.0, abs=1e-6)
    noisy = np.clip(content + np.random.normal(0, 0.05, content.shape), 0, 1).astype(np.float32)
    d_noisy = metrics.content_distance(noisy, content, vgg)
    d_style = metrics.content_distance(style[: content.shape[0], : content.shape[1]], content, vgg)
    assert 0 < d_noisy < d_style
    # A content image at another resolution is resized to the output's.
    assert metrics.content_distance(_upsample2x(content), content, vgg) < d_noisy


def test_content_ssim(dev_images):
    content, _, _ = dev_images
    assert metrics.content_ssim(content, content) == pytest.approx(1.0, abs=1e-6)
    noisy = np.clip(content + np.random.normal(0, 0.1, content.shape), 0, 1).astype(np.float32)
    assert metrics.content_ssim(noisy, content) < 0.9
    # Colour-only change keeps luminance structure: grey version of the content scores high.
    grey = np.repeat((content @ np.array([0.299, 0.587, 0.114], np.float32))[..., None], 3, -1)
    assert metrics.content_ssim(grey, content) > 0.99


def test_psnr_and_ssim(dev_images):
    content, _, _ = dev_images
    assert math.isinf(metrics.psnr(content, content)) and metrics.ssim(content, content) == pytest.approx(1.0)
    values = []
    for sigma in (0.01, 0.05, 0.2):
        noisy = np.clip(content + np.random.normal(0, sigma, content.shape), 0, 1).astype(np.float32)
        values.append((metrics.psnr(content, noisy), metrics.ssim(content, noisy)))
    psnrs, ssims = zip(*values)
    assert psnrs[0] > 35 and list(psnrs) == sorted(psnrs, reverse=True)
    assert list(ssims) == sorted(ssims, reverse=True)
    assert metrics.psnr(content, np.clip(content + 0.01, 0, 1)) == pytest.approx(40.0, abs=0.5)
    with pytest.raises(ValueError, match="same size"):
        metrics.psnr(content, content[:32])


def test_scorer_matches_functions(vgg, dev_images):
    content, style, other = dev_images
    scorer = metrics.Scorer(content, style, vgg)
    assert scorer.METRICS == tuple(scorer(other))
    got = scorer(other)
    dist = metrics.style_distance(other, style, vgg)
    assert got["style_gram"] == pytest.approx(dist["gram"], rel=1e-4)
    assert got["style_mean_std"] == pytest.approx(dist["mean_std"], rel=1e-4)
    assert got["content_distance"] == pytest.approx(metrics.content_distance(other, content, vgg), rel=1e-4)
    assert got["content_ssim"] == pytest.approx(metrics.content_ssim(other, content), rel=1e-4)


def test_sliced_wasserstein_sees_layout_where_mean_std_cannot(vgg, dev_images):
    _, style, other = dev_images
    assert metrics.sliced_wasserstein(style, style, vgg) == pytest.approx(0.0, abs=1e-6)
    # Shuffling the painting's pixels keeps every colour but destroys its strokes.
    rng = np.random.default_rng(0)
    flat = style.reshape(-1, 3)
    shuffled = flat[rng.permutation(len(flat))].reshape(style.shape)
    swd_shuffled = metrics.sliced_wasserstein(shuffled, style, vgg)
    assert swd_shuffled > 0.3
    assert metrics.sliced_wasserstein(other, style, vgg) > 0.05
    # Seeded: the same call gives the same number.
    assert metrics.sliced_wasserstein(shuffled, style, vgg) == swd_shuffled


def test_scorer_texture_matches_function(vgg, dev_images):
    content, style, other = dev_images
    got = metrics.Scorer(content, style, vgg, texture=True)(other)
    assert got["style_swd"] == pytest.approx(metrics.sliced_wasserstein(other, style, vgg), rel=1e-4)


def test_border_ratio_finds_a_frame(dev_images):
    content = dev_images[0]
    clean = metrics.border_ratio(content)
    framed = content.copy()
    framed[:2] = framed[-2:] = 0.0
    framed[:, :2] = framed[:, -2:] = 1.0
    assert 0.3 < clean < 2.0
    assert metrics.border_ratio(framed) > 3 * clean
    with pytest.raises(ValueError, match="at least"):
        metrics.border_ratio(content[:20, :20])


def test_grid_db_finds_a_lattice():
    rng = np.random.default_rng(1)
    from scipy.ndimage import gaussian_filter

    natural = gaussian_filter(rng.random((128, 128, 3)).astype(np.float32), (2, 2, 0))
    lattice = natural.copy()
    lattice[::8] *= 0.9
    lattice[:, ::8] *= 0.9
    assert abs(metrics.grid_db(natural)) < 2.0
    assert metrics.grid_db(lattice) > metrics.grid_db(natural) + 3
