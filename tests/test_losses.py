"""The shared losses: invariances, zeros, gradients, mixed precision, schedule."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from tfstyle import losses
from tfstyle._keras import tf
from tfstyle.ops import gram_matrix, mean_std


def _feats(seed=0, shape=(2, 12, 10, 8)):
    return tf.constant(np.random.default_rng(seed).random(shape, dtype=np.float32) * 5.0)


def test_gram_symmetric_psd():
    g = gram_matrix(_feats()).numpy()
    np.testing.assert_allclose(g, np.transpose(g, (0, 2, 1)), rtol=1e-5)
    for m in g:
        assert np.linalg.eigvalsh(m).min() > -1e-3 * np.abs(m).max()


def test_gram_invariant_to_spatial_permutation():
    x = _feats().numpy()
    b, h, w, c = x.shape
    perm = np.random.default_rng(1).permutation(h * w)
    shuffled = x.reshape(b, h * w, c)[:, perm].reshape(b, h, w, c)
    np.testing.assert_allclose(gram_matrix(x).numpy(), gram_matrix(shuffled).numpy(), rtol=1e-4)


def test_gram_independent_of_size_for_tiled_texture():
    x = _feats(shape=(1, 6, 6, 4)).numpy()
    tiled = np.tile(x, (1, 3, 2, 1))
    np.testing.assert_allclose(gram_matrix(x).numpy(), gram_matrix(tiled).numpy(), rtol=1e-4)


def test_masked_gram_uses_only_the_region():
    x = _feats(shape=(1, 8, 8, 4)).numpy()
    mask = np.zeros((1, 8, 8, 1), np.float32)
    mask[:, :, :4] = 1.0
    other = x.copy()
    other[:, :, 4:] = 100.0  # changes outside the mask must not matter
    np.testing.assert_allclose(gram_matrix(x, mask).numpy(), gram_matrix(other, mask).numpy(), rtol=1e-5)
    np.testing.assert_allclose(gram_matrix(x, mask).numpy(), gram_matrix(x[:, :, :4]).numpy(), rtol=1e-5)


def _style_losses(pred, target):
    g = gram_matrix(target)
    m, s = mean_std(target)
    return {
        "gram": losses.gram_style_loss(pred, g),
        "mean_std": losses.mean_std_style_loss(pred, m, s),
        "content": losses.content_loss(pred, target),
        "feature_distillation": losses.feature_distillation_loss(pred, target),
    }


def test_losses_zero_for_identical_and_positive_otherwise():
    a, b = _feats(0), _feats(1)
    for name, value in _style_losses(a, a).items():
        assert float(value) == pytest.approx(0.0, abs=1e-6), name
    for name, value in _style_losses(a, b).items():
        assert float(value) > 1e-4, name
    img = tf.random.uniform((1, 16, 16, 3), seed=1)
    assert float(losses.distillation_loss(img, img)) == 0.0
    assert float(losses.distillation_loss(img, 1 - img)) > 0.1
    assert float(losses.total_variation_loss(tf.ones((1, 16, 16, 3)))) == 0.0
    assert float(losses.total_variation_loss(img)) > 0.1


def test_gradients_flow_through_every_loss():
    target = _feats(1)
    pred = tf.Variable(_feats(0))
    img = tf.Variable(tf.random.uniform((1, 16, 16, 3), seed=2))
    cases = {
        **{k: (lambda k=k: _style_losses(pred, target)[k]) for k in ("gram", "mean_std", "content")},
        "masked_gram": lambda: losses.gram_style_loss(
            pred, gram_matrix(target), mask=tf.ones((2, 12, 10, 1))
        ),
        "masked_content": lambda: losses.content_loss(pred, target, mask=tf.ones((2, 12, 10, 1))),
        "tv": lambda: losses.total_variation_loss(img),
        "distillation": lambda: losses.distillation_loss(img, tf.zeros_like(img)),
    }
    for name, fn in cases.items():
        with tf.GradientTape() as tape:
            value = fn()
        grads = tape.gradient(value, [pred, img])
        norms = [float(tf.norm(g)) for g in grads if g is not None]
        assert norms and all(np.isfinite(norms)) and max(norms) > 0, name


def test_losses_finite_and_float32_under_mixed_bfloat16():
    from tfstyle.features import VGGFeatures
    from tfstyle.precision import policy_scope

    with policy_scope("mixed_bfloat16"):
        vgg = VGGFeatures()
    assert vgg.model.get_layer("conv3_1").compute_dtype == "bfloat16"
    rng = np.random.default_rng(0)
    a = tf.constant(rng.random((1, 64, 64, 3), dtype=np.float32))
    b = tf.constant(rng.random((1, 64, 64, 3), dtype=np.float32))
    fa, fb = vgg(a), vgg(b)
    targets = losses.style_targets(fb)
    for kind in ("gram", "mean_std"):
        total, per_layer = losses.style_loss(fa, targets, kind)
        assert total.dtype == tf.float32 and np.isfinite(float(total)) and float(total) > 0
        assert all(np.isfinite(float(v)) for v in per_layer.values())
    content = losses.content_loss(fa["conv4_2"], fb["conv4_2"])
    assert content.dtype == tf.float32 and np.isfinite(float(content))


def test_weight_schedule_decays_content_and_grows_style():
    sched = losses.WeightSchedule(
        content_start=10.0, content_end=1.0, style_start=1.0, style_end=100.0, steps=11
    )
    c = [float(sched.at(i)[0]) for i in range(11)]
    s = [float(sched.at(i)[1]) for i in range(11)]
    assert c[0] == pytest.approx(10.0) and c[-1] == pytest.approx(1.0)
    assert s[0] == pytest.approx(1.0) and s[-1] == pytest.approx(100.0)
    assert all(x > y for x, y in itertools.pairwise(c)) and all(x < y for x, y in itertools.pairwise(s))
    assert s[5] == pytest.approx(10.0, rel=1e-4)  # geometric: halfway is the geometric mean
    assert float(sched.at(50)[1]) == pytest.approx(100.0)  # clamped after the last step
    const = losses.WeightSchedule.constant(2.0, 3.0)
    assert [float(v) for v in const.at(7)] == pytest.approx([2.0, 3.0])


def test_blend_of_targets_is_linear():
    a, b = _feats(0), _feats(1)
    ta, tb = losses.style_targets({"x": a}, ("x",)), losses.style_targets({"x": b}, ("x",))
    mixed = losses.StyleTargets.blend([ta, tb], [3.0, 1.0])
    np.testing.assert_allclose(
        mixed.grams["x"].numpy(), 0.75 * ta.grams["x"].numpy() + 0.25 * tb.grams["x"].numpy(), rtol=1e-5
    )
    with pytest.raises(ValueError):
        losses.StyleTargets.blend([ta, tb], [0.0, 0.0])


def test_balanced_weights_equalise_layer_scales():
    small, big = _feats(0), _feats(1) * 100.0
    t = losses.style_targets({"a": small, "b": big}, ("a", "b"))
    w = losses.balanced_weights(t, "gram", {"a": 1.0, "b": 1.0})
    assert w["a"] / w["b"] == pytest.approx(1e8, rel=1e-2)


def _smooth_image(seed=0, size=64):
    """A photo-like field: a few low-frequency waves, no 8 px period."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    img = np.zeros((size, size, 3), np.float32)
    for _ in range(6):
        fx, fy, phase = rng.uniform(0.3, 2.5), rng.uniform(0.3, 2.5), rng.uniform(0, 6.3)
        img += rng.uniform(0.02, 0.1, 3) * np.sin(2 * np.pi * (fx * x + fy * y) + phase)[..., None]
    return (0.5 + img)[None].astype(np.float32)


