"""Quantisation-aware fine-tuning of the student: ``python -m export.qat``.

The distillation task of ``training.student`` with both student models wrapped by tfmot (fake
quantisation of weights and activations), trained on the same shared losses with the teacher as
target (output distillation + perceptual content/style) by the same loop: checkpoints, resume,
replicas. Fake quantisation runs in float32; the loop's default precision here is float32.

The feature-distillation head is not used: its tap sits inside the quantised graph, and at this
stage the student only has to keep its outputs while its activations learn their int8 ranges.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field

from tfstyle.assets import STUDENT_PREDICTOR, STUDENT_TRANSFORMER
from training.cli import loop_parser, main_guard, prepare, run
from training.student import DistillWeights, StudentTask

QAT_PREDICTOR = "student_predictor_qat.h5"
QAT_TRANSFORMER = "student_transformer_qat.h5"


@dataclass
class QatTask(StudentTask):
    weights: DistillWeights = field(default_factory=lambda: DistillWeights(feature=0.0))
    predictor_weights: str = STUDENT_PREDICTOR
    transformer_weights: str = STUDENT_TRANSFORMER
    name: str = "student_qat"

    def student_models(self) -> tuple:
        from export.quantize import quantize
        from tfstyle.models.student import Student

        student = Student(self.predictor_weights, self.transformer_weights)
        self.cfg = student.cfg
        return quantize(student.predictor), quantize(student.transformer)

    def export(self, out_dir: str) -> list[str]:
        """float32 weights of the QAT models (fake-quant ranges included), for the converter."""
        paths = [os.path.join(out_dir, QAT_PREDICTOR), os.path.join(out_dir, QAT_TRANSFORMER)]
        self.predictor.save_weights(paths[0])
        self.transformer.save_weights(paths[1])
        return paths


def load_qat_models(folder: str) -> tuple:
    """Rebuild the QAT predictor and transformer and load an ``export.qat`` run's exported weights."""
    from export.quantize import quantize, scope
    from tfstyle.models.student import Student

    student = Student(None, None)
    predictor, transformer = quantize(student.predictor), quantize(student.transformer)
    with scope():
        predictor.load_weights(os.path.join(folder, QAT_PREDICTOR))
        transformer.load_weights(os.path.join(folder, QAT_TRANSFORMER))
    return predictor, transformer


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = loop_parser("python -m export.qat", __doc__, out="runs/student_qat", steps=400, lr=5e-5, lr_decay=0.0)
    p.set_defaults(precision="float32", checkpoint_every=100, sample_every=400)
    p.add_argument("--teacher-decoder", help="teacher decoder weights (default: the shipped one)")
    p.add_argument(
        "--predictor", default=STUDENT_PREDICTOR, help="float student predictor weights to start from"
    )
    p.add_argument("--transformer", default=STUDENT_TRANSFORMER, help="float student transformer weights")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    data = prepare(args)
    task = QatTask(
        data,
        stage=2,
        teacher_decoder=args.teacher_decoder,
        predictor_weights=args.predictor,
        transformer_weights=args.transformer,
    )
    run(task, args, [])
    return 0


if __name__ == "__main__":
    main_guard(main)
