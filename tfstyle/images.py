"""Image files <-> float32 arrays (H x W x 3 RGB in [0, 1]), with errors a user can act on.

Every way a user-supplied image can be unusable (missing, empty, not an image, truncated, too
small, a decompression bomb) becomes an ``ImageError`` naming the file, so the CLI prints one
line instead of a Pillow traceback. No TensorFlow here: the lightweight runtime uses this too.
"""

from __future__ import annotations

import contextlib
import os
import struct
import warnings
import zlib

import numpy as np
from numpy.typing import ArrayLike
from PIL import Image, UnidentifiedImageError

from tfstyle.errors import ImageError, InputError
from tfstyle.files import atomic_path

MIN_SIDE = 16
"""Smallest width/height accepted: after VGG19's fourth pooling less would be under one pixel."""

MAX_PIXELS = 100_000_000
"""Largest width*height accepted, checked from the header before any pixel is decoded."""

# What Pillow raises for broken data besides OSError (bad chunks, short headers, bad zlib).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error)

_SAVE_FORMATS: dict[str, tuple[str, dict]] = {
    ".png": ("PNG", {}),
    ".jpg": ("JPEG", {"quality": 95}),
    ".jpeg": ("JPEG", {"quality": 95}),
    ".webp": ("WEBP", {"quality": 95}),
    ".bmp": ("BMP", {}),
    ".tif": ("TIFF", {}),
    ".tiff": ("TIFF", {}),
}
SAVE_EXTENSIONS: tuple[str, ...] = tuple(_SAVE_FORMATS)
LOAD_EXTENSIONS: tuple[str, ...] = (*SAVE_EXTENSIONS, ".gif", ".tga", ".ppm", ".pgm", ".pbm")

# EXIF orientation -> the numpy equivalent of the transpose ``ImageOps.exif_transpose`` applies.
# Done on the array so the OpenCV-decoded 16-bit path is oriented exactly like the Pillow one.
_ORIENT = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
    8: lambda a: np.rot90(a, 1),
}

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R 601, as Pillow's "L"


# ----------------------------------------------------------------------------- public API


def load_image(
    path: str | os.PathLike, *, size: int | None = None, side: str = "long", exact: bool = True
) -> np.ndarray:
    """Load any common image as float32 H x W x 3 RGB in [0, 1], upright, alpha over white.

    16-bit files keep their precision; ``size`` resizes the ``side`` ("long"/"short") to it.
    ``exact=False`` is for throughput jobs (``tfstyle dataset``): an 8-bit RGB or gray image is
    then resized in 8 bits, a JPEG first decoded at a reduced scale (libjpeg's DCT scaling), which
    is 3-7x faster at 224 px and changes the picture by about one 8-bit level.
    """
    _check_side(side)
    if not exact and size is not None:
        fast = _read_8bit_resized(path, size, side)
        if fast is not None:
            return fast
    array = _read(path)
    array = _composite_over_white(array)
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    if size is not None:
        array = resize(array, size, side)
    return np.ascontiguousarray(array, dtype=np.float32)


def list_images(folder: str | os.PathLike, exclude: str | os.PathLike | None = None) -> list[str]:
    """Image files under ``folder`` (by extension; hidden files and folders skipped) as sorted
    relative POSIX paths; ``exclude`` is a folder left out (an output folder inside the input)."""
    root = os.path.abspath(folder)
    skip = os.path.abspath(exclude) if exclude is not None else None
    found = []
    for here, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and os.path.join(here, d) != skip)
        for name in files:
            if not name.startswith(".") and os.path.splitext(name)[1].lower() in LOAD_EXTENSIONS:
                found.append(os.path.relpath(os.path.join(here, name), root).replace(os.sep, "/"))
    return sorted(found)


def probe_image(path: str | os.PathLike) -> tuple[str, tuple[int, int]]:
    """(Pillow format name, (width, height)) from the header only, with ``load_image``'s checks.

    Lets a server refuse a wrong type or too many pixels before paying for a full decode.
    """
    path = os.fspath(path)
    _check_file(path)
    with _open(path) as im:
        _check_size(path, im.size)
        return str(im.format), (int(im.size[0]), int(im.size[1]))


