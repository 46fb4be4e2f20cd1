"""Quantisation-aware fine-tuning of the student: ``python -m export.qat``.

The distillation task of ``training.student`` with both student models wrapped by tfmot (fake
quantisation of weights and activations), run by the same loop (checkpoints, resume, replicas).
The target is the float student itself, the teacher's distilled copy: the shared output
distillation loss pulls the fake-quantised student onto the float one, so the integer model keeps
what distillation learned instead of drifting with fresh teacher targets (measured: fine-tuning on
the teacher's outputs moved the INT8 model to 20 dB end-to-end PSNR from the float student).
BatchNorm runs on its moving statistics (frozen). The int8 ranges are calibrated once on train
images at the deployment size (:func:`export.quantize.calibrate_ranges`, the set PTQ uses) instead of
tfmot's [-6, 6], and kept (:func:`export.quantize.kept_activation_ranges`): the weights adapt to
the very activation ranges the converter will use. The transformer is also trained on the float
predictor's vector, the input the parity check (and an app with saved or blended vectors) gives
it. Fake quantisation runs in float32.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass, field

from export.calibration import Calibration
from tfstyle.assets import STUDENT_PREDICTOR, STUDENT_TRANSFORMER
from training.cli import loop_parser, main_guard, prepare, run
from training.student import DistillWeights, StudentTask

# TensorFlow checkpoint prefixes: h5 cannot hold a QAT model with frozen (wrapped) BatchNorm
QAT_PREDICTOR = "student_predictor_qat"
QAT_TRANSFORMER = "student_transformer_qat"


@dataclass
class QatTask(StudentTask):
    weights: DistillWeights = field(
        default_factory=lambda: DistillWeights(output=1.0, feature=0.0, content=0.0, style=0.0)
    )
    predictor_weights: str = STUDENT_PREDICTOR
    transformer_weights: str = STUDENT_TRANSFORMER
    name: str = "student_qat"
    calibration: Calibration | None = None  # required: sets the int8 ranges, which training keeps

    def build(self) -> None:
        self.predictor, self.transformer = self.student_models()
        self.projection = None

    def student_models(self) -> tuple:
        from export.calibration import calibration_sets
        from export.quantize import calibrate_ranges, qat_model
        from tfstyle.models.student import Student

        self.reference = Student(self.predictor_weights, self.transformer_weights)
        self.cfg = self.reference.cfg
        models = tuple(qat_model(m) for m in (self.reference.predictor, self.reference.transformer))
        if self.calibration is None:
            raise ValueError("QAT needs a calibration set: its int8 ranges are set once, then kept")
        c = self.calibration
        samples = calibration_sets(self.reference, c.root, c.count, c.size)
        for model, role in zip(models, ("predictor", "transformer")):
            calibrate_ranges(model, samples[role])
        return models

    def losses(self, batch: dict, training: bool) -> dict:
        from export.quantize import kept_activation_ranges
        from tfstyle import losses
        from tfstyle._keras import tf

        content, style = batch["content"], batch["style"]
        ref = self.reference
        vector = tf.stop_gradient(ref.predictor(style, training=False))
        target = tf.stop_gradient(ref.transformer([content, vector], training=False))
        # int8 activation ranges stay where calibration put them; weights (and their ranges) adapt
        with kept_activation_ranges():
            quantised_vector = self.predictor(style, training=training)
            out = tf.cast(self.transformer([content, quantised_vector], training=training), tf.float32)
            # the transformer alone on the float vector too: the app may blend or load saved vectors
            alone = tf.cast(self.transformer([content, vector], training=training), tf.float32)
        terms = {
            "output": losses.distillation_loss(out, target),
            "transformer": losses.distillation_loss(alone, target),
        }
        total = losses.weighted_sum(terms, dict.fromkeys(terms, self.weights.output))
        return {"total": total, **terms, "student": out, "teacher": target}

    def export(self, out_dir: str) -> list[str]:
        """float32 weights (TF checkpoints) of the QAT models, fake-quant ranges included."""
        paths = [os.path.join(out_dir, QAT_PREDICTOR), os.path.join(out_dir, QAT_TRANSFORMER)]
        self.predictor.save_weights(paths[0], save_format="tf")
        self.transformer.save_weights(paths[1], save_format="tf")
        return paths


def load_qat_models(folder: str) -> tuple:
    """Rebuild the QAT predictor and transformer and load an ``export.qat`` run's exported weights."""
    from export.quantize import qat_model, scope
    from tfstyle.models.student import Student

    student = Student(None, None)
    predictor, transformer = (qat_model(m) for m in (student.predictor, student.transformer))
    with scope():
        predictor.load_weights(os.path.join(folder, QAT_PREDICTOR)).expect_partial()
        transformer.load_weights(os.path.join(folder, QAT_TRANSFORMER)).expect_partial()
    return predictor, transformer


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: must be at least 1")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = loop_parser("python -m export.qat", __doc__, out="runs/student_qat", steps=300, lr=2e-5, lr_decay=0.0)
    p.set_defaults(precision="float32", checkpoint_every=100, sample_every=400)
    p.add_argument("--teacher-decoder", help="teacher decoder weights (default: the shipped one)")
    p.add_argument(
        "--predictor", default=STUDENT_PREDICTOR, help="float student predictor weights to start from"
    )
    p.add_argument("--transformer", default=STUDENT_TRANSFORMER, help="float student transformer weights")
    p.add_argument("--calibration", type=_positive, default=32, help="train images that set the int8 ranges")
    p.add_argument("--calibration-size", type=int, default=384, help="their long side in px")
    return p.parse_args(argv)


FLOAT_STAMP = "float_weights.json"


def check_float_source(out: str, predictor: str, transformer: str) -> None:
    """Refuse to resume a QAT run that started from other float weights.

    The loop resumes whatever ``out`` holds, so after the float student was retrained a stale run
    would be "finished" already and export the old student's integer weights, which then fail (or
    worse, pass) parity against the new float model. A fresh run records the weights' hashes.
    """
    from tfstyle.errors import TfstyleError
    from tfstyle.files import sha256_file, write_text
    from training.loop import latest_checkpoint

    if not (os.path.isfile(predictor) and os.path.isfile(transformer)):
        return  # the task names the missing file when it loads it
    want = {"predictor": sha256_file(predictor), "transformer": sha256_file(transformer)}
    stamp = os.path.join(out, FLOAT_STAMP)
    if latest_checkpoint(out) is None:
        write_text(stamp, json.dumps(want, indent=1) + "\n")
        return
    try:
        with open(stamp, encoding="utf-8") as fh:
            have = json.load(fh)
    except (OSError, ValueError):
        have = None
    if have != want:
        what = "other float weights" if have else "unrecorded float weights"
        raise TfstyleError(
            f"{out}: this QAT run was started from {what}, not {predictor} and {transformer}; "
            "remove it or pass another --qat-run / --out"
        )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    data = prepare(args)
    check_float_source(args.out, args.predictor, args.transformer)
    task = QatTask(
        data,
        stage=2,
        teacher_decoder=args.teacher_decoder,
        predictor_weights=args.predictor,
        transformer_weights=args.transformer,
        calibration=Calibration(args.data, args.calibration, args.calibration_size),
    )
    run(task, args, [])
    return 0


if __name__ == "__main__":
    main_guard(main)
