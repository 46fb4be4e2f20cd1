"""Strategy selection: all local GPUs, N logical CPU devices, or several workers via TF_CONFIG."""

from __future__ import annotations

import json
import os

from tfstyle._keras import tf


def split_cpu(replicas: int) -> None:
    """Expose the CPU as ``replicas`` logical devices; must run before TensorFlow initialises."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    if replicas > 1:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * replicas)


def make_strategy(replicas: int = 1) -> tf.distribute.Strategy:
    """MultiWorkerMirrored when TF_CONFIG names a cluster, else Mirrored over GPUs or CPU replicas.

    Even one device goes through MirroredStrategy, so the single-machine path is the distributed one.
    """
    if "TF_CONFIG" in os.environ and json.loads(os.environ["TF_CONFIG"]).get("cluster"):
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if gpus:
        return tf.distribute.MirroredStrategy()
    if replicas > 1:
        if len(tf.config.list_logical_devices("CPU")) < replicas:
            split_cpu(replicas)
        devices = [d.name for d in tf.config.list_logical_devices("CPU")][:replicas]
        return tf.distribute.MirroredStrategy(devices, cross_device_ops=tf.distribute.ReductionToOneDevice())
    return tf.distribute.MirroredStrategy(["/cpu:0"])


def is_chief() -> bool:
    """Only the chief writes checkpoints' final exports, summaries and sample grids."""
    cfg = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
    task = cfg.get("task", {})
    return (
        not cfg.get("cluster")
        or task.get("type") in (None, "chief")
        or (task.get("type") == "worker" and task.get("index", 0) == 0 and "chief" not in cfg["cluster"])
    )
