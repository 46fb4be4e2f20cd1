"""Representative inputs for int8 ranges, shared by QAT's range initialisation and by TFLite's
post-training calibration, so both see the same images at the same size."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Calibration:
    """Which train images set the int8 ranges: ``count`` of them from ``root`` at long side ``size``
    (the deployment size: ranges from small training crops would clip full images)."""

    root: str
    count: int = 32
    size: int = 384


@functools.lru_cache(maxsize=4)
def _images(folder: str, count: int, size: int) -> tuple[np.ndarray, ...]:
    """``count`` images spread evenly over the sorted folder (deterministic), long side ``size``.

    Cached: ``python -m export`` calibrates QAT and then PTQ on the same set in one process."""
    from tfstyle.errors import TfstyleError
    from tfstyle.images import load_image

    names = sorted(os.listdir(folder))
    picked, step = [], max(1, len(names) // count)
    for name in names[::step]:
        try:
            picked.append(load_image(os.path.join(folder, name), size=size))
        except TfstyleError:
            continue  # unreadable files are skipped, as in training
        if len(picked) == count:
            break
    return tuple(picked)


def calibration_sets(student, root: str, count: int, size: int) -> dict:
    """Representative inputs for each role, as ``() -> iterable of {input name: array}``."""
    from tfstyle.models.student import MULTIPLE
    from tfstyle.tiling import pad_to_multiple

    contents = _images(os.path.join(root, "content"), count, size)
    styles = _images(os.path.join(root, "style"), count, size)
    vectors = [student.style_vector(s)[0] for s in styles]

    def predictor():
        for s in styles:
            yield {"style_image": s[None]}

    def transformer():
        for i, c in enumerate(contents):
            yield {
                "content_image": pad_to_multiple(c[None], MULTIPLE),
                "style_vector": vectors[i % len(vectors)][None],
            }

    return {"predictor": predictor, "transformer": transformer}
