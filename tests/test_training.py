"""Training loop and data pipeline (training/).

The distributed checks run the teacher task in subprocesses (tests/_train_worker.py): logical CPU
devices, op determinism and TF_CONFIG must be set before TensorFlow initialises. To keep the file
fast on a small CPU, one module fixture starts every background run at once and each test waits
for the runs it needs:

* ``ref``    1 replica, 4 steps, checkpoints at 2 and 4 (the reference for everything below)
* ``rep2``   2 logical CPU replicas, 2 steps, same global batch
* ``killed`` like ``ref`` but stalls after checkpoint 2 until SIGKILLed, then is restarted
* ``mwms0/1`` two MultiWorkerMirroredStrategy workers on localhost, 2 steps
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import replace

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # training/ is a top-level folder, not part of the installed package
    sys.path.insert(0, str(ROOT))
WORKER = pathlib.Path(__file__).with_name("_train_worker.py")
TIMEOUT = 300  # seconds per background run: generous, the CPU may be shared with a training job
# float32 runs that split the same global batch differently agree to round-off: the gradient sums
# are reduced in a different order, and Adam's second step amplifies that where gradients nearly
# cancel (observed up to ~4e-4 of a tensor's scale after two steps); a real bug (loss not divided
# by replicas, a replica's gradients dropped, a skipped batch) is off by tens of percent in the
# losses, the gradient norm or Adam's moments
TOL = 1e-3
STEP = 1e-4  # one Adam step: the runs' learning rate (--lr below)
COMMON = ["--crop", "32", "--batch", "4", "--lr", str(STEP), "--precision", "float32", "--deterministic"]


class Run:
    """A worker subprocess writing its result JSON and checkpoint dumps under ``root/name``."""

    def __init__(self, root: pathlib.Path, name: str, args: list[str], env: dict | None = None, out=None):
        self.name, self.dir = name, root / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.out = pathlib.Path(out) if out else self.dir / "run"
        self.result_path = self.dir / "result.json"
        self.dump = self.dir / "dump"
        self.log = self.dir / "log.txt"
        cmd = [sys.executable, str(WORKER), "--out", str(self.out), "--result", str(self.result_path)]
        cmd += ["--dump", str(self.dump), *args]
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env or _env())

    def tail(self, n: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-n:]

    def wait(self, timeout: float = TIMEOUT) -> dict:
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"{self.name} did not finish in {timeout}s:\n{self.tail()}")
        assert rc == 0, f"{self.name} exited with {rc}:\n{self.tail()}"
        return json.loads(self.result_path.read_text())

    def checkpoint(self, step: int) -> dict:
        with np.load(self.dump / f"ckpt-{step}.npz") as z:
            return {k: z[k] for k in z.files}

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}  # gRPC on localhost
    env.pop("TF_CONFIG", None)
    env.update(TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1", **extra)
    return env


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _checkpoint_recorded(ckpt_dir: pathlib.Path, step: int) -> bool:
    """The CheckpointManager's state file names ckpt-{step}: its files are complete."""
    state = ckpt_dir / "checkpoint"
    try:
        return f'"ckpt-{step}"' in state.read_text() and (ckpt_dir / f"ckpt-{step}.index").is_file()
    except OSError:
        return False


def assert_same_state(got: dict, want: dict, tol: float = TOL, what: str = "") -> None:
    """Every checkpoint tensor (decoder weights, Adam moments, step counters) agrees.

    Float tensors to ``tol`` of their own scale: Adam's moments carry the gradients' magnitude,
    which its normalised weight update alone would not show.
    """
    assert sorted(got) == sorted(want), what
    for name, w in want.items():
        g = got[name]
        assert g.shape == w.shape and g.dtype == w.dtype, f"{what}{name}"
        if w.dtype.kind == "f":
            scale = float(np.abs(w).max()) or 1.0
            if name.startswith("optimizer") or tol < TOL:
                np.testing.assert_allclose(g, w, rtol=tol, atol=tol * scale, err_msg=f"{what}{name}")
            else:
                # Adam moves each weight by about lr per step whatever its gradient's size, so a
                # weight whose gradient is round-off-sized can land anywhere within a step. Nearly
                # all (99%) weights must agree to 1% of a step and none may differ by more than two.
                diff = np.abs(g.astype(np.float64) - w)
                assert diff.max() <= 2 * STEP + tol * scale, f"{what}{name}: {diff.max()}"
                assert np.mean(diff > 0.01 * STEP + tol * np.abs(w)) < 0.01, f"{what}{name}"
        else:
            np.testing.assert_array_equal(g, w, err_msg=f"{what}{name}")


