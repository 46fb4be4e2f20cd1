"""One distributed, mixed-precision, resumable training loop shared by the teacher and student.

A task supplies its models, losses, data and samples (see :class:`Task`); this module owns the
strategy, precision policy, optimizer, LR schedule, gradient clipping, checkpoints (atomic, resumed
with optimizer state and data position), TensorBoard, the progress bar and the final sample grid.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from tfstyle._keras import keras, tf
from tfstyle.precision import choose_policy
from training.distribute import is_chief, make_strategy


@dataclass
class LoopConfig:
    out_dir: str = "runs/train"
    steps: int = 2000
    batch_size: int = 8  # global batch, split over replicas
    learning_rate: float = 1e-4
    lr_decay: float = 5e-5  # inverse-time decay per step, as in AdaIN: lr / (1 + decay * step)
    clip_norm: float = 10.0
    precision: str = "auto"
    replicas: int = 1
    checkpoint_every: int = 200
    log_every: int = 20
    sample_every: int = 500
    keep_checkpoints: int = 3
    average_last: int = 1  # export the mean weights of the last N checkpoints (1: the final ones)
    seed: int = 0
    progress: bool = True
    extra: dict = field(default_factory=dict)


class Task(Protocol):
    """What a model family plugs into the loop."""

    name: str

    def build(self) -> None: ...  # create models (called inside the strategy scope)

    def trainable_variables(self) -> list: ...

    def checkpoint_objects(self) -> dict: ...  # trackables to save besides optimizer and step

    def dataset(self, global_batch: int, start_step: int) -> tf.data.Dataset: ...

    def losses(self, batch: dict, training: bool) -> dict: ...  # float32 scalars incl. 'total'

    def samples(self, batch: dict) -> list[list[np.ndarray]]: ...  # rows of images for a grid

    def export(self, out_dir: str) -> list[str]: ...  # write final artefacts, return their paths


@dataclass
class TrainResult:
    step: int
    history: list[dict]
    images_per_second: float
    precision: str
    replicas: int
    exported: list[str]
    wall_seconds: float


def train(task: Task, cfg: LoopConfig, strategy: tf.distribute.Strategy | None = None) -> TrainResult:
    """Train ``task`` under ``cfg``; the global Keras policy is restored afterwards."""
    previous = keras.mixed_precision.global_policy().name
    try:
        return _train(task, cfg, strategy)
    finally:
        keras.mixed_precision.set_global_policy(previous)


def _train(task: Task, cfg: LoopConfig, strategy: tf.distribute.Strategy | None) -> TrainResult:
    policy = choose_policy(cfg.precision)
    keras.mixed_precision.set_global_policy(policy)
    strategy = strategy or make_strategy(cfg.replicas)
    replicas = strategy.num_replicas_in_sync
    if cfg.batch_size % replicas:
        raise ValueError(f"global batch {cfg.batch_size} is not divisible by {replicas} replicas")
    chief = is_chief()
    with strategy.scope():
        task.build()
        schedule = keras.optimizers.schedules.InverseTimeDecay(cfg.learning_rate, 1, cfg.lr_decay)
        optimizer = keras.optimizers.Adam(schedule)
        if policy == "mixed_float16":
            optimizer = keras.mixed_precision.LossScaleOptimizer(optimizer)
        step_var = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        ckpt = tf.train.Checkpoint(optimizer=optimizer, step=step_var, **task.checkpoint_objects())
    chief_dir = checkpoint_dir(cfg.out_dir)
    ckpt_dir = chief_dir
    if not chief:  # every worker must save (MWMS), but only the chief's checkpoints count
        ckpt_dir = os.path.join(cfg.out_dir, f"worker_tmp_{os.getpid()}")
    keep = max(cfg.keep_checkpoints, cfg.average_last)
    manager = tf.train.CheckpointManager(ckpt, ckpt_dir, max_to_keep=keep)
    latest = latest_checkpoint(cfg.out_dir)  # all workers resume from the chief's step
    if latest:
        ckpt.restore(latest).expect_partial()
    start = int(step_var.numpy())
    variables = task.trainable_variables()

    def replica_step(batch):
        with tf.GradientTape() as tape:
            terms = task.losses(batch, training=True)
            loss = terms["total"] / replicas
            if isinstance(optimizer, keras.mixed_precision.LossScaleOptimizer):
                loss = optimizer.get_scaled_loss(loss)
        grads = tape.gradient(loss, variables)
        if isinstance(optimizer, keras.mixed_precision.LossScaleOptimizer):
            grads = optimizer.get_unscaled_gradients(grads)
        grads = tf.distribute.get_replica_context().all_reduce("sum", grads)
        grads, norm = tf.clip_by_global_norm(grads, cfg.clip_norm)
        optimizer.apply_gradients(zip(grads, variables), skip_gradients_aggregation=True)
        terms = {k: v for k, v in terms.items() if v.shape.rank == 0}
        terms["grad_norm"] = norm
        return terms

    @tf.function
    def train_step(batch):
        per_replica = strategy.run(replica_step, args=(batch,))
        out = {k: strategy.reduce("mean", v, axis=None) for k, v in per_replica.items()}
        step_var.assign_add(1)
        return out

    history: list[dict] = []
    exported: list[str] = []
    t0 = time.perf_counter()
    timed_images, timed_seconds = 0, 0.0
    if start < cfg.steps:
        ds = task.dataset(cfg.batch_size, start)
        sample_batch = next(iter(task.dataset(min(cfg.batch_size, 4), 0)))
        dist = iter(strategy.experimental_distribute_dataset(ds))
        writer = tf.summary.create_file_writer(os.path.join(cfg.out_dir, "tensorboard")) if chief else None
        bar = _bar(cfg, start, task.name)
        last = time.perf_counter()
        for step in range(start, cfg.steps):
            terms = {k: float(v) for k, v in train_step(next(dist)).items()}
            now = time.perf_counter()
            if step > start + 1:  # skip tracing steps in the throughput
                timed_images += cfg.batch_size
                timed_seconds += now - last
            last = now
            terms["step"] = step + 1
            history.append(terms)
            ips = timed_images / timed_seconds if timed_seconds else 0.0
            if bar is not None:
                bar.update(1)
                bar.set_postfix(
                    {k: f"{v:.3g}" for k, v in terms.items() if k in ("total", "content", "style")}
                    | {"img/s": f"{ips:.1f}"},
                    refresh=False,
                )
            done = step + 1
            if writer is not None and (done % cfg.log_every == 0 or done == cfg.steps):
                with writer.as_default(step=done):
                    for k, v in terms.items():
                        if k != "step":
                            tf.summary.scalar(f"loss/{k}", v)
                    tf.summary.scalar("images_per_second", ips)
                    tf.summary.scalar("learning_rate", float(schedule(done)))
            if writer is not None and (done % cfg.sample_every == 0 or done == cfg.steps):
                with writer.as_default(step=done):
                    tf.summary.image("samples", _grid(task.samples(sample_batch))[None], max_outputs=1)
            if done % cfg.checkpoint_every == 0 or done == cfg.steps:
                manager.save(checkpoint_number=done)
        if bar is not None:
            bar.close()
        if writer is not None:
            writer.flush()
        if chief:
            from tfstyle.images import save_image

            save_image(os.path.join(cfg.out_dir, "samples.png"), _grid(task.samples(sample_batch)))
    if chief:
        if cfg.average_last > 1:
            average_checkpoints(task, tf.train.get_checkpoint_state(chief_dir), cfg.average_last)
        exported = task.export(cfg.out_dir)
    else:  # the scratch checkpoints were only written because MWMS needs every worker to save
        shutil.rmtree(ckpt_dir, ignore_errors=True)
    ips = timed_images / timed_seconds if timed_seconds else float("nan")
    return TrainResult(
        int(step_var.numpy()), history, ips, policy, replicas, exported, time.perf_counter() - t0
    )


def checkpoint_dir(out_dir: str) -> str:
    """Where a run in ``out_dir`` keeps its (the chief's) checkpoints."""
    return os.path.join(out_dir, "checkpoints")


def latest_checkpoint(out_dir: str) -> str | None:
    """The newest checkpoint of the run in ``out_dir``; None when the run has not started."""
    return tf.train.latest_checkpoint(checkpoint_dir(out_dir))


def average_checkpoints(task: Task, state, n: int) -> None:
    """Load the mean of the last ``n`` checkpoints' model weights into ``task``'s models.

    At a low learning rate the weights wander around a plateau from one checkpoint to the next;
    their mean (stochastic weight averaging) sits nearer its centre than any one of them.
    BatchNorm statistics are averaged along with the weights.
    """
    from tfstyle.errors import TfstyleError

    paths = list(state.all_model_checkpoint_paths)[-n:] if state else []
    if len(paths) < n:
        raise TfstyleError(f"--average {n}: the run has only {len(paths)} checkpoint(s) to average")
    models = {k: v for k, v in task.checkpoint_objects().items() if isinstance(v, keras.Model)}
    sums: dict[str, list[np.ndarray]] = {}
    for path in paths:
        tf.train.Checkpoint(**models).restore(path).expect_partial()
        for name, model in models.items():
            weights = model.get_weights()
            sums[name] = weights if name not in sums else [a + b for a, b in zip(sums[name], weights)]
    for name, model in models.items():
        model.set_weights([w / n for w in sums[name]])
    print(f"{task.name}: exporting the mean of {n} checkpoints: {', '.join(map(os.path.basename, paths))}")


def _bar(cfg: LoopConfig, start: int, name: str):
    if not cfg.progress:
        return None
    from tfstyle.progress import progress

    return progress(total=cfg.steps, initial=start, desc=name, unit="step")


def _grid(rows: list[list[np.ndarray]]) -> np.ndarray:
    """Rows of equally sized images -> one float image (for TensorBoard and samples.png)."""
    return np.concatenate([np.concatenate([np.asarray(i, np.float32) for i in row], 1) for row in rows], 0)
