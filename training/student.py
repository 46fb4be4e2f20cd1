"""Distil the MobileNetV2 student from the trained teacher: ``python -m training.student``.

Same loop, data, checkpoints and precision machinery as the teacher (``training.loop``); only the
task differs. Losses, all from ``tfstyle.losses`` via the teacher's helpers:

* output distillation: student image vs teacher image (L1);
* feature distillation: the student's bottleneck (on the relu4_1 grid), projected by a 1x1 conv
  (training only), vs the teacher's AdaIN target features;
* perceptual: content loss vs the AdaIN target and mean/std style loss, as for the teacher.

Stage 1 freezes the ImageNet MobileNetV2 backbone of the style predictor; stage 2 (``--stage 2``,
resuming from stage 1's weights) fine-tunes end to end at a lower learning rate.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field, replace

import numpy as np

from training.cli import loop_parser, main_guard, prepare, run
from training.data import DataConfig, pair_dataset

BOTTLENECK_LAYER = "block{last}_add"  # output of the last FiLM-modulated residual block


@dataclass
class DistillWeights:
    # the output term leads: the student should reproduce the teacher's picture; the perceptual
    # terms keep it a good stylization where it cannot
    output: float = 30.0
    feature: float = 1.0
    content: float = 1.0
    style: float = 5.0


@dataclass
class StudentTask:
    data: DataConfig = field(default_factory=DataConfig)
    weights: DistillWeights = field(default_factory=DistillWeights)
    stage: int = 1
    teacher_decoder: str | None = None
    init_from: str | None = None  # a stage-1 output folder to start stage 2 from
    style_layers: dict[str, float] | None = None  # style-term layer weights (None: equal)
    name: str = "student"
    skipped_files: int = 0

    def build(self) -> None:
        from tfstyle.models.teacher import DEFAULT_DECODER, Teacher

        self.teacher = Teacher(self.teacher_decoder or DEFAULT_DECODER)
        self.predictor, self.transformer = self.student_models()
        self.projection = None
        if self.weights.feature:
            self._build_feature_head()

    def student_models(self) -> tuple:
        """The float predictor and transformer (stage 2: from stage 1's weights)."""
        from tfstyle.models import student as S

        self.cfg = S.StudentConfig()
        predictor = S.build_style_predictor(self.cfg)
        transformer = S.build_transformer(self.cfg)
        if self.init_from:
            for model, name in ((predictor, "student_predictor.h5"), (transformer, "student_transformer.h5")):
                _warm_start(model, os.path.join(self.init_from, name))
        for layer in S.backbone_layers(predictor):
            layer.trainable = self.stage >= 2
        return predictor, transformer

    def _build_feature_head(self) -> None:
        """A view of the transformer that also returns its bottleneck, and the (training-only)
        projection of that bottleneck onto the teacher's relu4_1 grid and channels."""
        from tfstyle._keras import keras

        tap = self.transformer.get_layer(BOTTLENECK_LAYER.format(last=self.cfg.blocks - 1)).output
        self.train_view = keras.Model(self.transformer.inputs, [self.transformer.output, tap])
        # the bottleneck is on the relu4_1 grid (1/8): a 1x1 conv maps it to the teacher's channels
        self.projection = keras.Sequential([keras.layers.Conv2D(512, 1, dtype="float32")], name="projection")
        self.projection.build((None, None, None, self.cfg.width))

    def trainable_variables(self) -> list:
        heads = self.projection.trainable_variables if self.projection is not None else []
        return self.predictor.trainable_variables + self.transformer.trainable_variables + heads

    def checkpoint_objects(self) -> dict:
        objects = {"predictor": self.predictor, "transformer": self.transformer}
        if self.projection is not None:
            objects["projection"] = self.projection
        return objects

    def dataset(self, global_batch: int, start_step: int):
        ds, counts = pair_dataset(self.data, global_batch, start_step)
        self.skipped_files = counts["skipped"]
        return ds

    def losses(self, batch: dict, training: bool) -> dict:
        from tfstyle import losses
        from tfstyle._keras import tf
        from tfstyle.models.teacher import FEATURE_SCALE, adain_target, perceptual_terms

        content, style = batch["content"], batch["style"]
        teacher = self.teacher
        _, fs, target = adain_target(teacher.encoder, content, style)
        teacher_out = tf.stop_gradient(tf.clip_by_value(teacher.decode(target * FEATURE_SCALE), 0.0, 1.0))
        vector = self.predictor(style, training=training)
        if self.projection is None:
            out, feats = self.transformer([content, vector], training=training), None
        else:
            out, feats = self.train_view([content, vector], training=training)
        out = tf.cast(out, tf.float32)
        terms = perceptual_terms(teacher.encoder, out, target, fs, self.style_layers)
        terms["output"] = losses.distillation_loss(out, teacher_out)
        if feats is not None:
            projected = self.projection(feats, training=training)
            terms["feature"] = losses.feature_distillation_loss(projected, target)
        total = losses.weighted_sum(terms, {k: v for k, v in vars(self.weights).items() if k in terms})
        return {"total": total, **terms, "student": out, "teacher": teacher_out}

    def samples(self, batch: dict) -> list[list[np.ndarray]]:
        from tfstyle._keras import tf

        terms = self.losses(batch, training=False)
        s, t = terms["student"].numpy().clip(0, 1), terms["teacher"].numpy()
        style = tf.image.resize(batch["style"], batch["content"].shape[1:3], antialias=True)  # --style-crops
        return [list(row) for row in zip(batch["content"].numpy(), style.numpy().clip(0, 1), t, s)]

    def export(self, out_dir: str) -> list[str]:
        from tfstyle.models.io import save_weights_float16

        paths = [
            os.path.join(out_dir, "student_predictor.h5"),
            os.path.join(out_dir, "student_transformer.h5"),
        ]
        save_weights_float16(self.predictor, paths[0])
        save_weights_float16(self.transformer, paths[1])
        return paths


def _warm_start(model, path: str) -> None:
    """Load ``path`` layer by layer by name, so a model that gained layers since (identity-initialised
    FiLM) starts from the older weights; the layers the file lacks are named, not silently kept."""
    import h5py

    from tfstyle.errors import WeightsError

    if not os.path.isfile(path):
        raise WeightsError(f"{path}: --init-from weights not found")
    with h5py.File(path, "r") as f:
        saved = set(f.attrs["layer_names"].astype(str)) if "layer_names" in f.attrs else set(f)
    model.load_weights(path, by_name=True)
    fresh = [layer.name for layer in model.layers if layer.weights and layer.name not in saved]
    if fresh:
        print(f"{path}: {len(fresh)} layers not in the file keep their initialisation: {', '.join(fresh)}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = loop_parser(
        "python -m training.student", __doc__, out="runs/student", steps=3000, lr=1e-3, lr_decay=5e-4
    )
    p.add_argument("--teacher-decoder", help="teacher decoder weights (default: the shipped one)")
    p.add_argument("--stage", type=int, choices=(1, 2), default=1)
    p.add_argument("--init-from", help="stage 2: the stage-1 --out folder")
    p.add_argument(
        "--weights",
        type=_loss_weights,
        default=DistillWeights(),
        help="loss weights as name=value,... over output, feature, content, style "
        f"(default: {_format_weights(DistillWeights())})",
    )
    p.add_argument(
        "--style-layers",
        type=_style_layer_weights,
        help="style-term weights per VGG layer as relu1_1=value,... (unnamed layers get 0; "
        "default: 1 each over relu1_1..relu4_1)",
    )
    p.add_argument(
        "--style-crops",
        type=_sides,
        default=(),
        help="style crop sides in px, one per batch in turn, as 192,256,384 (default: --crop): the "
        "predictor learns to describe a style the same at every size it is shown",
    )
    return p.parse_args(argv)


def _format_weights(w: DistillWeights) -> str:
    return ",".join(f"{k}={v:g}" for k, v in vars(w).items())


def _name_values(text: str, names, kind: str) -> dict[str, float]:
    """``a=1,b=2`` -> {a: 1.0, b: 2.0} over the allowed ``names`` (argparse turns errors into usage)."""
    values = {}
    for item in filter(None, text.split(",")):
        name, _, value = item.partition("=")
        name = name.strip()
        if name not in names:
            raise argparse.ArgumentTypeError(f"unknown {kind} {name!r} in {text!r}")
        try:
            values[name] = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{item!r}: the weight must be a number") from None
    return values


def _sides(text: str) -> tuple[int, ...]:
    """``192,256,384`` -> (192, 256, 384); each a whole number of pixels, at least 32."""
    try:
        sides = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: crop sides must be whole numbers of pixels") from None
    if not sides or min(sides) < 32:
        raise argparse.ArgumentTypeError(f"{text!r}: give one or more crop sides of at least 32 px")
    return sides


def _loss_weights(text: str) -> DistillWeights:
    """``style=20,output=30`` -> DistillWeights with those changed."""
    return DistillWeights(**_name_values(text, vars(DistillWeights()), "loss"))


def _style_layer_weights(text: str) -> dict[str, float]:
    """``relu1_1=23,relu4_1=1`` -> the style term's layer weights (only the named layers count)."""
    from tfstyle.models.teacher import ENCODER_LAYERS

    values = _name_values(text, ENCODER_LAYERS, "style layer")
    if not values:
        raise argparse.ArgumentTypeError(f"{text!r}: name at least one of {', '.join(ENCODER_LAYERS)}")
    return values


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    data = replace(prepare(args), style_crops=args.style_crops)
    task = StudentTask(
        data,
        args.weights,
        stage=args.stage,
        teacher_decoder=args.teacher_decoder,
        init_from=args.init_from,
        style_layers=args.style_layers,
    )
    from tfstyle.assets import STUDENT_PREDICTOR, STUDENT_TRANSFORMER

    run(task, args, [STUDENT_PREDICTOR, STUDENT_TRANSFORMER])
    return 0


if __name__ == "__main__":
    main_guard(main)
