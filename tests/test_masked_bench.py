"""``benchmarks.masked --reuse``: which earlier figures a rerun may keep."""

from __future__ import annotations

import json

import pytest

from benchmarks.masked import _previous
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