def assert_same_history(got: list[dict], want: list[dict], rtol: float = 1e-4) -> None:
    assert [h["step"] for h in got] == [h["step"] for h in want]
    for g, w in zip(got, want):
        for key in ("total", "content", "style", "grad_norm"):
            assert g[key] == pytest.approx(w[key], rel=rtol), (g["step"], key)


def _kill_after_checkpoint_then_resume(runs: dict, step: int, args: list[str]) -> None:
    """SIGKILL the stalled run once checkpoint ``step`` is recorded, then restart it (in a thread,
    so the restart overlaps the other runs); what it saw goes into runs['kill_report']."""
    killed, report = runs["killed"], runs["kill_report"]
    ckpt_dir = killed.out / "checkpoints"
    deadline = time.monotonic() + TIMEOUT
    while not _checkpoint_recorded(ckpt_dir, step):
        if killed.proc.poll() is not None:
            report["error"] = f"the stalled run exited early:\n{killed.tail()}"
            return
        if time.monotonic() > deadline:
            report["error"] = f"no checkpoint {step} after {TIMEOUT}s:\n{killed.tail()}"
            return
        time.sleep(0.2)
    time.sleep(0.5)  # give the loop the chance to (wrongly) run on past the stall
    report["alive_at_kill"] = killed.proc.poll() is None
    killed.proc.send_signal(signal.SIGKILL)
    report["returncode"] = killed.proc.wait(30)
    report["files_at_kill"] = sorted(p.name for p in ckpt_dir.iterdir())
    report["result_written"] = killed.result_path.exists()
    runs["resumed"] = Run(killed.dir.parent, "resumed", args, out=killed.out)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, data_dir):
    root = tmp_path_factory.mktemp("train")
    data = ["--data", str(data_dir / "train")]
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    mwms_out = root / "mwms_run"  # one output folder for both workers, as on a shared filesystem
    started: dict = {"kill_report": {}}
    killer = None
    try:
        ref_args = [*COMMON, *data, "--steps", "4", "--checkpoint-every", "2"]
        started["ref"] = Run(root, "ref", ref_args)
        started["rep2"] = Run(root, "rep2", [*COMMON, *data, "--steps", "2", "--replicas", "2"])
        started["killed"] = Run(root, "killed", [*ref_args, "--block-at-step", "2"])
        for i in range(2):
            tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})
            started[f"mwms{i}"] = Run(
                root,
                f"mwms{i}",
                [*COMMON, *data, "--steps", "2", "--checkpoint-every", "2"],
                env=_env(TF_CONFIG=tf_config),
                out=mwms_out,
            )
        killer = threading.Thread(target=_kill_after_checkpoint_then_resume, args=(started, 2, ref_args))
        killer.start()
        yield started
    finally:
        if killer is not None:
            killer.join(TIMEOUT + 60)
        for run in started.values():
            if isinstance(run, Run):
                run.kill()


def test_two_replicas_match_one_replica_on_the_same_global_batch(runs):
    one, two = runs["ref"], runs["rep2"]
    r2, r1 = two.wait(), one.wait()
    assert r2["num_replicas_in_sync"] == r2["replicas"] == 2
    assert r1["num_replicas_in_sync"] == r1["replicas"] == 1
    assert r2["precision"] == r1["precision"] == "float32"
    assert r2["step"] == 2
    # losses and gradient norms of both steps (the second depends on the first update)
    assert_same_history(r2["history"], r1["history"][:2])
    assert_same_state(two.checkpoint(2), one.checkpoint(2), what="2 replicas vs 1 after 2 steps: ")


