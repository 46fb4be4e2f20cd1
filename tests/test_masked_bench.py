"""``benchmarks.masked --reuse``: which earlier figures a rerun may keep."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks.masked import STRENGTH_STYLE, STYLES, _previous, semantic_summary, summarise
from tfstyle.errors import TfstyleError


def _write(path, size=256, steps=150, engines=("gatys", "teacher")):
    images = {name: {e: {"regions": {}} for e in engines} for name in ("a", "b")}
    path.write_text(json.dumps({"results": {"size": size, "steps": steps, "images": images}}))
    return str(path)


def test_reuse_takes_a_comparable_earlier_run(tmp_path):
    path = _write(tmp_path / "masked.json")
    assert _previous(path, 256, 150, ("a", "b"), frozenset()) is None  # nothing reused, nothing read
    assert set(_previous(path, 256, 150, ("a", "b"), frozenset({"gatys"}))["images"]) == {"a", "b"}


@pytest.mark.parametrize(
    "args, message",
    [
        ((320, 150, ("a",), {"gatys"}), "was at 256 px / 150 steps, not 320 / 150"),
        ((256, 150, ("a", "c"), {"gatys"}), "no gatys figures for c"),
        ((256, 150, ("a",), {"student"}), "no student figures for a"),
    ],
)
def test_reuse_refuses_figures_that_do_not_match(tmp_path, args, message):
    path = _write(tmp_path / "masked.json")
    size, steps, contents, reuse = args
    with pytest.raises(TfstyleError, match=message):
        _previous(path, size, steps, contents, frozenset(reuse))


def test_reuse_without_an_earlier_run_names_the_file(tmp_path):
    with pytest.raises(TfstyleError, match="masked.json: --reuse needs an earlier run"):
        _previous(str(tmp_path / "masked.json"), 256, 150, ("a",), frozenset({"gatys"}))


def _distances(rng) -> dict:
    """``distances()``'s shape: style -> {mean_std, gram}."""
    return {s: {"mean_std": float(rng.uniform(1, 9)), "gram": float(rng.uniform(1, 9))} for s in STYLES}


def _entry(rng) -> dict:
    """One engine's figures on one image, shaped as ``run_all`` stores them (class labels as ints)."""
    edges = {
        k: float(rng.uniform(0, 1)) for k in ("band_p99", "output_p99", "content_p99", "band_mean_ratio")
    }
    strength = {key: {k: _distances(rng)[STRENGTH_STYLE] for k in (1, 2)} for key in ("1.0/0.3", "0.3/1.0")}
    return {
        "regions": {s: _distances(rng) for s in STYLES},
        "edges": edges,
        "strength": strength,
        "seconds": 1.0,
    }


def test_reused_figures_summarise_as_the_run_that_made_them(tmp_path):
    """A reused run comes back through JSON (string keys); its summary must equal the original's."""
    rng = np.random.default_rng(0)
    images = {}
    for name in ("a", "b"):
        images[name] = {
            "content_classes": {k: _distances(rng) for k in (1, 2)},
            "gatys": _entry(rng),
            "teacher": _entry(rng),
            "semantic": {key: {k: _distances(rng) for k in (1, 2)} for key in ("semantic", "whole style")},
        }
    results = {"size": 256, "steps": 150, "images": images}
    path = tmp_path / "masked.json"
    path.write_text(json.dumps({"results": results}))
    previous = _previous(str(path), 256, 150, ("a", "b"), frozenset({"gatys", "teacher"}))
    for name in images:  # as run_all: the content's figures are fresh, engines and semantic reused
        previous["images"][name]["content_classes"] = images[name]["content_classes"]
    assert summarise(previous) == summarise(results)
    assert semantic_summary(previous) == semantic_summary(results)
