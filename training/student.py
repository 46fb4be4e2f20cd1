"""Distil the MobileNetV2 student from the trained teacher: ``python -m training.student``.

Same loop, data, checkpoints and precision machinery as the teacher (``training.loop``); only the
task differs. Losses, all from ``tfstyle.losses`` via the teacher's helpers:

* output distillation: student image vs teacher image (L1);
* feature distillation: the student's bottleneck, pooled to the relu4_1 grid and projected by a
  1x1 conv (training only), vs the teacher's AdaIN target features;
* perceptual: content loss vs the AdaIN target and mean/std style loss, as for the teacher.

Stage 1 freezes the ImageNet MobileNetV2 backbone of the style predictor; stage 2 (``--stage 2``,
resuming from stage 1's weights) fine-tunes end to end at a lower learning rate.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from dataclasses import dataclass, field

import numpy as np

from training.data import DataConfig, pair_dataset
from training.loop import LoopConfig, train

BOTTLENECK_LAYER = "block{last}_add"  # output of the last FiLM-modulated residual block


@dataclass
class DistillWeights:
    output: float = 10.0
    feature: float = 1.0
    content: float = 1.0
    style: float = 10.0


@dataclass
class StudentTask:
    data: DataConfig = field(default_factory=DataConfig)
    weights: DistillWeights = field(default_factory=DistillWeights)
    stage: int = 1
    teacher_decoder: str | None = None
    init_from: str | None = None  # a stage-1 output folder to start stage 2 from
    name: str = "student"
    skipped_files: int = 0

    def build(self) -> None:
        from tfstyle._keras import keras
        from tfstyle.models import student as S
        from tfstyle.models.teacher import DEFAULT_DECODER, Teacher

        self.teacher = Teacher(self.teacher_decoder or DEFAULT_DECODER)
        self.cfg = S.StudentConfig()
        self.predictor = S.build_style_predictor(self.cfg)
        self.transformer = S.build_transformer(self.cfg)
        if self.init_from:
            self.predictor.load_weights(os.path.join(self.init_from, "student_predictor.h5"))
            self.transformer.load_weights(os.path.join(self.init_from, "student_transformer.h5"))
        tap = self.transformer.get_layer(BOTTLENECK_LAYER.format(last=self.cfg.blocks - 1)).output
        self.train_view = keras.Model(self.transformer.inputs, [self.transformer.output, tap])
        self.projection = keras.Sequential(
            [keras.layers.AveragePooling2D(2), keras.layers.Conv2D(512, 1, dtype="float32")],
            name="projection",
        )
        self.projection.build((None, None, None, self.cfg.width))
        for layer in S.backbone_layers(self.predictor):
            layer.trainable = self.stage >= 2

    def trainable_variables(self) -> list:
        return (
            self.predictor.trainable_variables
            + self.transformer.trainable_variables
            + self.projection.trainable_variables
        )

    def checkpoint_objects(self) -> dict:
        return {"predictor": self.predictor, "transformer": self.transformer, "projection": self.projection}

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
        out, feats = self.train_view([content, vector], training=training)
        out = tf.cast(out, tf.float32)
        w = self.weights
        terms = perceptual_terms(teacher.encoder, out, target, fs)
        terms["output"] = losses.distillation_loss(out, teacher_out)
        terms["feature"] = losses.feature_distillation_loss(self.projection(feats, training=training), target)
        total = (
            w.output * terms["output"]
            + w.feature * terms["feature"]
            + w.content * terms["content"]
            + w.style * terms["style"]
        )
        return {"total": total, **terms, "student": out, "teacher": teacher_out}

    def samples(self, batch: dict) -> list[list[np.ndarray]]:
        terms = self.losses(batch, training=False)
        s, t = terms["student"].numpy().clip(0, 1), terms["teacher"].numpy()
        return [list(row) for row in zip(batch["content"].numpy(), batch["style"].numpy(), t, s)]

    def export(self, out_dir: str) -> list[str]:
        from tfstyle.models.io import save_weights_float16

        paths = [
            os.path.join(out_dir, "student_predictor.h5"),
            os.path.join(out_dir, "student_transformer.h5"),
        ]
        save_weights_float16(self.predictor, paths[0])
        save_weights_float16(self.transformer, paths[1])
        return paths


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m training.student", description=__doc__)
    p.add_argument("--data", default=DataConfig().root)
    p.add_argument("--out", default="runs/student")
    p.add_argument("--teacher-decoder", help="teacher decoder weights (default: the shipped one)")
    p.add_argument("--stage", type=int, choices=(1, 2), default=1)
    p.add_argument("--init-from", help="stage 2: the stage-1 --out folder")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--crop", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--lr-decay", type=float, default=5e-4)
    p.add_argument(
        "--precision", default="auto", choices=("auto", "float32", "mixed_bfloat16", "mixed_float16")
    )
    p.add_argument("--replicas", type=int, default=1)
    p.add_argument("--checkpoint-every", type=int, default=200)
    p.add_argument("--sample-every", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ship", action="store_true", help="copy the trained student into tfstyle/assets")
    p.add_argument("--export-only", action="store_true", help="export the latest checkpoint, no training")
    p.add_argument("--quiet", action="store_true")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from training.distribute import split_cpu

    if args.replicas > 1:
        split_cpu(args.replicas)
    task = StudentTask(
        DataConfig(root=args.data, crop=args.crop, seed=args.seed),
        stage=args.stage,
        teacher_decoder=args.teacher_decoder,
        init_from=args.init_from,
    )
    cfg = LoopConfig(
        out_dir=args.out,
        steps=0 if args.export_only else args.steps,
        batch_size=args.batch,
        learning_rate=args.lr,
        lr_decay=args.lr_decay,
        precision=args.precision,
        replicas=args.replicas,
        checkpoint_every=args.checkpoint_every,
        sample_every=args.sample_every,
        seed=args.seed,
        progress=not args.quiet,
    )
    result = train(task, cfg)
    print(
        f"student stage {args.stage}: step {result.step}, {result.images_per_second:.2f} img/s, "
        f"{result.precision}, exported {', '.join(result.exported)}"
    )
    if args.ship and result.exported:
        from tfstyle.assets import STUDENT_PREDICTOR, STUDENT_TRANSFORMER

        os.makedirs(os.path.dirname(STUDENT_PREDICTOR), exist_ok=True)
        shutil.copyfile(result.exported[0], STUDENT_PREDICTOR)
        shutil.copyfile(result.exported[1], STUDENT_TRANSFORMER)
        print(f"shipped {STUDENT_PREDICTOR} and {STUDENT_TRANSFORMER}")
    return 0


if __name__ == "__main__":
    from tfstyle.errors import TfstyleError

    try:
        sys.exit(main())
    except TfstyleError as exc:
        print(f"training: error: {exc}", file=sys.stderr)
        sys.exit(2)
