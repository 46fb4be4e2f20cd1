"""Gatys et al. optimisation: start from the content (or noise) and descend the shared losses.

The VGG19 extractor runs once per step and feeds the content, style and (optionally masked,
multi-style) terms; targets are computed once up front. Adam runs in TensorFlow; L-BFGS uses
SciPy's L-BFGS-B with TensorFlow gradients and box constraints [0, 1].

Regions (``--mask`` PNGs or a label map, :mod:`tfstyle.labels`) are feathered into a soft partition
exactly as for the feed-forward engines (:func:`tfstyle.masks.soft_regions`); each region adds its
own masked style term, scaled by the region's strength, and pixels outside every region stay the
content's. Semantic Gram matching: when a region's style image has a label map of its own, the
region's targets are the statistics of the style's pixels with the same labels (the masked
``losses.style_targets``), so the sky of the content takes the texture of the sky of the style.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from tfstyle import labels as labels_mod
from tfstyle import losses
from tfstyle._keras import tf
from tfstyle.color import check_mode, match_color, transfer_luminance
from tfstyle.errors import TfstyleError
from tfstyle.features import CONTENT_LAYER, STYLE_LAYERS, VGGFeatures
from tfstyle.images import load_image, resize
from tfstyle.masks import RegionSpec, auto_sigma, region_specs, soft_regions
from tfstyle.precision import policy_scope


@dataclass
class GatysConfig:
    steps: int = 300
    optimizer: str = "adam"  # "adam" or "lbfgs"
    learning_rate: float = 0.02  # Adam, on pixels in [0, 1]
    init: str = "content"  # "content" or "noise"
    content_weight: float = 1.0
    style_weight: float = 10.0
    tv_weight: float = 1.0
    balance_layers: bool = True  # divide each layer's weight by its target magnitude
    style_loss: str = "gram"  # "gram" or "mean_std"
    content_layers: dict = field(default_factory=lambda: {CONTENT_LAYER: 1.0})
    style_layers: dict = field(default_factory=lambda: {name: 1.0 for name in STYLE_LAYERS})
    content_weight_end: float | None = None  # dynamic schedule: content weight decays to this
    style_weight_end: float | None = None  # ... while the style weight grows to this
    pooling: str = "max"
    precision: str = "auto"
    preserve_color: str = "none"  # "none", "luminance" or "histogram"
    style_scale: float = 1.0  # style image short side relative to the content's
    feather: float | None = None  # region edge sigma in px; None = 1.5% of the short side; 0 = hard
    seed: int = 0

    def schedule(self) -> losses.WeightSchedule:
        return losses.WeightSchedule(
            self.content_weight,
            self.content_weight if self.content_weight_end is None else self.content_weight_end,
            self.style_weight,
            self.style_weight if self.style_weight_end is None else self.style_weight_end,
            self.steps,
        )

    def validate(self) -> None:
        if self.optimizer not in ("adam", "lbfgs"):
            raise TfstyleError(f"optimizer must be 'adam' or 'lbfgs', not {self.optimizer!r}")
        if self.init not in ("content", "noise"):
            raise TfstyleError(f"init must be 'content' or 'noise', not {self.init!r}")
        if self.style_loss not in ("gram", "mean_std"):
            raise TfstyleError(f"style loss must be 'gram' or 'mean_std', not {self.style_loss!r}")
        if self.steps < 1:
            raise TfstyleError("steps must be at least 1")
        if self.feather is not None and not float(self.feather) >= 0:
            raise TfstyleError(f"feather must be >= 0 px, not {self.feather}")
        check_mode(self.preserve_color)


@dataclass
class GatysResult:
    image: np.ndarray  # HxWx3 float32 in [0, 1]
    history: list[dict]  # loss terms per step
    seconds_per_step: float
    precision: str


class StyleObjective:
    """Content + (blended or per-region) style + TV objective over one feature pass.

    Without regions, ``styles`` are blended with ``style_weights`` into one target matched
    everywhere. ``masks`` (one for the blended styles, or one per style) or ``regions``
    (:class:`tfstyle.masks.RegionSpec`, e.g. from a label map) are feathered by ``config.feather``
    into a soft partition; each region matches its own (blended) styles inside its weight, its term
    scaled by its strength. ``style_labels`` (one per style, or None) make a region's targets those
    of the style's pixels with the region's labels.
    """

    def __init__(
        self,
        extractor: VGGFeatures,
        content: np.ndarray,
        styles: Sequence[np.ndarray],
        config: GatysConfig,
        style_weights: Sequence[float] | None = None,
        masks: Sequence[np.ndarray] | None = None,
        regions: Sequence[RegionSpec] | None = None,
        style_labels: Sequence | None = None,
    ):
        self.extractor, self.config = extractor, config
        style_weights = list(style_weights or [1.0] * len(styles))
        if len(style_weights) != len(styles):
            raise TfstyleError(f"{len(styles)} styles but {len(style_weights)} blend weights")
        if regions is None and masks is not None:
            regions = region_specs(masks, len(styles), style_weights)
        short = round(min(content.shape[:2]) * config.style_scale)
        self.content_feats = {k: v for k, v in extractor(content[None]).items() if k in config.content_layers}
        styles = [resize(s, short, side="short") for s in styles]
        self._style_feats = [extractor(s[None]) for s in styles]
        self._whole = [losses.style_targets(f, tuple(config.style_layers)) for f in self._style_feats]
        self.region = None
        if regions is None:
            self.terms = [(losses.StyleTargets.blend(self._whole, style_weights), 1.0, None)]
        else:
            self._style_labels = self._load_style_labels(style_labels, styles)
            self.terms = self._region_terms(regions, content.shape)
        self.content_layers = dict(config.content_layers)
        self.style_layers = [dict(config.style_layers) for _ in self.terms]
        if config.balance_layers:
            self.content_layers = losses.balanced_content_weights(self.content_feats, self.content_layers)
            self.style_layers = [
                losses.balanced_weights(t, config.style_loss, config.style_layers) for t, _, _ in self.terms
            ]
        self.schedule = config.schedule()
        if self.region is not None:
            self.content = tf.constant(content[None], tf.float32)

    @staticmethod
    def _load_style_labels(style_labels, styles: Sequence[np.ndarray]) -> list:
        """Each style's label map at the size its features are taken at (nearest neighbour), or None."""
        style_labels = list(style_labels or [None] * len(styles))
        if len(style_labels) != len(styles):
            raise TfstyleError(f"{len(style_labels)} style label maps for {len(styles)} styles")
        return [
            None if lab is None else labels_mod.load_labels(lab, s.shape[:2])
            for lab, s in zip(style_labels, styles)
        ]

    def _region_terms(self, regions: Sequence[RegionSpec], shape: tuple[int, ...]) -> list:
        """(targets, strength, soft mask) per region; sets ``self.region``, the styled part of the image."""
        sigma = auto_sigma(shape) if self.config.feather is None else float(self.config.feather)
        weights, rest = soft_regions(regions, sigma)
        if rest is not None:  # pixels outside every region stay the content's
            self.region = tf.constant((1.0 - rest)[None, :, :, None], tf.float32)
        terms = []
        for spec, weight in zip(regions, weights):
            targets = [self._targets(i, spec) for i in spec.styles]
            blended = losses.StyleTargets.blend(targets, list(spec.blend)) if len(targets) > 1 else targets[0]
            terms.append((blended, float(spec.strength), tf.constant(weight[None, :, :, None], tf.float32)))
        return terms

    def _targets(self, index: int, spec: RegionSpec) -> losses.StyleTargets:
        """Style ``index``'s targets for ``spec``: its pixels with the region's labels (semantic),
        else the whole style."""
        lab = self._style_labels[index]
        if lab is None or not spec.labels:
            return self._whole[index]
        mask = labels_mod.style_region(lab, spec.labels, lab.shape)
        if mask is None:
            return self._whole[index]
        mask = tf.constant(mask[None, :, :, None], tf.float32)
        return losses.style_targets(self._style_feats[index], tuple(self.config.style_layers), mask=mask)

    def compose(self, image):
        """The image the objective sees: optimised pixels inside the masks, content outside."""
        if self.region is None:
            return tf.convert_to_tensor(image, tf.float32)
        return self.region * image + (1.0 - self.region) * self.content

    def __call__(self, image, step) -> dict:
        image = self.compose(image)
        feats = self.extractor(image)
        cfg = self.config
        content_w, style_w = self.schedule.at(step)
        content = losses.weighted_sum(
            {k: losses.content_loss(feats[k], self.content_feats[k]) for k in self.content_layers},
            self.content_layers,
        )
        style = tf.constant(0.0)
        for (targets, weight, mask), layer_weights in zip(self.terms, self.style_layers):
            style += weight * losses.style_loss(feats, targets, cfg.style_loss, layer_weights, mask)[0]
        tv = losses.total_variation_loss(image)
        total = content_w * content + style_w * style + cfg.tv_weight * tv
        return {"total": total, "content": content, "style": style, "tv": tv}


