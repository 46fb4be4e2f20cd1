"""Progress bars for long loops (commands, training): on stderr, quiet when it is not a terminal."""

from __future__ import annotations

import sys


def progress(quiet: bool = False, **kwargs):
    """A tqdm bar on stderr: off when ``quiet``, and off by itself when stderr is not a terminal."""
    from tqdm import tqdm

    return tqdm(file=sys.stderr, dynamic_ncols=True, disable=True if quiet else None, **kwargs)
