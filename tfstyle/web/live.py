"""The web app's Live view: camera frames in over a WebSocket, stylized frames back (``/api/live``).

Protocol: the page opens ``/api/live``, sends one JSON text message ``{"size": 256, "engine":
"tflite", "alpha": 1, "saved": ["udnie.jpg"]}`` and, without saved styles, the style image as one
binary message; then camera frames as binary messages: an 8-byte tag (the page's send time) and
the JPEG. Each answer is the same tag and the stylized frame as JPEG (a dropped frame's answer is
its tag alone), so the page can time every frame and knows which ones will not come; a problem
is a JSON ``{"error": "..."}`` text message and the socket closes.

Frames are **dropped, never queued**: a receiver task keeps only the newest frame that arrived while
the engine was busy. The page keeps at most two frames in flight (one being stylized, the next one
waiting, so the engine never idles while frames travel and the browser encodes and draws), so a
slow server shows fewer frames per second but never falls behind the camera. A closed tab ends the
session at once: the receiver sees the disconnect, the worker stops after the frame in hand (one
engine call), and the session's counters leave :class:`LiveStats`.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from tfstyle.web.config import MIN_OUTPUT

log = logging.getLogger("tfstyle.web")

LIVE_SIZE = 256  # default long side of live frames
MAX_FRAME_BYTES = 4 << 20
TAG_BYTES = 8  # each frame starts with the page's tag, echoed in front of its answer


@dataclass
class LiveStats:
    """Server-wide counters (``GET /api/live``): sessions open now, frames stylized and dropped."""

    sessions: int = 0
    frames: int = 0
    dropped: int = 0

    def as_dict(self) -> dict:
        return {"sessions": self.sessions, "frames": self.frames, "dropped": self.dropped}


class LiveError(Exception):
    """A problem with what the page sent: told to the page in one line, then the socket closes."""


def decode_frame(data: bytes, size: int, what: str = "camera frame") -> np.ndarray:
    """JPEG/PNG bytes -> float RGB with the long side at most ``size`` px."""
    if len(data) > MAX_FRAME_BYTES:
        raise LiveError(f"{what} of {len(data) >> 20} MB is too large")
    try:
        image = Image.open(io.BytesIO(data))
        image.draft("RGB", (size, size))  # JPEG: decode at a reduced scale when much larger
        image = image.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError):
        raise LiveError(f"{what}: not an image") from None
    if max(image.size) > size:
        image.thumbnail((size, size), Image.Resampling.BILINEAR)
    if min(image.size) < 16:
        raise LiveError(f"{what} is {image.size[0]}x{image.size[1]} px; at least 16 px per side")
    return np.asarray(image, np.float32) / 255.0


def encode_frame(image: np.ndarray, quality: int = 85) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.uint8(np.clip(image, 0.0, 1.0) * 255.0 + 0.5)).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


@dataclass
class LiveRequest:
    size: int
    engine: str
    alpha: float
    styles: list[np.ndarray]


async def _read_request(ws: WebSocket, state) -> LiveRequest:
    """The first message (options) and the style: saved styles by name, or one uploaded image."""
    from tfstyle.web.uploads import saved_styles

    config = state.config
    try:
        options = json.loads(await ws.receive_text())
        if not isinstance(options, dict):
            raise ValueError
    except (ValueError, KeyError, TypeError):
        raise LiveError("the first message must be the options as JSON") from None
    size = options.get("size", LIVE_SIZE)
    if not isinstance(size, int) or not MIN_OUTPUT <= size <= config.max_size:
        raise LiveError(f"live size must be a whole number from {MIN_OUTPUT} to {config.max_size} px")
    engine = str(options.get("engine") or ("tflite" if "tflite" in state.engines else config.engine_default))
    if engine not in state.engines:
        raise LiveError(f"engine {engine!r} is not available; choose one of {', '.join(state.engines)}")
    alpha = options.get("alpha", 1.0)
    if not isinstance(alpha, (int, float)) or not 0.0 <= float(alpha) <= 1.0:
        raise LiveError("strength must be between 0 and 1")
    library = saved_styles(config.styles_dir)
    names = [str(n) for n in options.get("saved") or []]
    unknown = [n for n in names if n not in library]
    if unknown:
        raise LiveError(f"no saved style named {unknown[0]!r}")
    if names:
        styles = [decode_frame(library[n].read_bytes(), size, n) for n in names]
    else:
        message = await ws.receive()
        if message.get("bytes") is None:
            raise LiveError("choose a style image (upload one or pick a saved style)")
        styles = [decode_frame(message["bytes"], size, "style image")]
    return LiveRequest(size=size, engine=engine, alpha=float(alpha), styles=styles)


async def live_session(ws: WebSocket, state) -> None:
    """One page's live stream, from accept to close (see the module docstring)."""
    from tfstyle.engines import StylizeConfig

    stats: LiveStats = state.live
    await ws.accept()
    stats.sessions += 1
    slot: list[bytes | None] = [None]
    arrived = asyncio.Event()
    closed = asyncio.Event()

    async def receive() -> None:
        try:
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    return
                data = message.get("bytes")
                if data is None:
                    continue  # text messages after the options are ignored
                if slot[0] is not None:  # the engine is behind: the older frame is dropped, not queued,
                    stats.dropped += 1  # and its tag alone goes back, so the page knows it is not coming
                    await ws.send_bytes(slot[0][:TAG_BYTES])
                slot[0] = data
                arrived.set()
        except WebSocketDisconnect:
            return
        finally:
            closed.set()
            arrived.set()

    receiver = None
    try:
        request = await _read_request(ws, state)
        config = StylizeConfig(alpha=request.alpha, engine=request.engine, size=None).validate()
        receiver = asyncio.create_task(receive())
        loop = asyncio.get_running_loop()
        while True:
            await arrived.wait()
            arrived.clear()
            if closed.is_set():
                break
            data, slot[0] = slot[0], None
            if data is None:
                continue
            if len(data) <= TAG_BYTES:
                raise LiveError("a camera frame must be an 8-byte tag followed by the image")
            tic = time.perf_counter()
            content = decode_frame(data[TAG_BYTES:], request.size)
            out = await loop.run_in_executor(
                None, state.stylizer, content, request.styles, [1.0] * len(request.styles), config, None
            )
            if closed.is_set():
                break
            await ws.send_bytes(data[:TAG_BYTES] + encode_frame(out))
            stats.frames += 1
            log.debug("live frame %.0f ms", 1000 * (time.perf_counter() - tic))
    except LiveError as exc:
        await _fail(ws, str(exc))
    except WebSocketDisconnect:
        pass
    finally:
        if receiver is not None:
            receiver.cancel()
        stats.sessions -= 1


async def _fail(ws: WebSocket, message: str) -> None:
    if ws.client_state == WebSocketState.CONNECTED:
        try:
            await ws.send_text(json.dumps({"error": message}))
            await ws.close(code=1008)
        except (WebSocketDisconnect, RuntimeError):
            pass
