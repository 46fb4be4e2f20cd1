"""``python -m export`` (``make export-tflite``): QAT, every TFLite variant, manifest, parity.

1. quantisation-aware fine-tuning of the float student (``export.qat``; resumes, and is a no-op
   when its run already reached ``--qat-steps``);
2. the predictor and the transformer in five variants (:data:`export.convert.VARIANTS`), integer
   ones calibrated on ``train`` images, written atomically to ``--out`` with ``manifest.json``;
3. parity of each variant with the Keras float32 student on the dev set; fails (exit 1) when INT8
   misses its thresholds;
4. ``--ship`` copies the INT8 pair into ``tfstyle/assets`` for the runner's default.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil

from export.calibration import calibration_sets
from tfstyle.assets import (
    STUDENT_PREDICTOR,
    STUDENT_PREDICTOR_TFLITE,
    STUDENT_TRANSFORMER,
    STUDENT_TRANSFORMER_TFLITE,
)
from tfstyle.files import atomic_path, sha256_file, write_text

DATA = os.environ.get("TFSTYLE_DATA", "../shared/data")


def _source(path: str) -> str:
    """Which weights a model was converted from: path and content hash."""
    return f"{os.path.relpath(path)} sha256:{sha256_file(path)}"


def write_variants(student, qat_models, out: str, calibration: dict, source: dict) -> dict:
    from export.convert import VARIANTS, convert
    from export.quantize import integer_input

    os.makedirs(out, exist_ok=True)
    entries, files = [], {}
    for variant in VARIANTS:
        pair = []
        for role, float_model, qat_model in zip(
            ("predictor", "transformer"), (student.predictor, student.transformer), qat_models
        ):
            # integer variants take the exact int8 input map; float ones the Keras graph as it is
            if variant == "int8":
                model = qat_model
            elif variant == "ptq_int8":
                model = integer_input(float_model)
            else:
                model = float_model
            buf = convert(model, variant, calibration[role])
            name = f"{role}_{variant}.tflite"
            path = os.path.join(out, name)
            with atomic_path(path) as tmp, open(tmp, "wb") as fh:
                fh.write(buf)
            entries.append(
                {
                    "file": name,
                    "role": role,
                    "variant": variant,
                    "bytes": len(buf),
                    "sha256": hashlib.sha256(buf).hexdigest(),
                    "source": source["qat" if variant == "int8" else "float"][role],
                }
            )
            pair.append(path)
            print(f"wrote {path} ({len(buf) / 1e6:.3f} MB)")
        files[variant] = tuple(pair)
    manifest = {"variants": VARIANTS, "models": entries}
    write_text(os.path.join(out, "manifest.json"), json.dumps(manifest, indent=2) + "\n")
    return files


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m export", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--out", default="export/out")
    p.add_argument("--predictor", default=STUDENT_PREDICTOR, help="float student predictor weights")
    p.add_argument("--transformer", default=STUDENT_TRANSFORMER, help="float student transformer weights")
    p.add_argument("--qat-run", default="runs/student_qat", help="export.qat output folder (resumed)")
    p.add_argument("--qat-steps", type=int, default=300, help="QAT steps (0: use the run as it is)")
    p.add_argument("--qat-batch", type=int, default=8)
    p.add_argument("--qat-crop", type=int, default=256)
    p.add_argument("--qat-lr", type=float, default=2e-5)
    p.add_argument("--calibration", type=int, default=32, help="train images per role for calibration")
    p.add_argument("--calibration-size", type=int, default=384)
    p.add_argument("--parity-size", type=int, default=384)
    p.add_argument("--dev", default=os.path.join(DATA, "dev"))
    p.add_argument("--train", default=os.path.join(DATA, "train"))
    p.add_argument("--report", default="docs/QUALITY.md", help="Markdown file that gets the parity section")
    p.add_argument("--ship", action="store_true", help="copy the INT8 pair into tfstyle/assets")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from export import parity
    from export.qat import QAT_PREDICTOR, QAT_TRANSFORMER, load_qat_models
    from export.qat import main as qat_main
    from tfstyle.models.student import Student

    student = Student(args.predictor, args.transformer)  # fails early, one line, on missing weights
    qat_args = ["--out", args.qat_run, "--predictor", args.predictor, "--transformer", args.transformer]
    qat_args += ["--steps", str(args.qat_steps), "--batch", str(args.qat_batch), "--crop", str(args.qat_crop)]
    qat_args += ["--lr", str(args.qat_lr)]
    qat_args += ["--calibration", str(args.calibration), "--calibration-size", str(args.calibration_size)]
    qat_args += ["--data", args.train, "--quiet"]
    if args.qat_steps == 0:
        qat_args.append("--export-only")
    qat_main(qat_args)
    qat_models = load_qat_models(args.qat_run)

    from training.loop import latest_checkpoint

    checkpoint = latest_checkpoint(args.qat_run)
    qat_files = [os.path.join(args.qat_run, name + ".index") for name in (QAT_PREDICTOR, QAT_TRANSFORMER)]
    source = {
        "float": {"predictor": _source(args.predictor), "transformer": _source(args.transformer)},
        "qat": {
            role: f"{_source(path)} from {os.path.relpath(checkpoint)}"
            for role, path in zip(("predictor", "transformer"), qat_files)
        },
    }
    calibration = calibration_sets(student, args.train, args.calibration, args.calibration_size)
    files = write_variants(student, qat_models, args.out, calibration, source)

    pairs = parity.dev_pairs(args.dev, args.parity_size)
    results = parity.measure(files, student, pairs)
    write_text(os.path.join(args.out, "parity.json"), json.dumps(results, indent=2) + "\n")
    from benchmarks.report import update_section

    update_section(args.report, "tflite-parity", parity.report(results, args.parity_size), title="# Quality")
    for variant, r in results.items():
        print(f"parity {variant}: PSNR {r['psnr']:.2f} dB, SSIM {r['ssim']:.4f}, cosine {r['cosine']:.5f}")
    failures = parity.check(results)
    if failures:
        raise parity.ParityError("parity below thresholds: " + "; ".join(failures))
    if args.ship:
        for src, dst in zip(files["int8"], (STUDENT_PREDICTOR_TFLITE, STUDENT_TRANSFORMER_TFLITE)):
            shutil.copyfile(src, dst)
            print(f"shipped {dst}")
    return 0


if __name__ == "__main__":
    from training.cli import main_guard

    main_guard(main)
