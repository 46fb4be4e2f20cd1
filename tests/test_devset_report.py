"""``benchmarks.devset.by_style_table``: per-style means from ``tfstyle evaluate``'s JSON."""

from __future__ import annotations

import json

from benchmarks.devset import by_style_table


def _scores(style: float, ssim: float) -> dict:
    return {"style_mean_std": style, "content_ssim": ssim}


def test_each_style_row_is_the_mean_over_its_contents(tmp_path):
    pairs = [
        {
            "name": "cat__mondrian",
            "style": "s/mondrian.jpg",
            "scores": {"content": {}, "a": _scores(1e5, 0.2), "b": _scores(4e5, 0.4)},
        },
        {
            "name": "dog__mondrian",
            "style": "s/mondrian.jpg",
            "scores": {"content": {}, "a": _scores(3e5, 0.4), "b": _scores(2e5, 0.6)},
        },
        {
            "name": "dog__la_muse",
            "style": "s/la_muse.jpg",
            "scores": {"content": {}, "a": _scores(5e4, 0.5), "b": _scores(6e4, 0.1)},
        },
    ]
    path = tmp_path / "dev.json"
    path.write_text(json.dumps({"pairs": pairs}))
    lines = by_style_table(str(path)).splitlines()
    assert lines[0] == "| style | a | b |"  # the content baseline is not a method
    assert lines[2] == "| la_muse | 5e+04 (0.50) | 6e+04 (0.10) |"
    assert lines[3] == "| mondrian | 2e+05 (0.30) | 3e+05 (0.50) |"
    assert len(lines) == 4