def test_killed_run_resumes_at_saved_step_and_matches_uninterrupted_run(runs):
    runs["ref"].wait()  # by then the stalled run has long reached its checkpoint
    deadline = time.monotonic() + TIMEOUT
    report = runs["kill_report"]
    while "resumed" not in runs and "error" not in report and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "error" not in report, report["error"]
    assert "resumed" in runs, f"the stalled run was not killed in time:\n{runs['killed'].tail()}"
    assert report["alive_at_kill"], "the run did not stall after checkpoint 2"
    assert report["returncode"] == -signal.SIGKILL and not report["result_written"]
    assert "ckpt-2.index" in report["files_at_kill"] and "ckpt-4.index" not in report["files_at_kill"]

    resumed = runs["resumed"]
    got, want = resumed.wait(), runs["ref"].wait()
    assert got["start"] == 2 and got["step"] == 4
    assert [h["step"] for h in got["history"]] == [3, 4]
    # same data position, optimizer state and LR schedule: identical to round-off (in practice
    # bit-identical under op determinism)
    assert_same_history(got["history"], want["history"][2:], rtol=1e-6)
    assert_same_state(resumed.checkpoint(4), runs["ref"].checkpoint(4), tol=1e-6, what="resumed: ")


def test_multi_worker_mirrored_two_processes_on_localhost(runs):
    chief, other = runs["mwms0"].wait(), runs["mwms1"].wait()
    assert chief["strategy"] == other["strategy"] == "CollectiveAllReduceStrategy"
    assert chief["num_replicas_in_sync"] == 2
    assert chief["chief"] and not other["chief"]
    assert chief["step"] == other["step"] == 2
    assert chief["exported"] and not other["exported"]
    out = runs["mwms0"].out
    assert (out / "checkpoints" / "ckpt-2.index").is_file()
    # the non-chief saved into a scratch folder (MWMS needs every worker to save) and removed it
    assert not [p for p in out.iterdir() if p.name.startswith("worker_tmp")]
    # the two workers together took the same global batches as one replica
    assert_same_history(chief["history"], runs["ref"].wait()["history"][:2])
    assert_same_state(runs["mwms0"].checkpoint(2), runs["ref"].checkpoint(2), what="MWMS vs 1 replica: ")


def test_is_chief_rules(monkeypatch):
    from training.distribute import is_chief

    def cfg(cluster, task):
        monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": task}))
        return is_chief()

    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert is_chief()
    workers = {"worker": ["a:1", "b:2"]}
    assert cfg(workers, {"type": "worker", "index": 0})
    assert not cfg(workers, {"type": "worker", "index": 1})
    with_chief = {"chief": ["c:0"], "worker": ["a:1"]}
    assert cfg(with_chief, {"type": "chief", "index": 0})
    assert not cfg(with_chief, {"type": "worker", "index": 0})


# --- precision -------------------------------------------------------------------------------


def _cpu_has_bf16() -> bool:
    try:
        text = pathlib.Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    flags = next((ln.split(":", 1)[1].split() for ln in text.splitlines() if ln.startswith("flags")), [])
    return bool({"avx512_bf16", "amx_bf16"} & set(flags))


class TinyTask:
    """A two-layer regression task: enough to drive the loop without VGG."""

    name = "tiny"

    def build(self):
        from tfstyle._keras import keras

        self.policy = keras.mixed_precision.global_policy().name
        inp = keras.Input((4,))
        hidden = keras.layers.Dense(8, activation="relu")(inp)
        self.model = keras.Model(inp, keras.layers.Dense(1, dtype="float32")(hidden))

    def trainable_variables(self):
        return self.model.trainable_variables

    def checkpoint_objects(self):
        return {"model": self.model}

    def dataset(self, global_batch, start_step):
        from tfstyle._keras import tf

        x = tf.random.stateless_normal([64, 4], [1, 2])
        ds = tf.data.Dataset.from_tensor_slices({"x": x, "y": tf.reduce_sum(x, 1, keepdims=True)})
        return ds.repeat().skip(start_step * global_batch).batch(global_batch, drop_remainder=True)

    def losses(self, batch, training):
        from tfstyle._keras import tf

        pred = tf.cast(self.model(batch["x"], training=training), tf.float32)
        return {"total": tf.reduce_mean(tf.square(pred - batch["y"]))}

    def samples(self, batch):
        return [[np.zeros((4, 4, 3), np.float32)]]

    def export(self, out_dir):
        return []


