"""The MobileNetV2 student engine (``--model student``, Keras); :mod:`tfstyle.engines.lite` runs
the same engine on LiteRT. TensorFlow is imported when the engine first runs."""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable, Sequence

import numpy as np

from tfstyle import tiling
from tfstyle.assets import STUDENT_PREDICTOR as _DEFAULT_STUDENT_PREDICTOR
from tfstyle.assets import STUDENT_TRANSFORMER as _DEFAULT_STUDENT_TRANSFORMER
from tfstyle.engines.base import STYLE_MAX, Region, StylizeConfig, render_tiles
from tfstyle.errors import TfstyleError, WeightsError, require

__all__ = ["StudentEngine", "student_paths"]


@functools.lru_cache(maxsize=2)
def _load_student(predictor: str, transformer: str):
    from tfstyle.models.student import Student

    return Student(predictor_weights=predictor, transformer_weights=transformer)


def student_paths() -> tuple[str, str]:
    """``$TFSTYLE_STUDENT_PREDICTOR`` / ``$TFSTYLE_STUDENT_TRANSFORMER`` if set, else the shipped files."""
    return (
        os.environ.get("TFSTYLE_STUDENT_PREDICTOR") or _DEFAULT_STUDENT_PREDICTOR,
        os.environ.get("TFSTYLE_STUDENT_TRANSFORMER") or _DEFAULT_STUDENT_TRANSFORMER,
    )


class StudentEngine:
    """The MobileNetV2 student: a style code is the predictor's style vector (a [D] array).

    * ``blend``: linear interpolation of the vectors (:func:`tfstyle.models.student.blend_vectors`).
    * ``alpha`` (Magenta's convention): the transformer is driven by
      ``alpha * v_style + (1 - alpha) * v_content``, where ``v_content`` is the predictor's vector
      of the content image itself; alpha 0 is the content restyled "as itself".
    * Regions, tiling and colour preservation go through the generic driver (pixel-level region
      blending, per-tile transformer: it has no instance statistics). :meth:`render` only computes
      ``v_content`` once, on the whole content at the styles' resolution, so that every tile and
      region is mixed with the same vector.
    """

    name = "student"
    multiple = 8  # the transformer downsamples three times

    def __init__(
        self,
        predictor: str | os.PathLike | None = None,
        transformer: str | os.PathLike | None = None,
        student=None,
    ):
        self._paths = (
            os.fspath(predictor) if predictor is not None else None,
            os.fspath(transformer) if transformer is not None else None,
        )
        self._student = student

    @property
    def paths(self) -> tuple[str, str]:
        default = student_paths()
        return tuple(os.path.abspath(p or d) for p, d in zip(self._paths, default))

    weights_what = ("student", ".h5", "train them with `make train`", "TFSTYLE_STUDENT_")
    """How a missing file is named: model, file type, how to make it, environment variable prefix."""
    runtime = ("tensorflow", "the student engine")
    """The module the engine runs on, and what needs it (for the one-line install hint)."""

    def check(self, config: StylizeConfig) -> None:
        if config.method not in (None, "adain"):
            raise TfstyleError(
                f"method {config.method!r} is for the teacher; the student has no feature transform"
            )
        if self._student is not None:
            return
        require(*self.runtime)
        model, ext, make, env = self.weights_what
        for what, path in zip(("predictor", "transformer"), self.paths):
            if not os.path.isfile(path):
                raise WeightsError(
                    f"{path}: {model} {what} weights not found ({make}, "
                    f"or point {env}{what.upper()} at a {what} {ext})"
                )

    @property
    def student(self):
        """The given ``Student``, else the one for the current paths (built once per process and pair)."""
        if self._student is not None:
            return self._student
        self.check(StylizeConfig())
        return _load_student(*self.paths)

    def style_code(self, style: np.ndarray, config: StylizeConfig) -> np.ndarray:
        return self.student.style_vector(np.asarray(style, np.float32)[None])[0]

    def content_code(self, content: np.ndarray, config: StylizeConfig) -> np.ndarray:
        """The content's own style vector, at the resolution the styles are described at."""
        long = int(config.style_size or min(max(content.shape[:2]), STYLE_MAX))
        if max(content.shape[:2]) != long:
            from tfstyle.images import resize

            content = resize(content, long)
        return self.style_code(content, config)

    def blend(self, codes, weights) -> np.ndarray:
        from tfstyle.style_vectors import blend_vectors

        return blend_vectors(codes, weights)

    def mix(self, code: np.ndarray, content_code: np.ndarray, alpha: float) -> np.ndarray:
        alpha = float(alpha)
        if alpha == 1.0:
            return np.asarray(code, np.float32)
        return (alpha * np.asarray(code, np.float32) + (1.0 - alpha) * content_code).astype(np.float32)

    def stylize_tile(self, tile: np.ndarray, code, config: StylizeConfig) -> np.ndarray:
        """One tile; with ``alpha < 1`` called directly, ``v_content`` is the tile's own vector."""
        if float(config.alpha) < 1.0:
            code = self.mix(code, self.content_code(tile, config), config.alpha)
        return self.student.stylize(np.asarray(tile, np.float32)[None], code)[0]

    def render(
        self,
        content: np.ndarray,
        regions: Sequence[Region],
        rest: np.ndarray | None,
        config: StylizeConfig,
        plan: tiling.TilePlan | None = None,
        callback: Callable[[int, int], None] | None = None,
    ) -> np.ndarray:
        alpha = float(config.alpha)
        if alpha < 1.0 or any(r.strength < 1.0 for r in regions):
            v_content = self.content_code(content, config)
            mixed = [self.mix(self.blend(r.codes, r.blend), v_content, alpha * r.strength) for r in regions]
            regions = [Region(r.weight, [code], [1.0]) for r, code in zip(regions, mixed)]
            config = dataclasses.replace(config, alpha=1.0)
        return render_tiles(self, content, regions, rest, config, plan, callback)
