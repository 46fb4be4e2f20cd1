"""Errors that the CLI reports as one line instead of a traceback."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable


class TfstyleError(Exception):
    """Base class: anything a user can fix (bad file, missing weights, bad option)."""


class InputError(TfstyleError):
    """A user-supplied file cannot be used; the message names the file and the reason."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class ImageError(InputError):
    """An image file is missing, unreadable, truncated or of unusable size."""


class WeightsError(TfstyleError):
    """Pretrained weights can neither be found locally nor downloaded."""


class MissingDependency(TfstyleError):
    """An optional package a command needs is not installed; the message gives the pip command."""


INSTALL_HINTS: dict[str, tuple[str, str]] = {
    "tensorflow": ("TensorFlow", "pip install 'tfstyle[tf]'"),
    "tf_keras": ("tf-keras", "pip install 'tfstyle[tf]'"),
    "h5py": ("h5py", "pip install 'tfstyle[tf]'"),
    "scipy": ("SciPy", "pip install 'tfstyle[tf]'"),
    "skimage": ("scikit-image", "pip install 'tfstyle[tf]'"),
    "cv2": ("OpenCV", "pip install 'tfstyle[tf]'"),
    "tensorboard": ("TensorBoard", "pip install 'tfstyle[tf]'"),
    "tensorflow_model_optimization": ("tensorflow-model-optimization", "pip install 'tfstyle[export]'"),
    "ai_edge_litert": ("LiteRT", "pip install ai-edge-litert"),
    "flatbuffers": ("flatbuffers (LiteRT needs it)", "pip install ai-edge-litert"),
    "fastapi": ("FastAPI", "pip install 'tfstyle[web]'"),
    "uvicorn": ("uvicorn", "pip install 'tfstyle[web]'"),
    "multipart": ("python-multipart", "pip install 'tfstyle[web]'"),
    "matplotlib": ("Matplotlib", "pip install matplotlib"),
    "ray": ("Ray", "pip install 'tfstyle[dataset]'"),
    "pyarrow": ("PyArrow", "pip install 'tfstyle[dataset]'"),
}
"""Top-level import name -> (what it is called, how to install it). The base install carries only
the LiteRT runtime (NumPy, Pillow, ai-edge-litert); TensorFlow and the rest come with extras."""


def missing_dependency(name: str, what: str | None = None) -> MissingDependency | None:
    """The one-line error for a missing module ``name`` (dotted names count by their top level),
    or None when it is not one of :data:`INSTALL_HINTS` (then it is a bug, not a missing extra)."""
    top = (name or "").split(".")[0]
    if top not in INSTALL_HINTS:
        return None
    label, command = INSTALL_HINTS[top]
    return MissingDependency(f"{what or 'this command'} needs {label}, which is not installed: {command}")


def require(module: str, what: str | None = None) -> None:
    """Raise :class:`MissingDependency` (one line, with the pip command) unless ``module`` is importable."""
    if importlib.util.find_spec(module) is None:
        raise missing_dependency(module, what) or MissingDependency(f"{what or 'this'} needs {module}")


def guarded(prog: str, fn: Callable[[], int | None]) -> int:
    """Run a command's body: user errors become one stderr line and exit code 2, never a traceback."""
    try:
        return int(fn() or 0)
    except TfstyleError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:  # an optional dependency (an extra) is not installed
        error = missing_dependency(exc.name or "")
        if error is None:
            raise
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