def optimize(
    content: np.ndarray,
    styles: Sequence[np.ndarray],
    config: GatysConfig | None = None,
    *,
    style_weights: Sequence[float] | None = None,
    masks: Sequence[np.ndarray] | None = None,
    labels: labels_mod.LabelMap | None = None,
    callback: Callable[[int, dict, Callable[[], np.ndarray]], None] | None = None,
    extractor: VGGFeatures | None = None,
    init: np.ndarray | None = None,
    regions: Sequence[RegionSpec] | None = None,
) -> GatysResult:
    """Stylize ``content`` (HxWx3 float in [0,1]) towards ``styles``.

    ``masks`` (HxW, at the content's size) or ``labels`` (:class:`tfstyle.labels.LabelMap`: per-class
    styles and strengths, and with ``style_labels`` semantic Gram matching) confine styles to regions.
    ``callback(step, terms, get_image)`` is called after every step (progress bars, snapshots);
    ``get_image()`` materialises the current image only when needed. ``init`` (an image at the
    content's size) replaces ``config.init``: :mod:`tfstyle.refine` starts from a feed-forward output.
    ``regions`` (:class:`tfstyle.masks.RegionSpec`, as the feed-forward driver builds them) stand in
    for ``masks``.
    """
    config = config or GatysConfig()
    config.validate()
    content = np.asarray(content, np.float32)
    styles = [np.asarray(s, np.float32) for s in styles]
    style_labels = None
    if labels is not None:
        if masks is not None or regions is not None:
            raise TfstyleError("give region masks or a label map, not both")
        weights = list(style_weights or [1.0] * len(styles))
        label_map = labels_mod.as_label_map(labels)
        plan = labels_mod.plan_regions(label_map, content.shape[:2], len(styles), weights)
        styles += [_style_image(s) for s in plan.styles]
        style_weights = weights + [1.0] * len(plan.styles)
        regions, style_labels = plan.regions, plan.style_labels
    if not styles:
        raise TfstyleError("at least one style image is needed")
    if config.preserve_color == "histogram":
        styles = [match_color(s, content) for s in styles]
    layers = tuple(config.content_layers) + tuple(config.style_layers)
    with policy_scope(config.precision) as precision:
        if extractor is None or not set(layers) <= set(extractor.layers):
            extractor = VGGFeatures(layers, pooling=config.pooling)
        objective = StyleObjective(
            extractor, content, styles, config, style_weights, masks, regions, style_labels
        )
        if init is not None:
            init = np.asarray(init, np.float32)
        elif config.init == "content":
            init = content
        else:
            rng = np.random.default_rng(config.seed)
            init = np.clip(0.5 + 0.1 * rng.standard_normal(content.shape), 0, 1).astype(np.float32)
        run = _run_adam if config.optimizer == "adam" else _run_lbfgs
        image, history, sec = run(objective, init[None], config, callback)
        image = objective.compose(image[None]).numpy()[0]
    if config.preserve_color == "luminance":
        image = transfer_luminance(image, content)
    return GatysResult(image, history, sec, precision)


