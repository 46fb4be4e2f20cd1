"""Options of the web app: what ``tfstyle serve`` accepts, with the limits enforced on uploads."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from tfstyle.engines.base import ENGINES
from tfstyle.errors import TfstyleError

ACCEPTED_FORMATS: dict[str, str] = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WebP", "BMP": "BMP"}
"""Pillow format name -> how the page names it: the types an upload may have (checked on content)."""

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
PRESERVE_COLOR = ("none", "luminance", "histogram")
MIN_OUTPUT = 64  # smallest output long side offered; the engines need 16 px, a picture needs more


def default_styles_dir() -> Path:
    """``$TFSTYLE_STYLES_DIR``, else ``~/.cache/tfstyle/styles``: images there are offered as saved styles."""
    env = os.environ.get("TFSTYLE_STYLES_DIR")
    return Path(env) if env else Path.home() / ".cache" / "tfstyle" / "styles"


@dataclass
class ServeConfig:
    """Everything the app needs; the CLI flags of ``tfstyle serve`` map one to one onto these."""

    engine_default: str = "student"
    engines: tuple[str, ...] = tuple(ENGINES)  # offered when their weights exist (as the CLI's default)
    preload: tuple[str, ...] = ()  # loaded and warmed at start-up; () = just ``engine_default``
    workers: int = 1
    max_queue: int = 4
    max_upload_mb: float = 20.0  # per file
    max_pixels: int = 25_000_000  # per image, from its header, before it is decoded
    max_size: int = 1024  # largest output long side
    default_size: int = 512
    max_styles: int = 4
    keep_s: float = 600.0  # finished results are deleted after this long (or once fetched and deleted)
    styles_dir: Path | None = field(default_factory=default_styles_dir)
    url: str = ""  # printed once the engines are ready (set by the CLI)

    def validate(self) -> ServeConfig:
        if self.workers < 1:
            raise TfstyleError(f"--workers must be at least 1, not {self.workers}")
        if self.max_queue < 0:
            raise TfstyleError(f"--max-queue must be >= 0, not {self.max_queue}")
        if not self.max_upload_mb > 0:
            raise TfstyleError(f"--max-upload-mb must be positive, not {self.max_upload_mb}")
        if self.max_pixels < 16 * 16:
            raise TfstyleError(f"--max-pixels must be at least 256, not {self.max_pixels}")
        if self.max_size < MIN_OUTPUT:
            raise TfstyleError(f"--max-size must be at least {MIN_OUTPUT} px, not {self.max_size}")
        if self.max_styles < 1:
            raise TfstyleError(f"--max-styles must be at least 1, not {self.max_styles}")
        self.default_size = max(MIN_OUTPUT, min(self.default_size, self.max_size))
        if self.engine_default not in self.engines:
            raise TfstyleError(
                f"--engine-default {self.engine_default!r} is not one of {', '.join(self.engines)}"
            )
        return self

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def max_request_bytes(self) -> int:
        """A whole form: every file at its limit plus room for the other fields."""
        return self.max_upload_bytes * (1 + self.max_styles) + (1 << 20)

    def preloaded(self) -> tuple[str, ...]:
        return self.preload or (self.engine_default,)

    def limits(self) -> dict:
        """What the page shows next to the upload fields."""
        return {
            "max_upload_mb": self.max_upload_mb,
            "max_pixels": self.max_pixels,
            "max_size": self.max_size,
            "min_size": MIN_OUTPUT,
            "default_size": self.default_size,
            "max_styles": self.max_styles,
            "types": list(ACCEPTED_FORMATS.values()),
            "max_queue": self.max_queue,
        }
