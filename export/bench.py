"""Phone-like CPU benchmark of our TFLite files against Magenta's (``make bench``).

``python -m export.bench`` times every variant in ``export/out/manifest.json`` and, in the same run,
Magenta's INT8 and FP16 models, then writes the ``tflite-bench`` section of docs/BENCHMARKS.md, a bar
chart and a JSON file. Each (model, size, threads) runs in a fresh child process that imports only
``ai_edge_litert`` and NumPy, so its peak RSS is that model's alone and no run inherits another's
warm caches or thread pool. The module never imports TensorFlow.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from importlib import metadata

from benchmarks.magenta import PEERS, PREDICTOR_INT8, TRANSFER_FP16, TRANSFER_INT8
from benchmarks.report import machine, update_section
from tfstyle.errors import InputError, TfstyleError, guarded
from tfstyle.files import atomic_path, write_text

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STYLE_PX = 256  # style images are predicted at 256 px, like Magenta's fixed predictor input
GOAL_PX = 384  # Magenta's transfer size: the acceptance comparisons are made here
MULTIPLE = 8  # tfstyle.models.student.MULTIPLE (not imported here: that module loads TensorFlow)
VARIANT_LABELS = {
    "float32": "float32",
    "float16": "float16",
    "dynamic": "dynamic-range int8",
    "ptq_int8": "int8 (PTQ)",
    "int8": "int8 (QAT)",
}
ROLES = ("predictor", "transformer")


@dataclass
class Target:
    """One model file at one input size; ``native`` means the file's size is fixed, not ours to pick."""

    label: str
    path: str
    role: str
    variant: str
    source: str  # "ours" or "magenta"
    px: int
    native: bool = False

    @property
    def bytes(self) -> int:
        return os.path.getsize(self.path)


# --- child process: one model, one size, one thread count -------------------------------------------


def _peak_rss_mb() -> float:
    """VmHWM is the high-water mark of this process image only; ``ru_maxrss`` can carry the parent's
    peak over a vfork+exec (Python's subprocess), which would charge pytest's TensorFlow to a model."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _sample(detail: dict, rng):
    """Random valid input: images in [0, 1], style vectors ~N(0, 1), quantised for uint8/int8 inputs."""
    from tfstyle.tflite_meta import quantize

    shape = detail["shape"]
    return quantize(rng.random(shape) if shape[-1] == 3 else rng.standard_normal(shape), detail)


def _prepare(interpreter, px: int) -> int:
    """Resize dynamic image inputs to px x px and fill every input; returns the size actually run."""
    import numpy as np

    for d in interpreter.get_input_details():
        sig = d["shape_signature"]
        if len(sig) == 4 and sig[-1] == 3 and -1 in sig[1:3]:
            interpreter.resize_tensor_input(d["index"], [1, px, px, 3])
    interpreter.allocate_tensors()
    rng = np.random.default_rng(0)
    sizes = []
    for d in interpreter.get_input_details():
        interpreter.set_tensor(d["index"], _sample(d, rng))
        if len(d["shape"]) == 4 and d["shape"][-1] == 3:
            sizes.append(int(d["shape"][1]))
    return max(sizes, default=px)


def measure(path: str, px: int, threads: int, runs: int, warmup: int) -> dict:
    """Warm up, then time ``runs`` invocations on fixed inputs (a phone app re-invokes the same way)."""
    import time

    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    base = _peak_rss_mb()
    interpreter = Interpreter(model_path=path, num_threads=threads)
    ran = _prepare(interpreter, px)
    for _ in range(warmup):
        interpreter.invoke()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        interpreter.invoke()
        times.append((time.perf_counter() - t0) * 1000)
    return {
        "px": ran,
        "median_ms": float(np.median(times)),
        "p90_ms": float(np.percentile(times, 90)),
        "min_ms": float(np.min(times)),
        "peak_rss_mb": _peak_rss_mb(),
        "base_rss_mb": base,
    }


# --- parent: what to run ---------------------------------------------------------------------------


def _manifest(models_dir: str) -> list[dict]:
    path = os.path.join(models_dir, "manifest.json")
    if not os.path.isdir(models_dir):
        raise InputError(models_dir, "model directory not found (run `make export-tflite` first)")
    try:
        with open(path, encoding="utf-8") as fh:
            entries = json.load(fh)["models"]
    except FileNotFoundError:
        raise InputError(path, "manifest not found (run `make export-tflite` first)") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(path, f"unreadable manifest ({exc})") from None
    if not entries:
        raise InputError(path, "manifest lists no models")
    return entries


def our_targets(models_dir: str, sizes: list[int]) -> list[Target]:
    """Predictors at the style size, transformers at every requested size."""
    targets = []
    for entry in _manifest(models_dir):
        role, variant = entry.get("role"), entry.get("variant", "?")
        path = os.path.join(models_dir, str(entry.get("file")))
        if role not in ROLES:
            raise InputError(path, f"unknown role {role!r} in manifest.json")
        if not os.path.isfile(path):
            raise InputError(path, "listed in manifest.json but missing")
        label = f"ours {role} {VARIANT_LABELS.get(variant, variant)}"
        for px in [STYLE_PX] if role == "predictor" else sizes:
            targets.append(Target(label, path, role, variant, "ours", px))
    return targets


def magenta_targets(peers: str) -> list[Target]:
    """Magenta's files at their fixed native sizes; none when the peers directory is absent."""
    files = [
        ("Magenta INT8 prediction", PREDICTOR_INT8, "predictor", "int8", STYLE_PX),
        ("Magenta INT8 transfer", TRANSFER_INT8, "transformer", "int8", GOAL_PX),
        ("Magenta FP16 transfer", TRANSFER_FP16, "transformer", "float16", GOAL_PX),
    ]
    return [
        Target(label, os.path.join(peers, name), role, variant, "magenta", px, native=True)
        for label, name, role, variant, px in files
        if os.path.isfile(os.path.join(peers, name))
    ]


