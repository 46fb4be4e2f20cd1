"""Pure tensor functions shared by losses, models and metrics (no layers, no state).

Everything here computes in float32 whatever the input dtype, because feature statistics of
bfloat16/float16 activations lose too much precision (variances of values in the hundreds).
"""

from __future__ import annotations

from tfstyle._keras import tf

EPS = 1e-5


def _f32(x):
    return tf.cast(x, tf.float32)


def resize_mask(mask, size):
    """Resize a [B,H,W,1] (or [H,W]) mask in [0,1] to a feature map's spatial ``size`` (area average)."""
    mask = _f32(mask)
    if mask.shape.rank == 2:
        mask = mask[None, :, :, None]
    return tf.image.resize(mask, size, method="area")


def masked_mean(x, mask=None, axis=(1, 2)):
    """Mean over ``axis`` with optional weights; a mask that is empty gives 0, never NaN."""
    x = _f32(x)
    if mask is None:
        return tf.reduce_mean(x, axis=axis, keepdims=True)
    mask = resize_mask(mask, tf.shape(x)[1:3])
    total = tf.reduce_sum(mask, axis=axis, keepdims=True)
    return tf.math.divide_no_nan(tf.reduce_sum(x * mask, axis=axis, keepdims=True), total)


def mean_std(feats, mask=None, eps: float = EPS):
    """Per-channel mean and standard deviation over space, shapes [B,1,1,C] (calc_mean_std)."""
    feats = _f32(feats)
    mean = masked_mean(feats, mask)
    var = masked_mean(tf.square(feats - mean), mask)
    return mean, tf.sqrt(var + eps)


def gram_matrix(feats, mask=None):
    """Channel correlations normalised by the number of (masked) positions, shape [B,C,C].

    Dividing by positions makes the statistic independent of image size, so a style image at one
    resolution can be matched at another.
    """
    feats = _f32(feats)
    if mask is None:
        n = tf.cast(tf.shape(feats)[1] * tf.shape(feats)[2], tf.float32)
        return tf.einsum("bhwc,bhwd->bcd", feats, feats) / n
    mask = resize_mask(mask, tf.shape(feats)[1:3])
    n = tf.reduce_sum(mask, axis=(1, 2, 3))
    gram = tf.einsum("bhwc,bhwd->bcd", feats * mask, feats)
    return tf.math.divide_no_nan(gram, n[:, None, None])


def reflect_pad(x, top: int, bottom: int, left: int, right: int):
    """``tf.pad(mode="REFLECT")`` of [B,H,W,C] built from one-row slices and concatenations.

    Why: TFLite turns REFLECT into MIRROR_PAD, which XNNPACK does not run, so a decoder with a pad
    before every convolution falls apart into small delegate partitions (6x slower at 384 px in
    INT8); slices and concatenations stay inside the delegate, and the values are the same.
    """

    def along(t, lo: int, hi: int, axis: int):
        if not lo and not hi:
            return t
        n = tf.shape(t)[axis]

        def row(i):
            begin, size = [0, 0, 0, 0], [-1, -1, -1, -1]
            begin[axis], size[axis] = i, 1
            return tf.slice(t, begin, size)

        parts = [row(lo - k) for k in range(lo)] + [t] + [row(n - 2 - k) for k in range(hi)]
        return tf.concat(parts, axis)

    return along(along(x, int(top), int(bottom), 1), int(left), int(right), 2)


def adain(content, style_mean, style_std, eps: float = EPS):
    """Adaptive instance normalisation: give ``content`` the per-channel statistics of the style."""
    c_mean, c_std = mean_std(content, eps=eps)
    return (_f32(content) - c_mean) / c_std * style_std + style_mean


