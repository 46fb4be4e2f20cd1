"""Train the AdaIN teacher's decoder: ``python -m training.teacher`` (``make train`` runs it).

The VGG19 encoder is frozen; the decoder learns to invert it under the shared AdaIN objective
(``tfstyle.models.teacher.training_losses``).
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
    p = argparse.ArgumentParser(prog="python -m training.teacher", description=__doc__)
    p.add_argument("--data", default=DataConfig().root, help="folder with content/ and style/")
    p.add_argument("--out", default="runs/teacher")
    p.add_argument("--steps", type=int, default=LoopConfig.steps)
    p.add_argument("--batch", type=int, default=8, help="global batch size")
    p.add_argument("--crop", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--lr-decay", type=float, default=5e-5)
    p.add_argument("--clip-norm", type=float, default=10.0)
    p.add_argument("--style-weight", type=float, default=10.0)
    p.add_argument("--identity-weight", type=float, default=50.0, help="pixel reconstruction of the content")
    p.add_argument(
        "--precision", default="auto", choices=("auto", "float32", "mixed_bfloat16", "mixed_float16")
    )
    p.add_argument("--replicas", type=int, default=1, help="on CPU: split it into N logical devices")
    p.add_argument("--checkpoint-every", type=int, default=200)
    p.add_argument("--sample-every", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ship", action="store_true", help="copy the trained decoder into tfstyle/assets")
    p.add_argument(
        "--export-only",
        action="store_true",
        help="export the latest checkpoint, no training",
    )
    p.add_argument("--quiet", action="store_true")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from training.distribute import split_cpu

    if args.replicas > 1:
        split_cpu(args.replicas)  # before anything initialises the runtime
    task = TeacherTask(
        DataConfig(root=args.data, crop=args.crop, seed=args.seed), args.style_weight, args.identity_weight
    )
    cfg = LoopConfig(
        out_dir=args.out,
        steps=0 if args.export_only else args.steps,
        batch_size=args.batch,
        learning_rate=args.lr,
        lr_decay=args.lr_decay,
        clip_norm=args.clip_norm,
        precision=args.precision,
        replicas=args.replicas,
        checkpoint_every=args.checkpoint_every,
        sample_every=args.sample_every,
        seed=args.seed,
        progress=not args.quiet,
    )
    result = train(task, cfg)
    print(
        f"teacher: step {result.step}, {result.images_per_second:.2f} img/s, {result.precision}, "
        f"{result.replicas} replica(s), {task.skipped_files} unreadable files skipped, "
        f"exported {', '.join(result.exported)}"
    )
    if args.ship and result.exported:
        from tfstyle.models.teacher import DEFAULT_DECODER

        os.makedirs(os.path.dirname(DEFAULT_DECODER), exist_ok=True)
        shutil.copyfile(result.exported[0], DEFAULT_DECODER)
        print(f"shipped {DEFAULT_DECODER}")
    return 0


if __name__ == "__main__":
    from tfstyle.errors import TfstyleError

    try:
        sys.exit(main())
    except TfstyleError as exc:
        print(f"training: error: {exc}", file=sys.stderr)
        sys.exit(2)
