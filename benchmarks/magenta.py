"""Magenta's arbitrary-stylization TFLite models (../shared/peers), run the way a phone app runs
them: style image resized to 256x256 for the predictor, content resized to the transfer model's
fixed 384x384 input, output resized back to the content's size."""

from __future__ import annotations

import hashlib
import os

import numpy as np

PEERS = os.environ.get(
    "TFSTYLE_PEERS", os.path.join(os.environ.get("TFSTYLE_DATA", "../shared/data"), "..", "peers")
)
PREDICTOR_INT8 = "magenta_arbitrary-image-stylization-v1-256_int8_prediction_1.tflite"
TRANSFER_INT8 = "magenta_arbitrary-image-stylization-v1-256_int8_transfer_1.tflite"
TRANSFER_FP16 = "style_transfer_v2_fp16.tflite"


def _resize(image: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    import cv2

    h, w = hw
    interp = cv2.INTER_AREA if h * w < image.shape[0] * image.shape[1] else cv2.INTER_CUBIC
    return np.clip(cv2.resize(image, (w, h), interpolation=interp), 0, 1).astype(np.float32)


class Magenta:
    """Predictor + transfer interpreter pair; ``transfer`` picks the INT8 or FP16 transform net."""

    def __init__(self, transfer: str = TRANSFER_INT8, threads: int = 1, peers: str = PEERS):
        from ai_edge_litert.interpreter import Interpreter

        self.predictor = Interpreter(os.path.join(peers, PREDICTOR_INT8), num_threads=threads)
        self.transformer = Interpreter(os.path.join(peers, transfer), num_threads=threads)
        self.predictor.allocate_tensors()
        self.transformer.allocate_tensors()
        self.style_size = tuple(self.predictor.get_input_details()[0]["shape"][1:3])
        self.content_size = tuple(self.transformer.get_input_details()[0]["shape"][1:3])
        self._content_key: tuple | None = None
        self._content_code: np.ndarray | None = None

    def style_vector(self, style: np.ndarray) -> np.ndarray:
        inp = self.predictor.get_input_details()[0]
        self.predictor.set_tensor(inp["index"], _resize(style, self.style_size)[None])
        self.predictor.invoke()
        return self.predictor.get_tensor(self.predictor.get_output_details()[0]["index"]).copy()

    def _content_vector(self, content: np.ndarray) -> np.ndarray:
        """The content's own bottleneck, kept for the last content: a strength sweep asks for it at
        every alpha of the same photo."""
        key = (content.shape, hashlib.sha1(np.ascontiguousarray(content).tobytes()).hexdigest())
        if self._content_key != key:
            self._content_key, self._content_code = key, self.style_vector(content)
        return self._content_code

    def run_transfer(self, content_fixed: np.ndarray, vector: np.ndarray) -> np.ndarray:
        """One invocation on an input already at the model's fixed size (for latency benchmarks)."""
        c_in, v_in = self.transformer.get_input_details()
        self.transformer.set_tensor(c_in["index"], content_fixed[None].astype(np.float32))
        self.transformer.set_tensor(v_in["index"], vector.astype(np.float32))
        self.transformer.invoke()
        return self.transformer.get_tensor(self.transformer.get_output_details()[0]["index"])[0]

    def stylize(self, content: np.ndarray, style: np.ndarray, alpha: float = 1.0) -> np.ndarray:
        """Strength as Magenta's TFLite example sets it: ``alpha`` of the style's bottleneck mixed with
        ``1 - alpha`` of the content's own (the content run through the style predictor)."""
        vector = self.style_vector(style)
        if alpha != 1.0:
            vector = alpha * vector + (1.0 - alpha) * self._content_vector(content)
        out = self.run_transfer(_resize(content, self.content_size), vector)
        return _resize(out, content.shape[:2])
