"""tfstyle dataset on a real Ray cluster: a head and one worker node on 127.0.0.1 (one CPU each),
started here and torn down after, joined by the CLI with ``--ray-address`` as a user would.

* The cluster's outputs are byte-identical to a single-process run (same engine: LiteRT with one
  thread per worker, the same seeded draw per path).
* A worker node killed mid-run, the run crashed, a node back and a rerun: every output exists exactly
  once, decodes, equals the reference, no temporary is left, and the manifest accounts for every input.

Ray resolves "127.0.0.1" to the machine's routable address unless its loopback-only mode is on
(``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, meant for laptops); that keeps the whole cluster, and the
drivers that join it, on the loopback interface.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from _dataset_files import make_dataset, output_files

from tfstyle.dataset import DatasetConfig, read_manifest, run

ray = pytest.importorskip("ray")

LOOPBACK = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
SIZE = "128"
IMAGES = 160  # ~1 s of work for two idle workers: the kill lands mid-run even on a fast machine


@pytest.fixture(scope="module")
def cluster():
    from ray._private import ray_constants
    from ray.cluster_utils import Cluster

    saved = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False  # the loopback-only mode, in this process
    node = {"num_cpus": 1, "node_ip_address": "127.0.0.1", "include_dashboard": False}
    cluster = Cluster(initialize_head=True, head_node_args=node)
    try:
        cluster.add_node(**node)
        cluster.wait_for_nodes()
        yield cluster
    finally:
        cluster.shutdown()
        ray_constants.ENABLE_RAY_CLUSTER = saved


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """IMAGES images in two classes plus a corrupt one, and the single-process reference outputs."""
    root = tmp_path_factory.mktemp("cluster_data")
    src, styles, good = make_dataset(root, n=IMAGES, size=(120, 160))
    reference = root / "reference"
    config = DatasetConfig(size=int(SIZE), seed=3, strength=(0.5, 1.0), workers=0)
    summary = run(src, styles, reference, config)
    assert summary.written == len(good) and len(summary.failed) == 1
    return src, styles, good, reference


def _command(src, styles, dst, address) -> list[str]:
    return [
        *(sys.executable, "-m", "tfstyle.cli", "dataset", str(src), "--styles", str(styles)),
        *("-o", str(dst), "--size", SIZE, "--seed", "3", "--alpha-range", "0.5,1"),
        *("--workers", "2", "--batch-size", "4", "--ray-address", address, "-q"),
    ]


def _env() -> dict[str, str]:
    return {**os.environ, **LOOPBACK, "PYTHONPATH": os.getcwd()}


def _same_as_reference(dst, reference, good) -> None:
    assert output_files(dst) == good  # each output once, no temporary, nothing for the corrupt input
    different = [g for g in good if (dst / g).read_bytes() != (reference / g).read_bytes()]
    assert not different, f"{len(different)} outputs differ from the single-process run: {different[:3]}"
    rows = read_manifest(dst)
    assert sorted(r["source"] for r in rows) == sorted([*good, "class_0/broken.jpg"])
    assert {r["source"]: r["style"] for r in rows} == {
        r["source"]: r["style"] for r in read_manifest(reference)
    }
    assert [r["source"] for r in rows if r["status"] == "failed"] == ["class_0/broken.jpg"]


def _finished(dst) -> list[str]:
    """Outputs written so far (temporaries of writes in progress start with a dot)."""
    return [f for f in output_files(dst) if not f.split("/")[-1].startswith(".")]


def test_a_two_node_cluster_writes_what_one_process_writes(cluster, data, tmp_path):
    src, styles, good, reference = data
    dst = tmp_path / "out"
    proc = subprocess.run(
        _command(src, styles, dst, cluster.address), env=_env(), capture_output=True, text=True, timeout=240
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    _same_as_reference(dst, reference, good)
    assert {r["status"] for r in read_manifest(dst)} == {"ok", "failed"}


def test_a_worker_killed_mid_run_then_a_resume_gives_every_output_once(cluster, data, tmp_path):
    src, styles, good, reference = data
    dst = tmp_path / "out"
    log = tmp_path / "first.log"
    with open(log, "w") as sink:
        first = subprocess.Popen(
            _command(src, styles, dst, cluster.address),
            env=_env(),
            stdout=sink,
            stderr=sink,
            start_new_session=True,
        )
    try:
        deadline = time.time() + 180
        while time.time() < deadline and first.poll() is None and not _finished(dst):
            time.sleep(0.01)
        assert first.poll() is None, f"the first run ended before the kill:\n{log.read_text()[-2000:]}"
        worker = next(n for n in cluster.worker_nodes)
        cluster.remove_node(worker, allow_graceful=False)  # SIGKILL: the node and its actor die mid-batch
        done_at_kill = len(_finished(dst))
        try:
            first.wait(timeout=3)  # it may finish on the head alone, or wait for the lost actor
        except subprocess.TimeoutExpired:
            os.killpg(first.pid, signal.SIGKILL)  # then the run itself crashes too: the worst case
            first.wait()
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    assert 1 <= done_at_kill < len(good), "the kill did not land mid-run"
    cluster.add_node(num_cpus=1, node_ip_address="127.0.0.1", include_dashboard=False)
    cluster.wait_for_nodes()

    resume = subprocess.run(
        _command(src, styles, dst, cluster.address), env=_env(), capture_output=True, text=True, timeout=240
    )
    assert resume.returncode == 0, resume.stderr[-2000:]
    _same_as_reference(dst, reference, good)
    statuses = [r["status"] for r in read_manifest(dst) if r["status"] != "failed"]
    assert "existing" in statuses and len(statuses) == len(good)
