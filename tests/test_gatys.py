"""Gatys optimisation: loss goes down, options work, masks confine the style."""

from __future__ import annotations

import numpy as np
import pytest

from tfstyle.gatys import GatysConfig, optimize
from tfstyle.images import load_image
from tfstyle.metrics import style_distance


@pytest.fixture(scope="module")
def pair(data_dir):
    content = load_image(data_dir / "dev" / "content" / "golden_gate.jpg", size=64)
    style = load_image(data_dir / "dev" / "style" / "udnie.jpg", size=64)
    return content, style


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_loss_decreases(pair, vgg, optimizer):
    content, style = pair
    cfg = GatysConfig(steps=12, optimizer=optimizer, precision="float32")
    result = optimize(content, [style], cfg, extractor=vgg)
    first, last = result.history[0]["total"], result.history[-1]["total"]
    assert last < 0.5 * first
    assert result.image.shape == content.shape and result.image.dtype == np.float32
    assert 0.0 <= result.image.min() and result.image.max() <= 1.0


def test_noise_init_bfloat16_and_schedule(pair):
    content, style = pair
    cfg = GatysConfig(
        steps=6, init="noise", precision="mixed_bfloat16", content_weight_end=0.1, style_weight_end=100.0
    )
    result = optimize(content, [style], cfg)
    assert result.precision == "mixed_bfloat16"
    assert all(np.isfinite(h["total"]) for h in result.history)
    assert not np.allclose(result.image, content, atol=0.05)


def test_multi_style_blend_and_callback(pair, vgg):
    content, style = pair
    other = np.ascontiguousarray(style[::-1, ::-1, ::-1])
    seen = []
    optimize(
        content,
        [style, other],
        GatysConfig(steps=3, precision="float32"),
        style_weights=[0.7, 0.3],
        extractor=vgg,
        callback=lambda step, terms, get: seen.append((step, get().shape)),
    )
    assert [s for s, _ in seen] == [0, 1, 2] and seen[0][1] == content.shape


def test_preserve_color_luminance_keeps_chroma(pair, vgg):
    from tfstyle.color import rgb_to_yuv

    content, style = pair
    result = optimize(content, [style], GatysConfig(steps=4, preserve_color="luminance"), extractor=vgg)
    chroma_error = np.abs(rgb_to_yuv(result.image)[..., 1:] - rgb_to_yuv(content)[..., 1:])
    assert chroma_error.mean() < 0.005  # only clipping to [0, 1] in RGB moves the chroma
    assert not np.allclose(result.image, content, atol=0.01)


def test_mask_confines_style(data_dir, vgg):
    content = load_image(data_dir / "dev" / "content" / "kodim03.png", size=96)
    style = load_image(data_dir / "dev" / "style" / "la_muse.jpg", size=96)
    h, w = content.shape[:2]
    mask = np.zeros((h, w), np.float32)
    mask[:, : w // 2] = 1.0
    result = optimize(
        content, [style], GatysConfig(steps=40, precision="float32"), masks=[mask], extractor=vgg
    )

    def dist(img, m):
        return style_distance(img, style, vgg, mask=m)["gram"]

    inside = 1 - dist(result.image, mask) / dist(content, mask)
    outside = 1 - dist(result.image, 1 - mask) / dist(content, 1 - mask)
    assert inside > 0.5, inside
    assert inside > 3 * max(outside, 0.0), (inside, outside)
