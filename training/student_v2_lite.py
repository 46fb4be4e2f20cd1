"""Distil the lite student v2 from the full one: ``python -m training.student_v2_lite``.

Why: everything the phone runs per photo must take <= 0.15x Magenta's transfer, and the full
student's decoder alone is 0.13x at 384 px, its float NumPy statistics 0.05x more; 70% of the
values those statistics pass over are the 1/2 tap. The lite student
(:data:`tfstyle.models.student_v2.LITE`) keeps the full student's encoder (frozen, the same
MobileNet weights), projects the 1/2 tap to 8 channels with a learnt 1x1 convolution, and
decodes with a narrower decoder; it learns to paint what the full decoder paints.

A narrow decoder trained from the teacher painted a colour transfer (docs/experiments); taught the
full student's residual, which already holds the strokes, the function is a regression. One loss
(``tfstyle.losses.distillation_loss``, L1) between the two decoders' residuals on the full
student's bank (content and style crops), at strengths drawn from 1 (half the batch) or between 0
and :data:`OVERDRIVE`: the decoder also meets mixed codes (alpha < 1) and strong styles.
No VGG, no teacher per step. Resumable and mixed precision through ``training.loop``.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field

import numpy as np

from training.cli import loop_parser, main_guard, prepare, run
from training.data import DataConfig
from training.student_v2 import bank_batches

OVERDRIVE = 1.3  # as export.student_v2's calibration headroom
ENCODER, DECODER = "student_v2_encoder.h5", "student_v2_decoder.h5"


@dataclass
class LiteTask:
    source: str  # the full student's weights folder (a --out of training.student_v2)
    bank_run: str  # the run folder holding the bank
    data: DataConfig = field(default_factory=DataConfig)
    name: str = "student_v2_lite"
    skipped_files: int = 0

    def build(self) -> None:
        from tfstyle.errors import WeightsError
        from tfstyle.models import student_v2 as S

        paths = [os.path.join(self.source, n) for n in (ENCODER, DECODER)]
        for path in paths:
            if not os.path.isfile(path):
                raise WeightsError(f"{path}: the full student v2's weights are not there (--source)")
        full = S.StudentV2(*paths)
        self.full_encoder, self.full_decoder = full.encoder, full.decoder
        self.encoder = S.build_encoder(imagenet=False, cfg=S.LITE)
        self.encoder.load_weights(paths[0], by_name=True, skip_mismatch=True)  # all but tap1_proj
        for layer in self.encoder.layers:
            layer.trainable = layer.name == "tap1_proj"
        self.decoder = S.build_decoder(S.LITE)

    def trainable_variables(self) -> list:
        return self.encoder.trainable_variables + self.decoder.trainable_variables

    def checkpoint_objects(self) -> dict:
        return {"encoder": self.encoder, "decoder": self.decoder}

    def dataset(self, global_batch: int, start_step: int):
        return bank_batches(self.bank_run, self.data.seed, global_batch, start_step)

    def losses(self, batch: dict, training: bool) -> dict:
        from tfstyle import losses
        from tfstyle._keras import tf
        from tfstyle.models import student_v2 as S

        content, style = batch["content"], batch["style"]
        n = tf.shape(content)[0]
        full = [
            [tf.stop_gradient(tf.cast(t, tf.float32)) for t in self.full_encoder(x, training=False)]
            for x in (content, style)
        ]
        project = self.encoder.get_layer("tap1_proj")  # the rest of the lite encoder is the full one's
        lite = [[t[0], tf.cast(project(t[1]), tf.float32), *t[2:]] for t in full]
        strong = tf.random.uniform([n]) < 0.5
        alpha = tf.where(strong, 1.0, tf.random.uniform([n], 0.0, OVERDRIVE))[:, None]
        # each student's codes of the content and the style, once, and its code at the row's strength
        full_codes, lite_codes = ([S.code_from_taps(t) for t in taps] for taps in (full, lite))
        mixed = [S.mix_codes(style, own, alpha) for own, style in (full_codes, lite_codes)]
        target = self.full_decoder(S.restyle(full[0], mixed[0]), training=False)
        out = self.decoder(S.restyle(lite[0], mixed[1]), training=training)
        residual = losses.distillation_loss(out, tf.stop_gradient(tf.cast(target, tf.float32)))
        # the pictures at each row's strength, as the runtime makes them (the RGB tap, hence the
        # colour base, is the same in both students)
        base = S.colour_base(content, full_codes[0], mixed[0])
        scale = alpha[:, :, None, None]
        return {
            "total": residual,
            "residual": residual,
            "student": base + scale * tf.cast(out, tf.float32),
            "full": base + scale * tf.cast(target, tf.float32),
        }

    def samples(self, batch: dict) -> list[list[np.ndarray]]:
        """Rows: content, style, the full student, the lite one (each at the row's strength)."""
        terms = self.losses(batch, training=False)
        full, lite = (terms[k].numpy().clip(0, 1) for k in ("full", "student"))
        return [list(row) for row in zip(batch["content"].numpy(), batch["style"].numpy(), full, lite)]

    def export(self, out_dir: str) -> list[str]:
        from tfstyle.models.io import save_weights_float16

        paths = [os.path.join(out_dir, ENCODER), os.path.join(out_dir, DECODER)]
        save_weights_float16(self.encoder, paths[0])
        save_weights_float16(self.decoder, paths[1])
        return paths


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = loop_parser(
        "python -m training.student_v2_lite",
        __doc__,
        out="runs/student_v2_lite",
        steps=6000,
        lr=1e-3,
        lr_decay=5e-4,
    )
    p.add_argument("--source", default="runs/student_v2_s4", help="the full student's weights folder")
    p.add_argument("--bank-run", default="runs/student_v2", help="the run folder holding the bank")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    task = LiteTask(args.source, args.bank_run, prepare(args))
    from tfstyle.assets import STUDENT_V2_DECODER, STUDENT_V2_ENCODER

    run(task, args, [STUDENT_V2_ENCODER, STUDENT_V2_DECODER])
    return 0


if __name__ == "__main__":
    main_guard(main)
