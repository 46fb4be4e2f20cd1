"""The ``tflite`` engine: the student's exported .tflite pair on LiteRT, as a phone app runs it, with
only ai-edge-litert, NumPy and Pillow (importing this module never imports TensorFlow).

* :class:`LiteModel`: one .tflite file exported by tfstyle, checked on load (a clear one-line
  :class:`~tfstyle.errors.WeightsError` for a missing, corrupt or wrong file), run through its named
  signature with (de)quantisation of integer inputs and outputs, any image size.
* :class:`LiteStudent`: predictor + transformer with the interface of
  :class:`tfstyle.models.student.Student` (``style_vector``, ``stylize``); style vectors are cached
  per style image, as an app computes a style once and reuses it for every photo.
* :class:`TfliteEngine`: the ``tfstyle stylize --model tflite`` engine. It is the student engine
  driven by LiteRT, so alpha, blends, masks, colour preservation and tiling all work unchanged.

:mod:`tfstyle.runtime` is the public face of this module.
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict

import numpy as np

from tfstyle import tflite_meta
from tfstyle.assets import STUDENT_PREDICTOR_TFLITE, STUDENT_TRANSFORMER_TFLITE
from tfstyle.engines.base import StylizeConfig
from tfstyle.engines.student import StudentEngine
from tfstyle.errors import WeightsError, require
from tfstyle.images import as_batch
from tfstyle.tiling import pad_to_multiple

__all__ = ["LiteModel", "LiteStudent", "TfliteEngine", "default_paths"]


def default_paths() -> tuple[str, str]:
    """``$TFSTYLE_TFLITE_PREDICTOR`` / ``$TFSTYLE_TFLITE_TRANSFORMER`` if set, else the shipped INT8 files."""
    return (
        os.environ.get("TFSTYLE_TFLITE_PREDICTOR") or STUDENT_PREDICTOR_TFLITE,
        os.environ.get("TFSTYLE_TFLITE_TRANSFORMER") or STUDENT_TRANSFORMER_TFLITE,
    )


class LiteModel:
    """One exported .tflite model (``role`` checked when given) behind its named signature.
    ``threads`` None runs on every core: LiteRT's own default is one thread, which made a video in
    the v2 student's flow mode 3.7 ms a frame slower at 384 px than asked for."""

    def __init__(self, path: str | os.PathLike, role: str | None = None, threads: int | None = None):
        require("ai_edge_litert", "the TFLite runtime")
        from ai_edge_litert.interpreter import Interpreter

        self.path = os.fspath(path)
        if not os.path.isfile(self.path):
            raise WeightsError(f"{self.path}: TFLite model not found")
        with open(self.path, "rb") as fh:
            buf = fh.read()
        try:
            self.meta = tflite_meta.read_metadata(buf)
        except tflite_meta.MetadataError as exc:
            raise WeightsError(f"{self.path}: {exc}") from None
        if role is not None and self.meta["role"] != role:
            raise WeightsError(f"{self.path}: this is a style {self.meta['role']}, expected a style {role}")
        threads = int(threads) if threads else (os.cpu_count() or 1)
        try:
            self.interpreter = Interpreter(model_content=buf, num_threads=threads)
            self.runner = self.interpreter.get_signature_runner(self.meta["signature"])
        except (ValueError, RuntimeError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise WeightsError(f"{self.path}: cannot load the TFLite model ({reason})") from None
        self.inputs = self.runner.get_input_details()
        self.outputs = self.runner.get_output_details()
        self.threads = threads

    @property
    def role(self) -> str:
        return self.meta["role"]

    @property
    def variant(self) -> str:
        return self.meta["variant"]

    @property
    def style_dim(self) -> int:
        return int(self.meta["style_dim"])

    def __call__(self, **inputs: np.ndarray) -> np.ndarray:
        """Float32 inputs by signature name (batch 1) -> the float32 output."""
        feed = {
            name: tflite_meta.quantize(np.asarray(x, np.float32), self.inputs[name])
            for name, x in inputs.items()
        }
        name = self.meta["output"]
        return tflite_meta.dequantize(self.runner(**feed)[name], self.outputs[name])

    def run(self, **inputs: np.ndarray) -> dict[str, np.ndarray]:
        """Like calling the model, but every output by name (the student v2 encoder has three)."""
        feed = {
            name: tflite_meta.quantize(np.asarray(x, np.float32), self.inputs[name])
            for name, x in inputs.items()
        }
        return {
            name: tflite_meta.dequantize(value, self.outputs[name])
            for name, value in self.runner(**feed).items()
        }


def _image_key(image: np.ndarray) -> tuple:
    return (image.shape, hashlib.sha1(np.ascontiguousarray(image).tobytes()).hexdigest())


class LiteStudent:
    """Predictor + transformer .tflite pair with the Keras ``Student`` interface."""

    def __init__(
        self,
        predictor: str | os.PathLike | None = None,
        transformer: str | os.PathLike | None = None,
        threads: int | None = None,
        cache_size: int = 32,
    ):
        default = default_paths()
        self.predictor = LiteModel(predictor or default[0], "predictor", threads)
        self.transformer = LiteModel(transformer or default[1], "transformer", threads)
        if self.predictor.style_dim != self.transformer.style_dim:
            raise WeightsError(
                f"{self.transformer.path}: takes {self.transformer.style_dim}-d style vectors, but "
                f"{self.predictor.path} makes {self.predictor.style_dim}-d ones"
            )
        self.multiple = int(self.transformer.meta["multiple"])
        self._cache: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._cache_size = cache_size

    @property
    def style_dim(self) -> int:
        return self.predictor.style_dim

    def _one_vector(self, image: np.ndarray) -> np.ndarray:
        key = _image_key(image)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        vector = self.predictor(style_image=image[None])[0]
        self._cache[key] = vector
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return vector

    def style_vector(self, style_images) -> np.ndarray:
        """Style images [B, H, W, 3] (or one [H, W, 3]) in [0, 1] -> vectors [B, D]; cached per image."""
        images = as_batch(style_images)
        return np.stack([self._one_vector(image) for image in images])

    def stylize(self, content_batch, vectors) -> np.ndarray:
        """Content [B, H, W, 3] in [0, 1] and vectors [B, D] (or one [D]) -> [B, H, W, 3] in [0, 1]."""
        content = as_batch(content_batch)
        vectors = np.asarray(vectors, np.float32).reshape(-1, self.style_dim)
        if len(vectors) == 1 and len(content) > 1:
            vectors = np.repeat(vectors, len(content), axis=0)
        if len(vectors) != len(content):
            raise ValueError(f"{len(vectors)} style vectors for {len(content)} images")
        h, w = content.shape[1:3]
        padded = pad_to_multiple(content, self.multiple)
        out = [
            self.transformer(content_image=image[None], style_vector=vector[None])[0]
            for image, vector in zip(padded, vectors)
        ]
        return np.stack(out)[:, :h, :w, :]


class TfliteEngine(StudentEngine):
    """The student engine on LiteRT: same options, the exported (by default INT8) models."""

    name = "tflite"
    weights_what = ("TFLite", ".tflite", "build them with `make export-tflite`", "TFSTYLE_TFLITE_")
    runtime = ("ai_edge_litert", "the tflite engine")

    def __init__(
        self,
        predictor: str | os.PathLike | None = None,
        transformer: str | os.PathLike | None = None,
        threads: int | None = None,
        student: LiteStudent | None = None,
    ):
        super().__init__(predictor, transformer, student)
        self.threads = threads
        self._loaded: tuple[tuple | None, LiteStudent | None] = (None, None)

    @property
    def paths(self) -> tuple[str, str]:
        return tuple(os.path.abspath(p or d) for p, d in zip(self._paths, default_paths()))

    @property
    def student(self) -> LiteStudent:
        """The given ``LiteStudent``, else one for the current paths and threads: the engine is one
        per process, so a changed ``$TFSTYLE_TFLITE_*`` must load the new files, not reuse the old."""
        if self._student is not None:
            return self._student
        key = (self.paths, self.threads)
        if self._loaded[0] != key:
            self.check(StylizeConfig())
            self._loaded = (key, LiteStudent(*self.paths, threads=self.threads))
        return self._loaded[1]
