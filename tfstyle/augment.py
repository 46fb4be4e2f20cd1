"""Style augmentation (Jackson et al. 2019, "Style Augmentation: Data Augmentation via Style
Randomization") as a Keras layer: each image is restyled by the student with a random style code at
a random strength, in-graph, so it runs in ``tf.data.Dataset.map`` (CPU) or inside a model (GPU).

* Codes: the student predictor's vectors of a folder of style images (or given as an array).
  ``sample="codes"`` draws one of them per image; ``sample="gaussian"`` (the paper's choice) draws
  from a Gaussian fitted to them (mean and full covariance), so unseen styles come out too.
* Strength: ``alpha`` uniform in ``strength`` per image; the transformer is driven by
  ``alpha * code + (1 - alpha) * own``, ``own`` being the image's own style vector (the student's
  alpha, :class:`tfstyle.engines.student.StudentEngine`). The paper's embedding mix is the same.
* Seeded: a ``tf.random.Generator`` gives each call its draws, so the same seed over the same
  pipeline (a sequential ``map``) gives the same images; ``call(..., seed=[a, b])`` makes one call
  depend on that seed alone (stateless), e.g. ``ds.enumerate().map(lambda i, x: aug(x, seed=[7, i]))``.
* ``training=False`` (``model.predict``/``evaluate``) passes images through, as Keras' own
  augmentation layers do.
"""

from __future__ import annotations

import os

import numpy as np

from tfstyle._keras import keras, tf
from tfstyle.errors import InputError, TfstyleError

__all__ = ["StyleAugment", "fit_gaussian", "style_codes"]

SAMPLES = ("codes", "gaussian")


def style_codes(styles, student=None, size: int = 256) -> np.ndarray:
    """Style vectors [N, D] of a folder of style images, or of a list of images/paths (long side ``size``)."""
    from tfstyle.images import list_images, load_image

    if isinstance(styles, (str, os.PathLike)):
        folder = os.fspath(styles)
        if not os.path.isdir(folder):
            raise InputError(folder, "not a folder of style images")
        styles = [os.path.join(folder, name) for name in list_images(folder)]
        if not styles:
            raise InputError(folder, "no style images in this folder")
    student = student if student is not None else _default_student()
    images = [load_image(s, size=size) if isinstance(s, (str, os.PathLike)) else s for s in styles]
    return np.concatenate([student.style_vector(np.asarray(im, np.float32)[None]) for im in images])


