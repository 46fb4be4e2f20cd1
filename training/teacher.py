"""Train the AdaIN teacher's decoder: ``python -m training.teacher`` (``make train`` runs it).

The VGG19 encoder is frozen; the decoder learns to invert it under the shared AdaIN objective
(``tfstyle.models.teacher.training_losses``).
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field

import numpy as np

from training.cli import loop_parser, main_guard, prepare, run
from training.data import DataConfig, pair_dataset
from training.loop import LoopConfig


@dataclass
class TeacherTask:
    data: DataConfig = field(default_factory=DataConfig)
    style_weight: float = 10.0
    identity_weight: float = 50.0
    name: str = "teacher"
    skipped_files: int = 0

    def build(self) -> None:
        from tfstyle.models.teacher import build_decoder, build_encoder

        self.encoder = build_encoder()
        self.decoder = build_decoder()

    def trainable_variables(self) -> list:
        return self.decoder.trainable_variables

    def checkpoint_objects(self) -> dict:
        return {"decoder": self.decoder}

    def dataset(self, global_batch: int, start_step: int):
        ds, counts = pair_dataset(self.data, global_batch, start_step)
        self.skipped_files = counts["skipped"]
        return ds

    def losses(self, batch: dict, training: bool) -> dict:
        from tfstyle.models.teacher import training_losses

        return training_losses(
            self.encoder,
            self.decoder,
            batch["content"],
            batch["style"],
            self.style_weight,
            training,
            identity_weight=self.identity_weight,
        )

    def samples(self, batch: dict) -> list[list[np.ndarray]]:
        out = self.losses(batch, training=False)["output"].numpy().clip(0, 1)
        return [[c, s, o] for c, s, o in zip(batch["content"].numpy(), batch["style"].numpy(), out)]

    def export(self, out_dir: str) -> list[str]:
        from tfstyle.models.teacher import save_decoder_float16

        path = os.path.join(out_dir, "teacher_decoder.h5")
        save_decoder_float16(self.decoder, path)
        return [path]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = loop_parser(
        "python -m training.teacher",
        __doc__,
        out="runs/teacher",
        steps=LoopConfig.steps,
        lr=1e-4,
        lr_decay=5e-5,
    )
    p.add_argument("--style-weight", type=float, default=10.0)
    p.add_argument("--identity-weight", type=float, default=50.0, help="pixel reconstruction of the content")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    task = TeacherTask(prepare(args), args.style_weight, args.identity_weight)
    from tfstyle.assets import TEACHER_DECODER

    run(task, args, [TEACHER_DECODER])
    return 0


if __name__ == "__main__":
    main_guard(main)
