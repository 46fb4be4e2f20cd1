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