def test_lattice_recovers_an_8px_pattern_and_ignores_smooth_content():
    from tfstyle.ops import lattice

    base = _smooth_image()
    pattern = np.random.default_rng(3).normal(0, 0.05, (8, 8, 3)).astype(np.float32)
    pattern -= pattern.mean((0, 1))
    grid = np.tile(pattern, (8, 8, 1))[None]
    found = lattice(tf.constant(base + grid)).numpy()
    # the repeating pattern comes back nearly whole, the content's waves barely register
    assert np.abs(found - grid).mean() < 0.15 * np.abs(grid).mean()
    assert np.abs(lattice(tf.constant(base)).numpy()).mean() < 0.1 * np.abs(grid).mean()
    # removing it leaves the content
    np.testing.assert_allclose(base + grid - found, base, atol=0.03)


def test_grid_loss_penalises_a_lattice_and_its_gradient_removes_it():
    base = _smooth_image(1)
    grid = np.tile(np.where(np.indices((8, 8)).sum(0) % 8 == 0, 0.2, 0.0)[..., None], (8, 8, 3))[None]
    image = tf.Variable(base + grid.astype(np.float32))
    assert float(losses.grid_loss(image)) > 5 * float(losses.grid_loss(tf.constant(base)))
    with tf.GradientTape() as tape:
        loss = losses.grid_loss(image)
    image.assign_sub(0.5 * tf.sign(tape.gradient(loss, image)) * 0.01)
    assert float(losses.grid_loss(image)) < float(loss)


def _lattice_reference(image: np.ndarray, period: int = 8, blocks: int = 5) -> np.ndarray:
    """The lattice's definition written out in NumPy: the image less its ``period``-wide box blur
    (reflect-padded), averaged over the same-phase pixels of the ``blocks`` x ``blocks`` block
    neighbourhood that lie inside the image."""
    lo, hi = period // 2, period - 1 - period // 2
    h, w = image.shape[:2]
    padded = np.pad(image, ((lo, hi), (lo, hi), (0, 0)), mode="reflect")
    box = np.stack(
        [[padded[y : y + period, x : x + period].mean((0, 1)) for x in range(w)] for y in range(h)]
    )
    high = image - box
    out = np.zeros_like(image)
    r = blocks // 2
    for y in range(h):
        for x in range(w):
            taps = [
                high[y + dy * period, x + dx * period]
                for dy in range(-r, r + 1)
                for dx in range(-r, r + 1)
                if 0 <= y + dy * period < h and 0 <= x + dx * period < w
            ]
            out[y, x] = np.mean(taps, 0)
    return out


def test_lattice_matches_its_definition_on_an_odd_sized_image():
    """The separable 1-D passes compute exactly the 2-D box blur and phase average."""
    from tfstyle.ops import lattice

    image = np.random.default_rng(4).random((29, 37, 2)).astype(np.float32)
    np.testing.assert_allclose(
        lattice(tf.constant(image[None])).numpy()[0], _lattice_reference(image), atol=1e-5
    )
