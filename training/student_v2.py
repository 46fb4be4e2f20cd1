"""Distil student v2 (computed multi-scale style code) from the teacher: ``python -m training.student_v2``.

Two phases, both resumable:

1. **Bank** (``<out>/bank``, float32, once): ``--bank`` pairs of an augmented content crop and an
   augmented style crop (the painting at several scales, hue-rotated half the time, flipped), with
   what never changes between steps: the teacher's stylization, its AdaIN target at relu4_1 and
   the style crop's VGG mean/std at relu1_1..relu4_1. Written in atomic chunks, so a killed build
   resumes at the next chunk. The teacher then costs nothing per training step.
2. **Training** (``training.loop``: checkpoints, resume, ``mixed_bfloat16`` on BF16 CPUs) on the bank,
   flipped at random (the flip commutes with the teacher). Losses, all from ``tfstyle.losses``:

   * ``output``: L1 to the teacher's stylization (the strongest and cheapest signal), less its
     8 px lattice (``tfstyle.ops.lattice``) when ``grid`` is weighted: the teacher's encoder grid
     shows through its decoder, and a student taught the raw image learns the grid with the strokes;
   * ``grid``: the student's own lattice (``tfstyle.losses.grid_loss``);
   * ``style``: mean/std style loss to the cached style statistics at relu1_1..relu3_1 (colour and
     fine texture, where the shipped student's gap was). The loss network stops at relu3_1: half
     of VGG's cost, and relu4_1's content term only repeated the output term (the teacher's image
     *is* its relu4_1 target decoded); ``--weights content=1`` with ``--style-layers`` naming
     relu4_1 brings the full depth back;
   * ``feature``: a 1x1 embedding of the student's AdaIN'd 1/8 features onto the AdaIN target
     (Collaborative Distillation);
   * ``identity``: the content through its own code must come back (alpha 0 returns the content);
   * ``temporal``: stylizing a slightly moved, zoomed, rotated and noised content equals the same
     motion applied to the stylization (video stability).
"""

from __future__ import annotations

import argparse
import glob
import math
import os
from dataclasses import dataclass, field

import numpy as np

from training.cli import loop_parser, main_guard, prepare, run
from training.data import DataConfig, _load_crop, _pick, list_images
from training.student import _style_layer_weights

CHUNK = 32
LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")


@dataclass
class V2Weights:
    """Loss weights. The style term outweighs the output term: an L1 to the teacher's strokes,
    which the student cannot place pixel-exactly, pays best for a blur; at (30, 20) the student
    stayed a colour transfer for 800 steps, at (10, 30) it paints strokes, at (10, 40) with the
    wider decoder it paints the teacher's patches (docs/experiments)."""

    output: float = 10.0
    content: float = 0.0
    style: float = 40.0
    feature: float = 1.0
    identity: float = 30.0
    temporal: float = 10.0
    grid: float = 10.0


# relu3_1 (strokes) is where the student trailed the teacher most (2.3x at step 1,300; relu1_1's
# colour statistics it already matched, with speckle): the weight goes where the gap is
DEFAULT_STYLE_LAYERS = {"relu1_1": 10.0, "relu2_1": 20.0, "relu3_1": 30.0}


@dataclass
class BankConfig:
    pairs: int = 2048
    style_min_scale: float = 1.0  # the painting's short side is crop * U(min, max) before cropping
    style_max_scale: float = 3.0
    hue_probability: float = 0.5


# ---------------------------------------------------------------- bank


def _style_crop(path, crop: int, bank: BankConfig, seed):
    """A style crop at a random scale, flipped, and hue-rotated with ``hue_probability``."""
    from tfstyle._keras import tf

    image = _load_crop(path, crop, bank.style_min_scale, bank.style_max_scale, seed)
    rotate = tf.random.stateless_uniform([], seed + 5) < bank.hue_probability
    delta = tf.random.stateless_uniform([], seed + 6, -0.5, 0.5)
    hued = tf.clip_by_value(tf.image.adjust_hue(image, delta), 0.0, 1.0)
    image = tf.where(rotate, hued, image)
    return tf.image.stateless_random_flip_up_down(image, seed + 7)


