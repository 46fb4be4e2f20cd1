"""The strength-sweep reader: a curve is read at one content level, never extrapolated."""

from __future__ import annotations

import pytest

from benchmarks.sweep import read_at, read_table


def _curve(points):
    return {
        a: {"content_ssim": q, "style_mean_std": d, "style_swd": d / 1e5, "content_distance": 1 - q}
        for a, q, d in points
    }


def test_read_at_interpolates_between_sweep_points():
    curve = _curve([(0.6, 0.6, 3e5), (1.0, 0.4, 1e5)])
    value, outside = read_at(curve, 0.5, "style_mean_std")
    assert value == pytest.approx(2e5) and not outside


def test_read_at_does_not_extrapolate():
    curve = _curve([(0.6, 0.6, 3e5), (1.0, 0.45, 1.4e5)])
    value, outside = read_at(curve, 0.4, "style_mean_std")
    assert value == pytest.approx(1.4e5) and outside


def test_read_table_ratios_to_the_reference():
    table = {
        "magenta": _curve([(0.6, 0.55, 2e5), (1.0, 0.4, 1.5e5)]),
        "ours": _curve([(0.6, 0.6, 2.4e5), (1.0, 0.3, 0.6e5)]),
    }
    target, text = read_table(table)
    assert target == pytest.approx(0.4)
    ours = next(line for line in text.splitlines() if line.startswith("| ours"))
    assert "1.2e+05" in ours and "0.80x" in ours  # (0.4 - 0.3) / 0.3 of the way from 6e4 to 2.4e5