def test_auto_precision_is_the_policy_the_loop_trains_with(tmp_path):
    from tfstyle._keras import keras
    from tfstyle.precision import choose_policy
    from training.loop import LoopConfig, train

    expected = choose_policy("auto")
    assert expected == ("mixed_bfloat16" if _cpu_has_bf16() else "float32")  # this machine: no GPU
    before = keras.mixed_precision.global_policy().name
    task = TinyTask()
    try:
        cfg = LoopConfig(out_dir=str(tmp_path), steps=2, batch_size=4, precision="auto", progress=False)
        result = train(task, cfg)
    finally:
        keras.mixed_precision.set_global_policy(before)
    assert result.precision == task.policy == expected
    assert task.model.layers[1].compute_dtype == ("bfloat16" if expected == "mixed_bfloat16" else "float32")
    assert task.model.layers[1].variable_dtype == "float32"
    assert result.step == 2 and all(np.isfinite(h["total"]) for h in result.history)


def test_export_can_average_the_last_checkpoints(tmp_path):
    from tfstyle._keras import tf
    from tfstyle.errors import TfstyleError
    from training.loop import LoopConfig, train

    cfg = LoopConfig(out_dir=str(tmp_path), steps=3, batch_size=4, checkpoint_every=1, progress=False)
    plain = TinyTask()
    train(plain, cfg)
    final = plain.model.get_weights()
    saved = []
    for step in (2, 3):
        task = TinyTask()
        task.build()
        tf.train.Checkpoint(model=task.model).restore(
            str(tmp_path / "checkpoints" / f"ckpt-{step}")
        ).expect_partial()
        saved.append(task.model.get_weights())
    np.testing.assert_allclose(saved[1][0], final[0])  # the plain export is the last checkpoint
    averaged = TinyTask()
    train(averaged, replace(cfg, average_last=2))  # nothing left to train: export only
    for got, a, b in zip(averaged.model.get_weights(), *saved):
        np.testing.assert_allclose(got, (a + b) / 2, rtol=1e-6, atol=1e-7)
    assert not np.allclose(averaged.model.get_weights()[0], final[0])
    with pytest.raises(TfstyleError, match="--average 5: the run has only 3 checkpoint"):
        train(TinyTask(), replace(cfg, average_last=5))


# --- data pipeline ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_data(tmp_path_factory, data_dir):
    """5 content and 3 style images copied from the shared training set (small epochs)."""
    root = tmp_path_factory.mktemp("data")
    for kind, n in (("content", 5), ("style", 3)):
        (root / kind).mkdir()
        src = sorted((data_dir / "train" / kind).iterdir())[:n]
        for f in src:
            shutil.copy(f, root / kind / f.name)
    return root


def _batches(cfg, batch, start, n):
    from training.data import pair_dataset

    ds, _ = pair_dataset(cfg, batch, start)
    return [{k: v.numpy() for k, v in b.items()} for b in ds.take(n)]


def test_pipeline_is_a_pure_function_of_seed_and_step(small_data):
    from training.data import DataConfig

    cfg = DataConfig(root=str(small_data), crop=32, seed=3)
    first = _batches(cfg, 2, 0, 6)  # 12 examples: more than one epoch of 5 contents
    again = _batches(cfg, 2, 0, 6)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a["content"], b["content"])
        np.testing.assert_array_equal(a["style"], b["style"])
    for k in (1, 4):
        resumed = _batches(cfg, 2, k, 2)
        for j, b in enumerate(resumed):
            np.testing.assert_array_equal(b["content"], first[k + j]["content"])
            np.testing.assert_array_equal(b["style"], first[k + j]["style"])
    other = _batches(DataConfig(root=str(small_data), crop=32, seed=4), 2, 0, 1)[0]
    assert not np.array_equal(other["content"], first[0]["content"])


