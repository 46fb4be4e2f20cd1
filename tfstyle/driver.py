"""The engine-agnostic driver behind ``tfstyle.stylize`` and ``tfstyle stylize``: inputs, regions,
colour and tiling around whichever engine (:mod:`tfstyle.engines`) does the stylizing.

* **Inputs**: arrays (float H x W x 3 in [0, 1] or uint8) or paths, loaded with
  :mod:`tfstyle.images`; ``config.size`` resizes the content's long side, styles are resized to
  ``config.style_size`` (default: the content's long side, at most :data:`~tfstyle.engines.STYLE_MAX`).
* **Styles and regions**: ``weights`` interpolate several styles (feature-level interpolation,
  Huang & Belongie §7.3); ``masks`` (one for all styles, or one per style) are feathered with a
  Gaussian (:func:`tfstyle.masks.feather`) and normalised to a soft partition
  (:func:`tfstyle.masks.normalize_masks`): each style gets its own region, and pixels no mask
  covers keep the content. With one mask per style the blend weights are not used.
* **Label maps**: ``labels`` (a :class:`tfstyle.labels.LabelMap`, or a bare label image) give each
  class its own style and strength; they become the same feathered regions as masks, and each
  region's ``strength`` scales its style as ``alpha`` does the whole image's.
* **Colour**: ``preserve_color="histogram"`` matches each style's colours to the content before
  encoding, ``"luminance"`` keeps only the stylized luminance afterwards.
* **Tiling**: images larger than ``config.tile`` (auto: :data:`~tfstyle.engines.AUTO_TILE` when a
  side exceeds it) run tile by tile with overlap (:mod:`tfstyle.tiling`), so memory is bounded by
  the tile. An engine with ``render`` (the teacher) does the tiles itself; the others go through
  :func:`tfstyle.engines.base.render_tiles`.

No TensorFlow at import time: engines import it when they first run.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence

import numpy as np

from tfstyle import masks as masks_mod
from tfstyle import tiling
from tfstyle.color import match_color, transfer_luminance
from tfstyle.engines import Engine, Region, StylizeConfig, get_engine
from tfstyle.engines.base import MIN_SIDE, STYLE_MAX, render_tiles
from tfstyle.errors import TfstyleError

__all__ = ["parse_weights", "render_codes", "stylize"]


def _as_image(image, what: str) -> np.ndarray:
    if isinstance(image, (str, os.PathLike)):
        from tfstyle.images import load_image

        return load_image(image)
    array = np.asarray(image)
    if array.dtype == np.uint8:
        array = array.astype(np.float32) / 255.0
    array = array.astype(np.float32, copy=False)
    if array.ndim == 4 and array.shape[0] == 1:
        array = array[0]
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] != 3:
        raise TfstyleError(f"{what} must be an H x W x 3 image, got shape {array.shape}")
    if min(array.shape[:2]) < MIN_SIDE:
        raise TfstyleError(f"{what} is {array.shape[1]}x{array.shape[0]} px; at least {MIN_SIDE} px per side")
    if np.isfinite(array).all() and array.min() >= 0.0 and array.max() <= 1.0:
        return array  # already valid: no copy (a video passes the same style array every frame)
    return np.clip(np.nan_to_num(array), 0.0, 1.0)


def _styles_list(styles, required: bool = True) -> list:
    if isinstance(styles, (str, os.PathLike)) or (isinstance(styles, np.ndarray) and styles.ndim in (2, 3)):
        return [styles]
    styles = list(styles or [])
    if not styles and required:
        raise TfstyleError("at least one style image is needed")
    return styles


def parse_weights(text: str | None, n: int) -> list[float]:
    """Blend weights written as ``"0.7,0.3"`` (the ``--weights`` option), one per style."""
    if not text:
        return [1.0] * n
    try:
        weights = [float(w) for w in text.split(",")]
    except ValueError:
        raise TfstyleError(f"--weights {text!r}: expected numbers separated by commas") from None
    if len(weights) != n:
        raise TfstyleError(f"--weights gives {len(weights)} values for {n} styles")
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise TfstyleError(f"--weights {text!r}: weights must be non-negative and not all zero")
    return weights


def _blend_weights(weights, n: int) -> list[float]:
    if weights is None:
        return [1.0] * n
    if isinstance(weights, str):
        return parse_weights(weights, n)
    weights = [float(w) for w in weights]
    if len(weights) != n:
        raise TfstyleError(f"{len(weights)} blend weights for {n} styles")
    if any(not w >= 0 for w in weights) or sum(weights) <= 0:
        raise TfstyleError(f"blend weights {weights} must be non-negative and not all zero")
    return weights


def _load_masks(masks, shape: tuple[int, int], n_styles: int) -> list[np.ndarray] | None:
    if masks is None:
        return None
    if isinstance(masks, (str, os.PathLike)) or (isinstance(masks, np.ndarray) and masks.ndim == 2):
        masks = [masks]
    from tfstyle.images import load_mask, resize_to

    out = []
    for m in masks:
        if isinstance(m, (str, os.PathLike)):
            out.append(load_mask(m, shape=shape))
            continue
        array = np.asarray(m, np.float32)
        if array.ndim == 3 and array.shape[2] == 1:
            array = array[..., 0]
        if array.ndim != 2:
            raise TfstyleError(f"a mask must be an H x W array, got shape {array.shape}")
        out.append(resize_to(np.clip(array, 0.0, 1.0), shape) if array.shape != tuple(shape) else array)
    if not out:
        return None
    masks_mod.check_count(len(out), n_styles)
    return out


def _region_specs(labels, masks, image: np.ndarray, styles: list, blend: list[float]):
    """Region specs from a label map or from masks (None: the styles apply everywhere); a label
    map's own styles are appended to ``styles``."""
    if labels is None:
        mask_arrays = _load_masks(masks, image.shape[:2], len(styles))
        return None if mask_arrays is None else masks_mod.region_specs(mask_arrays, len(styles), blend)
    from tfstyle.labels import as_label_map, plan_regions

    if masks is not None:
        raise TfstyleError("give region masks or a label map, not both")
    plan = plan_regions(as_label_map(labels), image.shape[:2], len(styles), blend)
    if any(x is not None for x in plan.style_labels):
        raise TfstyleError(
            "style label maps (semantic Gram matching) are for Gatys optimisation (tfstyle optimize); "
            "feed-forward engines match whole styles"
        )
    styles.extend(_as_image(s, "style") for s in plan.styles)
    return plan.regions


