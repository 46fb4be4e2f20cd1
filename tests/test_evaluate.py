"""Evaluation reports, manifests, output folders, contact sheets and the ``evaluate`` command."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from PIL import Image

from tfstyle import evaluate as ev
from tfstyle import sheets
from tfstyle.errors import InputError, TfstyleError
from tfstyle.images import load_image, save_image

SIZE = 64


@pytest.fixture(scope="module")
def dataset(data_dir, tmp_path_factory):
    """2 contents x 1 style cropped from the dev data, and two fake methods' outputs per pair."""
    root = tmp_path_factory.mktemp("eval")
    rng = np.random.default_rng(0)
    for sub in ("content", "style", "blur", "noisy"):
        (root / sub).mkdir()
    contents = sorted((data_dir / "dev" / "content").iterdir())[:2]
    style = min((data_dir / "dev" / "style").iterdir())
    save_image(root / "style" / "s1.png", load_image(style, size=SIZE))
    for i, path in enumerate(contents):
        img = load_image(path, size=SIZE)
        save_image(root / "content" / f"c{i}.png", img)
        blur = (img + np.roll(img, 1, 0) + np.roll(img, 1, 1) + np.roll(img, (1, 1), (0, 1))) / 4
        save_image(root / "blur" / f"c{i}__s1.png", blur)
        save_image(root / "noisy" / f"c{i}__s1.png", np.clip(img + rng.normal(0, 0.1, img.shape), 0, 1))
    return root


@pytest.fixture
def shared_vgg(vgg, monkeypatch):
    """Make the evaluate command reuse the session's extractor instead of building another VGG19."""
    from tfstyle import metrics

    monkeypatch.setattr(metrics, "default_extractor", lambda: vgg)
    return vgg


def _write_manifest(root, header="content,style,blur,noisy"):
    lines = [header] + [
        f"content/c{i}.png,style/s1.png,blur/c{i}__s1.png,noisy/c{i}__s1.png" for i in range(2)
    ]
    path = root / "manifest.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def _md_table(md: str, first_header: str) -> list[list[str]]:
    """Rows (cells) of the first Markdown table whose header starts with ``first_header``."""
    lines = md.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |"))
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip("|").split("|")])
    return rows


def test_manifest_report(dataset, vgg):
    rows = ev.load_manifest(_write_manifest(dataset))
    assert [r.name for r in rows] == ["c0__s1", "c1__s1"]
    assert rows[0].outputs["blur"] == str(dataset / "blur" / "c0__s1.png")  # resolved against the CSV
    report = ev.evaluate(
        rows, methods=["blur", "noisy"], compare=["blur,noisy"], extractor=vgg, progress=False,
        include_content_baseline=True,
    )  # fmt: skip
    assert report.methods == ["content", "blur", "noisy"]
    means = report.means()
    for m in report.methods:
        for k in ev.METRICS:
            assert means[m][k] == pytest.approx(np.mean([s[k] for s in report.scores[m]]))
    assert means["content"]["content_distance"] == pytest.approx(0, abs=1e-6)
    assert means["content"]["content_ssim"] == pytest.approx(1, abs=1e-6)
    assert means["blur"]["content_ssim"] > means["noisy"]["content_ssim"]
    assert report.parity_means()[("blur", "noisy")]["psnr"] > 10

    md = report.to_markdown()
    mean_table = _md_table(md, "method")
    assert mean_table[0] == ["method", *ev.METRICS]
    assert [r[0] for r in mean_table[2:]] == ["content", "blur", "noisy"]
    assert mean_table[3][1:] == [ev.fmt(means["blur"][k]) for k in ev.METRICS]
    per_pair = _md_table(md, "pair")
    assert per_pair[0] == ["pair", "method", *ev.METRICS]
    assert [(r[0], r[1]) for r in per_pair[2:]] == [
        (p, m) for p in ("c0__s1", "c1__s1") for m in ("content", "blur", "noisy")
    ]
    parity = _md_table(md.split("## Parity per pair")[1], "pair")
    assert len(parity) == 2 + 2 and parity[0] == ["pair", "A", "B", "psnr_db", "ssim"]

    data = json.loads(report.to_json())
    assert data["methods"] == ["content", "blur", "noisy"] and len(data["pairs"]) == 2
    assert data["means"]["noisy"]["style_gram"] == pytest.approx(means["noisy"]["style_gram"])


def test_fmt_and_identical_parity_in_json(dataset, vgg):
    assert ev.fmt(123456.0) == "1.235e+05" and ev.fmt(0.123456) == "0.1235" and ev.fmt(math.inf) == "inf"
    rows = ev.rows_from_dirs(
        dataset / "content", dataset / "style", {"a": dataset / "blur", "b": dataset / "blur"}
    )
    report = ev.evaluate(rows[:1], methods=["a", "b"], compare=[("a", "b")], extractor=vgg, progress=False)
    assert math.isinf(report.parity[("a", "b")][0]["psnr"])
    assert "| a | b | inf | 1 |" in report.mean_markdown()
    assert json.loads(report.to_json())["parity_means"][0]["psnr"] is None  # strict JSON, no Infinity