def cov_sqrt(feats, eps: float = EPS):
    """[B,h,w,C] -> the square root of each image's channel covariance (+ ``eps`` I), [B,C,C]: the
    colouring matrix of a whitening-colouring transform. Its eigendecomposition gets no gradient
    (3x3 eigenvectors are unstable where eigenvalues meet, and the callers' images are inputs)."""
    feats = _f32(feats)
    b, c = tf.shape(feats)[0], tf.shape(feats)[-1]
    flat = tf.reshape(feats, [b, -1, c])
    centred = flat - tf.reduce_mean(flat, 1, keepdims=True)
    cov = tf.matmul(centred, centred, transpose_a=True) / tf.cast(tf.shape(flat)[1], tf.float32)
    values, vectors = tf.linalg.eigh(tf.stop_gradient(cov) + eps * tf.eye(c))
    root = tf.sqrt(tf.maximum(values, eps))
    return tf.matmul(vectors * root[:, None, :], vectors, transpose_b=True)


def lattice(images, period: int = 8, blocks: int = 5):
    """The part of [B,H,W,C] that repeats every ``period`` px, estimated locally: the high-pass
    (the image less its ``period``-wide box blur, which keeps a ``period``-periodic pattern whole)
    averaged over the ``blocks`` x ``blocks`` pixels of the same phase around each pixel. A decoder
    fed 1/8-resolution features draws such a lattice; natural detail, which does not repeat on that
    grid, mostly averages out. Subtracting it removes the grid without blurring the strokes.
    Samples past the border are left out of the average (only the box blur reflects, within
    ``period // 2`` px of the border)."""
    images = _f32(images)
    lo, hi = period // 2, period - 1 - period // 2
    reflected = tf.pad(images, [[0, 0], [lo, hi], [lo, hi], [0, 0]], "REFLECT")
    # both filters are separable: two 1-D passes cost 2k, not k^2, per pixel (forward and gradient)
    box = tf.nn.avg_pool2d(tf.nn.avg_pool2d(reflected, [period, 1], 1, "VALID"), [1, period], 1, "VALID")
    r = (blocks // 2) * period
    pad = [[0, 0], [r, r], [r, r], [0, 0]]  # zeros, counted out below: a reflection breaks the period

    def phase_sum(x):
        column = tf.ones([blocks, 1, x.shape[-1], 1])
        row = tf.transpose(column, [1, 0, 2, 3])
        down = tf.nn.depthwise_conv2d(tf.pad(x, pad), column, [1] * 4, "VALID", dilations=[period, 1])
        return tf.nn.depthwise_conv2d(down, row, [1] * 4, "VALID", dilations=[1, period])

    return phase_sum(images - box) / phase_sum(tf.ones_like(images[..., :1]))


def wct(content, style, eps: float = 1e-5):
    """Whitening-colouring transform (Li et al. 2017): match the full feature covariance, not only
    per-channel std. Slower than AdaIN (two eigendecompositions per image) but stronger on
    structured styles."""
    content, style = _f32(content), _f32(style)

    def one(c, s):
        h, w, ch = tf.shape(c)[0], tf.shape(c)[1], tf.shape(c)[2]
        fc = tf.reshape(c, [-1, ch])
        fs = tf.reshape(s, [-1, tf.shape(s)[2]])
        mc, ms = tf.reduce_mean(fc, 0, keepdims=True), tf.reduce_mean(fs, 0, keepdims=True)
        fc, fs = fc - mc, fs - ms
        eye = tf.eye(ch)
        cov_c = tf.matmul(fc, fc, transpose_a=True) / tf.cast(tf.shape(fc)[0] - 1, tf.float32) + eps * eye
        cov_s = tf.matmul(fs, fs, transpose_a=True) / tf.cast(tf.shape(fs)[0] - 1, tf.float32) + eps * eye
        ec, vc = tf.linalg.eigh(cov_c)
        es, vs = tf.linalg.eigh(cov_s)
        whiten = vc @ tf.linalg.diag(tf.math.rsqrt(tf.maximum(ec, eps))) @ tf.transpose(vc)
        colour = vs @ tf.linalg.diag(tf.sqrt(tf.maximum(es, eps))) @ tf.transpose(vs)
        out = fc @ whiten @ colour + ms
        return tf.reshape(out, [h, w, ch])

    return tf.map_fn(lambda cs: one(cs[0], cs[1]), (content, style), fn_output_signature=tf.float32)
