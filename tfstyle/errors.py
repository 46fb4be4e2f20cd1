"""Errors that the CLI reports as one line instead of a traceback."""

from __future__ import annotations

import os


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
