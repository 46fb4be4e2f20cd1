"""Errors that the CLI reports as one line instead of a traceback."""

from __future__ import annotations

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


def guarded(prog: str, fn: Callable[[], int | None]) -> int:
    """Run a command's body: user errors become one stderr line and exit code 2, never a traceback."""
    try:
        return int(fn() or 0)
    except TfstyleError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
