"""Small synthetic image folders for the dataset tests: class folders of JPEGs, a corrupt file, styles."""

from __future__ import annotations

import pathlib

import numpy as np
from PIL import Image


def smooth_image(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A smooth random colour field (uint8) with some edges: decodes like a photo, not like noise."""
    coarse = rng.random((4, 5, 3))
    image = Image.fromarray((coarse * 255).astype(np.uint8)).resize((width, height), Image.Resampling.BICUBIC)
    array = np.asarray(image).astype(np.int16)
    y0, x0 = rng.integers(0, height // 2), rng.integers(0, width // 2)
    array[y0 : y0 + height // 3, x0 : x0 + width // 3] = rng.integers(0, 256, 3)
    return np.clip(array, 0, 255).astype(np.uint8)


def make_dataset(
    root: pathlib.Path, n: int, classes: int = 2, size: tuple[int, int] = (72, 96), seed: int = 0
) -> tuple[pathlib.Path, pathlib.Path, list[str]]:
    """``root/src/class_k/img_i.jpg`` (n images), one corrupt ``broken.jpg``, a ``notes.txt`` that is
    no image, and ``root/styles`` with three style images. Returns (src, styles, good relative paths)."""
    rng = np.random.default_rng(seed)
    src, styles = root / "src", root / "styles"
    good = []
    for i in range(n):
        rel = f"class_{i % classes}/img_{i:03d}.jpg"
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(smooth_image(rng, *size)).save(src / rel, quality=90)
        good.append(rel)
    for k in range(2):
        (src / f"class_{k}").mkdir(parents=True, exist_ok=True)
    (src / "class_0" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG")
    (src / "class_1" / "notes.txt").write_text("not an image")
    styles.mkdir(parents=True)
    for k in range(3):
        texture = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        Image.fromarray(texture).resize((64, 64), Image.Resampling.NEAREST).save(styles / f"style_{k}.png")
    return src, styles, sorted(good)


def output_files(dst: pathlib.Path) -> list[str]:
    """Every file under ``dst`` except the run's own records (manifest, settings), relative."""
    return sorted(
        str(p.relative_to(dst))
        for p in dst.rglob("*")
        if p.is_file() and p.name not in ("manifest.parquet", "dataset.json")
    )