def fit_gaussian(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean [D] and Cholesky factor [D, D] of the codes' covariance, with a small ridge so that few
    styles (fewer than D) still give a proper, full-rank Gaussian."""
    codes = np.asarray(codes, np.float64)
    mean = codes.mean(axis=0)
    cov = np.cov(codes, rowvar=False) if len(codes) > 1 else np.zeros((codes.shape[1],) * 2)
    ridge = 1e-3 * max(float(np.trace(cov)) / codes.shape[1], 1e-6)
    chol = np.linalg.cholesky(cov + ridge * np.eye(codes.shape[1]))
    return mean.astype(np.float32), chol.astype(np.float32)


def _default_student():
    from tfstyle.engines.student import StudentEngine

    return StudentEngine().student


class StyleAugment(keras.layers.Layer):
    """Restyle each image with a random style (codes of ``styles``) at a random strength.

    ``styles``: a folder of style images, a list of images, or style codes [N, D] (an array).
    Inputs: images [B, H, W, 3] or [H, W, 3], float in [0, 1] (uint8 is scaled and returned as uint8).

    >>> aug = StyleAugment("paintings/", strength=(0.5, 1.0), seed=0)  # doctest: +SKIP
    >>> ds = ds.map(lambda x, y: (aug(x), y))  # doctest: +SKIP
    """

    def __init__(
        self,
        styles,
        *,
        sample: str = "gaussian",
        strength: tuple[float, float] = (0.5, 1.0),
        seed: int | None = None,
        student=None,
        style_size: int = 256,
        **kwargs,
    ):
        kwargs.pop("trainable", None)  # never trained: the student is frozen
        super().__init__(trainable=False, **kwargs)
        if sample not in SAMPLES:
            raise TfstyleError(f"sample must be one of {', '.join(SAMPLES)}, not {sample!r}")
        lo, hi = (float(x) for x in strength)
        if not 0.0 <= lo <= hi <= 1.0:
            raise TfstyleError(f"strength {strength} must satisfy 0 <= lo <= hi <= 1")
        self.student = student if student is not None else _default_student()
        if isinstance(styles, np.ndarray) and styles.ndim == 2:
            codes = styles.astype(np.float32)
        else:
            codes = style_codes(styles, self.student, style_size)
        if codes.shape[1] != self.student.style_dim:
            dim = self.student.style_dim
            raise TfstyleError(f"style codes have {codes.shape[1]} values, the student takes {dim}")
        self.sample, self.strength, self.seed, self.style_size = sample, (lo, hi), seed, style_size
        self.codes = tf.constant(codes)
        mean, chol = fit_gaussian(codes)
        self.mean, self.chol = tf.constant(mean), tf.constant(chol)
        if seed is None:
            self.generator = tf.random.Generator.from_non_deterministic_state()
        else:
            self.generator = tf.random.Generator.from_seed(int(seed))

    def draw(self, batch, seed=None):
        """Codes [B, D] and strengths [B, 1] for ``batch`` images (stateless when ``seed`` is given)."""
        if seed is None:
            seeds = tf.unstack(self.generator.make_seeds(2), axis=1)
        else:
            seeds = tf.unstack(tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 2))
        lo, hi = self.strength
        if hi > lo:
            alpha = tf.random.stateless_uniform([batch, 1], seeds[0], lo, hi)
        else:
            alpha = tf.fill([batch, 1], lo)
        if self.sample == "codes":
            n = tf.shape(self.codes)[0]
            index = tf.random.stateless_uniform([batch], seeds[1], 0, n, dtype=tf.int32)
            return tf.gather(self.codes, index), alpha
        z = tf.random.stateless_normal([batch, tf.shape(self.mean)[0]], seeds[1])
        return self.mean + tf.matmul(z, self.chol, transpose_b=True), alpha

    def call(self, inputs, training=True, seed=None):
        if training is False:
            return inputs
        images = tf.convert_to_tensor(inputs)
        was_uint8 = images.dtype == tf.uint8
        x = tf.image.convert_image_dtype(images, tf.float32) if was_uint8 else tf.cast(images, tf.float32)
        single = x.shape.rank == 3
        if single:
            x = x[None]
        batch, height, width = tf.shape(x)[0], tf.shape(x)[1], tf.shape(x)[2]
        codes, alpha = self.draw(batch, seed)
        own = tf.cast(self.student.predictor(x, training=False), tf.float32)
        mixed = alpha * codes + (1.0 - alpha) * own
        multiple = 8  # the transformer downsamples three times
        pad_h, pad_w = (-height) % multiple, (-width) % multiple
        padded = tf.pad(x, [[0, 0], [0, pad_h], [0, pad_w], [0, 0]], mode="REFLECT")
        out = tf.cast(self.student.transformer([padded, mixed], training=False), tf.float32)
        out = tf.clip_by_value(out[:, :height, :width, :], 0.0, 1.0)
        out = out[0] if single else out
        out = tf.image.convert_image_dtype(out, tf.uint8, saturate=True) if was_uint8 else out
        out.set_shape(images.shape)
        return tf.cast(out, images.dtype) if not was_uint8 else out

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            styles=self.codes.numpy().tolist(),
            sample=self.sample,
            strength=list(self.strength),
            seed=self.seed,
            style_size=self.style_size,
        )
        return config

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        config["styles"] = np.asarray(config["styles"], np.float32)
        return cls(**config)
