"""The student v2 engine (``--model student_v2``, Keras): a computed style code (AdaIN statistics
of the student's own features at three scales); :mod:`tfstyle.engines.lite_v2` runs the same
engine on LiteRT. TensorFlow is imported when the engine first runs."""

from __future__ import annotations

import functools
import os

import numpy as np

from tfstyle.assets import STUDENT_V2_DECODER, STUDENT_V2_ENCODER
from tfstyle.engines.base import StylizeConfig
from tfstyle.errors import TfstyleError, WeightsError, require

__all__ = ["StudentV2Engine", "student_v2_paths"]


@functools.lru_cache(maxsize=2)
def _load(encoder: str, decoder: str):
    from tfstyle.models.student_v2 import StudentV2

    return StudentV2(encoder, decoder)


def student_v2_paths() -> tuple[str, str]:
    """``$TFSTYLE_STUDENT_V2_ENCODER`` / ``$TFSTYLE_STUDENT_V2_DECODER`` if set, else the shipped files."""
    return (
        os.environ.get("TFSTYLE_STUDENT_V2_ENCODER") or STUDENT_V2_ENCODER,
        os.environ.get("TFSTYLE_STUDENT_V2_DECODER") or STUDENT_V2_DECODER,
    )


class StudentV2Engine:
    """Student v2: a style code is a float32 array of AdaIN statistics (``StudentV2.cfg.code_dim`` values).

    * ``blend``: linear interpolation of the codes (statistics blend as AdaIN's do).
    * ``alpha``: the code is ``alpha * style + (1 - alpha) * own``, ``own`` being the statistics of
      the tile being stylized, and the decoder's residual is scaled by alpha, so alpha 0 gives the
      content back exactly. Regions,
      tiling and colour preservation go through the generic driver (per-tile statistics).
    """

    name = "student_v2"
    multiple = 8
    roles = ("encoder", "decoder")
    weights_what = ("student v2", ".h5", "train them with `make train-v2`", "TFSTYLE_STUDENT_V2_")
    runtime = ("tensorflow", "the student_v2 engine")

    def __init__(
        self, encoder: str | os.PathLike | None = None, decoder: str | os.PathLike | None = None, model=None
    ):
        self._paths = tuple(os.fspath(p) if p is not None else None for p in (encoder, decoder))
        self._model = model

    def default_paths(self) -> tuple[str, str]:
        return student_v2_paths()

    @property
    def paths(self) -> tuple[str, str]:
        return tuple(os.path.abspath(p or d) for p, d in zip(self._paths, self.default_paths()))

    def check(self, config: StylizeConfig) -> None:
        if config.method not in (None, "adain"):  # None: the engine's own (AdaIN)
            raise TfstyleError(f"method {config.method!r} is for the teacher; {self.name} uses AdaIN")
        if self._model is not None:
            return
        require(*self.runtime)
        model, ext, make, env = self.weights_what
        for what, path in zip(self.roles, self.paths):
            if not os.path.isfile(path):
                raise WeightsError(
                    f"{path}: {model} {what} weights not found ({make}, "
                    f"or point {env}{what.upper()} at a {what} {ext})"
                )

    @property
    def model(self):
        if self._model is None:
            self.check(StylizeConfig())
            self._model = self._load(*self.paths)
        return self._model

    def _load(self, encoder: str, decoder: str):
        return _load(encoder, decoder)

    def style_code(self, style: np.ndarray, config: StylizeConfig) -> np.ndarray:
        return np.asarray(self.model.style_code(np.asarray(style, np.float32)[None])[0], np.float32)

    def blend(self, codes, weights) -> np.ndarray:
        from tfstyle.style_vectors import blend_vectors

        return blend_vectors(codes, weights)

    def stylize_tile(self, tile: np.ndarray, code, config: StylizeConfig) -> np.ndarray:
        return self.model.stylize(np.asarray(tile, np.float32)[None], code, float(config.alpha))[0]
