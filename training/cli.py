"""Command-line plumbing shared by ``training.teacher`` and ``training.student``: the loop's
options, building the LoopConfig, running it and shipping the exported weights."""

from __future__ import annotations

import argparse
import os
import shutil
from collections.abc import Sequence

from tfstyle.precision import POLICIES
from training.data import DataConfig
from training.loop import LoopConfig, TrainResult, train


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: must be 1 or more")
    return value


def loop_parser(prog: str, description: str | None, *, out: str, steps: int, lr: float, lr_decay: float):
    """A parser with the data, loop and export options every training entry point has."""
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("--data", default=DataConfig().root, help="folder with content/ and style/")
    p.add_argument("--out", default=out)
    p.add_argument("--steps", type=int, default=steps)
    p.add_argument("--batch", type=int, default=8, help="global batch size")
    p.add_argument("--crop", type=int, default=128)
    p.add_argument("--lr", type=float, default=lr)
    p.add_argument("--lr-decay", type=float, default=lr_decay)
    p.add_argument("--clip-norm", type=float, default=10.0)
    p.add_argument("--precision", default="auto", choices=POLICIES)
    p.add_argument("--replicas", type=int, default=1, help="on CPU: split it into N logical devices")
    p.add_argument("--checkpoint-every", type=int, default=200)
    p.add_argument(
        "--sample-every", type=_positive, default=500, help="steps between sample grids in TensorBoard"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--average", type=int, default=1, help="export the mean weights of the last N checkpoints")
    p.add_argument("--ship", action="store_true", help="copy the exported weights into tfstyle/assets")
    p.add_argument("--export-only", action="store_true", help="export the latest checkpoint, no training")
    p.add_argument("--quiet", action="store_true")
    return p


def prepare(args: argparse.Namespace) -> DataConfig:
    """Split the CPU first when asked (before anything initialises the runtime)."""
    from training.distribute import split_cpu

    if args.replicas > 1:
        split_cpu(args.replicas)
    return DataConfig(root=args.data, crop=args.crop, seed=args.seed)


def run(task, args: argparse.Namespace, shipped: Sequence[str]) -> TrainResult:
    """Train (or only export) ``task`` as the options say; with --ship copy exports to ``shipped``."""
    if args.ship and not shipped:  # before training, not after it
        from tfstyle.errors import TfstyleError

        raise TfstyleError(f"--ship: {task.name} has nothing to ship into tfstyle/assets")
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
        average_last=args.average,
        sample_every=args.sample_every,
        seed=args.seed,
        progress=not args.quiet,
    )
    result = train(task, cfg)
    print(
        f"{task.name}: step {result.step}, {result.images_per_second:.2f} img/s, {result.precision}, "
        f"{result.replicas} replica(s), {task.skipped_files} unreadable files skipped, "
        f"exported {', '.join(result.exported)}"
    )
    if args.ship and result.exported:
        for src, dst in zip(result.exported, shipped, strict=True):
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copyfile(src, dst)
            print(f"shipped {dst}")
    return result


def main_guard(main) -> None:
    """Run ``main`` turning user errors into one line and exit code 2."""
    import sys

    from tfstyle.errors import guarded

    sys.exit(guarded("training", main))