def bank_dataset(data: DataConfig, bank: BankConfig, start: int):
    """Augmented (content, style) crops for bank entries ``start`` .. ``bank.pairs`` (pure in the index)."""
    from tfstyle._keras import tf

    contents, _ = list_images(os.path.join(data.root, "content"))
    styles, _ = list_images(os.path.join(data.root, "style"))
    c_files, s_files = tf.constant(contents), tf.constant(styles)
    seed = data.seed + 1000  # not the seed stream of the v1 recipe's pairs

    def example(i):
        base = tf.stack([tf.cast(seed, tf.int64), i])
        c = _load_crop(_pick(c_files, i, seed), data.crop, data.min_scale, data.max_scale, base * 3 + 11)
        s = _style_crop(_pick(s_files, i, seed + 1), data.crop, bank, base * 3 + 29)
        return {"content": c, "style": s}

    ds = tf.data.Dataset.range(start, bank.pairs).map(example, num_parallel_calls=2, deterministic=True)
    return ds.batch(CHUNK)


def bank_chunks(out_dir: str) -> list[str]:
    return sorted(glob.glob(os.path.join(out_dir, "bank", "chunk_*.npz")))


def build_bank(
    data: DataConfig, bank: BankConfig, out_dir: str, teacher_decoder: str | None = None, precision="auto"
) -> None:
    """Write the bank's missing chunks (each chunk atomic). ``precision`` auto is bfloat16 on BF16
    CPUs (AMX): the teacher runs several times faster, and the images are stored as uint8 anyway."""
    import time

    from tfstyle import losses
    from tfstyle._keras import tf
    from tfstyle.files import atomic_path
    from tfstyle.models.teacher import BOTTLENECK, DEFAULT_DECODER, FEATURE_SCALE, Teacher, adain_target
    from tfstyle.precision import policy_scope

    folder = os.path.join(out_dir, "bank")
    os.makedirs(folder, exist_ok=True)
    done = len(bank_chunks(out_dir))
    total = math.ceil(bank.pairs / CHUNK)
    if done >= total:
        return
    with policy_scope(precision):
        teacher = Teacher(teacher_decoder or DEFAULT_DECODER)

    @tf.function
    def targets(content, style):
        _, fs, target = adain_target(teacher.encoder, content, style)
        out = tf.clip_by_value(teacher.decode(target * FEATURE_SCALE), 0.0, 1.0)
        stats = losses.style_targets(fs, LAYERS)
        return out, target, stats.means, stats.stds

    t0 = time.perf_counter()
    for k, batch in enumerate(bank_dataset(data, bank, done * CHUNK), start=done):
        out, target, means, stds = targets(batch["content"], batch["style"])
        arrays = {
            "content": _u8(batch["content"]),
            "style": _u8(batch["style"]),
            "teacher": _u8(out),
            "target": target.numpy().astype(np.float16),
        }
        for name in LAYERS:
            arrays[f"mean_{name}"] = means[name].numpy()[:, 0, 0, :]
            arrays[f"std_{name}"] = stds[name].numpy()[:, 0, 0, :]
        path = os.path.join(folder, f"chunk_{k:05d}.npz")
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
        rate = (k + 1 - done) * CHUNK / (time.perf_counter() - t0)
        print(f"bank: chunk {k + 1}/{total} ({rate:.2f} pairs/s)", flush=True)
    assert BOTTLENECK == "relu4_1"


def _u8(images) -> np.ndarray:
    return np.round(np.clip(np.asarray(images, np.float32), 0, 1) * 255).astype(np.uint8)


