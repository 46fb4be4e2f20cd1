"""Resolve ImageNet weights: an explicit file from the environment, else the Keras download."""

from __future__ import annotations

import os
from dataclasses import dataclass

from tfstyle.errors import WeightsError


@dataclass(frozen=True)
class WeightSpec:
    env_var: str
    keras_file: str
    description: str


VGG19 = WeightSpec(
    env_var="TFSTYLE_VGG19_WEIGHTS",
    keras_file="vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
    description="VGG19 ImageNet no-top weights",
)
MOBILENET_V2_035 = WeightSpec(
    env_var="TFSTYLE_MOBILENET_WEIGHTS",
    keras_file="mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5",
    description="MobileNetV2 alpha 0.35 ImageNet no-top weights",
)


def resolve(spec: WeightSpec) -> str:
    """Return what to pass as ``weights=`` to ``keras.applications``.

    An explicit file wins; without one, ``"imagenet"`` lets Keras use its cache or download. A set
    but wrong variable is an error rather than a silent download of something else.
    """
    path = os.environ.get(spec.env_var, "").strip()
    if path:
        if not os.path.isfile(path):
            raise WeightsError(f"{spec.env_var}={path}: no such file (expected the {spec.description})")
        return path
    return "imagenet"


def load_application(spec: WeightSpec, build):
    """Build a ``keras.applications`` model with resolved weights, turning offline failures into one line."""
    weights = resolve(spec)
    try:
        return build(weights)
    except Exception as exc:  # download failures surface as many exception types
        if weights != "imagenet":
            raise WeightsError(f"{weights}: cannot load {spec.description}: {exc}") from exc
        cache = os.path.join(os.path.expanduser("~"), ".keras", "models", spec.keras_file)
        raise WeightsError(
            f"cannot download the {spec.description} ({type(exc).__name__}); put the file at {cache} "
            f"or set {spec.env_var}=/path/to/{spec.keras_file}"
        ) from exc
