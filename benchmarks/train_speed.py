"""Training images/s of the shipped student recipe against student v2, on this machine, one after the
other: ``python -m benchmarks.train_speed [--steps 40] [--bank runs/student_v2/bank]``.

* before: ``training.student`` stage 1 as ``make train`` runs it (128 px crops, batch 8; the
  teacher, the style predictor, the transformer and the VGG loss every step);
* after: ``training.student_v2`` on its cached bank (no teacher per step), in the full architecture
  and in the lite one that ships (``--lite``: its fine-tuning stage). The bank is built once
  (``--bank`` reuses a built one); its cost is reported too, and amortised over a run of
  ``--run-steps`` steps.

Each run starts fresh in a scratch folder; img/s is the loop's own figure (tracing steps excluded).
The load average is printed with the figures: rerun with other jobs paused for the acceptance line.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time


def _load() -> str:
    with open("/proc/loadavg", encoding="utf-8") as fh:
        return " ".join(fh.read().split()[:3])


def _run(args: list[str]) -> tuple[float, float]:
    """Run a training command; returns (img/s, wall seconds)."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", *args, "--quiet"], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"{' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    match = re.search(r"([\d.]+) img/s", proc.stdout)
    if not match:
        raise SystemExit(f"no img/s in the output of {' '.join(args)}:\n{proc.stdout[-1000:]}")
    return float(match.group(1)), wall


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.train_speed", description=__doc__)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--bank", help="a built student v2 bank folder to reuse (default: build 256 pairs)")
    p.add_argument("--run-steps", type=int, default=4000, help="steps the bank is amortised over")
    args = p.parse_args(argv)
    common = ["--steps", str(args.steps), "--batch", "8", "--crop", "128", "--checkpoint-every", "100000"]
    common += ["--sample-every", "100000"]
    with tempfile.TemporaryDirectory(dir="runs" if os.path.isdir("runs") else None) as scratch:
        before_load = _load()
        before, _ = _run(["training.student", "--out", f"{scratch}/v1", "--stage", "1", *common])
        out = f"{scratch}/v2"
        os.makedirs(out)
        bank_rate = None
        pairs = 256
        if args.bank:
            os.symlink(os.path.abspath(args.bank), f"{out}/bank")
            pairs = 32 * len([n for n in os.listdir(args.bank) if n.endswith(".npz")])  # nothing to build
        else:
            bank_out = f"{scratch}/bank_only"
            t0 = time.perf_counter()
            _run(
                [
                    "training.student_v2",
                    "--out",
                    bank_out,
                    "--bank",
                    str(pairs),
                    "--steps",
                    "3",
                    "--batch",
                    "2",
                ]
            )
            bank_rate = pairs / (time.perf_counter() - t0)
            os.symlink(os.path.abspath(f"{bank_out}/bank"), f"{out}/bank")
        after, _ = _run(["training.student_v2", "--out", out, "--bank", str(pairs), *common])
        lite_args = ["--out", f"{scratch}/lite", "--bank-run", out, "--bank", str(pairs), "--lite"]
        lite, _ = _run(["training.student_v2", *lite_args, *common])
        after_load = _load()
    print(f"load average before {before_load}, after {after_load}")
    print(f"student (shipped recipe, stage 1): {before:.2f} img/s")
    print(f"student v2 (cached bank):          {after:.2f} img/s  ({after / before:.2f}x)")
    print(f"student v2 lite (cached bank):     {lite:.2f} img/s  ({lite / before:.2f}x)")
    if bank_rate:
        images = args.run_steps * 8
        amortised = images / (images / after + 2048 / bank_rate)
        print(
            f"bank: {bank_rate:.2f} pairs/s (upper bound: includes start-up); 2048 pairs amortised over "
            f"{args.run_steps} steps: {amortised:.2f} img/s ({amortised / before:.2f}x)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