def load_bank(out_dir: str) -> dict[str, np.ndarray]:
    from tfstyle.errors import TfstyleError

    paths = bank_chunks(out_dir)
    if not paths:
        raise TfstyleError(f"{out_dir}/bank: no bank chunks (the bank phase did not run)")
    parts = [dict(np.load(p)) for p in paths]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def bank_batches(run_dir: str, seed: int, global_batch: int, start_step: int):
    """The bank of ``run_dir`` as batches, flipped left-right per example; a pure function of the
    step (resume gives the same batches)."""
    from tfstyle._keras import tf

    bank = load_bank(run_dir)
    n = len(bank["content"])
    keys = sorted(bank)

    def fetch(step):
        """One step's entries in one NumPy gather: a Python call per step, not per example
        (per-example calls cost 7% of a step on two cores)."""
        rows = (int(step) * global_batch + np.arange(global_batch)) % n
        return tuple(bank[k][rows] for k in keys)

    def step_batch(step):
        values = tf.numpy_function(fetch, [step], [tf.as_dtype(bank[k].dtype) for k in keys])
        ex = {k: tf.ensure_shape(v, (global_batch, *bank[k].shape[1:])) for k, v in zip(keys, values)}
        flip = tf.random.stateless_uniform([global_batch], tf.stack([tf.cast(seed, tf.int64), step])) < 0.5
        for k in ("content", "style", "teacher", "target"):  # left-right, per example
            ex[k] = tf.where(flip[:, None, None, None], tf.reverse(ex[k], [2]), ex[k])
        for k in ("content", "style", "teacher"):
            ex[k] = tf.cast(ex[k], tf.float32) / 255.0
        ex["target"] = tf.cast(ex["target"], tf.float32)
        return ex

    ds = tf.data.Dataset.range(start_step, 2**62).map(step_batch)
    # unbatched and batched again, so a distribution strategy can split the global batch
    return ds.unbatch().batch(global_batch, drop_remainder=True).prefetch(2)


# ---------------------------------------------------------------- motion (temporal term)


def random_motion(batch: int, size: int, seed=None):
    """Projective transforms [B, 8] of a small random move: shift <= 3 px, zoom <= 4%, rotation <= 2 deg."""
    from tfstyle._keras import tf

    def u(lo, hi):
        return tf.random.uniform([batch], lo, hi)

    angle = u(-2.0, 2.0) * math.pi / 180.0
    zoom = u(1.0, 1.04)
    tx, ty = u(-3.0, 3.0), u(-3.0, 3.0)
    c = (size - 1) / 2.0
    cos, sin = tf.cos(angle) / zoom, tf.sin(angle) / zoom
    # output pixel (x, y) reads input (a0 x + a1 y + a2, b0 x + b1 y + b2): rotation+zoom about the centre
    a2 = c - cos * c + sin * c + tx
    b2 = c - sin * c - cos * c + ty
    zeros = tf.zeros([batch])
    return tf.stack([cos, -sin, a2, sin, cos, b2, zeros, zeros], 1)


def apply_motion(images, transforms):
    from tfstyle._keras import tf

    return tf.raw_ops.ImageProjectiveTransformV3(
        images=tf.cast(images, tf.float32),
        transforms=transforms,
        output_shape=tf.shape(images)[1:3],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="REFLECT",
    )


# ---------------------------------------------------------------- task