def _regions(codes: list, weights: list[float], specs, shape, config: StylizeConfig):
    if specs is None:
        return [Region(None, codes, weights)], None
    sigma = masks_mod.auto_sigma(shape) if config.feather is None else float(config.feather)
    parts, rest = masks_mod.soft_regions(specs, sigma)
    regions = [
        Region(w, [codes[i] for i in s.styles], list(s.blend), float(s.strength))
        for w, s in zip(parts, specs)
    ]
    return regions, rest


def stylize(
    content,
    styles,
    *,
    weights: Sequence[float] | str | None = None,
    masks=None,
    labels=None,
    config: StylizeConfig | None = None,
    engine: str | Engine | None = None,
    output: str | os.PathLike | None = None,
    callback: Callable[[int, int], None] | None = None,
    **options,
) -> np.ndarray:
    """Stylize ``content`` with ``styles``; returns float32 H x W x 3 in [0, 1].

    ``content``/``styles``/``masks`` are arrays or paths (one style or a list); ``weights`` blend
    the styles (a list or "0.7,0.3"); ``labels`` is a :class:`tfstyle.labels.LabelMap` (per-class
    styles and strengths; its own styles may stand in for ``styles``); ``options`` override fields
    of ``config`` (:class:`~tfstyle.engines.StylizeConfig`: ``alpha``, ``size``, ``preserve_color``,
    ``tile``, ``overlap``, ``method``, ``feather``, ...). ``output`` also writes the result;
    ``callback(done, total)`` reports tiles.

    >>> out = stylize("photo.jpg", ["a.jpg", "b.jpg"], weights=[0.7, 0.3], alpha=0.8)  # doctest: +SKIP
    """
    config = dataclasses.replace(config or StylizeConfig(), **options).validate()
    image = _as_image(content, "content")
    if config.size is not None:
        from tfstyle.images import resize

        image = resize(image, int(config.size))
    style_images = [_as_image(s, "style") for s in _styles_list(styles, required=labels is None)]
    blend = _blend_weights(weights, len(style_images))
    specs = _region_specs(labels, masks, image, style_images, blend)
    style_long = int(config.style_size or min(max(image.shape[:2]), STYLE_MAX))
    from tfstyle.images import resize

    style_images = [resize(s, style_long) if max(s.shape[:2]) != style_long else s for s in style_images]
    if config.preserve_color == "histogram":
        style_images = [match_color(s, image) for s in style_images]

    eng = get_engine(engine, config)
    check = getattr(eng, "check", None)
    if check is not None:
        check(config)
    codes = [eng.style_code(s, config) for s in style_images]
    out = _render(eng, image, codes, blend, specs, config, callback, style_images)
    if output is not None:
        from tfstyle.images import save_image

        save_image(output, out)
    return out


def render_codes(
    image: np.ndarray,
    codes: Sequence,
    *,
    config: StylizeConfig,
    engine: str | Engine | None = None,
    weights: Sequence[float] | None = None,
) -> np.ndarray:
    """Stylize an image already at its final size (float H x W x 3 in [0, 1]) with style codes the
    engine made earlier (``engine.style_code``): what :func:`stylize` does after encoding the styles,
    for callers that encode each style once and reuse it over many images (``tfstyle dataset``).
    ``config`` is assumed valid; no masks or labels."""
    eng = get_engine(engine, config)
    if config.refine:
        raise TfstyleError("refine needs the style images, not only their codes: use tfstyle.stylize")
    return _render(eng, image, list(codes), _blend_weights(weights, len(codes)), None, config, None)


def _render(eng: Engine, image, codes: list, blend, specs, config: StylizeConfig, callback, styles=()):
    regions, rest = _regions(codes, blend, specs, image.shape[:2], config)
    tile = config.tile_for(image.shape)
    if tile and config.refine:
        raise TfstyleError(
            f"refine optimises the whole image at once, and this one would be tiled (long side "
            f"{max(image.shape[:2])} px > tile {tile} px): pass --tile 0, or a smaller --size"
        )
    plan = None
    if tile:
        overlap = min(int(config.overlap), tile // 2)
        plan = tiling.plan_tiles(image.shape[0], image.shape[1], tile, overlap, eng.multiple)
    render = getattr(eng, "render", None)
    if render is not None:
        out = render(image, regions, rest, config, plan, callback)
    else:
        out = render_tiles(eng, image, regions, rest, config, plan, callback)
    out = np.asarray(out, np.float32)
    # in place when the engine's result is its own array: one full-size copy fewer at 12 MP
    out = np.clip(out, 0.0, 1.0, out=out if out is not image and out.flags.writeable else None)
    if config.refine:
        from tfstyle.refine import refine

        out = refine(
            out, image, styles, int(config.refine), alpha=float(config.alpha), blend=blend, regions=specs
        )
    if config.preserve_color == "luminance":
        out = transfer_luminance(out, image)
    return out
