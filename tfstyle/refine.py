"""Polish a feed-forward stylization with a few steps of the shared Gatys objective (``--refine N``).

Why: a decoder cannot give back everything a feature transform asks for. On the dev set the
relu4_1 statistics of the teacher's decoded image stay as far from the painting's as Magenta's,
and fine texture stays soft, whatever the transform; Gatys' optimisation reaches the statistics
but needs hundreds of steps from the content. Started from the feed-forward output, a handful of
small Adam steps of the *same* objective (:class:`tfstyle.gatys.StyleObjective`: relu4_1 content,
mean/std style over relu1_1..relu5_1, the driver's regions and blends) closes most of that gap
and draws the painting's fine strokes, while the start keeps the layout (measured in
``docs/quality/teacher_v2_refine.md``).

The objective optimises the whole image at once (one VGG19 forward and backward per step), so it
refuses images the driver would tile. ``alpha`` and each region's strength scale the style term,
as they scale the feed-forward transform.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tfstyle.errors import TfstyleError


@dataclass(frozen=True)
class RefineConfig:
    """The polishing objective: small steps (pixels in [0, 1]) so the start's layout survives."""

    learning_rate: float = 0.005
    style_weight: float = 10.0  # Gatys' default balance (layer weights balanced by target magnitude)
    style_loss: str = "mean_std"


@functools.lru_cache(maxsize=2)
def _extractor(layers: tuple[str, ...], precision: str):
    """One VGG19 per process and precision (building it costs about a second)."""
    from tfstyle.features import VGGFeatures
    from tfstyle.precision import policy_scope

    with policy_scope(precision):
        return VGGFeatures(layers)


def refine(
    output: np.ndarray,
    content: np.ndarray,
    styles: Sequence[np.ndarray],
    steps: int,
    *,
    alpha: float = 1.0,
    blend: Sequence[float] | None = None,
    regions=None,
    config: RefineConfig | None = None,
) -> np.ndarray:
    """``steps`` Adam steps of the Gatys objective from ``output`` (H x W x 3 in [0, 1], the
    content's size); ``regions`` are the driver's :class:`tfstyle.masks.RegionSpec` (None: the
    blended styles everywhere). Returns float32 H x W x 3 in [0, 1]."""
    from tfstyle import gatys
    from tfstyle.precision import inference_precision

    if steps <= 0 or alpha <= 0.0:
        return output
    if output.shape != content.shape:
        raise TfstyleError(f"refine: output {output.shape} and content {content.shape} differ in size")
    config = config or RefineConfig()
    precision = inference_precision()
    objective = gatys.GatysConfig(
        steps=int(steps),
        learning_rate=config.learning_rate,
        style_weight=config.style_weight * float(alpha),
        tv_weight=0.0,
        style_loss=config.style_loss,
        precision=precision,
    )
    layers = tuple(objective.content_layers) + tuple(objective.style_layers)
    result = gatys.optimize(
        content,
        list(styles),
        objective,
        style_weights=None if blend is None else list(blend),
        regions=regions,
        extractor=_extractor(layers, precision),
        init=output,
    )
    return np.clip(result.image, 0.0, 1.0).astype(np.float32)
