"""tfstyle dataset without a cluster: the seeded plan, one process (``--workers 0``), resume, manifest,
corrupt inputs, refused reruns and the missing-Ray hint. The Ray cluster tests: test_dataset_cluster.py."""

from __future__ import annotations

import collections
import os
import sys

import numpy as np
import pytest
from _dataset_files import make_dataset, output_files

from tfstyle.cli import main
from tfstyle.dataset import DatasetConfig, choose, read_manifest, run
from tfstyle.images import load_image


def test_the_draw_depends_on_the_path_and_seed_only():
    paths = [f"n{i // 10:05d}/img_{i}.JPEG" for i in range(600)]
    draws = [choose(p, 5, seed=0, strength=(0.5, 1.0)) for p in paths]
    assert draws == [choose(p, 5, seed=0, strength=(0.5, 1.0)) for p in reversed(paths)][::-1]
    counts = collections.Counter(style for style, _ in draws)
    assert sorted(counts) == [0, 1, 2, 3, 4] and min(counts.values()) > 80  # about uniform
    strengths = np.array([s for _, s in draws])
    assert strengths.min() >= 0.5 and strengths.max() <= 1.0 and strengths.std() > 0.1
    assert draws != [choose(p, 5, seed=1, strength=(0.5, 1.0)) for p in paths]
    assert {choose(p, 5, seed=0, strength=(0.7, 0.7))[1] for p in paths} == {0.7}


def test_one_process_run_mirrors_the_tree_lists_corrupt_inputs_and_resumes(tmp_path, capsys):
    src, styles, good = make_dataset(tmp_path, n=6)
    dst = tmp_path / "out"
    args = ["dataset", str(src), "--styles", str(styles), "-o", str(dst), "--size", "48", "--workers", "0"]
    assert main([*args, "--alpha-range", "0.5,1"]) == 0
    out = capsys.readouterr()
    assert "wrote 6 images" in out.out and "1 unreadable" in out.out
    assert "broken.jpg" in out.err and "notes.txt" not in out.err
    assert output_files(dst) == good  # class folders kept, nothing for the corrupt file
    for rel in good:
        image = load_image(dst / rel)
        assert max(image.shape[:2]) == 48 and image.shape[:2] == (36, 48)
    rows = {r["source"]: r for r in read_manifest(dst)}
    assert sorted(rows) == sorted([*good, "class_0/broken.jpg"])
    assert rows["class_0/broken.jpg"]["status"] == "failed" and rows["class_0/broken.jpg"]["output"] is None
    assert "class_0/broken.jpg" in rows["class_0/broken.jpg"]["error"]
    for rel in good:
        row = rows[rel]
        assert (row["status"], row["output"], row["engine"], row["error"]) == ("ok", rel, "tflite", None)
        assert row["style"] in {"style_0.png", "style_1.png", "style_2.png"}
        assert 0.5 <= row["strength"] <= 1.0
        assert (row["style"], pytest.approx(row["strength"])) == choose_row(rel, 0, (0.5, 1.0))

    # resume: a killed writer's temporary and one missing output; only that one is written again
    stamps = {rel: os.stat(dst / rel).st_mtime_ns for rel in good}
    before = (dst / good[0]).read_bytes()
    (dst / good[0]).unlink()
    (dst / "class_1" / ".img_001.x1y2.tmp.jpg").write_bytes(b"half")
    assert main([*args, "--alpha-range", "0.5,1", "-q"]) == 0
    assert output_files(dst) == good and (dst / good[0]).read_bytes() == before
    assert all(os.stat(dst / rel).st_mtime_ns == stamps[rel] for rel in good[1:])
    statuses = {r["source"]: r["status"] for r in read_manifest(dst)}
    assert statuses[good[0]] == "ok" and {statuses[g] for g in good[1:]} == {"existing"}

    # other options into the same folder would mix two datasets: refused in one line
    assert main([*args, "--alpha", "1", "-q"]) == 2
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith(
            "holds a dataset made with other strength; rerun with the same options to resume, "
            "or choose a new output folder"
        )
    )


def choose_row(rel: str, seed: int, strength: tuple[float, float]) -> tuple[str, float]:
    style, value = choose(rel, 3, seed, strength)
    return f"style_{style}.png", value


def test_outputs_do_not_depend_on_batching(tmp_path):
    src, styles, good = make_dataset(tmp_path, n=5)
    for name, batch in (("a", 1), ("b", 4)):
        run(
            src,
            styles,
            tmp_path / name,
            DatasetConfig(size=48, workers=0, batch_size=batch, strength=(0.3, 1)),
        )
    assert all((tmp_path / "a" / g).read_bytes() == (tmp_path / "b" / g).read_bytes() for g in good)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--alpha-range", "0.9,0.2"], "--alpha-range '0.9,0.2': need 0 <= LO <= HI <= 1"),
        (["--alpha", "1.5"], "--alpha must be between 0 and 1, not 1.5"),
        (["--size", "8"], "size must be at least 16 px, not 8"),
        (["--styles", "nowhere"], "nowhere: not a folder of style images"),
    ],
)
def test_bad_options_are_one_line(tmp_path, capsys, extra, message):
    src, styles, _ = make_dataset(tmp_path, n=1)
    args = ["dataset", str(src), "--styles", str(styles), "-o", str(tmp_path / "out"), "--workers", "0"]
    assert main([*args, *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("tfstyle: error: ") and err[0].endswith(message)


def test_a_missing_ray_is_one_line_with_the_pip_command(tmp_path, capsys, monkeypatch):
    src, styles, _ = make_dataset(tmp_path, n=1)
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    assert main(["dataset", str(src), "--styles", str(styles), "-o", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "tfstyle: error: tfstyle dataset needs Ray, which is not installed: pip install 'tfstyle[dataset]'"
    ]
    assert not (tmp_path / "out").exists()  # nothing written before the check


def test_an_image_the_network_cannot_take_is_a_failed_row_not_a_stopped_run(tmp_path):
    from PIL import Image

    src, styles, good = make_dataset(tmp_path, n=2)
    sliver = np.random.default_rng(0).integers(0, 256, (16, 600, 3), dtype=np.uint8)
    Image.fromarray(sliver).save(src / "class_1" / "sliver.jpg")  # 48 x 1 px at --size 48
    summary = run(src, styles, tmp_path / "out", DatasetConfig(size=48, workers=0, strength=(0.5, 0.5)))
    assert summary.written == len(good)
    reasons = dict(summary.failed)
    assert reasons["class_1/sliver.jpg"].startswith("class_1/sliver.jpg: cannot stylize this image (")
    assert output_files(tmp_path / "out") == good