@dataclass
class StudentV2Task:
    data: DataConfig = field(default_factory=DataConfig)
    weights: V2Weights = field(default_factory=V2Weights)
    style_layers: dict = field(default_factory=lambda: dict(DEFAULT_STYLE_LAYERS))
    init_from: str | None = None
    lite: bool = False  # the lite architecture (tfstyle.models.student_v2.LITE), from a distilled one
    noise: float = 0.02
    name: str = "student_v2"
    skipped_files: int = 0
    bank_run: str = "runs/student_v2"  # the run folder holding the bank (``<bank_run>/bank``)

    def build(self) -> None:
        from tfstyle._keras import keras
        from tfstyle.features import build_vgg19
        from tfstyle.models import student_v2 as S

        layers = [k for k, v in self.style_layers.items() if v] + (
            ["relu4_1"] if self.weights.content else []
        )
        self.vgg = build_vgg19(layers, name="loss_vgg")
        cfg = S.LITE if self.lite else S.StudentV2Config()
        self.encoder = S.build_encoder(imagenet=True, cfg=cfg)
        self.decoder = S.build_decoder(cfg)
        if self.init_from:
            S.warm_start(self.encoder, os.path.join(self.init_from, "student_v2_encoder.h5"))
            S.warm_start(self.decoder, os.path.join(self.init_from, "student_v2_decoder.h5"))
        self.projection = keras.Sequential([keras.layers.Conv2D(512, 1, dtype="float32")], name="embed")
        self.projection.build((None, None, None, S.TAP_CHANNELS[S.EMBED_TAP]))

    def trainable_variables(self) -> list:
        return (
            self.encoder.trainable_variables
            + self.decoder.trainable_variables
            + self.projection.trainable_variables
        )

    def checkpoint_objects(self) -> dict:
        return {"encoder": self.encoder, "decoder": self.decoder, "projection": self.projection}

    def dataset(self, global_batch: int, start_step: int):
        return bank_batches(self.bank_run, self.data.seed, global_batch, start_step)

    def forward(self, content, style, training: bool, motion=None):
        """Stylized, identity and (with ``motion``) moved outputs of one batch (each the decoder's
        residual over its colour base); one decoder pass."""
        from tfstyle._keras import tf
        from tfstyle.models import student_v2 as S

        def taps(x):
            return [tf.cast(t, tf.float32) for t in self.encoder(x, training=False)]

        tc, ts = taps(content), taps(style)
        code_s, code_c = S.code_from_taps(ts), S.code_from_taps(tc)
        parts = [S.restyle(tc, code_s), S.restyle(tc, code_c)]
        bases = [S.colour_base(content, code_c, code_s), content]  # the identity's base is the content
        if motion is not None:
            moved = apply_motion(content, motion)
            moved += self.noise * tf.random.normal(tf.shape(moved))
            tm = taps(moved)
            parts.append(S.restyle(tm, code_s))
            bases.append(S.colour_base(moved, S.code_from_taps(tm), code_s))
        dec_in = [tf.concat([p[i] for p in parts], 0) for i in range(len(S.TAP_CHANNELS))]
        out = tf.cast(self.decoder(dec_in, training=training), tf.float32) + tf.concat(bases, 0)
        return tf.split(out, len(parts), 0), parts[0]

    def losses(self, batch: dict, training: bool) -> dict:
        from tfstyle import losses
        from tfstyle._keras import tf
        from tfstyle.models import student_v2 as S
        from tfstyle.models.teacher import BOTTLENECK, scaled_features
        from tfstyle.ops import lattice

        content, style, teacher = batch["content"], batch["style"], batch["teacher"]
        size = content.shape[1]
        motion = random_motion(tf.shape(content)[0], size) if self.weights.temporal else None
        outs, styled_taps = self.forward(content, style, training, motion)
        out, ident = outs[0], outs[1]
        fo = scaled_features(self.vgg, out)
        terms = {}
        if self.weights.grid:  # the teacher's grid out of the target, the student's own penalised
            teacher = teacher - lattice(teacher)
            terms["grid"] = losses.grid_loss(out)
        terms["output"] = losses.distillation_loss(out, teacher)
        if self.weights.content:
            terms["content"] = losses.content_loss(fo[BOTTLENECK], batch["target"])
        targets = losses.StyleTargets(
            {},
            {k: batch[f"mean_{k}"][:, None, None, :] for k in self.style_layers},
            {k: batch[f"std_{k}"][:, None, None, :] for k in self.style_layers},
        )
        terms["style"], per_layer = losses.style_loss(fo, targets, "mean_std", self.style_layers)
        terms.update({f"style_{k}": v for k, v in per_layer.items()})  # logged, not in the total
        embedded = self.projection(styled_taps[S.EMBED_TAP], training=training)
        terms["feature"] = losses.feature_distillation_loss(embedded, batch["target"])
        terms["identity"] = losses.distillation_loss(ident, content)
        if motion is not None:
            m = 8  # the reflected fill at the border is not what a moving camera sees
            expected = tf.stop_gradient(apply_motion(out, motion))
            terms["temporal"] = losses.distillation_loss(outs[2][:, m:-m, m:-m], expected[:, m:-m, m:-m])
        total = losses.weighted_sum(terms, {k: v for k, v in vars(self.weights).items() if k in terms})
        return {"total": total, **terms, "student": out, "identity_image": ident}

    def samples(self, batch: dict) -> list[list[np.ndarray]]:
        terms = self.losses(batch, training=False)
        s, i = terms["student"].numpy().clip(0, 1), terms["identity_image"].numpy().clip(0, 1)
        return [
            list(row)
            for row in zip(batch["content"].numpy(), batch["style"].numpy(), batch["teacher"].numpy(), s, i)
        ]

    def export(self, out_dir: str) -> list[str]:
        from tfstyle.models.io import save_weights_float16

        paths = [
            os.path.join(out_dir, "student_v2_encoder.h5"),
            os.path.join(out_dir, "student_v2_decoder.h5"),
        ]
        save_weights_float16(self.encoder, paths[0])
        save_weights_float16(self.decoder, paths[1])
        return paths


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = loop_parser(
        "python -m training.student_v2", __doc__, out="runs/student_v2", steps=4000, lr=1e-3, lr_decay=5e-4
    )
    p.add_argument("--bank", type=int, default=BankConfig().pairs, help="pairs in the cached bank")
    p.add_argument(
        "--bank-run",
        help="the run folder whose bank to use and complete (default: --out); later stages share the first's",
    )
    p.add_argument("--teacher-decoder", help="teacher decoder weights (default: the shipped one)")
    p.add_argument("--init-from", help="a previous --out folder whose exported weights to start from")
    p.add_argument(
        "--lite",
        action="store_true",
        help="the lite architecture (start it --init-from a training.student_v2_lite run)",
    )
    p.add_argument(
        "--weights",
        type=_loss_weights,
        default=V2Weights(),
        help="loss weights as name=value,... over " + ", ".join(vars(V2Weights())),
    )
    p.add_argument(
        "--style-layers",
        type=_style_layer_weights,
        default=dict(DEFAULT_STYLE_LAYERS),
        help="style-term weights per VGG layer as relu1_1=value,... (default: "
        + ",".join(f"{k}={v:g}" for k, v in DEFAULT_STYLE_LAYERS.items())
        + "; the loss network stops at the deepest one named)",
    )
    return p.parse_args(argv)


def _loss_weights(text: str) -> V2Weights:
    values = {}
    for item in filter(None, text.split(",")):
        name, _, value = item.partition("=")
        if name.strip() not in vars(V2Weights()):
            raise argparse.ArgumentTypeError(f"unknown loss {name.strip()!r} in {text!r}")
        try:
            values[name.strip()] = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{item!r}: the weight must be a number") from None
    return V2Weights(**values)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    data = prepare(args)
    bank_run = args.bank_run or args.out
    if not args.export_only:
        build_bank(data, BankConfig(pairs=args.bank), bank_run, args.teacher_decoder, args.precision)
    task = StudentV2Task(
        data,
        args.weights,
        style_layers=args.style_layers,
        init_from=args.init_from,
        lite=args.lite,
        bank_run=bank_run,
    )
    from tfstyle.assets import STUDENT_V2_DECODER, STUDENT_V2_ENCODER

    run(task, args, [STUDENT_V2_ENCODER, STUDENT_V2_DECODER])
    return 0


if __name__ == "__main__":
    main_guard(main)
