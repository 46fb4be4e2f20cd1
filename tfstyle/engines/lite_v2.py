"""The ``tflite_v2`` engine: student v2's INT8 encoder and decoder on LiteRT with the AdaIN
statistics in float NumPy between them (no TensorFlow). Codes are cached per style image, as an
app computes a style once and reuses it for every photo."""

from __future__ import annotations

import os
from collections import OrderedDict

import numpy as np

from tfstyle import style_codes
from tfstyle.assets import STUDENT_V2_DECODER_TFLITE, STUDENT_V2_ENCODER_TFLITE
from tfstyle.engines.lite import LiteModel, _image_key
from tfstyle.engines.student_v2 import StudentV2Engine
from tfstyle.errors import WeightsError
from tfstyle.images import as_batch
from tfstyle.tiling import pad_to_multiple

__all__ = ["LiteStudentV2", "TfliteV2Engine", "default_v2_paths"]


def default_v2_paths() -> tuple[str, str]:
    """``$TFSTYLE_TFLITE_V2_ENCODER`` / ``$TFSTYLE_TFLITE_V2_DECODER`` if set, else the shipped INT8 files."""
    return (
        os.environ.get("TFSTYLE_TFLITE_V2_ENCODER") or STUDENT_V2_ENCODER_TFLITE,
        os.environ.get("TFSTYLE_TFLITE_V2_DECODER") or STUDENT_V2_DECODER_TFLITE,
    )


class LiteStudentV2:
    """Encoder + decoder .tflite pair with the :class:`tfstyle.models.student_v2.StudentV2` interface."""

    def __init__(self, encoder=None, decoder=None, threads: int | None = None, cache_size: int = 32):
        default = default_v2_paths()
        self.encoder = LiteModel(encoder or default[0], "encoder", threads)
        self.decoder = LiteModel(decoder or default[1], "decoder", threads)
        self.taps = tuple(self.encoder.meta["taps"])
        self.channels = tuple(int(c) for c in self.encoder.meta["tap_channels"])
        if tuple(self.decoder.meta["tap_channels"]) != self.channels:
            raise WeightsError(f"{self.decoder.path}: does not decode the taps of {self.encoder.path}")
        self.multiple = int(self.decoder.meta["multiple"])
        # decoders exported before it was taken out of the graph upsample the residual themselves
        self.residual_scale = int(self.decoder.meta.get("residual_scale", 1))
        self._cache: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._cache_size = cache_size

    def encode(self, image: np.ndarray) -> list[np.ndarray]:
        """One image [H, W, 3] (H, W multiples of ``multiple``) -> its taps, float32."""
        out = self.encoder.run(image=image[None])
        return [out[name][0] for name in self.taps]

    def _one_code(self, image: np.ndarray) -> np.ndarray:
        key = _image_key(image)
        if key not in self._cache:
            self._cache[key] = style_codes.code_of(
                self.encode(pad_to_multiple(image[None], self.multiple)[0])
            )
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        self._cache.move_to_end(key)
        return self._cache[key]

    def style_code(self, style_images) -> np.ndarray:
        return np.stack([self._one_code(image) for image in as_batch(style_images)])

    def stylize(self, content_batch, codes, alpha: float = 1.0) -> np.ndarray:
        content = as_batch(content_batch)
        codes = np.asarray(codes, np.float32).reshape(-1, style_codes.code_dim(self.channels))
        h, w = content.shape[1:3]
        out = []
        for i, image in enumerate(pad_to_multiple(content, self.multiple)):
            taps = self.encode(image)
            own = style_codes.code_of(taps)
            code = codes[i % len(codes)]
            if float(alpha) != 1.0:
                code = style_codes.mix(code, own, alpha)
            restyled = style_codes.restyle(taps, code, own, inplace=True)
            feed = {name: t[None] for name, t in zip(self.taps, restyled)}
            base = style_codes.colour_base(image, code, own, self.channels)
            residual = self.decoder(**feed)[0]
            if self.residual_scale != 1:
                residual = style_codes.upsample(residual, self.residual_scale)
            base += residual if float(alpha) == 1.0 else float(alpha) * residual
            out.append(np.clip(base[:h, :w], 0.0, 1.0, out=base[:h, :w]))
        return np.stack(out) if len(out) > 1 else np.ascontiguousarray(out[0][None])


class TfliteV2Engine(StudentV2Engine):
    """Student v2 on LiteRT: same options, the exported (by default INT8) models."""

    name = "tflite_v2"
    weights_what = (
        "TFLite v2",
        ".tflite",
        "build them with `python -m export.student_v2`",
        "TFSTYLE_TFLITE_V2_",
    )
    runtime = ("ai_edge_litert", "the tflite_v2 engine")

    def __init__(
        self, encoder=None, decoder=None, threads: int | None = None, model: LiteStudentV2 | None = None
    ):
        super().__init__(encoder, decoder, model)
        self.threads = threads

    def default_paths(self) -> tuple[str, str]:
        return default_v2_paths()

    def _load(self, encoder: str, decoder: str) -> LiteStudentV2:
        return LiteStudentV2(encoder, decoder, threads=self.threads)