def _style_image(style) -> np.ndarray:
    return load_image(style) if isinstance(style, (str, os.PathLike)) else np.asarray(style, np.float32)


def _terms_to_float(terms: dict) -> dict:
    return {k: float(v) for k, v in terms.items()}


def _run_adam(objective, init, config, callback):
    from tfstyle._keras import keras

    image = tf.Variable(init, dtype=tf.float32)
    opt = keras.optimizers.Adam(config.learning_rate)

    @tf.function
    def step_fn(step):
        with tf.GradientTape() as tape:
            # tf.identity: a Variable fed straight into a mixed-precision model is not auto-cast.
            terms = objective(tf.identity(image), step)
        grad = tape.gradient(terms["total"], image)
        opt.apply_gradients([(grad, image)])
        image.assign(tf.clip_by_value(image, 0.0, 1.0))
        return terms

    history, times = [], []
    for step in range(config.steps):
        start = time.perf_counter()
        terms = _terms_to_float(step_fn(tf.constant(step)))
        times.append(time.perf_counter() - start)
        history.append(terms)
        if callback:
            callback(step, terms, lambda: objective.compose(image).numpy()[0])
    final = image.numpy()[0]
    return final, history, _steady_mean(times)


def _steady_mean(times: list[float]) -> float:
    """Mean step time without the first (tracing) steps."""
    steady = times[2:] if len(times) > 4 else times
    return float(np.mean(steady))


def _run_lbfgs(objective, init, config, callback):
    from scipy.optimize import Bounds, minimize

    shape = init.shape
    step_box = {"step": 0, "terms": None}

    @tf.function
    def value_and_grad(flat, step):
        image = tf.reshape(flat, shape)
        with tf.GradientTape() as tape:
            tape.watch(image)
            terms = objective(image, step)
        return terms, tf.reshape(tape.gradient(terms["total"], image), [-1])

    def fun(x):
        terms, grad = value_and_grad(tf.constant(x, tf.float32), tf.constant(step_box["step"]))
        step_box["terms"] = terms
        return float(terms["total"]), grad.numpy().astype(np.float64)

    history, times = [], []
    last = {"t": time.perf_counter()}

    def on_iter(xk):
        now = time.perf_counter()
        times.append(now - last["t"])
        last["t"] = now
        terms = _terms_to_float(step_box["terms"])
        history.append(terms)
        if callback:
            callback(
                step_box["step"],
                terms,
                lambda: objective.compose(xk.reshape(shape).astype(np.float32)).numpy()[0],
            )
        step_box["step"] += 1

    res = minimize(
        fun,
        init.astype(np.float64).ravel(),
        jac=True,
        method="L-BFGS-B",
        bounds=Bounds(np.zeros(init.size), np.ones(init.size)),
        callback=on_iter,
        options={"maxiter": config.steps, "maxfun": config.steps * 2},
    )
    image = np.clip(res.x.reshape(shape)[0], 0, 1).astype(np.float32)
    return image, history, _steady_mean(times) if times else float("nan")
