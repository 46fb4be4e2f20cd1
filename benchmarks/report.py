"""Keep several benchmarks' results in one Markdown file: each owns a marked section."""

from __future__ import annotations

import os
import platform
import re

from tfstyle.files import write_text


def update_section(path: str, key: str, body: str, title: str = "# Benchmarks") -> None:
    """Replace (or append) the block between ``<!-- key:start -->`` and ``<!-- key:end -->``."""
    start, end = f"<!-- {key}:start -->", f"<!-- {key}:end -->"
    block = f"{start}\n{body.rstrip()}\n{end}"
    text = open(path, encoding="utf-8").read() if os.path.exists(path) else f"{title}\n"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    text = (
        pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    )
    write_text(path, text)


def machine() -> str:
    """One line describing where a figure was measured."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def save_palette_png(image, path: str) -> None:
    """A docs image (PIL) as a 256-colour, dithered PNG, written atomically: a third of the bytes
    or less (the student contact sheet: 3.0 against 9.9 MB), and it still reads as it is."""
    from PIL import Image

    from tfstyle.files import atomic_path

    small = image.convert("RGB").quantize(
        256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG
    )
    with atomic_path(path) as tmp:
        small.save(tmp, optimize=True)
