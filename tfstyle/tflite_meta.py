"""The ``tfstyle`` metadata entry of our .tflite files, and (de)quantisation of their integer
inputs and outputs: what a runner needs to feed a model.

A phone app (or :mod:`tfstyle.runtime`) must know, without TensorFlow, which model it holds
(predictor or transformer), how pixels are normalised, the style-vector size and the size
multiple of the transformer. The export stores that as one JSON entry named ``tfstyle`` in the
flatbuffer's standard ``metadata`` table; this module writes and reads it with the flatbuffer
schema that ships with ``ai-edge-litert`` (no TensorFlow import).
"""

from __future__ import annotations

import json

import flatbuffers
import numpy as np

KEY = "tfstyle"
FILE_IDENTIFIER = b"TFL3"
FORMAT = 1


class MetadataError(ValueError):
    """The bytes are not a TFLite flatbuffer, or carry no (valid) tfstyle metadata."""


def is_tflite(buf: bytes) -> bool:
    """TFLite flatbuffers carry the identifier ``TFL3`` at bytes 4-8."""
    return len(buf) >= 8 and bytes(buf[4:8]) == FILE_IDENTIFIER


def _schema():
    from ai_edge_litert import schema_py_generated

    return schema_py_generated


def add_metadata(buf: bytes, meta: dict, signature_key: str | None = None) -> bytes:
    """Return ``buf`` with ``meta`` (JSON, sorted keys: byte-reproducible) as its ``tfstyle`` entry,
    and its single signature renamed to ``signature_key`` (the converter calls it serving_default)."""
    if not is_tflite(buf):
        raise MetadataError("not a TFLite flatbuffer")
    schema = _schema()
    model = schema.ModelT.InitFromPackedBuf(bytearray(buf), 0)
    if signature_key is not None:
        if len(model.signatureDefs or []) != 1:
            raise MetadataError("expected exactly one signature to rename")
        model.signatureDefs[0].signatureKey = signature_key
    model.metadata = [m for m in (model.metadata or []) if m.name != KEY.encode()]
    data = schema.BufferT()
    data.data = list(json.dumps(meta, sort_keys=True).encode())
    model.buffers.append(data)
    entry = schema.MetadataT()
    entry.name = KEY
    entry.buffer = len(model.buffers) - 1
    model.metadata.append(entry)
    builder = flatbuffers.Builder(len(buf) + 4096)
    builder.Finish(model.Pack(builder), file_identifier=FILE_IDENTIFIER)
    return bytes(builder.Output())


def read_metadata(buf: bytes) -> dict:
    """The ``tfstyle`` entry of a .tflite flatbuffer; ``MetadataError`` when absent or malformed."""
    if not is_tflite(buf):
        raise MetadataError("not a TFLite flatbuffer")
    schema = _schema()
    try:
        model = schema.Model.GetRootAs(buf, 0)
        for i in range(model.MetadataLength()):
            entry = model.Metadata(i)
            if entry.Name() == KEY.encode():
                raw = model.Buffers(entry.Buffer()).DataAsNumpy().tobytes()
                meta = json.loads(raw.decode())
                break
        else:
            raise MetadataError("no tfstyle metadata (not a model exported by tfstyle)")
    except MetadataError:
        raise
    except Exception as exc:  # truncated or corrupt flatbuffer
        raise MetadataError(f"corrupt TFLite flatbuffer ({type(exc).__name__})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("role") not in ROLES:
        raise MetadataError("unsupported tfstyle metadata")
    return meta


ROLES = ("predictor", "transformer", "encoder", "decoder")  # encoder/decoder: student v2


def quantize(x: np.ndarray, detail: dict) -> np.ndarray:
    """Float values -> what an input tensor of ``detail`` (interpreter details) takes."""
    dtype = detail["dtype"]
    if np.issubdtype(dtype, np.floating):
        return x.astype(dtype, copy=False)
    scale, zero = detail["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale + zero), info.min, info.max).astype(dtype)


def dequantize(q: np.ndarray, detail: dict) -> np.ndarray:
    """An output tensor's values (of ``detail``) -> float32."""
    if np.issubdtype(q.dtype, np.floating):
        return q.astype(np.float32, copy=False)
    scale, zero = detail["quantization"]
    return ((q.astype(np.float32) - zero) * scale).astype(np.float32)
