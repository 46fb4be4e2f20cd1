"""Contact sheets: grids of images with column titles (and optional row labels) as one PNG.

Every cell is the image scaled to fit ``cell`` x ``cell`` (aspect kept) and centred on white.
Layout, in pixels, for ``R`` rows and ``C`` columns (see :func:`sheet_size`)::

    width  = label_width + C * cell + (C + 1) * GAP
    height = TITLE_HEIGHT + R * cell + (R + 1) * GAP

where ``label_width`` is 0 without row labels. Images are numpy arrays (float in [0,1] or uint8,
HxWx3 or HxW) or paths, which are loaded with :func:`tfstyle.images.load_image`.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from tfstyle.files import atomic_path

__all__ = ["GAP", "TITLE_HEIGHT", "contact_sheet", "sheet_size", "strip"]

GAP = 4
TITLE_HEIGHT = 18
_WHITE = (255, 255, 255)
_INK = (0, 0, 0)


@functools.lru_cache(maxsize=1)
def _font():
    return ImageFont.load_default()


def _text_width(draw: ImageDraw.ImageDraw, text: str) -> int:
    return int(np.ceil(draw.textlength(text, font=_font())))


def _draw_centred_v(draw: ImageDraw.ImageDraw, x: int, y_centre: int, text: str) -> None:
    """Draw ``text`` from ``x`` with its ink vertically centred on ``y_centre`` (works for any font)."""
    if not text:
        return
    _, top, _, bottom = draw.textbbox((0, 0), text, font=_font())
    draw.text((x, y_centre - (top + bottom) // 2), text, fill=_INK, font=_font())


def _fit_text(draw: ImageDraw.ImageDraw, text: str, width: int) -> str:
    """``text`` shortened with '...' so it fits ``width`` pixels."""
    if _text_width(draw, text) <= width:
        return text
    while text and _text_width(draw, text + "...") > width:
        text = text[:-1]
    return text + "..." if text else ""


def _to_pil(image) -> Image.Image:
    if isinstance(image, (str, os.PathLike)):
        from tfstyle.images import load_image

        image = load_image(image)
    arr = np.asarray(image)
    if arr.ndim == 4 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    if arr.ndim != 3 or arr.shape[-1] not in (3, 4):
        raise ValueError(f"expected an HxWx3 image, got shape {arr.shape}")
    arr = arr[..., :3]
    if arr.dtype != np.uint8:
        arr = np.round(np.clip(arr.astype(np.float32), 0.0, 1.0) * 255.0).astype(np.uint8)
    return Image.fromarray(np.ascontiguousarray(arr), "RGB")


def _letterbox(image, cell: int) -> Image.Image:
    pil = _to_pil(image)
    w, h = pil.size
    scale = cell / max(w, h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if size != pil.size:
        pil = pil.resize(size, Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", (cell, cell), _WHITE)
    canvas.paste(pil, ((cell - size[0]) // 2, (cell - size[1]) // 2))
    return canvas


def _label_width(labels: Sequence[str] | None, cell: int) -> int:
    if not labels:
        return 0
    draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    widest = max(_text_width(draw, str(label)) for label in labels)
    return min(widest + GAP, 2 * cell)


def sheet_size(n_rows: int, n_cols: int, cell: int = 192, row_labels: Sequence[str] | None = None):
    """``(width, height)`` in pixels of a sheet with this many rows and columns."""
    width = _label_width(row_labels, cell) + n_cols * cell + (n_cols + 1) * GAP
    return width, TITLE_HEIGHT + n_rows * cell + (n_rows + 1) * GAP


def contact_sheet(
    rows_of_images: Sequence[Sequence],
    column_titles: Sequence[str],
    path: str | os.PathLike | None,
    cell: int = 192,
    row_labels: Sequence[str] | None = None,
) -> np.ndarray:
    """Write (atomically, as PNG) and return a grid with one row per entry of ``rows_of_images``.

    Rows may be shorter than ``column_titles`` (their missing cells stay white); ``None`` entries
    are blank cells. ``path=None`` only returns the sheet as uint8 HxWx3.
    """
    if cell < 8:
        raise ValueError("cell must be at least 8 pixels")
    n_cols = len(column_titles)
    if any(len(r) > n_cols for r in rows_of_images):
        raise ValueError(f"a row has more images than the {n_cols} column titles")
    if row_labels is not None and len(row_labels) != len(rows_of_images):
        raise ValueError("row_labels needs one label per row")
    label_w = _label_width(row_labels, cell)
    width, height = sheet_size(len(rows_of_images), n_cols, cell, row_labels)
    sheet = Image.new("RGB", (width, height), _WHITE)
    draw = ImageDraw.Draw(sheet)

    def x_of(col: int) -> int:
        return label_w + GAP + col * (cell + GAP)

    for col, title in enumerate(column_titles):
        text = _fit_text(draw, str(title), cell)
        x = x_of(col) + (cell - _text_width(draw, text)) // 2
        _draw_centred_v(draw, x, TITLE_HEIGHT // 2, text)
    for r, images in enumerate(rows_of_images):
        y = TITLE_HEIGHT + GAP + r * (cell + GAP)
        if row_labels is not None:
            text = _fit_text(draw, str(row_labels[r]), label_w - GAP)
            _draw_centred_v(draw, GAP, y + cell // 2, text)
        for col, image in enumerate(images):
            if image is not None:
                sheet.paste(_letterbox(image, cell), (x_of(col), y))
    if path is not None:
        path = os.fspath(path)
        with atomic_path(path) as tmp:
            sheet.save(tmp, format="PNG")
    return np.asarray(sheet)


def strip(
    images: Sequence, titles: Sequence[str], path: str | os.PathLike | None, cell: int = 192
) -> np.ndarray:
    """A single titled row of images (e.g. one video frame through several models)."""
    return contact_sheet([list(images)], titles, path, cell=cell)
