"""Throughput of ``tfstyle dataset`` on Ray Data and of StyleAugment in tf.data -> docs/BENCHMARKS.md.

    python -m benchmarks.dataset                      # every engine, about 10 min on 2 cores
    python -m benchmarks.dataset --engines tflite     # the acceptance figures only (~2 min)

Inputs: training photos re-encoded as JPEG (q90, their own size, about 481 x 321: ImageNet's
format and size) in 10 class folders, 16 paintings; outputs at 224 px (long side), alpha 1, as
Stylized-ImageNet. Per engine:

* plain loop: the same per-image work (load, stylize, save) in one process, no Ray, with 1 thread
  and with every core (what ``tfstyle stylize DIR`` does);
* Ray 1 and 2 workers: ``tfstyle dataset --workers N`` on a local Ray, one single-threaded actor
  per CPU. Rates are images / (last image written - first batch started): engine loading and Ray's
  start are left out (they are paid once per run, see "start" in the table), the rest of Ray's
  cost (scheduling, the driver, result transfer) is in.

Each measurement runs in its own process (a fresh Ray, TensorFlow's thread pools set once), one
after the other. StyleAugment: 224 x 224 images through ``map(StyleAugment)`` on batches of 16.
The load average is recorded with every figure; the figures are only comparable on a quiet machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

from benchmarks.report import machine, save_palette_png, update_section

ENGINES = ("tflite", "student", "teacher")
IMAGES = {"tflite": 640, "student": 192, "teacher": 64}  # ~10-30 s of work per run; whole batches of 32
SIZE = 224
STYLES = 16
MILLION = 1_281_167  # ImageNet-1k training images
BENCH = "docs/BENCHMARKS.md"
SHEET = "docs/img/dataset_sheet.png"


def _data_root() -> str:
    return os.environ.get("TFSTYLE_DATA") or os.path.join("..", "shared", "data")


def _load() -> float:
    with open("/proc/loadavg", encoding="utf-8") as fh:
        return float(fh.read().split()[0])


def prepare(root: str, n: int) -> tuple[str, str]:
    """``root/src/class_k/*.jpg`` (n training photos as JPEG q90, own size) and ``root/styles`` (16)."""
    from PIL import Image

    from tfstyle.images import list_images

    content = os.path.join(_data_root(), "train", "content")
    style = os.path.join(_data_root(), "train", "style")
    src, styles = os.path.join(root, "src"), os.path.join(root, "styles")
    names = list_images(content)
    for i in range(n):
        name = names[i % len(names)]
        dest = os.path.join(src, f"class_{i % 10}", f"{i:05d}.jpg")
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with Image.open(os.path.join(content, name)) as im:
            im.convert("RGB").save(dest, quality=90)
    warm = os.path.join(root, "warm")  # a few images for the warm-up run
    os.makedirs(warm, exist_ok=True)
    for name in os.listdir(os.path.join(src, "class_0"))[:8]:
        shutil.copy(os.path.join(src, "class_0", name), warm)
    os.makedirs(styles, exist_ok=True)
    for name in list_images(style)[:STYLES]:
        with Image.open(os.path.join(style, name)) as im:
            im.convert("RGB").save(os.path.join(styles, os.path.basename(name) + ".jpg"), quality=95)
    return src, styles


# ----------------------------------------------------------------------------- one measurement


def _ray_cpu_seconds() -> dict[int, float]:
    """CPU seconds so far of this process and its descendants (the local Ray: GCS, raylet, Ray
    Data's own actors...) by pid, the stylizing actors left out (they report their own)."""
    import psutil

    out = {}
    me = psutil.Process()
    for proc in [me, *me.children(recursive=True)]:
        try:
            times = proc.cpu_times()
            if "MapWorker" not in " ".join(proc.cmdline()[:1]):
                out[proc.pid] = times.user + times.system
        except psutil.Error:
            continue
    return out


def measure(engine: str, workers: int, threads: int, src: str, styles: str, out: str) -> dict:
    """One run of tfstyle.dataset.run (``workers=0``: the plain loop); in a fresh process. With Ray,
    a small warm-up run first starts what Ray Data starts once per session (its stats and
    autoscaling actors), so the figure is the steady state a long job sees."""
    from tfstyle import dataset

    load = _load()
    config = dataset.DatasetConfig(engine=engine, size=SIZE, workers=workers, threads=threads)
    start = time.perf_counter()
    if workers:
        dataset._start_ray(config)
        warm = dataclasses.replace(config, batch_size=2)
        dataset.run(os.path.join(os.path.dirname(src), "warm"), styles, out + "_warm", warm)
    start = time.perf_counter() - start
    before = _ray_cpu_seconds()
    summary = dataset.run(src, styles, out, config)
    after = _ray_cpu_seconds()
    if workers:
        import ray

        ray.shutdown()
        time.sleep(5)  # let the workers' processes go before the next measurement
    if summary.failed or not summary.written:
        raise RuntimeError(f"benchmark run failed: {summary.failed[:3]}")
    n = summary.written
    ray_cpu = sum(after[pid] - before.get(pid, 0.0) for pid in after) if workers else 0.0
    return {
        "engine": engine,
        "workers": workers,
        "threads": threads,
        "images": n,
        "rate": summary.rate,
        "seconds": summary.seconds,
        "start": start + summary.seconds - n / summary.rate,
        "cpu_ms": 1000 * summary.cpu / n,
        "ray_ms": 1000 * ray_cpu / n,
        "load": max(load, _load()),
    }


def measure_augment(n: int = 64, batch: int = 16, epochs: int = 3) -> dict:
    """StyleAugment images/s in ``tf.data`` (224 x 224, batches of ``batch``, first batch excluded)."""
    from tfstyle._keras import tf
    from tfstyle.augment import StyleAugment
    from tfstyle.images import list_images, load_image

    load = _load()
    content = os.path.join(_data_root(), "train", "content")
    style = os.path.join(_data_root(), "train", "style")
    photos = [load_image(os.path.join(content, p), size=SIZE, side="short") for p in list_images(content)[:n]]
    images = np.stack([p[:SIZE, :SIZE] for p in photos])
    aug = StyleAugment(style, seed=0, strength=(0.5, 1.0))  # all 172 paintings' codes, Gaussian
    ds = tf.data.Dataset.from_tensor_slices(images).repeat(epochs).batch(batch).map(aug).prefetch(2)
    it = iter(ds)
    next(it).numpy()  # traces the student into the graph
    start, count = time.perf_counter(), 0
    for out in it:
        count += int(out.shape[0])
    rate = count / (time.perf_counter() - start)
    return {"rate": rate, "batch": batch, "threads": os.cpu_count(), "load": max(load, _load())}


def _child(args: argparse.Namespace) -> None:
    if args.what == "augment":
        result = measure_augment()
    else:
        result = measure(args.engine, args.workers, args.threads, args.src, args.styles, args.out)
    print("RESULT " + json.dumps(result), flush=True)


def _spawn(*argv: str) -> dict:
    env = dict(os.environ, PYTHONPATH=os.getcwd() + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.dataset", "--child", *argv],
        capture_output=True,
        text=True,
        env=env,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise RuntimeError(f"measurement {argv} failed:\n{proc.stderr[-3000:]}")


# ----------------------------------------------------------------------------- the report


def contact_sheet(root: str, path: str = SHEET) -> None:
    """Dev photos, the painting drawn for each (seed 0, strength 0.5-1) and the outputs of the three
    engines at 256 px: the same draw, whatever the engine."""
    from PIL import Image

    from tfstyle.dataset import DatasetConfig, read_manifest, run
    from tfstyle.images import load_image
    from tfstyle.sheets import contact_sheet as sheet

    src = os.path.join(_data_root(), "dev", "content")
    styles = os.path.join(_data_root(), "dev", "style")
    outs = {}
    for engine in ENGINES:
        outs[engine] = os.path.join(root, f"sheet_{engine}")
        run(src, styles, outs[engine], DatasetConfig(engine=engine, size=256, strength=(0.5, 1.0), workers=0))
    rows, labels = [], []
    for row in read_manifest(outs["tflite"])[:4]:
        rows.append(
            [
                load_image(os.path.join(src, row["source"]), size=256),
                load_image(os.path.join(styles, row["style"]), size=256),
            ]
            + [load_image(os.path.join(outs[e], row["output"])) for e in ENGINES]
        )
        labels.append(f"alpha {row['strength']:.2f}")
    grid = sheet(rows, ["photo", "drawn style", *ENGINES], None, cell=256, row_labels=labels)
    save_palette_png(Image.fromarray(grid), path)


def report(results: dict, augment: dict | None) -> str:
    lines = [
        "## Stylizing datasets on Ray (224 px)",
        "",
        f"`python -m benchmarks.dataset` on {machine()}. Training photos as JPEG q90 (about 481 x 321,",
        "like ImageNet), 16 paintings, alpha 1, outputs JPEG at 224 px (long side). Rates are images/s",
        "from the first batch's start to the last image written (steady state: engine loading and Ray's",
        "start are the `start` column, paid once per run); Ray workers are single-threaded actors, one CPU",
        "each. The load average (`cat /proc/loadavg`, 1 min) during each figure is given: on a shared",
        "machine the figures move with it.",
        "",
        "| engine | plain loop, 1 thread | plain loop, all cores | Ray, 1 worker | Ray, 2 workers | 2 / 1 worker | start (Ray, 2) | 1.28M images, hours per worker | load |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    cpu_lines = []
    for engine, r in results.items():
        one, two = r["ray1"]["rate"], r["ray2"]["rate"]
        hours = MILLION / one / 3600
        load = max(x["load"] for x in r.values())
        lines.append(
            f"| {engine} | {r['plain1']['rate']:.1f} | {r['plainN']['rate']:.1f} | {one:.1f} | {two:.1f} | "
            f"{two / one:.2f}x | {r['ray2']['start']:.0f} s | {hours:.1f} h ({MILLION / two / 3600:.1f} h on this "
            f"machine with 2) | {load:.1f} |"
        )
        plain, actors, own = r["plain1"]["cpu_ms"], r["ray2"]["cpu_ms"], r["ray2"]["ray_ms"]
        cores = own * r["ray2"]["rate"] / 1000  # Ray's cost is per second of run, not per image
        cpu_lines.append(
            f"| {engine} | {plain:.1f} | {actors:.1f} | {own:.1f} ({cores:.2f} core) | "
            f"{1000 / plain:.1f} | {(2 - cores) * 1000 / actors:.1f} |"
        )
    lines += [
        "",
        "On a loaded machine the wall-clock rates measure the scheduler's shares more than tfstyle (a",
        "single Ray worker may outrun the plain loop doing the same CPU work per image, two workers may",
        "share one worker's slice): compare them from an idle machine only. The CPU table below does",
        "not depend on the load.",
        "",
        "CPU time per image (load-independent): the work itself (measured in the worker around each",
        "image) and what Ray's own processes (driver, raylet, GCS, Ray Data's actors) spend during the",
        "run, per image and as cores (it is a cost per second, about a tenth of a core, not per image).",
        "The idle-machine ceilings follow: one worker can do 1000 / (plain loop ms) images/s, two can",
        "do (2 cores - Ray's cores) x 1000 / (actor ms), if nothing ever waited.",
        "",
        "| engine | plain loop, ms | Ray 2 workers: actors, ms | Ray's own processes, ms | ceiling 1 worker, images/s | ceiling 2 workers, images/s |",
        "|---|---|---|---|---|---|",
        *cpu_lines,
    ]
    if "tflite" in results:
        r = results["tflite"]
        two, ratio = r["ray2"]["rate"], r["ray2"]["rate"] / r["ray1"]["rate"]
        lines += [
            "",
            "Acceptance (tflite, 224 px, this run): 2 workers "
            f"{two:.1f} images/s (goal >= 40: {'met' if two >= 40 else 'NOT met'}); 2 workers / 1 worker "
            f"{ratio:.2f}x (goal >= 1.6x: {'met' if ratio >= 1.6 else 'NOT met'}).",
        ]
    if augment is not None:
        lines += [
            "",
            f"StyleAugment in `tf.data` (224 x 224, batches of {augment['batch']}, the Keras student in-graph, "
            f"{augment['threads']} threads, Gaussian over 172 paintings' codes, strength 0.5-1): "
            f"**{augment['rate']:.1f} images/s** (load {augment['load']:.1f}).",
        ]
    lines += [
        "",
        "![the same seeded draw through each engine](img/dataset_sheet.png)",
        "",
        "Rerun: `make bench-dataset` (or `python -m benchmarks.dataset --engines tflite` for the acceptance lines).",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default=",".join(ENGINES), help="comma-separated (default: all)")
    parser.add_argument("--no-augment", action="store_true", help="skip the StyleAugment figure")
    parser.add_argument("--no-sheet", action="store_true", help="skip the contact sheet")
    parser.add_argument("--report", default=BENCH)
    parser.add_argument("--save", metavar="JSON", help="also write the raw figures here")
    parser.add_argument("--from-json", metavar="JSON", help="only rewrite the report from saved figures")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--what", default="dataset", help=argparse.SUPPRESS)
    for name in ("engine", "src", "styles", "out"):
        parser.add_argument(f"--{name}", help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args)
        return 0

    if args.from_json:
        with open(args.from_json, encoding="utf-8") as fh:
            saved = json.load(fh)
        update_section(args.report, "dataset", report(saved["results"], saved["augment"]))
        print(f"wrote {args.report}")
        return 0
    engines = [e for e in args.engines.split(",") if e]
    cores = os.cpu_count() or 1
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="tfstyle_bench_dataset_") as root:
        for engine in engines:
            data = os.path.join(root, engine)
            src, styles = prepare(data, IMAGES[engine])
            runs = {"plain1": (0, 1), "plainN": (0, cores), "ray1": (1, 1), "ray2": (2, 1)}
            results[engine] = {}
            for key, (workers, threads) in runs.items():
                out = os.path.join(data, f"out_{key}")
                results[engine][key] = r = _spawn(
                    *("--engine", engine, "--src", src, "--styles", styles, "--out", out),
                    *("--workers", str(workers), "--threads", str(threads)),
                )
                print(
                    f"{engine} {key}: {r['rate']:.1f} images/s (start {r['start']:.1f} s, CPU ms/image: "
                    f"work {r['cpu_ms']:.1f}, Ray {r['ray_ms']:.1f}; load {r['load']:.1f})",
                    flush=True,
                )
        augment = None
        if not args.no_augment:
            augment = _spawn("--what", "augment")
            print(f"StyleAugment: {augment['rate']:.1f} images/s (load {augment['load']:.1f})", flush=True)
        if not args.no_sheet:
            contact_sheet(root)
    if args.save:
        with open(args.save, "w", encoding="utf-8") as fh:
            json.dump({"results": results, "augment": augment}, fh, indent=1)
    update_section(args.report, "dataset", report(results, augment))
    print(f"wrote {args.report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