def load_mask(path: str | os.PathLike, *, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Load a mask as float32 H x W in [0, 1]: the alpha channel if it is used, else luminance.

    ``shape`` is (height, width); masks are resized bilinearly since they carry no texture.
    """
    array = _read(path)
    channels = array.shape[2]
    if channels in (2, 4):
        mask = array[..., -1]
    elif channels == 3:
        mask = array @ _LUMA
    else:
        mask = array[..., 0]
    mask = np.clip(mask, 0.0, 1.0).astype(np.float32)
    if shape is not None:
        mask = _resample(mask, shape, Image.Resampling.BILINEAR)
    return np.ascontiguousarray(mask)


def scaled_shape(shape: tuple[int, ...], size: int, side: str = "long") -> tuple[int, int]:
    """(height, width) with the long (or short) side ``size`` and the aspect ratio kept: the one
    rounding every resize uses, so shapes planned ahead match the images :func:`resize` makes."""
    _check_side(side)
    if int(size) < 1:
        raise ValueError(f"size must be a positive number of pixels, not {size!r}")
    height, width = int(shape[0]), int(shape[1])
    scale = int(size) / (max(height, width) if side == "long" else min(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def resize(image: np.ndarray, size: int, side: str = "long") -> np.ndarray:
    """Resize so the long (or short) side equals ``size``, keeping the aspect ratio."""
    return resize_to(image, scaled_shape(np.shape(image), size, side))


def resize_to(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resize to exactly (height, width) with Lanczos (antialiased when shrinking), clipped to [0, 1]."""
    return _resample(image, shape, Image.Resampling.LANCZOS)


def check_output_path(path: str | os.PathLike) -> None:
    """Fail before any work is done when an output name has no writable image extension."""
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower()
    if ext not in _SAVE_FORMATS:
        known = ", ".join(sorted(_SAVE_FORMATS))
        reason = f"unsupported image extension {ext!r}" if ext else "no image extension"
        raise InputError(path, f"{reason}; use one of {known}")


def save_image(path: str | os.PathLike, image: ArrayLike) -> None:
    """Write a float [0, 1] image (H x W x 3, H x W, a batch of one, a tensor); format from the name.

    Atomic so an interrupted run never leaves a truncated output where a good one was.
    """
    path = os.fspath(path)
    check_output_path(path)
    fmt, options = _SAVE_FORMATS[os.path.splitext(path)[1].lower()]
    picture = Image.fromarray(to_uint8(_squeeze_for_save(image)))
    try:
        with atomic_path(path) as tmp:
            picture.save(tmp, format=fmt, **options)
    except OSError as exc:
        raise InputError(path, f"cannot write image ({exc.strerror or exc})") from exc


def to_uint8(image: ArrayLike) -> np.ndarray:
    """Float [0, 1] -> uint8 [0, 255], clipped and rounded (NaN becomes 0); uint8 passes through."""
    array = np.asarray(image)
    if array.dtype == np.uint8:
        return array
    array = np.nan_to_num(array.astype(np.float32), nan=0.0)
    return np.rint(np.clip(array, 0.0, 1.0) * 255.0).astype(np.uint8)


def from_uint8(array: ArrayLike) -> np.ndarray:
    """uint8 [0, 255] -> float32 [0, 1]."""
    return np.asarray(array, dtype=np.float32) / 255.0


# ----------------------------------------------------------------------------- reading


def _read(path: str | os.PathLike) -> np.ndarray:
    """Validate and fully decode ``path`` into float32 H x W x C (C = 1..4, alpha last), upright."""
    path = os.fspath(path)
    _check_file(path)
    with _open(path) as im:
        _check_size(path, im.size)
        wide = _is_16bit_colour(im)  # must be asked before load(), which clears the tiles
        try:
            im.load()  # force a full decode so truncated files fail here, not later
            orientation = _orientation(im)
            array = _read_16bit_colour(path, im) if wide else None
            if array is None:
                array = _to_float(path, im)
        except _DECODE_ERRORS as exc:
            raise ImageError(path, f"truncated or corrupt image data ({_short(exc)})") from exc
    if array.shape[2] in (2, 4) and array[..., -1].min() >= 1.0:
        array = array[..., :-1]  # an opaque alpha channel carries nothing
    transform = _ORIENT.get(orientation)
    return transform(array) if transform else array


def _read_8bit_resized(path: str | os.PathLike, size: int, side: str) -> np.ndarray | None:
    """The ``exact=False`` path of :func:`load_image`; None when the file is not plain 8-bit RGB or
    gray (alpha, palette, 16-bit, ...), which then takes the exact path."""
    path = os.fspath(path)
    _check_file(path)
    with _open(path) as im:
        _check_size(path, im.size)
        if im.mode not in ("RGB", "L") or _is_16bit_colour(im):
            return None
        orientation = _orientation(im)
        width, height = im.size
        turned = orientation in (5, 6, 7, 8)
        shape = scaled_shape((width, height) if turned else (height, width), size, side)
        target = (shape[0], shape[1]) if turned else (shape[1], shape[0])  # Pillow's (width, height)
        try:
            if im.format == "JPEG":
                im.draft("RGB", target)  # decodes at 1/2, 1/4 or 1/8 scale, never below target
            small = im.convert("RGB").resize(target, Image.Resampling.LANCZOS)
        except _DECODE_ERRORS as exc:
            raise ImageError(path, f"truncated or corrupt image data ({_short(exc)})") from exc
    array = np.asarray(small, dtype=np.float32) / 255.0
    transform = _ORIENT.get(orientation)
    return np.ascontiguousarray(transform(array) if transform else array)


def _check_file(path: str) -> None:
    if not os.path.exists(path):
        raise ImageError(path, "no such file")
    if os.path.isdir(path):
        raise ImageError(path, "is a directory, not an image file")
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        raise ImageError(path, f"cannot read file ({exc.strerror})") from exc
    if size == 0:
        raise ImageError(path, "empty file")


def _open(path: str) -> Image.Image:
    """Open lazily (header only); Pillow's own bomb check becomes our 'too large' message."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(path)
    except Image.DecompressionBombError as exc:
        raise ImageError(path, _too_large(_header_size(path))) from exc
    except UnidentifiedImageError as exc:
        raise ImageError(path, "not an image file (cannot identify format)") from exc
    except PermissionError as exc:
        raise ImageError(path, "permission denied") from exc
    except _DECODE_ERRORS as exc:
        raise ImageError(path, f"corrupt image header ({_short(exc)})") from exc


def _check_size(path: str, size: tuple[int, int]) -> None:
    width, height = size
    if width * height > MAX_PIXELS:
        raise ImageError(path, _too_large(size))
    if min(width, height) < MIN_SIDE:
        raise ImageError(path, f"image is {width}x{height} px; at least {MIN_SIDE} px per side needed")


def _too_large(size: tuple[int, int] | None) -> str:
    limit = f"the limit is {MAX_PIXELS / 1e6:.0f} MP"
    if size is None:
        return f"image is too large; {limit}"
    width, height = size
    return f"image is {width}x{height} px ({width * height / 1e6:.1f} MP); {limit}"


def _header_size(path: str) -> tuple[int, int] | None:
    """(width, height) from the header without Pillow's bomb check; only used for the message."""
    try:
        Image.init()
        with open(path, "rb") as fp:
            prefix = fp.read(16)
            for fmt in Image.ID:
                factory, accept = Image.OPEN[fmt]
                if accept and not accept(prefix):
                    continue
                with contextlib.suppress(Exception):  # not this format after all: try the next
                    fp.seek(0)
                    return tuple(factory(fp, path).size)
    except Exception:
        return None
    return None


def _orientation(im: Image.Image) -> int:
    try:
        return int(im.getexif().get(0x0112, 1))
    except Exception:
        return 1


def _to_float(path: str, im: Image.Image) -> np.ndarray:
    """Pillow image in any mode -> float32 H x W x C (gray, gray+alpha, RGB or RGBA) in [0, 1]."""
    mode = im.mode
    if mode.startswith("I;16"):
        array = np.asarray(im).astype(np.float32) / 65535.0
    elif mode == "I":
        array = np.clip(np.asarray(im).astype(np.float32) / 65535.0, 0.0, 1.0)
    elif mode == "F":
        array = _float_data(np.asarray(im))
    else:
        if mode not in ("L", "LA", "RGB", "RGBA"):
            im = _convert(path, im, _target_mode(im))
        array = np.asarray(im).astype(np.float32) / 255.0
    return array[..., None] if array.ndim == 2 else array


def _target_mode(im: Image.Image) -> str:
    if im.mode == "1":
        return "L"
    if im.mode == "La":
        return "LA"
    if im.mode in ("PA", "RGBa") or (im.mode == "P" and "transparency" in im.info):
        return "RGBA"
    return "RGB"  # P, CMYK, YCbCr, RGBX, HSV, ...


def _convert(path: str, im: Image.Image, mode: str) -> Image.Image:
    try:
        return im.convert(mode)
    except ValueError as exc:
        raise ImageError(path, f"unsupported colour mode {im.mode}") from exc


def _float_data(array: np.ndarray) -> np.ndarray:
    """32-bit float TIFFs come as [0, 1], [0, 255] or [0, 65535]; guess the range from the maximum."""
    array = np.nan_to_num(array.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    peak = float(array.max(initial=0.0))
    scale = 1.0 if peak <= 1.0 else 255.0 if peak <= 255.0 else 65535.0
    return np.clip(array / scale, 0.0, 1.0)


def _is_16bit_colour(im: Image.Image) -> bool:
    """Pillow truncates 16-bit RGB(A) to 8 bit; its raw mode (e.g. 'RGB;16B') gives that away."""
    if im.mode.startswith("I") or not im.tile:
        return False
    args = im.tile[0][3]
    rawmode = args if isinstance(args, str) else (args[0] if args else "")
    return isinstance(rawmode, str) and ";16" in rawmode


def _read_16bit_colour(path: str, im: Image.Image) -> np.ndarray | None:
    """Decode with OpenCV, which keeps 16 bits; None (use Pillow's 8 bits) if that is not possible."""
    try:
        import cv2
    except ImportError:
        return None
    try:
        data = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    except (cv2.error, OSError, ValueError):  # Pillow already decoded it: fall back to its 8 bits
        return None
    if data is None or data.shape[:2] != (im.height, im.width) or data.dtype not in (np.uint8, np.uint16):
        return None
    array = data.astype(np.float32) / float(np.iinfo(data.dtype).max)
    if array.ndim == 2:
        return array[..., None]
    if array.shape[2] == 3:
        return array[..., ::-1]  # BGR -> RGB
    if array.shape[2] == 4:
        return array[..., [2, 1, 0, 3]]  # BGRA -> RGBA
    return array


def _composite_over_white(array: np.ndarray) -> np.ndarray:
    """Transparent pixels become white, the usual page background, rather than arbitrary colours."""
    if array.shape[2] not in (2, 4):
        return array
    colour, alpha = array[..., :-1], array[..., -1:]
    return colour * alpha + (1.0 - alpha)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:120]


# ----------------------------------------------------------------------------- resizing / saving


def _check_side(side: str) -> None:
    if side not in ("long", "short"):
        raise ValueError(f"side must be 'long' or 'short', not {side!r}")


def _resample(image: np.ndarray, shape: tuple[int, int], resample: Image.Resampling) -> np.ndarray:
    """Resize each channel as a 32-bit float Pillow image, so no precision is lost to uint8."""
    height, width = (int(shape[0]), int(shape[1]))
    if height < 1 or width < 1:
        raise ValueError(f"target shape must be positive, not {shape!r}")
    array = np.asarray(image, dtype=np.float32)
    if array.ndim not in (2, 3):
        raise ValueError(f"expected an H x W or H x W x C image, got shape {array.shape}")
    if array.shape[:2] != (height, width):
        planes = array[..., None] if array.ndim == 2 else array
        resized = [
            np.asarray(
                Image.fromarray(np.ascontiguousarray(planes[..., c])).resize((width, height), resample)
            )
            for c in range(planes.shape[2])
        ]
        array = np.stack(resized, axis=-1)
        array = array[..., 0] if np.ndim(image) == 2 else array
    return np.clip(array, 0.0, 1.0).astype(np.float32)


def _squeeze_for_save(image: ArrayLike) -> np.ndarray:
    array = np.asarray(image)
    if array.ndim == 4:
        if array.shape[0] != 1:
            raise ValueError(f"can save a batch of one image only, got shape {array.shape}")
        array = array[0]
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 3)):
        raise ValueError(f"expected an H x W x 3 or H x W image, got shape {array.shape}")
    return array


def as_batch(images) -> np.ndarray:
    """[H, W, 3] or [B, H, W, 3] (array, tensor or list of same-size images) -> float32 [B, H, W, 3]."""
    array = np.asarray(images, np.float32)
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or array.shape[-1] != 3:
        raise ValueError(f"expected images [B, H, W, 3] or [H, W, 3], got shape {array.shape}")
    return array
