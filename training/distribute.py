"""Strategy selection: all local GPUs, N logical CPU devices, or several workers via TF_CONFIG."""

from __future__ import annotations

import json
import os

from tfstyle._keras import tf


def split_cpu(replicas: int) -> None:
    """Expose the CPU as ``replicas`` logical devices; must run before TensorFlow initialises.

    A no-op when the CPU is already split into at least that many devices.
    """
    cpu = tf.config.list_physical_devices("CPU")[0]
    if replicas > 1 and len(tf.config.get_logical_device_configuration(cpu) or []) < replicas:
        try:
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration()] * replicas
            )
        except RuntimeError as exc:
            raise RuntimeError(
                f"cannot split the CPU into {replicas} replicas after TensorFlow has initialised; "
                "call training.distribute.split_cpu() first"
            ) from exc


def make_strategy(replicas: int = 1) -> tf.distribute.Strategy:
    """MultiWorkerMirrored when TF_CONFIG names a cluster, else Mirrored over GPUs or CPU replicas.

    Even one device goes through MirroredStrategy, so the single-machine path is the distributed one.
    """
    if "TF_CONFIG" in os.environ and json.loads(os.environ["TF_CONFIG"]).get("cluster"):
        return tf.distribute.MultiWorkerMirroredStrategy()
    if tf.config.get_visible_devices("GPU"):  # unlike list_logical_devices, does not initialise TF
        return tf.distribute.MirroredStrategy()
    if replicas > 1:
        split_cpu(replicas)  # before list_logical_devices initialises the runtime
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