def test_crops_have_the_requested_shape_and_range(small_data):
    from training.data import DataConfig

    (batch,) = _batches(DataConfig(root=str(small_data), crop=48, seed=0), 3, 0, 1)
    for key in ("content", "style"):
        x = batch[key]
        assert x.shape == (3, 48, 48, 3) and x.dtype == np.float32
        assert 0.0 <= x.min() and x.max() <= 1.0 and x.std() > 0.01


def test_style_crops_cycle_one_side_per_batch_at_the_contents_scale(small_data):
    from training.data import DataConfig

    cfg = DataConfig(root=str(small_data), crop=32, seed=3, style_crops=(24, 32, 48))
    batches = _batches(cfg, 2, 0, 4)
    assert [b["style"].shape[1:3] for b in batches] == [(24, 24), (32, 32), (48, 48), (24, 24)]
    assert all(b["content"].shape == (2, 32, 32, 3) for b in batches)  # contents keep --crop
    # resuming at step k gives step k's side and pixels: the side is a function of the step
    resumed = _batches(cfg, 2, 2, 2)
    for j, b in enumerate(resumed):
        np.testing.assert_array_equal(b["style"], batches[2 + j]["style"])
        np.testing.assert_array_equal(b["content"], batches[2 + j]["content"])
    # the same style file, scale and seed: a side that matches --crop is the crop made without the option
    plain = _batches(DataConfig(root=str(small_data), crop=32, seed=3), 2, 0, 2)
    np.testing.assert_array_equal(plain[1]["style"], batches[1]["style"])
    np.testing.assert_array_equal(plain[0]["content"], batches[0]["content"])


def test_a_larger_style_crop_is_cut_at_the_same_scale_not_resized(tmp_path):
    """A larger side shows more of the image, its texture no larger: on a linear ramp the step
    between neighbouring pixels is the same for every side."""
    from PIL import Image

    from tfstyle._keras import tf
    from training.data import _load_crop

    ramp = np.tile(np.linspace(0, 255, 200)[None, :, None], (200, 1, 3)).astype(np.uint8)
    Image.fromarray(ramp).save(tmp_path / "ramp.png")
    seed = tf.constant([1, 2], tf.int64)
    steps = []
    for side in (32, 48, 64):
        crop = _load_crop(str(tmp_path / "ramp.png"), 32, 2.0, 2.0, seed, side).numpy()
        assert crop.shape == (side, side, 3)
        steps.append(abs(np.diff(crop[..., 0], axis=1).mean()))  # either sign: crops may be flipped
    # 200 px resized to 64 (crop 32 x scale 2): about 1/63 per pixel whatever the side cut from it
    np.testing.assert_allclose(steps, 1 / 63, rtol=0.05)


def test_unreadable_image_is_skipped_with_a_warning_and_counted(tmp_path, small_data):
    from training.data import DataConfig, pair_dataset

    shutil.copytree(small_data, tmp_path / "data")
    (tmp_path / "data" / "content" / "000_broken.jpg").write_text("not an image")
    (tmp_path / "data" / "style" / "notes.txt").write_text("ignored: not an image extension")
    with pytest.warns(UserWarning, match=r"skipping unreadable training image .*000_broken\.jpg"):
        ds, counts = pair_dataset(DataConfig(root=str(tmp_path / "data"), crop=32), 4)
    assert counts == {"content": 5, "style": 3, "skipped": 1}
    for batch in ds.take(3):  # more than one epoch: the broken file is never decoded
        assert batch["content"].shape == (4, 32, 32, 3)


def test_folder_without_readable_images_is_an_input_error(tmp_path):
    from tfstyle.errors import InputError
    from training.data import DataConfig, pair_dataset

    for kind in ("content", "style"):
        (tmp_path / kind).mkdir()
    (tmp_path / "content" / "x.png").write_bytes(b"\x89PNG broken")
    with pytest.warns(UserWarning), pytest.raises(InputError, match="no readable training images"):
        pair_dataset(DataConfig(root=str(tmp_path), crop=32), 2)
