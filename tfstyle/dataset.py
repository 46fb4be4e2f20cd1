"""Stylize a whole image dataset (Stylized-ImageNet style, Geirhos et al. 2019) on Ray Data.

* **Plan** (:func:`plan`): every image under SRC gets one style from the style folder and one
  strength, drawn from a generator seeded by ``(seed, hash of the image's relative path)``: the
  choice depends on the path alone, never on how many workers ran or in which order.
* **Work** (:class:`Stylizer`): loads the engine once, encodes each style the first time it is
  needed, then loads, stylizes and writes images (atomically). One per Ray actor, or one in the
  calling process with ``workers=0``.
* **Run** (:func:`run`): skips outputs that exist (a rerun resumes), sends the rest through a Ray
  Data ``map_batches`` on a fixed pool of single-CPU actors (local Ray, or a cluster by address),
  and writes the manifest (Parquet): one row per input with its style, strength, engine, output
  and status; unreadable inputs are rows with status ``failed`` and the reason, never a stopped run.

DST mirrors SRC's folders (class folders stay). ``DST/dataset.json`` records the options that decide
the pictures, so a rerun with other options is refused rather than mixed in.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from tfstyle.engines.base import ENGINES, MIN_SIDE, StylizeConfig
from tfstyle.errors import InputError, TfstyleError, require
from tfstyle.files import atomic_path, write_text
from tfstyle.images import list_images

__all__ = [
    "MANIFEST",
    "DatasetConfig",
    "Job",
    "Stylizer",
    "Summary",
    "choose",
    "plan",
    "read_manifest",
    "run",
]

MANIFEST = "manifest.parquet"
SETTINGS = "dataset.json"
STATUSES = ("ok", "existing", "failed")
"""``ok``: written by this run; ``existing``: by an earlier run (skipped); ``failed``: see ``error``."""

_TEMP = re.compile(r"^\..+\.tmp\.[A-Za-z0-9]+$")  # what tfstyle.files.atomic_path leaves if killed


@dataclass
class DatasetConfig:
    """Options of ``tfstyle dataset``; the first four decide the pictures, the rest only the speed."""

    engine: str = "tflite"
    strength: tuple[float, float] = (1.0, 1.0)  # alpha drawn uniformly in [lo, hi]; lo == hi: fixed
    size: int = 224  # long side of every output in px
    seed: int = 0
    workers: int | None = None  # Ray actors (one CPU each); None: every CPU; 0: no Ray, this process
    batch_size: int = 32  # images per Ray task: ~1 s of tflite work at 224 px, Ray's cost per task small
    ray_address: str | None = None  # None: start a local Ray; else join that cluster
    threads: int = 1  # engine threads per worker (1: workers scale by process, results bit-exact)

    def validate(self) -> DatasetConfig:
        if self.engine not in ENGINES:
            raise TfstyleError(f"unknown engine {self.engine!r}; known: {', '.join(sorted(ENGINES))}")
        lo, hi = (float(x) for x in self.strength)
        if not (0.0 <= lo <= hi <= 1.0):  # also rejects NaN
            raise TfstyleError(f"strength range {lo:g},{hi:g} must satisfy 0 <= lo <= hi <= 1")
        self.strength = (lo, hi)
        if int(self.size) < MIN_SIDE:
            raise TfstyleError(f"size must be at least {MIN_SIDE} px, not {self.size}")
        if self.workers is not None and int(self.workers) < 0:
            raise TfstyleError(f"workers must be 0 (no Ray) or more, not {self.workers}")
        if int(self.batch_size) < 1:
            raise TfstyleError(f"batch size must be at least 1, not {self.batch_size}")
        if int(self.threads) < 1:
            raise TfstyleError(f"threads must be at least 1, not {self.threads}")
        return self

    def settings(self, styles: list[str]) -> dict:
        """What decides the outputs: a rerun into the same DST must match it."""
        return {
            "engine": self.engine,
            "strength": list(self.strength),
            "size": int(self.size),
            "seed": int(self.seed),
            "styles": styles,
        }


@dataclass(frozen=True)
class Job:
    """One image: its path under SRC, the style (index into the style list) and strength drawn for
    it, and its path under DST (POSIX-style relative paths)."""

    source: str
    style: int
    strength: float
    output: str


@dataclass
class Summary:
    """What a run did; ``rate`` is images per second between the first worker's start and the last
    image (engine loading excluded), ``seconds`` the whole run, ``cpu`` the workers' CPU seconds
    spent on the images (load-independent)."""

    total: int = 0
    written: int = 0
    existing: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    rate: float = 0.0
    cpu: float = 0.0
    workers: int = 0


# ----------------------------------------------------------------------------- planning


def choose(source: str, n_styles: int, seed: int, strength: tuple[float, float]) -> tuple[int, float]:
    """The style index and strength of the image at relative path ``source``: a generator seeded by
    ``seed`` and a hash of the path, so the draw is the same on any worker, in any order."""
    key = int.from_bytes(hashlib.sha256(source.encode("utf-8")).digest()[:8], "little")
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, key])
    style = int(rng.integers(n_styles))
    lo, hi = strength
    value = float(rng.uniform(lo, hi)) if hi > lo else float(lo)
    return style, round(value, 6)


def output_name(source: str) -> str:
    """The output's relative path: the source's, as PNG when its format cannot be written."""
    from tfstyle.images import SAVE_EXTENSIONS

    stem, ext = os.path.splitext(source)
    return source if ext.lower() in SAVE_EXTENSIONS else stem + ".png"


def plan(sources: Iterable[str], n_styles: int, config: DatasetConfig) -> list[Job]:
    out = []
    for source in sources:
        style, strength = choose(source, n_styles, config.seed, config.strength)
        out.append(Job(source, style, strength, output_name(source)))
    return out


# ----------------------------------------------------------------------------- the work


class Stylizer:
    """Stylizes jobs with one engine, loaded once (a Ray actor holds one; ``workers=0`` uses one here).

    Called by Ray Data with a batch (dict of columns ``source``, ``style``, ``strength``, ``output``),
    it returns per image ``source``, ``status``, ``error``, the worker's clock (``started`` for the
    batch, ``finished`` per image: the run's throughput) and ``cpu``, the CPU seconds it took.
    """

    def __init__(self, src: str, styles_dir: str, styles: list[str], dst: str, config: DatasetConfig):
        self.src, self.styles_dir, self.styles, self.dst = src, styles_dir, styles, dst
        self.config = config
        self.stylize_config = StylizeConfig(engine=config.engine, size=config.size).validate()
        self.engine = _load_engine(config.engine, config.threads)
        self.engine.check(self.stylize_config)
        self.codes: dict[int, object] = {}

    def code(self, index: int):
        """The style's code, encoded at the outputs' size the first time it is needed."""
        if index not in self.codes:
            from tfstyle.images import load_image

            path = os.path.join(self.styles_dir, self.styles[index])
            style = load_image(path, size=self.config.size)
            self.codes[index] = self.engine.style_code(style, self.stylize_config)
        return self.codes[index]

    def one(self, job: Job) -> tuple[str, str]:
        """(status, error) of one image; unusable input files are a status, not an exception."""
        from tfstyle.driver import render_codes
        from tfstyle.images import load_image, save_image

        try:
            image = load_image(os.path.join(self.src, job.source), size=self.config.size, exact=False)
            code = self.code(job.style)
        except InputError as exc:
            return "failed", str(exc)
        config = dataclasses.replace(self.stylize_config, alpha=float(job.strength), size=None)
        try:
            out = render_codes(image, [code], config=config, engine=self.engine)
        except (RuntimeError, ValueError) as exc:  # e.g. a sliver of a panorama the network cannot take
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            return "failed", f"{job.source}: cannot stylize this image ({reason[:200]})"
        save_image(os.path.join(self.dst, job.output), out)
        return "ok", ""

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        started = time.time()
        status, error, finished, cpu = [], [], [], []
        for source, style, strength, output in zip(
            batch["source"], batch["style"], batch["strength"], batch["output"]
        ):
            clock = time.process_time()
            s, e = self.one(Job(str(source), int(style), float(strength), str(output)))
            cpu.append(time.process_time() - clock)
            status.append(s)
            error.append(e)
            finished.append(time.time())
        n = len(status)
        return {
            "source": np.asarray(batch["source"], dtype=object),
            "status": np.asarray(status, dtype=object),
            "error": np.asarray(error, dtype=object),
            "started": np.full(n, started),
            "finished": np.asarray(finished, np.float64),
            "cpu": np.asarray(cpu, np.float64),
        }


def _load_engine(name: str, threads: int):
    """The engine with ``threads`` threads: LiteRT's interpreter option, TensorFlow's thread pools
    (set before TensorFlow runs anything, hence per process)."""
    if name == "tflite":
        from tfstyle.engines.lite import TfliteEngine

        return TfliteEngine(threads=threads)
    from tfstyle._keras import tf
    from tfstyle.engines import get_engine

    with contextlib.suppress(RuntimeError):  # already initialised in this process: keep its pools
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    return get_engine(name)


# ----------------------------------------------------------------------------- the run


def run(
    src: str | os.PathLike,
    styles_dir: str | os.PathLike,
    dst: str | os.PathLike,
    config: DatasetConfig | None = None,
    progress: Callable[[int], None] | None = None,
) -> Summary:
    """Stylize every image under ``src`` into ``dst`` (see the module docstring); ``progress(n)`` is
    called as batches of ``n`` images finish. Returns what was done; the manifest has every input."""
    config = (config or DatasetConfig()).validate()
    src, styles_dir, dst = (os.path.abspath(os.fspath(p)) for p in (src, styles_dir, dst))
    if not os.path.isdir(src):
        raise InputError(src, "not a folder of images")
    if not os.path.isdir(styles_dir):
        raise InputError(styles_dir, "not a folder of style images")
    if os.path.exists(dst) and not os.path.isdir(dst):
        raise InputError(dst, "the output must be a folder, but this is a file")
    styles = list_images(styles_dir)
    if not styles:
        raise InputError(styles_dir, "no style images in this folder")
    sources = list_images(src, exclude=dst)
    if not sources:
        raise InputError(src, "no image files in this folder")
    require("pyarrow", "tfstyle dataset")
    if config.workers != 0:
        require("ray", "tfstyle dataset")
    _check_settings(dst, config.settings(styles))

    start = time.time()
    jobs = plan(sources, len(styles), config)
    _remove_stale_temporaries(dst)
    todo = [j for j in jobs if not os.path.isfile(os.path.join(dst, j.output))]
    results: dict[str, tuple[str, str]] = {j.source: ("existing", "") for j in jobs}
    summary = Summary(total=len(jobs), existing=len(jobs) - len(todo))
    if progress is not None and summary.existing:
        progress(summary.existing)
    spans: list[tuple[float, float]] = []
    if todo:
        runner = _run_here if config.workers == 0 else _run_ray
        for batch in runner(todo, src, styles_dir, styles, dst, config, summary):
            for source, status, error in zip(batch["source"], batch["status"], batch["error"]):
                results[str(source)] = (str(status), str(error))
            spans.append((float(np.min(batch["started"])), float(np.max(batch["finished"]))))
            summary.cpu += float(np.sum(batch["cpu"]))
            if progress is not None:
                progress(len(batch["source"]))
    _write_manifest(dst, jobs, styles, config.engine, results)
    for job in jobs:
        status, error = results[job.source]
        if status == "ok":
            summary.written += 1
        elif status == "failed":
            summary.failed.append((job.source, error))
    summary.seconds = time.time() - start
    if spans:
        first, last = min(s for s, _ in spans), max(f for _, f in spans)
        summary.rate = len(todo) / max(last - first, 1e-9)
    return summary


def _run_here(todo, src, styles_dir, styles, dst, config, summary):
    """``workers=0``: the same work in this process, no Ray (the single-process reference)."""
    worker = Stylizer(src, styles_dir, styles, dst, config)
    summary.workers = 0
    for i in range(0, len(todo), config.batch_size):
        yield worker(_columns(todo[i : i + config.batch_size]))


def _run_ray(todo, src, styles_dir, styles, dst, config, summary):
    """Ray Data: the jobs as Arrow blocks of ``batch_size`` rows (one task each, no repartition),
    ``map_batches`` on a fixed pool of single-CPU :class:`Stylizer` actors; only the small result
    columns come back to this process."""
    import pyarrow as pa

    started_here = _start_ray(config)
    try:
        import ray.data

        _quiet_ray_data()
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        context.print_on_execution_start = False
        workers = config.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        blocks = [
            pa.table(_columns(todo[i : i + config.batch_size]))
            for i in range(0, len(todo), config.batch_size)
        ]
        summary.workers = min(workers, len(blocks))
        ds = ray.data.from_arrow(blocks).map_batches(
            Stylizer,
            fn_constructor_args=(src, styles_dir, styles, dst, config),
            batch_size=config.batch_size,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=summary.workers),
            num_cpus=1,
        )
        yield from ds.iter_batches(batch_size=None, batch_format="numpy")
    finally:
        if started_here:
            import ray

            ray.shutdown()


def _start_ray(config: DatasetConfig) -> bool:
    """Connect to ``config.ray_address`` or start a local Ray (quiet: no dashboard, no worker logs);
    False when this process was already connected (the caller keeps its Ray)."""
    import logging

    import ray

    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    options = {"include_dashboard": False, "logging_level": logging.WARNING, "log_to_driver": False}
    if config.ray_address:
        try:
            ray.init(address=config.ray_address, **options)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise TfstyleError(f"cannot join the Ray cluster at {config.ray_address}: {reason}") from None
    else:
        cpus = max(int(config.workers or 0), os.cpu_count() or 1)
        ray.init(num_cpus=cpus, **options)
    return True


def _quiet_ray_data() -> None:
    """Ray Data's console says only warnings (its INFO lines and the notice that its progress bars
    are off would interleave with ours); everything still goes to its log file in the session."""
    import logging

    import ray.data  # noqa: F401  (configures its loggers)

    for handler in logging.getLogger("ray.data").handlers:
        if type(handler).__name__ == "PlainRayHandler":
            handler.setLevel(logging.WARNING)
    logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)


def _columns(jobs: list[Job]) -> dict[str, list]:
    return {
        "source": [j.source for j in jobs],
        "style": [j.style for j in jobs],
        "strength": [j.strength for j in jobs],
        "output": [j.output for j in jobs],
    }


# ----------------------------------------------------------------------------- files in DST


def _check_settings(dst: str, settings: dict) -> None:
    """First run: record the options; a rerun must have the same ones (else it would mix two
    datasets in one folder)."""
    path = os.path.join(dst, SETTINGS)
    if os.path.isfile(path):
        try:
            with open(path, encoding="utf-8") as fh:
                old = json.load(fh)
        except (OSError, ValueError) as exc:
            raise InputError(path, f"cannot read the previous run's settings ({exc})") from None
        changed = [k for k in settings if old.get(k) != settings[k]]
        if changed:
            raise TfstyleError(
                f"{dst} holds a dataset made with other {', '.join(changed)}; "
                "rerun with the same options to resume, or choose a new output folder"
            )
        return
    os.makedirs(dst, exist_ok=True)
    write_text(path, json.dumps(settings, indent=1) + "\n")


def _remove_stale_temporaries(dst: str) -> None:
    """Temporaries of writes a killed worker never finished (never an output: those are renamed)."""
    for here, _dirs, files in os.walk(dst):
        for name in files:
            if _TEMP.match(name):
                with contextlib.suppress(OSError):
                    os.remove(os.path.join(here, name))


def _write_manifest(dst: str, jobs: list[Job], styles: list[str], engine: str, results: dict) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    status = [results[j.source][0] for j in jobs]
    table = pa.table(
        {
            "source": [j.source for j in jobs],
            "style": [styles[j.style] for j in jobs],
            "strength": pa.array([j.strength for j in jobs], pa.float32()),
            "engine": [engine] * len(jobs),
            "output": [j.output if s != "failed" else None for j, s in zip(jobs, status)],
            "status": status,
            "error": [results[j.source][1] or None for j in jobs],
        }
    )
    with atomic_path(os.path.join(dst, MANIFEST)) as tmp:
        pq.write_table(table, tmp)


def read_manifest(dst: str | os.PathLike) -> list[dict]:
    """The manifest's rows as dicts (tests, scripts)."""
    import pyarrow.parquet as pq

    return pq.read_table(os.path.join(os.fspath(dst), MANIFEST)).to_pylist()
