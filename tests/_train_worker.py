"""Subprocess helper for tests/test_training.py: a few steps of the teacher task through the loop.

Runs in its own process because logical CPU devices, op determinism and MultiWorkerMirrored
(TF_CONFIG) must all be set up before TensorFlow initialises. Writes ``--result`` (JSON: steps,
start step, losses, precision, replica count) and ``--dump DIR`` (every tensor of each kept
checkpoint, decoder weights and Adam state, as DIR/ckpt-N.npz) for the test to compare.

Test-only hooks (by subclassing the task, not in the library):
  * the decoder starts from a fixed numpy initialisation, so every run starts from the same weights;
  * ``--block-at-step K`` stalls the input pipeline before the batch of step K+1, so a run
    deterministically stops after step K (and its checkpoint) until the test SIGKILLs it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--data", default=os.path.join(os.environ.get("TFSTYLE_DATA", ""), "train"))
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--crop", type=int, default=32)
    p.add_argument("--replicas", type=int, default=1)
    p.add_argument("--precision", default="float32")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--checkpoint-every", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--deterministic", action="store_true", help="tf.config op determinism")
    p.add_argument("--block-at-step", type=int, default=None)
    p.add_argument("--result", required=True)
    p.add_argument("--dump", default=None)
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from training.distribute import split_cpu

    if args.replicas > 1:
        split_cpu(args.replicas)

    import numpy as np

    from tfstyle._keras import tf
    from training.data import DataConfig
    from training.loop import LoopConfig, train
    from training.teacher import TeacherTask

    tf.random.set_seed(args.seed)
    if args.deterministic:
        tf.config.experimental.enable_op_determinism()

    class WorkerTask(TeacherTask):
        def build(self) -> None:
            super().build()
            rng = np.random.default_rng(1234)
            weights = []
            for w in self.decoder.get_weights():
                if w.ndim == 4:  # glorot-uniform kernel
                    fan_in, fan_out = np.prod(w.shape[:3]), w.shape[0] * w.shape[1] * w.shape[3]
                    limit = np.sqrt(6.0 / (fan_in + fan_out))
                    weights.append(rng.uniform(-limit, limit, w.shape).astype(w.dtype))
                else:
                    weights.append(np.zeros_like(w))
            # start with outputs near the image range (Keras' default init gives +-400 and losses
            # ~1e13, where float round-off between runs is amplified from the second step on)
            weights[-2] *= 0.01
            self.decoder.set_weights(weights)

        def dataset(self, global_batch: int, start_step: int):
            ds = super().dataset(global_batch, start_step)
            block = args.block_at_step
            if block is None or getattr(self, "_hooked", False):
                return ds
            self._hooked = True  # only the training stream (the loop's first call), not the samples

            def stall(step):
                if int(step) == block:
                    time.sleep(3600)
                return step

            def hook(step, batch):
                done = tf.py_function(stall, [step], tf.int64)
                with tf.control_dependencies([done]):
                    return {k: tf.identity(v) for k, v in batch.items()}

            return ds.enumerate(start_step).map(hook)

    task = WorkerTask(DataConfig(root=args.data, crop=args.crop, seed=args.seed))
    cfg = LoopConfig(
        out_dir=args.out,
        steps=args.steps,
        batch_size=args.batch,
        learning_rate=args.lr,
        precision=args.precision,
        replicas=args.replicas,
        checkpoint_every=args.checkpoint_every,
        sample_every=10**9,
        seed=args.seed,
        progress=False,
    )
    from training.distribute import is_chief, make_strategy

    strategy = make_strategy(args.replicas)
    result = train(task, cfg, strategy)
    report = {
        "step": result.step,
        "start": result.history[0]["step"] - 1 if result.history else result.step,
        "history": result.history,
        "precision": result.precision,
        "replicas": result.replicas,
        "num_replicas_in_sync": strategy.num_replicas_in_sync,
        "strategy": type(strategy).__name__,
        "chief": is_chief(),
        "exported": result.exported,
        "skipped_files": task.skipped_files,
        "out_entries": sorted(os.listdir(args.out)),
    }
    if args.dump and is_chief():  # every checkpoint the run kept, as {dump}/ckpt-N.npz
        os.makedirs(args.dump, exist_ok=True)
        state = tf.train.get_checkpoint_state(os.path.join(args.out, "checkpoints"))
        for path in state.all_model_checkpoint_paths if state else []:
            reader = tf.train.load_checkpoint(path)
            names = [n for n in reader.get_variable_to_shape_map() if n != "_CHECKPOINTABLE_OBJECT_GRAPH"]
            tensors = {n: reader.get_tensor(n) for n in names}
            np.savez(os.path.join(args.dump, os.path.basename(path)), **tensors)
    with open(args.result, "w", encoding="utf-8") as fh:
        json.dump(report, fh)
    print(json.dumps({k: v for k, v in report.items() if k != "history"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
