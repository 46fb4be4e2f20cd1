"""The CLI contract for unusable images: exit code 2, exactly one line on stderr of the form
``tfstyle: error: PATH: reason``, no traceback, and no output file.

Most cases call ``tfstyle.cli.main`` in-process (cheap); two real subprocesses check that nothing
else (TensorFlow logging, warnings) reaches stderr when the program runs for real.
"""

from __future__ import annotations

import os
import pathlib
import re
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from PIL import Image

from tfstyle import cli

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _noise_png_or_jpeg(path: pathlib.Path, fmt: str) -> None:
    pixels = np.random.default_rng(0).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, format=fmt)


def _missing(path):
    pass


def _directory(path):
    path.mkdir()


def _empty(path):
    path.write_bytes(b"")


def _text(path):
    path.write_text("this is not a picture\n" * 10)


def _truncated(fmt):
    def make(path):
        _noise_png_or_jpeg(path, fmt)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])

    return make


def _tiny(path):
    Image.new("RGB", (1, 1), "white").save(path)


def _bomb(path):
    """A real 16x16 PNG whose IHDR claims 20000x20000 (and a matching CRC): tiny on disk."""
    Image.new("L", (16, 16)).save(path)
    data = bytearray(path.read_bytes())
    data[16:24] = struct.pack(">II", 20000, 20000)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))


# kind -> (maker, file name, the reason the error line must give)
BAD_INPUTS = {
    "missing": (_missing, "missing.png", "no such file"),
    "directory": (_directory, "folder.png", "is a directory"),
    "empty": (_empty, "empty.png", "empty file"),
    "text": (_text, "notes.jpg", "not an image file"),
    "truncated_jpeg": (_truncated("JPEG"), "cut.jpg", "truncated or corrupt"),
    "truncated_png": (_truncated("PNG"), "cut.png", "truncated or corrupt"),
    "tiny": (_tiny, "tiny.png", "1x1 px"),
    "bomb": (_bomb, "bomb.png", "20000x20000 px"),
}


def make_bad(tmp_path: pathlib.Path, kind: str) -> tuple[pathlib.Path, str]:
    maker, name, reason = BAD_INPUTS[kind]
    path = tmp_path / "bad" / name
    path.parent.mkdir(exist_ok=True)
    maker(path)
    return path, reason


@pytest.fixture
def good(tmp_path) -> pathlib.Path:
    path = tmp_path / "good.png"
    y, x = np.mgrid[0:64, 0:64]
    Image.fromarray(np.stack([x * 4, y * 4, (x + y) * 2], axis=-1).astype(np.uint8)).save(path)
    return path


def optimize_args(content, style, out) -> list[str]:
    return ["optimize", str(content), str(style), "-o", str(out), "--steps", "1", "--size", "64"]


# TensorFlow's C++ (absl) logging, e.g. "I0000 00:00:1795293069.58 4060 port.cc:153] oneDNN ...". In
# TF 2.2x TF_CPP_MIN_LOG_LEVEL=3 does not silence the lines logged before absl is initialised.
TF_LOG_LINE = re.compile(r"^([IWEF]\d{4} \d\d:\d\d:\d\d|WARNING: All log messages before absl::)")


def assert_one_error_line(stderr: str, bad: pathlib.Path, reason: str) -> None:
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if not TF_LOG_LINE.match(line)]
    assert len(lines) == 1 and lines[0].strip(), f"expected exactly one line on stderr, got:\n{stderr}"
    assert lines[0].startswith("tfstyle: error: "), lines[0]
    assert str(bad) in lines[0], lines[0]
    assert reason in lines[0], lines[0]


def assert_no_output(out: pathlib.Path) -> None:
    assert not out.exists()
    if out.parent.exists():
        assert list(out.parent.iterdir()) == [], "temporary files left behind"


@pytest.mark.parametrize("role", ["content", "style"])
@pytest.mark.parametrize("kind", list(BAD_INPUTS))
def test_bad_image_in_process(tmp_path, good, capsys, kind, role):
    bad, reason = make_bad(tmp_path, kind)
    out = tmp_path / "out" / "result.png"
    content, style = (bad, good) if role == "content" else (good, bad)
    code = cli.main(optimize_args(content, style, out))
    assert code == 2
    assert_one_error_line(capsys.readouterr().err, bad, reason)
    assert_no_output(out)


@pytest.mark.parametrize(("kind", "role"), [("truncated_jpeg", "content"), ("bomb", "style")])
def test_bad_image_subprocess(tmp_path, good, kind, role):
    bad, reason = make_bad(tmp_path, kind)
    out = tmp_path / "out" / "result.png"
    content, style = (bad, good) if role == "content" else (good, bad)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", GLOG_minloglevel="3")
    proc = subprocess.run(
        [sys.executable, "-m", "tfstyle.cli", *optimize_args(content, style, out)],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    assert_one_error_line(proc.stderr, bad, reason)
    assert_no_output(out)


def test_a_missing_extra_is_one_line_with_the_pip_command(capsys):
    from tfstyle.errors import MissingDependency, guarded, missing_dependency, require

    def needs(module: str):
        def body():
            raise ModuleNotFoundError(f"No module named {module!r}", name=module)

        return body

    assert guarded("tfstyle", needs("tensorflow.python")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "tfstyle: error: this command needs TensorFlow, which is not installed: pip install 'tfstyle[tf]'"
    ]
    assert guarded("tfstyle", needs("ai_edge_litert.interpreter")) == 2
    assert "pip install ai-edge-litert" in capsys.readouterr().err
    with pytest.raises(ModuleNotFoundError):  # not an optional dependency: a bug, shown as such
        guarded("tfstyle", needs("tfstyle_no_such_module"))
    message = str(missing_dependency("cv2", "the gizmo"))
    assert message == "the gizmo needs OpenCV, which is not installed: pip install 'tfstyle[tf]'"
    with pytest.raises(MissingDependency, match="the gizmo needs tfstyle_no_such_module"):
        require("tfstyle_no_such_module", "the gizmo")
    require("numpy", "anything")  # installed: nothing to say
