"""Mixed-precision policy selection.

``auto`` picks the policy that is fastest on the hardware at hand: bfloat16 on CPUs with native
BF16 (float16 is emulated and slow there), float16 on GPUs (tensor cores), float32 otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from tfstyle.errors import TfstyleError

POLICIES = ("auto", "float32", "mixed_bfloat16", "mixed_float16")


def cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def choose_policy(name: str = "auto", *, gpus: int | None = None, flags: Iterable[str] | None = None) -> str:
    """Resolve a policy name; ``gpus`` and ``flags`` can be given so the choice is testable."""
    if name not in POLICIES:
        raise TfstyleError(f"unknown precision policy {name!r}; choose one of {', '.join(POLICIES)}")
    if name != "auto":
        return name
    if gpus is None:
        from tfstyle._keras import tf

        gpus = len(tf.config.list_physical_devices("GPU"))
    if gpus > 0:
        return "mixed_float16"
    flags = cpu_flags() if flags is None else set(flags)
    if flags & {"avx512_bf16", "amx_bf16"}:
        return "mixed_bfloat16"
    return "float32"


def inference_precision() -> str:
    """The Keras policy the teacher runs in: ``$TFSTYLE_PRECISION``, else ``auto``.

    Why: on CPUs with native BF16 (AMX/AVX512-BF16) ``mixed_bfloat16`` runs the VGG encoder and
    decoders about 2.5x faster than float32, and the pictures differ by less than the 8-bit PNG step
    can show (52-60 dB PSNR at 512 px); elsewhere ``auto`` stays float32. Statistics, WCT and the
    transforms always run in float32/float64 (features are cast before them)."""
    return choose_policy(os.environ.get("TFSTYLE_PRECISION") or "auto", gpus=0)


def set_policy(name: str = "auto") -> str:
    """Set the global Keras policy and return the resolved name (build models after this)."""
    from tfstyle._keras import keras

    resolved = choose_policy(name)
    keras.mixed_precision.set_global_policy(resolved)
    return resolved


class policy_scope:
    """Build models under a policy without leaking it into the rest of the process."""

    def __init__(self, name: str = "auto"):
        self.name = choose_policy(name)

    def __enter__(self) -> str:
        from tfstyle._keras import keras

        self._previous = keras.mixed_precision.global_policy().name
        keras.mixed_precision.set_global_policy(self.name)
        return self.name

    def __exit__(self, *exc) -> None:
        from tfstyle._keras import keras

        keras.mixed_precision.set_global_policy(self._previous)
