"""tfstyle.images: formats, orientation, colour modes, 16-bit precision, resizing, atomic saves and
one clear ImageError per kind of bad input. Every file is generated here; no TensorFlow needed."""

from __future__ import annotations

import os
import struct
import warnings
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image, ImageFile, ImageOps

from tfstyle import images
from tfstyle.errors import ImageError, InputError, TfstyleError
from tfstyle.images import from_uint8, load_image, load_mask, resize, resize_to, save_image, to_uint8


@pytest.fixture(autouse=True)
def _seed():
    """Override conftest's seeding fixture: this module is TensorFlow-free and should stay fast."""
    np.random.seed(0)


def smooth_rgb(height: int = 48, width: int = 64) -> np.ndarray:
    """A smooth float image (lossy codecs reproduce it closely) with distinct channels."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    return np.stack([x / (width - 1), y / (height - 1), 1.0 - x / (width - 1) * 0.5], axis=-1)


def noise_u8(height: int, width: int, channels: int = 3) -> np.ndarray:
    shape = (height, width, channels) if channels > 1 else (height, width)
    return np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)


def png_with_header_size(path, width: int, height: int) -> None:
    """A tiny real PNG whose IHDR claims ``width`` x ``height``: a decompression bomb in 100 bytes."""
    Image.new("L", (16, 16)).save(path)
    data = bytearray(path.read_bytes())
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))


def truncated(path, fmt: str) -> None:
    Image.fromarray(noise_u8(128, 128)).save(path, format=fmt)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


# ----------------------------------------------------------------------------- formats


@pytest.mark.parametrize("ext", ["png", "bmp", "tif", "tiff"])
def test_lossless_round_trip(tmp_path, ext):
    image = smooth_rgb()
    path = tmp_path / f"out.{ext}"
    save_image(path, image)
    loaded = load_image(path)
    assert loaded.dtype == np.float32 and loaded.shape == (48, 64, 3)
    np.testing.assert_array_equal(loaded, from_uint8(to_uint8(image)))


@pytest.mark.parametrize("ext", ["jpg", "jpeg", "webp"])
def test_lossy_round_trip(tmp_path, ext):
    image = smooth_rgb()
    path = tmp_path / f"out.{ext}"
    save_image(path, image)
    loaded = load_image(path)
    assert loaded.shape == (48, 64, 3)
    assert np.abs(loaded - image).mean() < 0.01


def test_save_accepts_batch_of_one_and_grayscale_and_clips(tmp_path):
    image = smooth_rgb() * 1.5 - 0.2  # out of range on both ends
    save_image(tmp_path / "batch.png", image[None])
    loaded = load_image(tmp_path / "batch.png")
    np.testing.assert_array_equal(loaded, from_uint8(to_uint8(np.clip(image, 0, 1))))
    save_image(tmp_path / "gray.png", image[..., 0])
    assert Image.open(tmp_path / "gray.png").mode == "L"
    with pytest.raises(ValueError):
        save_image(tmp_path / "two.png", np.stack([image, image]))


def test_save_creates_parent_directory(tmp_path):
    path = tmp_path / "a" / "b" / "out.png"
    save_image(path, smooth_rgb())
    assert path.is_file()


def test_save_unknown_extension_names_the_path(tmp_path):
    path = tmp_path / "sub" / "out.xyz"
    with pytest.raises(TfstyleError, match="out.xyz") as info:
        save_image(path, smooth_rgb())
    assert "unsupported image extension" in str(info.value)
    assert not (tmp_path / "sub").exists()


def test_to_from_uint8():
    values = np.array([-1.0, 0.0, 0.5, 1.0, 2.0, np.nan], dtype=np.float32)
    np.testing.assert_array_equal(to_uint8(values), [0, 0, 128, 255, 255, 0])
    all_bytes = np.arange(256, dtype=np.uint8)
    assert to_uint8(all_bytes) is all_bytes
    np.testing.assert_array_equal(to_uint8(from_uint8(all_bytes)), all_bytes)


# ----------------------------------------------------------------------------- orientation


def test_exif_orientation_6_is_rotated(tmp_path):
    """Orientation 6 (as phones write portrait photos): displayed rotated 90 degrees clockwise."""
    pixels = np.zeros((32, 64, 3), np.uint8)
    pixels[:16, :16] = (255, 0, 0)  # red block at the stored top-left
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "portrait.jpg"
    Image.fromarray(pixels).save(path, exif=exif, quality=95)
    loaded = load_image(path)
    assert loaded.shape == (64, 32, 3)
    assert loaded[:16, 16:, 0].mean() > 0.9  # ...ends up top-right
    assert loaded[:16, :16].mean() < 0.1


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_matches_pillow(tmp_path, orientation):
    pixels = noise_u8(16, 24)
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"o{orientation}.png"
    Image.fromarray(pixels).save(path, exif=exif)
    with Image.open(path) as im:
        expected = from_uint8(np.asarray(ImageOps.exif_transpose(im)))
    np.testing.assert_array_equal(load_image(path), expected)


# ----------------------------------------------------------------------------- colour modes


def test_grayscale_becomes_three_equal_channels(tmp_path):
    gray = noise_u8(20, 30, channels=1)
    Image.fromarray(gray).save(tmp_path / "g.png")
    loaded = load_image(tmp_path / "g.png")
    assert loaded.shape == (20, 30, 3)
    for channel in range(3):
        np.testing.assert_array_equal(loaded[..., channel], from_uint8(gray))


def test_bilevel_image(tmp_path):
    Image.new("1", (20, 20), 1).save(tmp_path / "b.png")
    np.testing.assert_array_equal(load_image(tmp_path / "b.png"), np.ones((20, 20, 3), np.float32))


def test_palette_with_and_without_transparency(tmp_path):
    im = Image.new("P", (20, 20), 1)
    im.putpalette([0, 0, 0, 10, 20, 30] + [0] * 762)
    im.paste(0, (0, 0, 10, 20))  # left half index 0 (black)
    im.save(tmp_path / "opaque.png")
    loaded = load_image(tmp_path / "opaque.png")
    np.testing.assert_allclose(loaded[0, 0], [0, 0, 0])
    np.testing.assert_allclose(loaded[0, -1], np.array([10, 20, 30]) / 255, atol=1e-6)
    im.save(tmp_path / "transparent.png", transparency=0)
    loaded = load_image(tmp_path / "transparent.png")
    np.testing.assert_allclose(loaded[0, 0], [1, 1, 1])  # transparent black -> white
    np.testing.assert_allclose(loaded[0, -1], np.array([10, 20, 30]) / 255, atol=1e-6)


def test_rgba_is_composited_over_white(tmp_path):
    pixels = np.zeros((16, 16, 4), np.uint8)
    pixels[0, 0] = (0, 0, 0, 0)  # fully transparent black
    pixels[0, 1] = (0, 0, 0, 255)  # opaque black
    pixels[0, 2] = (255, 0, 0, 128)  # half-transparent red
    Image.fromarray(pixels, "RGBA").save(tmp_path / "a.png")
    loaded = load_image(tmp_path / "a.png")
    assert loaded.shape == (16, 16, 3)
    np.testing.assert_allclose(loaded[0, 0], [1, 1, 1])
    np.testing.assert_allclose(loaded[0, 1], [0, 0, 0])
    np.testing.assert_allclose(loaded[0, 2], [1, 127 / 255, 127 / 255], atol=1e-6)


def test_gray_alpha_is_composited_over_white(tmp_path):
    pixels = np.zeros((16, 16, 2), np.uint8)
    pixels[..., 1] = 255
    pixels[0, 0] = (0, 0)
    Image.fromarray(pixels, "LA").save(tmp_path / "la.png")
    loaded = load_image(tmp_path / "la.png")
    np.testing.assert_allclose(loaded[0, 0], [1, 1, 1])
    np.testing.assert_allclose(loaded[1, 1], [0, 0, 0])


def test_cmyk_jpeg(tmp_path):
    Image.new("CMYK", (20, 20), (0, 255, 255, 0)).save(tmp_path / "c.jpg", quality=95)
    loaded = load_image(tmp_path / "c.jpg")
    assert loaded.shape == (20, 20, 3)
    np.testing.assert_allclose(loaded[10, 10], [1, 0, 0], atol=0.03)  # CMYK (0, 1, 1, 0) is red


def test_16bit_grayscale_png_keeps_precision(tmp_path):
    values = (np.arange(16 * 16, dtype=np.uint16) + 30000).reshape(16, 16)  # steps of 1/65535
    Image.fromarray(values).save(tmp_path / "g16.png")
    loaded = load_image(tmp_path / "g16.png")
    assert loaded.shape == (16, 16, 3)
    np.testing.assert_array_equal(np.rint(loaded[..., 0] * 65535).astype(np.uint16), values)
    assert len(np.unique(loaded[..., 1])) == 256  # 8 bits would collapse these to one or two levels


@pytest.mark.parametrize("ext", ["png", "tif"])
def test_16bit_rgb_keeps_precision_and_channel_order(tmp_path, ext):
    rgb = np.zeros((16, 16, 3), np.uint16)
    rgb[..., 0] = 60000 + np.arange(256, dtype=np.uint16).reshape(16, 16)  # R high, fine steps
    rgb[..., 1] = 30000
    rgb[..., 2] = 100 + np.arange(256, dtype=np.uint16).reshape(16, 16)  # B low
    path = tmp_path / f"c16.{ext}"
    assert cv2.imwrite(str(path), rgb[..., ::-1])  # OpenCV writes BGR
    loaded = load_image(path)
    np.testing.assert_array_equal(np.rint(loaded * 65535).astype(np.uint16), rgb)


def test_16bit_rgba_png_composited(tmp_path):
    rgba = np.full((16, 16, 4), 65535, np.uint16)
    rgba[..., :3] = 1000 + np.arange(256, dtype=np.uint16).reshape(16, 16, 1)
    rgba[0, 0, 3] = 0
    path = tmp_path / "c16a.png"
    assert cv2.imwrite(str(path), rgba[..., [2, 1, 0, 3]])
    loaded = load_image(path)
    np.testing.assert_allclose(loaded[0, 0], [1, 1, 1])
    np.testing.assert_array_equal(np.rint(loaded[1:, :, 0] * 65535).astype(np.uint16), rgba[1:, :, 0])


# ----------------------------------------------------------------------------- resizing


@pytest.mark.parametrize(
    ("side", "size", "expected"),
    [("long", 32, (16, 32)), ("short", 32, (32, 64)), ("long", 120, (60, 120)), ("short", 10, (10, 20))],
)
def test_resize_sides(side, size, expected):
    image = smooth_rgb(30, 60)
    out = resize(image, size, side)
    assert out.shape == (*expected, 3) and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert resize(image[..., 0], size, side).shape == expected


def test_resize_quality_and_clipping():
    constant = np.full((40, 50, 3), 0.25, np.float32)
    np.testing.assert_allclose(resize_to(constant, (17, 23)), 0.25, atol=1e-5)
    checker = (np.indices((64, 64)).sum(axis=0) % 2).astype(np.float32)
    down = resize_to(checker, (16, 16))
    np.testing.assert_allclose(down, 0.5, atol=0.02)  # antialiased, not aliased to 0 or 1
    up = resize_to(checker, (200, 200))  # Lanczos rings; output must still be in range
    assert up.min() >= 0.0 and up.max() <= 1.0


def test_resize_rejects_bad_arguments():
    with pytest.raises(ValueError):
        resize(smooth_rgb(), 32, "diagonal")
    with pytest.raises(ValueError):
        resize(smooth_rgb(), 0)


def test_load_image_with_size(tmp_path):
    save_image(tmp_path / "in.png", smooth_rgb(48, 64))
    assert load_image(tmp_path / "in.png", size=32).shape == (24, 32, 3)
    assert load_image(tmp_path / "in.png", size=32, side="short").shape == (32, 43, 3)


# ----------------------------------------------------------------------------- masks


def test_mask_from_grayscale_and_resized(tmp_path):
    gray = np.zeros((20, 40), np.uint8)
    gray[:, 20:] = 255
    Image.fromarray(gray).save(tmp_path / "m.png")
    mask = load_mask(tmp_path / "m.png")
    assert mask.shape == (20, 40) and mask.dtype == np.float32
    np.testing.assert_array_equal(mask, gray / 255.0)
    small = load_mask(tmp_path / "m.png", shape=(10, 30))
    assert small.shape == (10, 30)
    assert small[:, 0].max() == 0.0 and small[:, -1].min() == 1.0
    assert small.min() >= 0.0 and small.max() <= 1.0


def test_mask_uses_alpha_only_when_transparent(tmp_path):
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[..., :3] = 255
    rgba[..., 3] = 255
    rgba[:8, :, 3] = 0
    Image.fromarray(rgba, "RGBA").save(tmp_path / "alpha.png")
    np.testing.assert_array_equal(load_mask(tmp_path / "alpha.png"), rgba[..., 3] / 255.0)
    rgba[..., 3] = 255
    rgba[:8, :, :3] = 0
    Image.fromarray(rgba, "RGBA").save(tmp_path / "opaque.png")
    np.testing.assert_allclose(load_mask(tmp_path / "opaque.png"), rgba[..., 0] / 255.0, atol=1e-6)


def test_mask_16bit(tmp_path):
    values = (np.arange(256, dtype=np.uint16) + 1000).reshape(16, 16)
    Image.fromarray(values).save(tmp_path / "m16.png")
    np.testing.assert_array_equal(np.rint(load_mask(tmp_path / "m16.png") * 65535), values)


# ----------------------------------------------------------------------------- atomic saves


def test_save_replaces_existing_file_without_leftovers(tmp_path):
    path = tmp_path / "out.png"
    path.write_bytes(b"old")
    save_image(path, smooth_rgb())
    assert os.listdir(tmp_path) == ["out.png"]
    assert load_image(path).shape == (48, 64, 3)


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"), RuntimeError("boom")])
def test_failed_save_leaves_old_file_untouched(tmp_path, monkeypatch, error):
    path = tmp_path / "out.png"
    path.write_bytes(b"old content")

    def failing_save(self, fp, *args, **kwargs):
        with open(fp, "wb") as fh:
            fh.write(b"\x89PNG half")  # a partial write, then the failure
        raise error

    monkeypatch.setattr(Image.Image, "save", failing_save)
    expected = InputError if isinstance(error, OSError) else type(error)
    with pytest.raises(expected) as info:
        save_image(path, smooth_rgb())
    if expected is InputError:
        assert "out.png" in str(info.value) and "No space left" in str(info.value)
    assert path.read_bytes() == b"old content"
    assert os.listdir(tmp_path) == ["out.png"]


# ----------------------------------------------------------------------------- bad inputs


def _missing(path):
    return path


def _directory(path):
    path.mkdir()
    return path


def _empty(path):
    path.write_bytes(b"")
    return path


def _text(path):
    path.write_text("this is not a picture\n" * 10)
    return path


def _truncated_jpeg(path):
    truncated(path, "JPEG")
    return path


def _truncated_png(path):
    truncated(path, "PNG")
    return path


def _tiny(path):
    Image.new("RGB", (1, 1), "white").save(path)
    return path


def _bomb(path):
    png_with_header_size(path, 20000, 20000)
    return path


BAD_INPUTS = {
    "missing": (_missing, "missing.png", "no such file"),
    "directory": (_directory, "folder.png", "is a directory"),
    "empty": (_empty, "empty.png", "empty file"),
    "text": (_text, "notes.jpg", "not an image file (cannot identify format)"),
    "truncated_jpeg": (_truncated_jpeg, "cut.jpg", "truncated or corrupt image data"),
    "truncated_png": (_truncated_png, "cut.png", "truncated or corrupt image data"),
    "tiny": (_tiny, "tiny.png", "image is 1x1 px; at least 16 px per side needed"),
    "bomb": (_bomb, "bomb.png", "image is 20000x20000 px (400.0 MP); the limit is 100 MP"),
}


@pytest.mark.parametrize("kind", list(BAD_INPUTS))
@pytest.mark.parametrize("loader", [load_image, load_mask], ids=["image", "mask"])
def test_bad_input_raises_image_error(tmp_path, kind, loader):
    make, name, reason = BAD_INPUTS[kind]
    path = make(tmp_path / name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no Pillow warnings either (e.g. DecompressionBombWarning)
        with pytest.raises(ImageError) as info:
            loader(path)
    message = str(info.value)
    assert message.startswith(str(path) + ": ")
    assert reason in message
    assert info.value.path == str(path)
    assert "Traceback" not in message and "\n" not in message
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_too_large_below_pillows_own_limit(tmp_path):
    """108 MP: Pillow only warns (its error starts at 179 MP); our 100 MP limit must still apply."""
    path = tmp_path / "big.png"
    png_with_header_size(path, 12000, 9000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ImageError, match=r"image is 12000x9000 px \(108\.0 MP\); the limit is 100 MP"):
            load_image(path)


def test_limits_are_module_constants():
    assert images.MIN_SIDE == 16
    assert images.MAX_PIXELS == 100_000_000


def test_smallest_accepted_image(tmp_path):
    Image.new("RGB", (16, 16), "blue").save(tmp_path / "ok.png")
    np.testing.assert_allclose(load_image(tmp_path / "ok.png")[0, 0], [0, 0, 1])
    Image.new("RGB", (15, 40), "blue").save(tmp_path / "narrow.png")
    with pytest.raises(ImageError, match="15x40 px"):
        load_image(tmp_path / "narrow.png")
