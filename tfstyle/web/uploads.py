"""Uploads checked on the server: size, image type and pixel count, each a one-line message.

The checks read the header only (:func:`tfstyle.images.probe_image`, which shares
``load_image``'s checks), so a wrong or oversized file is refused before any decoding; the full
decode happens later in a worker, at the output size. Messages name the file as the user called
it, never the server's temp path.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from tfstyle.errors import ImageError, TfstyleError
from tfstyle.web.config import ACCEPTED_FORMATS, IMAGE_EXTENSIONS, ServeConfig

CHUNK = 1 << 20


class UploadError(TfstyleError):
    """An upload or form field the server refuses; the message is shown in the page."""


def display_name(filename: str | None, fallback: str) -> str:
    """The client's file name, reduced to something safe to echo in a message."""
    name = os.path.basename((filename or "").replace("\\", "/"))
    name = re.sub(r"[\x00-\x1f\x7f<>]", "", name).strip()
    return (name[:77] + "...") if len(name) > 80 else (name or fallback)


async def save_upload(upload, dest: Path, name: str, config: ServeConfig) -> None:
    """Copy a Starlette ``UploadFile`` to ``dest``, refusing it once it passes the size limit."""
    limit = config.max_upload_bytes
    if upload.size is not None and upload.size > limit:
        raise UploadError(_too_big(name, upload.size, config))
    written = 0
    with open(dest, "wb") as fh:
        while chunk := await upload.read(CHUNK):
            written += len(chunk)
            if written > limit:
                raise UploadError(_too_big(name, written, config, at_least=True))
            fh.write(chunk)
    if written == 0:
        raise UploadError(f"{name}: empty file")


def _too_big(name: str, size: int, config: ServeConfig, at_least: bool = False) -> str:
    more = "more than " if at_least else ""
    return f"{name}: file is {more}{size / 1048576:.1f} MB; the limit is {config.max_upload_mb:g} MB"


def check_image(path: Path, name: str, config: ServeConfig) -> tuple[int, int]:
    """(width, height) of an accepted image; :class:`UploadError` for any other file."""
    from tfstyle.images import probe_image

    try:
        fmt, (width, height) = probe_image(path)
    except ImageError as exc:
        raise UploadError(f"{name}: {exc.reason}") from None
    if fmt not in ACCEPTED_FORMATS:
        kinds = ", ".join(ACCEPTED_FORMATS.values())
        raise UploadError(f"{name}: {fmt} images are not accepted; use {kinds}")
    if width * height > config.max_pixels:
        raise UploadError(
            f"{name}: image is {width}x{height} px ({width * height / 1e6:.1f} MP); "
            f"the limit is {config.max_pixels / 1e6:g} MP"
        )
    return width, height


def saved_styles(folder: Path | None) -> dict[str, Path]:
    """Image files directly in the styles folder, by name (the only names a request may pick)."""
    if folder is None or not folder.is_dir():
        return {}
    found = {}
    for entry in sorted(folder.iterdir()):
        if entry.is_file() and not entry.name.startswith(".") and entry.suffix.lower() in IMAGE_EXTENSIONS:
            found[entry.name] = entry
    return found


def parse_float(text: str | None, what: str, default: float, low: float, high: float) -> float:
    if text is None or str(text).strip() == "":
        return default
    try:
        value = float(text)
    except ValueError:
        raise UploadError(f"{what} must be a number, not {str(text)[:40]!r}") from None
    if not low <= value <= high:  # also refuses NaN
        raise UploadError(f"{what} must be between {low:g} and {high:g}, not {value:g}")
    return value


def parse_weights(text: str | None, n: int) -> list[float]:
    """Blend weights, one per style in the order the styles were sent; empty = equal."""
    if text is None or not str(text).strip():
        return [1.0] * n
    try:
        weights = [float(w) for w in str(text).split(",")]
    except ValueError:
        raise UploadError(f"blend weights {str(text)[:60]!r}: expected numbers separated by commas") from None
    if len(weights) != n:
        raise UploadError(f"{len(weights)} blend weights for {n} styles")
    if any(not w >= 0 for w in weights) or sum(weights) <= 0:
        raise UploadError("blend weights must be non-negative and not all zero")
    return weights
