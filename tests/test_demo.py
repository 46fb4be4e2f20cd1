"""``tfstyle demo``: where its pictures come from, and a real run through every engine."""

from __future__ import annotations

import numpy as np
from PIL import Image

from tfstyle import cli
from tfstyle.commands import demo


def _images(folder, names, shape=(48, 64)):
    folder.mkdir()
    rng = np.random.default_rng(len(names))
    for name in names:
        pixels = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{name}.png")
    return folder


def test_spread_keeps_both_ends_and_order():
    assert demo._spread(list("abcdef"), 2) == ["a", "f"]
    assert demo._spread(list("abcdefg"), 3) == ["a", "d", "g"]
    assert demo._spread(list("abc"), 5) == ["a", "b", "c"]
    assert demo._spread(list("abc"), 1) == ["a"]


def test_source_prefers_given_folders_then_dev_set_then_samples(tmp_path, monkeypatch):
    photos = _images(tmp_path / "photos", ["p1", "p2", "p3", "p4"])
    paintings = _images(tmp_path / "paintings", ["s1", "s2"])
    given = demo.find_source(str(photos), str(paintings), 2, 1)
    assert [n for n, _ in given.contents] == ["p1", "p4"]
    assert [n for n, _ in given.styles] == ["s1"]
    assert str(photos) in given.description and str(paintings) in given.description

    dev = tmp_path / "data" / "dev"
    dev.mkdir(parents=True)
    _images(dev / "content", ["c1", "c2"])
    _images(dev / "style", ["a", "b", "c"])
    monkeypatch.setenv("TFSTYLE_DATA", str(tmp_path / "data"))
    from_dev = demo.find_source(None, None, 3, 2)
    assert [n for n, _ in from_dev.contents] == ["c1", "c2"]
    assert [n for n, _ in from_dev.styles] == ["a", "c"]
    assert from_dev.description == "photos from the dev set; styles from the dev set"

    monkeypatch.setenv("TFSTYLE_DATA", str(tmp_path / "nowhere"))
    samples = demo.find_source(None, None, 2, 2)
    assert [r for _, r in samples.contents] == ["skimage:astronaut", "skimage:coffee"]
    assert "scikit-image samples" in samples.description and "--styles" in samples.description
    assert demo.load("skimage:coffee", 64).shape[1] == 64  # coffee is landscape: width is the long side


def test_missing_folder_is_one_error_line(tmp_path, capsys):
    code = cli.main(["demo", "--styles", str(tmp_path / "absent"), "-o", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and "absent" in err[0] and "style" in err[0]


def test_demo_runs_every_engine_and_writes_a_sheet(tmp_path, capsys):
    photos = _images(tmp_path / "photos", ["p1", "p2"], shape=(64, 96))
    paintings = _images(tmp_path / "paintings", ["s1"], shape=(64, 64))
    out = tmp_path / "out"
    args = ["demo", "--contents", str(photos), "--styles", str(paintings), "-o", str(out)]
    code = cli.main([*args, "--size", "64", "--gatys-steps", "2", "--quiet"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    for engine in ("teacher", "student", "tflite"):
        for photo in ("p1", "p2"):
            image = np.asarray(Image.open(out / f"{photo}__s1__{engine}.png"))
            assert image.shape[:2] == (43, 64)
        assert f"{engine} " in captured.err  # the timing line names every engine
    assert (out / "p1__s1__gatys.png").exists() and not (out / "p2__s1__gatys.png").exists()
    sheet = Image.open(out / "contact_sheet.png")
    assert sheet.width > 6 * 256  # six columns of 256 px cells, plus the row labels
    assert "wrote 7 images" in captured.out