# --- parent: running and summarising ----------------------------------------------------------------


def run_child(target: Target, threads: int, runs: int, warmup: int) -> dict:
    """One measurement in a fresh interpreter process; a model that fails to load is a bad input."""
    spec = {"path": target.path, "px": target.px, "threads": threads, "runs": runs, "warmup": warmup}
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])))
    proc = subprocess.run(
        [sys.executable, "-m", "export.bench", "--worker", json.dumps(spec)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()] or [f"exit code {proc.returncode}"]
        raise InputError(target.path, f"benchmark failed: {lines[-1].strip()}")
    return json.loads(proc.stdout.splitlines()[-1])


def benchmark(targets: list[Target], threads: list[int], runs: int, warmup: int) -> list[dict]:
    results = []
    for target in targets:
        row = {**asdict(target), "bytes": target.bytes, "threads": {}}
        for n in threads:
            m = run_child(target, n, runs, warmup)
            row["px"] = m.pop("px")
            row["threads"][str(n)] = m
            print(
                f"{target.label} {row['px']} px, {n} thread(s): median {m['median_ms']:.1f} ms, "
                f"p90 {m['p90_ms']:.1f} ms, peak RSS {m['peak_rss_mb']:.0f} MB",
                flush=True,
            )
        results.append(row)
    return results


def _find(results: list[dict], source: str, role: str, variant: str, px: int) -> dict | None:
    for r in results:
        if (r["source"], r["role"], r["variant"], r["px"]) == (source, role, variant, px):
            return r
    return None


def _median(row: dict | None, threads: int = 1) -> float | None:
    m = row and row["threads"].get(str(threads))
    return m["median_ms"] if m else None


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def acceptance(results: list[dict]) -> list[str]:
    """The issue's three goals, computed from this run's numbers (n/a when a model was not run)."""
    where = f"{GOAL_PX} px, 1 thread"
    ours_q = _median(_find(results, "ours", "transformer", "int8", GOAL_PX))
    ours_f = _median(_find(results, "ours", "transformer", "float32", GOAL_PX))
    mag = _median(_find(results, "magenta", "transformer", "int8", GOAL_PX))
    lines = []
    if ours_q and mag:
        ratio = ours_q / mag
        lines.append(
            f"(a) our INT8 (QAT) transformer vs Magenta INT8 transfer, {where}: {ours_q:.1f} vs "
            f"{mag:.1f} ms = {ratio:.2f}x (goal <= 0.5x): {_verdict(ratio <= 0.5)}"
        )
    else:
        lines.append(f"(a) our INT8 (QAT) vs Magenta INT8 transfer, {where}: n/a (not both measured)")
    if ours_q and ours_f:
        speedup = ours_f / ours_q
        lines.append(
            f"(b) our INT8 (QAT) vs float32 transformer, {where}: {ours_f:.1f} -> {ours_q:.1f} ms = "
            f"{speedup:.2f}x faster (goal >= 1.8x): {_verdict(speedup >= 1.8)}"
        )
    else:
        lines.append(f"(b) our INT8 (QAT) vs float32 transformer, {where}: n/a (not both measured)")
    lines.append(_size_line(results))
    return lines


def _size_line(results: list[dict]) -> str:
    def size(source: str, role: str) -> int | None:
        return next(
            (r["bytes"] for r in results if (r["source"], r["role"], r["variant"]) == (source, role, "int8")),
            None,
        )

    ours = [size("ours", "predictor"), size("ours", "transformer")]
    mag = [size("magenta", "predictor"), size("magenta", "transformer")]
    if None in ours or None in mag:
        return "(c) INT8 predictor + transformer file size vs Magenta's INT8 pair: n/a (files missing)"
    ratio = sum(ours) / sum(mag)
    return (
        f"(c) INT8 predictor + transformer files vs Magenta INT8 prediction + transfer: "
        f"{sum(ours) / 1e6:.2f} vs {sum(mag) / 1e6:.2f} MB = {ratio:.2f}x (goal <= 0.5x): "
        f"{_verdict(ratio <= 0.5)}"
    )


def _sort_key(row: dict) -> tuple:
    order = list(VARIANT_LABELS)
    rank = order.index(row["variant"]) if row["variant"] in order else len(order)
    return ROLES.index(row["role"]), row["px"], row["source"] != "ours", rank, row["label"]


def _cells(row: dict, threads: list[int]) -> list[str]:
    cells = []
    for n in threads:
        m = row["threads"].get(str(n))
        cells.append(f"{m['median_ms']:.1f} / {m['p90_ms']:.1f}" if m else "n/a")
    peak = max(m["peak_rss_mb"] for m in row["threads"].values())
    return [*cells, f"{peak:.0f}"]


def table(results: list[dict], threads: list[int], sizes: list[int]) -> str:
    """One row per model and size; Magenta's fixed-size transfers get n/a rows at the other sizes."""
    heads = [f"{n} thread{'s' * (n > 1)} median / p90 ms" for n in threads]
    lines = [
        "| model | px | file MB | " + " | ".join(heads) + " | peak RSS MB |",
        "|---|---|---|" + "---|" * len(heads) + "---|",
    ]
    rows = list(results)
    for r in results:
        if r["source"] == "magenta" and r["role"] == "transformer":
            rows += [{**r, "px": px, "na": True} for px in sizes if px != r["px"]]
    for r in sorted(rows, key=_sort_key):
        head = f"| {r['label']} | {r['px']} | {r['bytes'] / 1e6:.2f} | "
        if r.get("na"):
            lines.append(head + " | ".join(["n/a (fixed 384 px input)"] + ["n/a"] * len(threads)) + " |")
        else:
            lines.append(head + " | ".join(_cells(r, threads)) + " |")
    return "\n".join(lines)


def markdown(results: list[dict], accept: list[str], cfg: dict, chart_rel: str | None) -> str:
    bases = [m["base_rss_mb"] for r in results for m in r["threads"].values()]
    quick = (
        f"\n\n**Quick run ({cfg['runs']} timed runs): not an acceptance measurement.**"
        if cfg["runs"] < 30
        else ""
    )
    body = (
        "## TFLite on a phone-like CPU\n\n"
        f"Measured on {cfg['machine']} (load average {cfg['load']:.1f} at start), ai-edge-litert "
        f"{cfg['litert']}, `python -m export.bench`. Every model, size and thread count runs in a fresh "
        "process: `Interpreter(num_threads=N)` with the default op resolver (XNNPACK delegate), "
        f"{cfg['warmup']} warm-up invocations, then {cfg['runs']} timed `invoke()` calls on fixed random "
        "inputs (uint8 for the integer variants); median and p90 in ms. Peak RSS is the process's "
        f"high-water mark (VmHWM), Python, NumPy and the runtime included (about {min(bases):.0f} MB "
        "before a model is loaded), the larger of the thread settings. Our predictors run at the style "
        f"size ({STYLE_PX} px), our transformers at each size (square inputs, tensors resized)."
        f"{quick}\n\n"
        + table(results, cfg["threads"], cfg["sizes"])
        + "\n\nMagenta's models have fixed input sizes (transfer 384x384, prediction 256x256) and run at "
        "their native size: a phone app resizes content to 384 px, so they have no figures at other "
        "sizes. Our models take any size (a multiple of 4).\n\n"
        "### Acceptance (this run)\n\n" + "".join(f"- {line}\n" for line in accept)
    )
    if chart_rel:
        body += f"\n![TFLite median latency]({chart_rel})\n"
    return body


def chart(results: list[dict], threads: list[int], path: str) -> None:
    """Horizontal bars of median latency per model and size, one bar per thread count."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted(results, key=_sort_key)[::-1]
    labels = [f"{r['label']} @ {r['px']} px" for r in rows]
    height = 0.8 / len(threads)
    fig, ax = plt.subplots(figsize=(9, 0.5 + 0.32 * len(rows) * len(threads)))
    for i, n in enumerate(threads):
        ys = [k + ((len(threads) - 1) / 2 - i) * height for k in range(len(rows))]
        ms = [r["threads"][str(n)]["median_ms"] for r in rows]
        bars = ax.barh(ys, ms, height=height, label=f"{n} thread{'s' * (n > 1)}")
        ax.bar_label(bars, labels=[f"{v:.1f}" for v in ms], padding=2, fontsize=7)
    ax.set_yticks(range(len(rows)), labels, fontsize=8)
    ax.set_xlabel("median latency (ms)")
    ax.set_title("TFLite CPU latency (XNNPACK)")
    ax.legend(fontsize=8, loc="upper right")
    ax.margins(x=0.15)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


# --- command line -----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m export.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="export/out", help="directory with manifest.json (export/out)")
    p.add_argument("--peers", default=PEERS, help="Magenta's .tflite files (skipped when missing)")
    p.add_argument("--runs", type=int, help="timed invocations per measurement (30; --quick 5)")
    p.add_argument("--warmup", type=int, help="untimed invocations first (5; --quick 1)")
    p.add_argument("--sizes", type=int, nargs="+", help="transformer sizes in px (256 384 512; --quick 256)")
    p.add_argument("--threads", type=int, nargs="+", help=f"thread counts (1 {os.cpu_count()})")
    p.add_argument("--quick", action="store_true", help="few runs at 256 px only (tests, smoke checks)")
    p.add_argument("--report", default="docs/BENCHMARKS.md")
    p.add_argument("--chart", default="docs/img/tflite_latency.png")
    p.add_argument("--json", default="runs/bench/tflite_bench.json")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.runs = args.runs or (5 if args.quick else 30)
    args.warmup = args.warmup if args.warmup is not None else (1 if args.quick else 5)
    args.sizes = args.sizes or ([256] if args.quick else [256, 384, 512])
    args.threads = list(dict.fromkeys(args.threads or [1, os.cpu_count() or 1]))
    bad = [px for px in args.sizes if px <= 0 or px % MULTIPLE]
    if bad or args.runs < 1 or args.warmup < 0 or min(args.threads) < 1:
        raise TfstyleError(
            f"need --sizes positive multiples of {MULTIPLE}, --runs >= 1, --warmup >= 0, --threads >= 1"
        )
    return args


def run(args: argparse.Namespace) -> int:
    targets = our_targets(args.models, args.sizes)
    peers = magenta_targets(args.peers)
    if not peers:
        print(f"bench: no Magenta models in {args.peers}; benchmarking ours only", file=sys.stderr)
    cfg = {
        "machine": machine(),
        "load": os.getloadavg()[0],
        "litert": metadata.version("ai-edge-litert"),
        "runs": args.runs,
        "warmup": args.warmup,
        "sizes": args.sizes,
        "threads": args.threads,
    }
    results = benchmark(targets + peers, args.threads, args.runs, args.warmup)
    accept = acceptance(results)
    chart(results, args.threads, args.chart)
    chart_rel = os.path.relpath(args.chart, os.path.dirname(os.path.abspath(args.report)))
    update_section(args.report, "tflite-bench", markdown(results, accept, cfg, chart_rel))
    write_text(args.json, json.dumps({**cfg, "results": results, "acceptance": accept}, indent=1) + "\n")
    print("\n".join(accept))
    print(f"wrote {args.report}, {args.chart}, {args.json}")
    return 0


def main(argv: list[str] | None = None) -> int:
    def body() -> int:
        args = parse_args(argv)
        if args.worker:
            print(json.dumps(measure(**json.loads(args.worker))))
            return 0
        return run(args)

    return guarded("bench", body)


if __name__ == "__main__":
    sys.exit(main())
