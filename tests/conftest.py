"""Test set-up: Keras 2, the shared ImageNet weights, deterministic seeds, one CPU thread pool."""

from __future__ import annotations

import os
import pathlib

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED = pathlib.Path(os.environ.get("TFSTYLE_SHARED", ROOT.parent / "shared"))
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TFSTYLE_VGG19_WEIGHTS", str(SHARED / "weights" / "vgg19_imagenet_notop.h5"))
os.environ.setdefault(
    "TFSTYLE_MOBILENET_WEIGHTS", str(SHARED / "weights" / "mobilenet_v2_0.35_imagenet_notop.h5")
)
os.environ.setdefault("TFSTYLE_DATA", str(SHARED / "data"))


@pytest.fixture(autouse=True)
def _seed():
    np.random.seed(0)
    from tfstyle._keras import tf

    tf.random.set_seed(0)
    yield


@pytest.fixture(scope="session")
def data_dir() -> pathlib.Path:
    path = pathlib.Path(os.environ["TFSTYLE_DATA"])
    if not path.is_dir():
        pytest.skip(f"shared data not found at {path}")
    return path


@pytest.fixture(scope="session")
def vgg():
    """One VGG19 extractor for the whole session (building it costs about a second)."""
    from tfstyle.features import VGGFeatures

    return VGGFeatures()


@pytest.fixture(scope="session")
def student_weights(tmp_path_factory) -> tuple[str, str]:
    """An untrained student saved as distillation starts it: ImageNet predictor, seeded transformer.
    The student and export tests check properties that do not depend on training."""
    from tfstyle._keras import keras
    from tfstyle.models.student import build_style_predictor, build_transformer

    keras.utils.set_random_seed(0)
    folder = tmp_path_factory.mktemp("student")
    paths = str(folder / "predictor.h5"), str(folder / "transformer.h5")
    build_style_predictor(imagenet=True).save_weights(paths[0])
    transformer = build_transformer()
    rng = np.random.default_rng(0)
    # FiLM starts as the identity; a trained one depends on the vector, with the kernel spreads of
    # the shipped student: about 0.1 in the bottleneck, 0.02 in the decoder and skip
    for layer in transformer.layers:
        if layer.name.endswith(("_gamma", "_beta")) and layer.weights:
            kernel, bias = layer.get_weights()
            spread = 0.1 if layer.name.startswith("film") else 0.02
            layer.set_weights([rng.normal(0, spread, kernel.shape), bias])
    transformer.save_weights(paths[1])
    return paths


@pytest.fixture(scope="session")
def student_images(data_dir):
    """An odd-sized content and two styles of different shapes."""
    from tfstyle.images import load_image, resize_to

    content = resize_to(load_image(data_dir / "dev" / "content" / "kodim01.png"), (67, 101))
    a = load_image(data_dir / "dev" / "style" / "la_muse.jpg", size=96)
    b = load_image(data_dir / "dev" / "style" / "mondrian.jpg", size=96)
    return content, a, b
