"""The base install is the on-device runtime: a clean virtualenv, ``pip install`` of this repository
without extras, no TensorFlow, under 250 MB, and the shipped INT8 student stylizes a photo from the
command line and from Python; a TensorFlow engine says in one line what to install.

Needs pip and a package index (PyPI, or the index pip is configured with); about a minute. Select
it with ``-m install``, leave it out with ``-m 'not install'``.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

ROOT = pathlib.Path(__file__).resolve().parents[1]
LIMIT_MB = 250

pytestmark = pytest.mark.install


def _env() -> dict[str, str]:
    """The caller's environment without anything that would let the venv see this checkout or
    the developer environment (PYTHONPATH, an active virtualenv)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _run(args, cwd, check=True) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(a) for a in args], cwd=cwd, env=_env(), capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{args[:3]} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return proc


def _size_mb(folder: pathlib.Path) -> float:
    total = 0
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            total += path.stat().st_size
    return total / 2**20


def _photo(path: pathlib.Path, size: tuple[int, int], seed: int) -> np.ndarray:
    """A photo-like test image (smooth gradients, shapes and texture) written to ``path``."""
    rng = np.random.default_rng(seed)
    h, w = size
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    image = np.stack([0.5 + 0.4 * np.sin(6 * x + seed), 0.3 + 0.5 * y, 0.6 - 0.3 * x * y], axis=-1)
    for _ in range(6):
        cy, cx, r = rng.random() * h, rng.random() * w, 8 + rng.random() * h / 4
        disc = (np.mgrid[0:h, 0:w][0] - cy) ** 2 + (np.mgrid[0:h, 0:w][1] - cx) ** 2 < r * r
        image[disc] = rng.random(3)
    image = np.clip(image + 0.05 * rng.standard_normal(image.shape), 0, 1)
    array = (image * 255).astype(np.uint8)
    Image.fromarray(array).save(path)
    return array.astype(np.float32) / 255.0


def _check_stylized(out: np.ndarray, content: np.ndarray) -> None:
    assert out.shape == content.shape, (out.shape, content.shape)
    assert np.abs(out - content).mean() > 0.05, "the output is (almost) the content"
    assert out.std() > 0.03, "the output is flat"


@pytest.fixture(scope="module")
def light_env(tmp_path_factory) -> pathlib.Path:
    work = tmp_path_factory.mktemp("light")
    src = work / "src"  # a copy of what the wheel is built from, so the build never writes into the checkout
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "tfstyle", src / "tfstyle", ignore=shutil.ignore_patterns("__pycache__"))
    venv = work / "venv"
    _run([sys.executable, "-m", "venv", venv], cwd=work)
    _run([venv / "bin" / "python", "-m", "pip", "install", "-q", src], cwd=work)
    return venv


def test_base_install_has_no_tensorflow_and_is_small(light_env):
    py = light_env / "bin" / "python"
    code = "import importlib.util as u; print(*(u.find_spec(m) is None for m in ('tensorflow', 'tf_keras')))"
    assert _run([py, "-c", code], cwd=light_env).stdout.split() == ["True", "True"]
    size = _size_mb(light_env)
    print(f"base install: {size:.0f} MB")
    assert size < LIMIT_MB, f"the base install is {size:.0f} MB (limit {LIMIT_MB} MB)"


def test_base_install_stylizes_from_the_command_line_and_python(light_env, tmp_path):
    content = _photo(tmp_path / "photo.png", (120, 160), seed=1)
    _photo(tmp_path / "style.png", (128, 128), seed=7)

    tfstyle = light_env / "bin" / "tfstyle"
    args = [tfstyle, "stylize", "photo.png", "--style", "style.png", "--model", "tflite", "-q"]
    _run(args + ["-o", "cli.png"], cwd=tmp_path)
    _check_stylized(np.asarray(Image.open(tmp_path / "cli.png").convert("RGB"), np.float32) / 255.0, content)

    # masks, tiling and colour matching run on the base install too (no SciPy, OpenCV or TensorFlow)
    mask = np.zeros((120, 160), np.uint8)
    mask[:, :80] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    extra = ["--mask", "mask.png", "--tile", "64", "--overlap", "16", "--preserve-color", "histogram"]
    _run(args + extra + ["-o", "masked.png"], cwd=tmp_path)
    masked = np.asarray(Image.open(tmp_path / "masked.png").convert("RGB"), np.float32) / 255.0
    assert np.abs(masked[:, 120:] - content[:, 120:]).max() < 0.02, "unmasked pixels must keep the content"
    assert np.abs(masked[:, :40] - content[:, :40]).mean() > 0.05, "masked pixels must be stylized"

    code = (
        "import sys, numpy as np\n"
        "from tfstyle.runtime import LiteStudent, stylize\n"
        "out = stylize('photo.png', 'style.png')\n"
        "np.save('py.npy', out)\n"
        "lite = LiteStudent(threads=1)\n"
        "assert lite.style_vector(np.full((64, 64, 3), 0.5, np.float32)).shape == (1, lite.style_dim)\n"
        "assert 'tensorflow' not in sys.modules\n"
    )
    _run([light_env / "bin" / "python", "-c", code], cwd=tmp_path)
    out = np.load(tmp_path / "py.npy")
    _check_stylized(out, content)
    # the command line and the Python API are the same computation
    cli = np.asarray(Image.open(tmp_path / "cli.png").convert("RGB"), np.float32) / 255.0
    assert np.abs(cli - out).max() <= 1.5 / 255


def test_tensorflow_engines_say_what_to_install(light_env, tmp_path):
    _photo(tmp_path / "photo.png", (64, 64), seed=2)
    tfstyle = light_env / "bin" / "tfstyle"
    for model in ("teacher", "student"):
        args = [tfstyle, "stylize", "photo.png", "--style", "photo.png", "--model", model, "-o", "x.png"]
        proc = _run(args, cwd=tmp_path, check=False)
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert f"the {model} engine needs TensorFlow" in lines[0] and "pip install 'tfstyle[tf]'" in lines[0]
    assert not (tmp_path / "x.png").exists()
