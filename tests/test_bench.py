"""``python -m export.bench`` on an untrained student's float32 files, in --quick mode."""

from __future__ import annotations

import json

from export import bench


def _export(out, role: str, model) -> dict:
    from export.convert import convert

    name = f"{role}_float32.tflite"
    buf = convert(model, "float32")
    (out / name).write_bytes(buf)
    return {"file": name, "role": role, "variant": "float32", "bytes": len(buf), "source": "untrained"}


def test_quick_bench_writes_report_chart_and_json(tmp_path):
    from tfstyle.models.student import build_style_predictor, build_transformer

    models = tmp_path / "models"
    models.mkdir()
    entries = [
        _export(models, "transformer", build_transformer()),
        _export(models, "predictor", build_style_predictor(imagenet=False)),
    ]
    (models / "manifest.json").write_text(json.dumps({"models": entries}))
    report, chart, js = tmp_path / "docs" / "B.md", tmp_path / "docs" / "img" / "lat.png", tmp_path / "b.json"
    argv = ["--quick", "--threads", "1", "--models", str(models), "--report", str(report)]
    argv += ["--chart", str(chart), "--json", str(js)]  # Magenta too, when ../shared/peers has it

    assert bench.main(argv) == 0

    results = json.loads(js.read_text())["results"]
    ours = {r["role"] for r in results if r["source"] == "ours"}
    assert ours == {"predictor", "transformer"}
    for r in results:
        m = r["threads"]["1"]
        assert m["median_ms"] > 0 and m["p90_ms"] >= m["median_ms"] and m["peak_rss_mb"] > 0, r["label"]
    text = report.read_text()
    assert "<!-- tflite-bench:start -->" in text and "| ours transformer float32 | 256 |" in text
    assert chart.stat().st_size > 0


def test_missing_models_dir_is_one_line_exit_2(tmp_path, capsys):
    assert bench.main(["--models", str(tmp_path / "nope"), "--report", str(tmp_path / "B.md")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bench: error:") and err.count("\n") == 1
    assert not (tmp_path / "B.md").exists()