def test_manifest_errors(dataset, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("image,style,a\nx.png,y.png,z.png\n")
    with pytest.raises(InputError, match="header"):
        ev.load_manifest(bad)
    with pytest.raises(InputError, match="no such manifest"):
        ev.load_manifest(tmp_path / "nope.csv")
    rows = ev.load_manifest(_write_manifest(dataset))
    with pytest.raises(TfstyleError, match="unknown method 'zzz'"):
        ev.evaluate(rows, methods=["blur"], compare=["blur,zzz"], progress=False)


def test_rows_from_dirs_missing_output(dataset, tmp_path):
    rows = ev.rows_from_dirs(dataset / "content", dataset / "style", {"blur": dataset / "blur"})
    assert [r.name for r in rows] == ["c0__s1", "c1__s1"]
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "c0__s1.png").write_bytes((dataset / "blur" / "c0__s1.png").read_bytes())
    with pytest.raises(InputError) as info:
        ev.rows_from_dirs(dataset / "content", dataset / "style", {"x": partial})
    assert info.value.path == str(partial / "c1__s1.png") and "'x'" in str(info.value)
    with pytest.raises(InputError, match="no such content directory"):
        ev.rows_from_dirs(tmp_path / "none", dataset / "style", {"x": partial})


def test_contact_sheet_size_and_letterbox(tmp_path):
    wide = np.zeros((16, 32, 3), np.float32)  # black, 2:1
    tall = np.zeros((32, 16, 3), np.float32)
    path = tmp_path / "sheet.png"
    arr = sheets.contact_sheet([[wide, tall, wide], [tall, wide, tall]], ["a", "b", "c"], path, cell=32)
    with Image.open(path) as im:
        assert im.size == (3 * 32 + 4 * sheets.GAP, sheets.TITLE_HEIGHT + 2 * 32 + 3 * sheets.GAP)
        assert im.size == sheets.sheet_size(2, 3, 32) == (arr.shape[1], arr.shape[0])
    # First cell: the wide image is letterboxed (white above and below, black in the middle).
    x0, y0 = sheets.GAP, sheets.TITLE_HEIGHT + sheets.GAP
    assert (arr[y0 + 2, x0 + 16] == 255).all() and (arr[y0 + 16, x0 + 16] == 0).all()
    assert arr[: sheets.TITLE_HEIGHT].min() < 128  # some title ink
    labelled = sheets.contact_sheet([[wide], [tall]], ["x"], None, cell=32, row_labels=["one", "two"])
    assert labelled.shape[1] > sheets.sheet_size(2, 1, 32)[0]
    assert labelled.shape[1::-1] == sheets.sheet_size(2, 1, 32, ["one", "two"])
    row = sheets.strip([wide, tall], ["f0", "f1"], tmp_path / "strip.png", cell=24)
    assert row.shape[1::-1] == sheets.sheet_size(1, 2, 24) and (tmp_path / "strip.png").is_file()


@pytest.fixture
def cli(monkeypatch):
    """``tfstyle.cli.main`` with only the evaluate subcommand (others are developed separately)."""
    from tfstyle import cli

    monkeypatch.setattr(cli, "COMMANDS", ("evaluate",))
    return cli.main


def test_cli_writes_report_json_and_sheet(dataset, shared_vgg, cli, tmp_path, capsys):
    out = tmp_path / "out"
    argv = [
        "evaluate", "--content-dir", str(dataset / "content"), "--style-dir", str(dataset / "style"),
        "--output", f"blur={dataset / 'blur'}", "--output", f"noisy={dataset / 'noisy'}",
        "--compare", "blur,noisy", "--content-baseline", "-q", "--cell", "48",
        "-o", str(out / "report.md"), "--json", str(out / "report.json"), "--sheet", str(out / "sheet.png"),
    ]  # fmt: skip
    assert cli(argv) == 0
    stdout = capsys.readouterr().out
    assert "| method |" in stdout and "| noisy |" in stdout and "psnr_db" in stdout
    assert "## Per pair" in (out / "report.md").read_text()
    assert json.loads((out / "report.json").read_text())["methods"] == ["content", "blur", "noisy"]
    with Image.open(out / "sheet.png") as im:
        width, height = im.size
    assert height == sheets.TITLE_HEIGHT + 2 * 48 + 3 * sheets.GAP  # 2 pairs
    assert width == sheets.sheet_size(2, 4, 48, ["c0__s1", "c1__s1"])[0]  # content|style|blur|noisy
    names = sorted(p.name for p in out.iterdir())
    assert names == ["report.json", "report.md", "sheet.png"]  # no temporaries left behind

    # The manifest form gives the same numbers.
    assert cli(["evaluate", str(_write_manifest(dataset)), "-q", "--content-baseline"]) == 0
    assert capsys.readouterr().out.splitlines()[2:6] == stdout.splitlines()[2:6]


def test_cli_missing_output_is_one_line_error(dataset, cli, tmp_path, capsys):
    partial = tmp_path / "partial"
    partial.mkdir()
    argv = ["evaluate", "--content-dir", str(dataset / "content"), "--style-dir", str(dataset / "style")]
    assert cli([*argv, "--output", f"x={partial}", "-o", str(tmp_path / "r.md")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "c0__s1.png" in err and "missing output" in err
    assert not (tmp_path / "r.md").exists()
    assert cli([*argv]) == 2  # no --output
    assert "--output" in capsys.readouterr().err
