"""Deterministic, resumable tf.data pipeline of (content, style) crops.

Every example is a pure function of (seed, example index): files come from a per-epoch
permutation (``index_shuffle``), crops, scales and flips from stateless random ops. Resuming at
step N is then just starting the index range at N * batch, so the data position is restored
exactly without checkpointing iterator state, and any replica count sees the same global batch.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

from tfstyle._keras import tf

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif")


@dataclass
class DataConfig:
    root: str = os.environ.get("TFSTYLE_DATA", "../shared/data") + "/train"
    crop: int = 128
    min_scale: float = 1.0  # short side is resized to crop * U(min_scale, max_scale) before cropping
    max_scale: float = 2.0
    seed: int = 0
    # Style crop sides, one per batch in turn (empty: ``crop``), all cut at the same pixel scale as
    # a ``crop`` one. Why: the style predictor's vector swings with the size it sees a style at
    # (docs/experiments/student.md), and in use it sees whole style images of any size, not training crops.
    style_crops: tuple[int, ...] = ()


def list_images(folder: str) -> tuple[list[str], int]:
    """Readable images in ``folder`` (sorted) and the number of unreadable ones skipped."""
    from PIL import Image

    good, bad = [], 0
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if not name.lower().endswith(IMAGE_EXTS) or not os.path.isfile(path):
            continue
        try:
            with Image.open(path) as im:
                im.verify()
            good.append(path)
        except Exception as exc:  # any decoder failure means: skip this file
            bad += 1
            warnings.warn(f"skipping unreadable training image {path}: {exc}", stacklevel=2)
    if not good:
        from tfstyle.errors import InputError

        raise InputError(folder, "no readable training images")
    return good, bad


def _pick(files, index, seed):
    """File for example ``index``: epoch-wise permutation, so every file is seen once per epoch."""
    n = tf.cast(tf.shape(files)[0], tf.int64)
    epoch, pos = index // n, index % n
    perm_seed = tf.stack([tf.cast(seed, tf.int64), epoch])
    j = tf.random.experimental.index_shuffle(pos, perm_seed, n - 1)
    return files[j]


def _load_crop(path, crop: int, min_scale: float, max_scale: float, seed, side=None):
    """A ``side`` x ``side`` crop (default ``crop``) of the image scaled as for a ``crop`` one."""
    side = tf.cast(crop if side is None else side, tf.int32)
    image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    image = tf.image.convert_image_dtype(image, tf.float32)
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = tf.random.stateless_uniform([], seed, min_scale, max_scale)
    ratio = crop * scale / tf.reduce_min(shape)
    new = tf.cast(tf.math.ceil(shape * ratio), tf.int32)
    new = tf.maximum(new, side)
    image = tf.image.resize(image, new, method="area", antialias=True)
    image = tf.image.stateless_random_crop(image, tf.stack([side, side, 3]), seed + 1)
    image = tf.image.stateless_random_flip_left_right(image, seed + 2)
    return tf.clip_by_value(image, 0.0, 1.0)


def pair_dataset(cfg: DataConfig, global_batch: int, start_step: int = 0) -> tuple[tf.data.Dataset, dict]:
    """Endless batches of {'content', 'style'} starting at ``start_step``; also returns file counts."""
    contents, bad_c = list_images(os.path.join(cfg.root, "content"))
    styles, bad_s = list_images(os.path.join(cfg.root, "style"))
    c_files, s_files = tf.constant(contents), tf.constant(styles)
    seed = cfg.seed
    sides = cfg.style_crops or (cfg.crop,)

    def example(i):
        base = tf.stack([tf.cast(seed, tf.int64), i])
        side = tf.gather(sides, (i // global_batch) % len(sides))  # one side per batch
        c = _load_crop(_pick(c_files, i, seed), cfg.crop, cfg.min_scale, cfg.max_scale, base * 3 + 11)
        s = _load_crop(
            _pick(s_files, i, seed + 1), cfg.crop, cfg.min_scale, cfg.max_scale, base * 3 + 29, side
        )
        return {"content": c, "style": s}

    ds = tf.data.Dataset.range(start_step * global_batch, 2**62)
    ds = ds.map(example, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.batch(global_batch, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
    counts = {"content": len(contents), "style": len(styles), "skipped": bad_c + bad_s}
    return ds, counts
