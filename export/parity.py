"""Parity of every TFLite variant with the Keras float32 student, on the dev set.

For each dev (content, style) pair at the parity size:

* transformer: the TFLite transformer fed the *Keras* style vector, against the Keras output
  (PSNR and SSIM): the transformer's own quantisation error, which the acceptance thresholds bound;
* predictor: cosine similarity of the TFLite style vector with the Keras one;
* end to end: TFLite predictor + transformer against Keras (what the runner produces).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from tfstyle.errors import TfstyleError
from tfstyle.images import load_image
from tfstyle.runtime import LiteStudent

THRESHOLDS = {"int8": {"psnr": 30.0, "ssim": 0.95}}
"""Variants whose transformer must reach these on average, or the export fails."""


class ParityError(TfstyleError):
    """An exported variant drifted further from the Keras model than its thresholds allow."""


@dataclass
class DevPair:
    content_name: str
    style_name: str
    content: np.ndarray
    style: np.ndarray

    @property
    def name(self) -> str:
        return f"{self.content_name}__{self.style_name}"


def dev_pairs(data_root: str, size: int) -> list[DevPair]:
    """Every (content, style) pair of the dev set, each image loaded once at long side ``size``."""

    def images(kind: str) -> list[tuple[str, np.ndarray]]:
        folder = os.path.join(data_root, kind)
        return [
            (os.path.splitext(n)[0], load_image(os.path.join(folder, n), size=size))
            for n in sorted(os.listdir(folder))
        ]

    styles = images("style")
    return [DevPair(c, s, ci, si) for c, ci in images("content") for s, si in styles]


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


def keras_reference(student, pairs: list[DevPair]) -> tuple[dict, dict]:
    """Keras float32 style vectors (per style name) and outputs (per pair name)."""
    vectors: dict[str, np.ndarray] = {}
    outputs = {}
    for p in pairs:
        if p.style_name not in vectors:
            vectors[p.style_name] = student.style_vector(p.style)[0]
        outputs[p.name] = student.stylize(p.content, vectors[p.style_name])[0]
    return vectors, outputs


def measure(variant_files: dict[str, tuple[str, str]], student, pairs: list[DevPair]) -> dict:
    """``{variant: (predictor path, transformer path)}`` -> mean metrics per variant, each variant
    run through the LiteRT runner (:class:`tfstyle.runtime.LiteStudent`) as an app would."""
    from tfstyle.metrics import psnr, ssim

    vectors, reference = keras_reference(student, pairs)
    results = {}
    for variant, (p_path, t_path) in variant_files.items():
        lite = LiteStudent(p_path, t_path)
        rows = {"psnr": [], "ssim": [], "cosine": [], "e2e_psnr": [], "e2e_ssim": []}
        lite_vectors: dict[str, np.ndarray] = {}
        for p in pairs:
            if p.style_name not in lite_vectors:
                lite_vectors[p.style_name] = lite.style_vector(p.style)[0]
                rows["cosine"].append(_cosine(lite_vectors[p.style_name], vectors[p.style_name]))
            ref = reference[p.name]
            out = np.clip(lite.stylize(p.content, vectors[p.style_name])[0], 0, 1)
            rows["psnr"].append(psnr(out, ref))
            rows["ssim"].append(ssim(out, ref))
            e2e = np.clip(lite.stylize(p.content, lite_vectors[p.style_name])[0], 0, 1)
            rows["e2e_psnr"].append(psnr(e2e, ref))
            rows["e2e_ssim"].append(ssim(e2e, ref))
        results[variant] = {k: float(np.mean(np.minimum(v, 99.0))) for k, v in rows.items()}
        results[variant]["min_psnr"] = float(np.min(rows["psnr"]))
        results[variant]["pairs"] = len(pairs)
        results[variant]["per_pair"] = {m: [float(x) for x in rows[m]] for m in ("psnr", "ssim")}
    return results


def check(results: dict) -> list[str]:
    """Failures (empty when every thresholded variant passes)."""
    failures = []
    for variant, limits in THRESHOLDS.items():
        for metric, limit in limits.items():
            value = results.get(variant, {}).get(metric)
            if value is None or value < limit:
                failures.append(
                    f"{variant} transformer {metric} {value if value is None else round(value, 3)} < {limit}"
                )
    return failures


def report(results: dict, size: int) -> str:
    rows = "".join(
        f"| {v} | {r['psnr']:.2f} | {r['min_psnr']:.2f} | {r['ssim']:.4f} | {r['cosine']:.5f} "
        f"| {r['e2e_psnr']:.2f} | {r['e2e_ssim']:.4f} |\n"
        for v, r in results.items()
    )
    n = next(iter(results.values()))["pairs"]
    lines = [
        f"## TFLite parity with the Keras float32 student ({size} px)\n",
        f"{n} dev pairs, long side {size} px. 'transformer' columns feed each TFLite transformer the "
        "Keras style vector (its own quantisation error); 'end to end' uses the TFLite predictor too. "
        "Written by `make export-tflite`, which fails when INT8 (QAT) drops below PSNR 30 dB or SSIM 0.95.\n",
        "| variant | transformer PSNR (dB) | worst pair PSNR | transformer SSIM | style-vector cosine "
        "| end-to-end PSNR | end-to-end SSIM |\n|---|---|---|---|---|---|---|\n" + rows,
    ]
    if "int8" in results and "ptq_int8" in results:
        q, p = results["int8"], results["ptq_int8"]
        better = q["psnr"] > p["psnr"] and q["ssim"] > p["ssim"]
        verdict = "better on both" if better else "NOT better on both"
        wins = {m: sum(a > b for a, b in zip(q["per_pair"][m], p["per_pair"][m])) for m in ("psnr", "ssim")}
        lines.append(
            "QAT vs post-training quantisation (INT8 transformer): "
            f"PSNR {q['psnr']:.2f} vs {p['psnr']:.2f} dB, SSIM {q['ssim']:.5f} vs {p['ssim']:.5f}: "
            f"QAT is {verdict}; QAT is ahead on {wins['psnr']}/{n} pairs in PSNR and "
            f"{wins['ssim']}/{n} in SSIM.\n"
        )
    return "\n".join(lines)
