"""Train one reconstruction decoder of the multi-level teacher: ``python -m training.decoders
--level relu2_1`` (``make train`` runs one line per shipped level).

The decoder learns to give back photos *and* paintings (each batch holds both kinds of crop) from
their frozen VGG19 features at ``--level``: pixel + perceptual loss, no style loss, so it converges
in a few thousand CPU steps (see :mod:`tfstyle.models.decoders`).
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field

import numpy as np

from training.cli import loop_parser, main_guard, prepare, run
from training.data import DataConfig, pair_dataset


@dataclass
class DecoderTask:
    level: str = "relu1_1"
    data: DataConfig = field(default_factory=DataConfig)
    perceptual_weight: float = 0.1
    skipped_files: int = 0

    @property
    def name(self) -> str:
        return f"decoder_{self.level}"

    def build(self) -> None:
        from tfstyle.models.decoders import build_level_decoder, build_level_encoder

        self.encoder = build_level_encoder(self.level)
        self.decoder = build_level_decoder(self.level)

    def trainable_variables(self) -> list:
        return self.decoder.trainable_variables

    def checkpoint_objects(self) -> dict:
        return {"decoder": self.decoder}

    def dataset(self, global_batch: int, start_step: int):
        """Batches of ``global_batch`` images: half photo crops, half painting crops."""
        from tfstyle._keras import tf

        half = max(global_batch // 2, 1)
        ds, counts = pair_dataset(self.data, half, start_step)
        self.skipped_files = counts["skipped"]
        return ds.map(lambda b: {"images": tf.concat([b["content"], b["style"]], 0)})

    def losses(self, batch: dict, training: bool) -> dict:
        from tfstyle.models.decoders import reconstruction_losses

        return reconstruction_losses(
            self.encoder, self.decoder, self.level, batch["images"], self.perceptual_weight, training
        )

    def samples(self, batch: dict) -> list[list[np.ndarray]]:
        out = self.losses(batch, training=False)["output"].numpy().clip(0, 1)
        return [[i, o] for i, o in zip(batch["images"].numpy(), out)]

    def export(self, out_dir: str) -> list[str]:
        from tfstyle.models.io import save_weights_float16

        path = os.path.join(out_dir, f"decoder_{self.level}.h5")
        save_weights_float16(self.decoder, path)
        return [path]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = loop_parser("python -m training.decoders", __doc__, out="", steps=3000, lr=1e-3, lr_decay=1e-4)
    p.add_argument("--level", required=True, choices=("relu1_1", "relu2_1", "relu3_1", "relu4_1"))
    p.add_argument("--perceptual-weight", type=float, default=0.1, help="weight of the feature term")
    args = p.parse_args(argv)
    args.out = args.out or f"runs/decoder_{args.level}"
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    task = DecoderTask(args.level, prepare(args), args.perceptual_weight)
    from tfstyle.models.decoders import decoder_asset

    run(task, args, [decoder_asset(args.level)])
    return 0


if __name__ == "__main__":
    main_guard(main)
