"""StyleAugment: shapes and determinism inside tf.data, what each sampling mode draws, strength 0."""

from __future__ import annotations

import numpy as np
import pytest
from _dataset_files import smooth_image

from tfstyle._keras import keras, tf
from tfstyle.augment import StyleAugment, fit_gaussian


@pytest.fixture(scope="module")
def student():
    from tfstyle.engines.student import StudentEngine

    return StudentEngine().student


@pytest.fixture(scope="module")
def styles():
    rng = np.random.default_rng(1)
    return [smooth_image(rng, 64, 64).astype(np.float32) / 255.0 for _ in range(4)]


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(2)
    return np.stack([smooth_image(rng, 44, 52) for _ in range(6)]).astype(np.float32) / 255.0


def _through_tf_data(aug, images, batch: int = 3) -> np.ndarray:
    ds = tf.data.Dataset.from_tensor_slices(images).map(lambda x: aug(x)).batch(batch)
    return np.concatenate([b.numpy() for b in ds])


def test_in_tf_data_shapes_and_the_seed_decides(student, styles, images):
    codes = StyleAugment(styles, student=student).codes.numpy()  # from images, encoded once here
    make = lambda seed: StyleAugment(codes, seed=seed, student=student, strength=(0.5, 1.0))  # noqa: E731
    first = _through_tf_data(make(7), images)
    assert first.shape == images.shape and first.dtype == np.float32
    assert 0.0 <= first.min() and first.max() <= 1.0
    assert np.abs(first - images).mean() > 0.05  # restyled, not passed through
    np.testing.assert_array_equal(first, _through_tf_data(make(7), images))  # same seed: same images
    batched = tf.data.Dataset.from_tensor_slices(images).batch(4).map(make(8))  # on batches too
    other = np.concatenate([b.numpy() for b in batched])
    assert other.shape == images.shape and np.abs(first - other).mean() > 1e-3
    aug = make(7)
    np.testing.assert_array_equal(aug(images, seed=[1, 2]).numpy(), aug(images, seed=[1, 2]).numpy())
    np.testing.assert_array_equal(aug(images, training=False).numpy(), images)  # inference: identity
    as_uint8 = (images * 255).astype(np.uint8)
    out = aug(as_uint8)
    assert out.dtype == tf.uint8 and out.shape == as_uint8.shape


def test_codes_mode_draws_one_of_the_styles(student, styles, images):
    aug = StyleAugment(styles, sample="codes", seed=0, student=student, strength=(1.0, 1.0))
    codes = aug.codes.numpy()
    assert codes.shape == (4, student.style_dim)
    out = aug(images).numpy()
    # every image is exactly the student's stylization with one of the four codes
    for image, result in zip(images, out):
        candidates = [student.stylize(image[None], code)[0] for code in codes]
        errors = [np.abs(result - c).max() for c in candidates]
        assert min(errors) < 1e-4, errors


def test_strength_zero_keeps_the_image_own_code_whatever_is_drawn(student, styles, images):
    outs = [
        StyleAugment(styles, sample=s, seed=k, student=student, strength=(0.0, 0.0))(images).numpy()
        for s, k in (("codes", 1), ("gaussian", 2))
    ]
    np.testing.assert_allclose(outs[0], outs[1], atol=1e-5)
    own = student.style_vector(images)
    np.testing.assert_allclose(outs[0], np.clip(student.stylize(images, own), 0, 1), atol=1e-4)


def test_the_gaussian_is_fitted_to_the_codes(student, styles):
    rng = np.random.default_rng(0)
    codes = rng.normal(size=(200, 8)) @ rng.normal(size=(8, 8)) + 3.0
    mean, chol = fit_gaussian(codes)
    np.testing.assert_allclose(mean, codes.mean(0), rtol=1e-5)
    np.testing.assert_allclose(chol @ chol.T, np.cov(codes, rowvar=False), rtol=0.01, atol=0.01)
    aug = StyleAugment(styles, seed=0, student=student)
    drawn, alpha = aug.draw(4000)
    target = aug.codes.numpy()
    assert np.abs(drawn.numpy().mean(0) - target.mean(0)).max() < 0.1 * target.std(0).max() + 1e-3
    assert 0.5 <= float(tf.reduce_min(alpha)) and float(tf.reduce_max(alpha)) <= 1.0


def test_it_is_a_layer_of_a_model(student, styles, images):
    aug = StyleAugment(styles, seed=0, student=student)
    model = keras.Sequential([keras.Input((None, None, 3)), aug, keras.layers.GlobalAveragePooling2D()])
    assert model(images, training=True).shape == (6, 3)
    np.testing.assert_allclose(model.predict(images, verbose=0), images.mean(axis=(1, 2)), atol=1e-6)
    clone = StyleAugment.from_config({**aug.get_config(), "student": student})
    np.testing.assert_array_equal(clone.codes.numpy(), aug.codes.numpy())
