"""Score stylised outputs of several methods on the same (content, style) pairs.

Rows come from a CSV manifest (:func:`load_manifest`) or from folders (:func:`rows_from_dirs`);
:func:`evaluate` computes :class:`tfstyle.metrics.Scorer` metrics for every method's output of every
pair, optional pixel parity (PSNR/SSIM) between pairs of methods, and returns a :class:`Report`
that renders as Markdown or JSON. TensorFlow is imported only when :func:`evaluate` runs.
"""

from __future__ import annotations

import csv
import json
import math
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from tfstyle.errors import InputError, TfstyleError

__all__ = [
    "CONTENT_BASELINE",
    "IMAGE_EXTENSIONS",
    "METRICS",
    "PARITY_METRICS",
    "Report",
    "Row",
    "check_rows",
    "evaluate",
    "fmt",
    "images_in",
    "load_manifest",
    "output_name",
    "parse_compare",
    "rows_from_dirs",
    "write_contact_sheet",
]

CONTENT_BASELINE = "content"
METRICS = ("style_gram", "style_mean_std", "content_distance", "content_ssim")  # == metrics.Scorer.METRICS
PARITY_METRICS = ("psnr", "ssim")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
_RESERVED = ("content", "style")
METRIC_HELP = (
    "style_gram / style_mean_std: VGG19 relu1_1..relu5_1 Gram and mean/std style losses to the style "
    "(style resized to the output's short side; lower is better). content_distance: relative relu4_1 "
    "error to the content (lower is better). content_ssim: luminance SSIM to the content (higher keeps "
    "more structure). psnr (dB) / ssim: pixel parity between two methods' outputs (higher = closer)."
)


def _stem(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


def output_name(content: str, style: str) -> str:
    """File name of the output for a pair in an output folder: ``{content_stem}__{style_stem}.png``."""
    return f"{_stem(content)}__{_stem(style)}.png"


@dataclass(frozen=True)
class Row:
    """One (content, style) pair and each method's output for it (absolute or CWD-relative paths)."""

    content: str
    style: str
    outputs: Mapping[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{_stem(self.content)}__{_stem(self.style)}"


# --------------------------------------------------------------------------- loading rows


def _resolve(base: str, value: str) -> str:
    value = os.path.expanduser(value.strip())
    return value if os.path.isabs(value) else os.path.normpath(os.path.join(base, value))


def load_manifest(path: str | os.PathLike) -> list[Row]:
    """Rows from a CSV with header ``content,style,<method1>,<method2>,...``.

    Relative paths are resolved against the CSV's folder; blank lines are skipped.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputError(path, "no such manifest file")
    base = os.path.dirname(os.path.abspath(path))
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            lines = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(path, f"cannot read manifest: {exc}") from exc
    lines = [line for line in lines if any(cell.strip() for cell in line)]
    if not lines:
        raise InputError(path, "empty manifest (expected a header 'content,style,<method>,...')")
    header = [cell.strip() for cell in lines[0]]
    if [h.lower() for h in header[:2]] != ["content", "style"] or len(header) < 3:
        raise InputError(path, f"header must be 'content,style,<method>,...', got {','.join(header)!r}")
    methods = header[2:]
    bad = [m for m in methods if not m or m.lower() in _RESERVED]
    if bad or len(set(methods)) != len(methods):
        raise InputError(path, f"method columns must be unique, non-empty and not content/style: {methods}")
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        if len(line) != len(header):
            raise InputError(path, f"line {number} has {len(line)} cells, the header has {len(header)}")
        empty = [h for h, cell in zip(header, line) if not cell.strip()]
        if empty:
            raise InputError(path, f"line {number}: empty cell(s) {', '.join(empty)}")
        cells = [_resolve(base, cell) for cell in line]
        rows.append(Row(cells[0], cells[1], dict(zip(methods, cells[2:]))))
    if not rows:
        raise InputError(path, "manifest has a header but no rows")
    return rows


def images_in(directory: str, what: str) -> list[str]:
    """The images of a folder, sorted; one error line when it is missing, empty or has two images
    whose outputs would share a name."""
    if not os.path.isdir(directory):
        raise InputError(directory, f"no such {what} directory")
    files = sorted(
        os.path.join(directory, f)
        for f in os.listdir(directory)
        if f.lower().endswith(IMAGE_EXTENSIONS) and not f.startswith(".")
    )
    if not files:
        raise InputError(directory, f"no images ({'/'.join(IMAGE_EXTENSIONS)}) in the {what} directory")
    stems = [_stem(f) for f in files]
    dupes = sorted({s for s in stems if stems.count(s) > 1})
    if dupes:
        raise InputError(
            directory, f"several images share the name(s) {', '.join(dupes)}; outputs would clash"
        )
    return files


def rows_from_dirs(
    content_dir: str | os.PathLike, style_dir: str | os.PathLike, outputs: Mapping[str, str | os.PathLike]
) -> list[Row]:
    """Every (content, style) combination of two image folders, with each method's output found in
    its folder as ``{content_stem}__{style_stem}.png``. A missing output is an error naming the file."""
    contents = images_in(os.fspath(content_dir), "content")
    styles = images_in(os.fspath(style_dir), "style")
    if not outputs:
        raise TfstyleError("no outputs to evaluate: give at least one NAME=DIR")
    for method, directory in outputs.items():
        if method.lower() in _RESERVED:
            raise TfstyleError(f"method name {method!r} is reserved; choose another name")
        if not os.path.isdir(directory):
            raise InputError(directory, f"no such output directory (method {method!r})")
    rows = [
        Row(c, s, {m: os.path.join(os.fspath(d), output_name(c, s)) for m, d in outputs.items()})
        for c in contents
        for s in styles
    ]
    check_rows(rows, list(outputs))
    return rows


def check_rows(rows: Sequence[Row], methods: Iterable[str]) -> None:
    """Raise an :class:`InputError` naming the first missing input or output file (and the count)."""
    methods = list(methods)
    missing: list[tuple[str, str]] = []
    for row in rows:
        for label, p in (("content image", row.content), ("style image", row.style)):
            if not os.path.isfile(p):
                missing.append((p, f"missing {label}"))
        for m in methods:
            if m not in row.outputs:
                raise TfstyleError(f"pair {row.name} has no output for method {m!r}")
            if not os.path.isfile(row.outputs[m]):
                missing.append((row.outputs[m], f"missing output of {m!r} for {row.name}"))
    if missing:
        path, reason = missing[0]
        more = f" (and {len(missing) - 1} more missing files)" if len(missing) > 1 else ""
        raise InputError(path, reason + more)


def parse_compare(specs: Iterable[str] | None) -> list[tuple[str, str]]:
    """``["a,b", ("c", "d")]`` -> ``[("a", "b"), ("c", "d")]``."""
    pairs = []
    for spec in specs or ():
        parts = [p.strip() for p in spec.split(",")] if isinstance(spec, str) else [str(p) for p in spec]
        if len(parts) != 2 or not all(parts) or parts[0] == parts[1]:
            raise TfstyleError(f"--compare expects two different method names 'A,B', got {spec!r}")
        pairs.append((parts[0], parts[1]))
    return pairs


# --------------------------------------------------------------------------- report


def fmt(value: float | None) -> str:
    """4 significant digits; ``inf``/``nan`` spelled out; ``-`` for missing."""
    if value is None:
        return "-"
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.4g}"


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values) if values else math.nan


def _table(header: Sequence[str], rows: Iterable[Sequence[str]], left: int = 1) -> str:
    align = ["---"] * left + ["---:"] * (len(header) - left)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _json_number(value: float) -> float | None:
    return value if math.isfinite(value) else None


@dataclass
class Report:
    """Per-pair and mean metrics of each method, plus pixel parity between compared methods.

    ``scores[method][i]`` are the :data:`METRICS` of ``rows[i]``'s output of ``method``;
    ``parity[(a, b)][i]`` are the :data:`PARITY_METRICS` between the two methods' outputs.
    """

    rows: list[Row]
    methods: list[str]
    scores: dict[str, list[dict[str, float]]]
    parity: dict[tuple[str, str], list[dict[str, float]]] = field(default_factory=dict)

    @property
    def pairs(self) -> list[str]:
        return [row.name for row in self.rows]

    def means(self) -> dict[str, dict[str, float]]:
        return {m: {k: _mean([s[k] for s in self.scores[m]]) for k in METRICS} for m in self.methods}

    def parity_means(self) -> dict[tuple[str, str], dict[str, float]]:
        return {
            ab: {k: _mean([s[k] for s in vals]) for k in PARITY_METRICS} for ab, vals in self.parity.items()
        }

    def mean_markdown(self) -> str:
        """The mean table (and the mean parity table when methods were compared)."""
        means = self.means()
        parts = [
            f"Mean over {len(self.rows)} pair(s):",
            "",
            _table(["method", *METRICS], ([m, *(fmt(means[m][k]) for k in METRICS)] for m in self.methods)),
        ]
        if self.parity:
            pm = self.parity_means()
            parts += [
                "",
                "Parity (mean):",
                "",
                _table(
                    ["A", "B", "psnr_db", "ssim"],
                    ([a, b, *(fmt(pm[(a, b)][k]) for k in PARITY_METRICS)] for a, b in self.parity),
                    left=2,
                ),
            ]
        return "\n".join(parts)

    def to_markdown(self) -> str:
        parts = [
            "# Style transfer evaluation",
            "",
            METRIC_HELP,
            "",
            "## Mean",
            "",
            self.mean_markdown(),
            "",
            "## Per pair",
            "",
        ]
        per_pair = (
            [row.name, m, *(fmt(self.scores[m][i][k]) for k in METRICS)]
            for i, row in enumerate(self.rows)
            for m in self.methods
        )
        parts.append(_table(["pair", "method", *METRICS], per_pair, left=2))
        if self.parity:
            parts += ["", "## Parity per pair", ""]
            rows = (
                [row.name, a, b, *(fmt(self.parity[(a, b)][i][k]) for k in PARITY_METRICS)]
                for i, row in enumerate(self.rows)
                for a, b in self.parity
            )
            parts.append(_table(["pair", "A", "B", "psnr_db", "ssim"], rows, left=3))
        return "\n".join(parts) + "\n"

    def to_dict(self) -> dict:
        """JSON-ready dict; non-finite numbers (PSNR of identical images) become ``null``."""
        means, pmeans = self.means(), self.parity_means()
        return {
            "metrics": list(METRICS),
            "parity_metrics": list(PARITY_METRICS),
            "methods": list(self.methods),
            "means": {m: {k: _json_number(v) for k, v in means[m].items()} for m in self.methods},
            "parity_means": [
                {"a": a, "b": b, **{k: _json_number(v) for k, v in pmeans[(a, b)].items()}}
                for a, b in self.parity
            ],
            "pairs": [
                {
                    "name": row.name,
                    "content": row.content,
                    "style": row.style,
                    "outputs": {m: row.outputs.get(m, row.content) for m in self.methods},
                    "scores": {
                        m: {k: _json_number(v) for k, v in self.scores[m][i].items()} for m in self.methods
                    },
                    "parity": [
                        {"a": a, "b": b, **{k: _json_number(v) for k, v in self.parity[(a, b)][i].items()}}
                        for a, b in self.parity
                    ],
                }
                for i, row in enumerate(self.rows)
            ],
        }

    def to_json(self, indent: int = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False) + "\n"


# --------------------------------------------------------------------------- evaluation


def evaluate(
    rows: Sequence[Row],
    *,
    methods: Sequence[str] | None = None,
    compare: Iterable[str | tuple[str, str]] | None = None,
    extractor=None,
    progress: bool = True,
    include_content_baseline: bool = False,
    size: int | None = None,
) -> Report:
    """Score every method's output of every row; see :class:`Report`.

    ``methods`` defaults to the first row's methods in order. ``compare`` lists (A, B) method pairs
    (or ``"A,B"`` strings) for PSNR/SSIM, whose outputs must have the same size.
    ``include_content_baseline`` adds the pseudo-method ``"content"`` (the content image scored as
    if it were the output). ``size`` loads every image with its long side at ``size`` (default:
    native size). All files are checked before any network is built.
    """
    rows = list(rows)
    if not rows:
        raise TfstyleError("nothing to evaluate: no rows")
    methods = list(methods) if methods is not None else list(rows[0].outputs)
    if not methods and not include_content_baseline:
        raise TfstyleError("nothing to evaluate: no methods")
    if len(set(methods)) != len(methods):
        raise TfstyleError(f"duplicate method names: {methods}")
    if CONTENT_BASELINE in methods:
        raise TfstyleError(f"method name {CONTENT_BASELINE!r} is reserved for the content baseline")
    check_rows(rows, methods)
    all_methods = ([CONTENT_BASELINE] if include_content_baseline else []) + methods
    pairs = parse_compare(compare)
    for a, b in pairs:
        for m in (a, b):
            if m not in all_methods:
                raise TfstyleError(f"--compare names unknown method {m!r}; known: {', '.join(all_methods)}")

    from tqdm.auto import tqdm

    from tfstyle import images, metrics

    extractor = extractor or metrics.default_extractor()

    def path_of(row: Row, m: str) -> str:
        return row.content if m == CONTENT_BASELINE else row.outputs[m]

    scores: dict[str, list[dict[str, float]]] = {m: [] for m in all_methods}
    parity: dict[tuple[str, str], list[dict[str, float]]] = {ab: [] for ab in pairs}
    for row in tqdm(rows, desc="evaluate", unit="pair", disable=not progress, file=sys.stderr):
        content = images.load_image(row.content, size=size)
        style = images.load_image(row.style, size=size)
        scorer = metrics.Scorer(content, style, extractor)
        outs = {
            m: content if m == CONTENT_BASELINE else images.load_image(row.outputs[m], size=size)
            for m in all_methods
        }
        for m in all_methods:
            scores[m].append(scorer(outs[m]))
        for a, b in pairs:
            ia, ib = outs[a], outs[b]
            if ia.shape != ib.shape:
                raise InputError(
                    path_of(row, b),
                    f"is {ib.shape[1]}x{ib.shape[0]} but {a!r}'s output {path_of(row, a)} is "
                    f"{ia.shape[1]}x{ia.shape[0]}; PSNR/SSIM need outputs of the same size",
                )
            parity[(a, b)].append({"psnr": metrics.psnr(ia, ib), "ssim": metrics.ssim(ia, ib)})
    return Report(rows, all_methods, scores, parity)


def write_contact_sheet(
    rows: Sequence[Row], methods: Sequence[str], path: str | os.PathLike, cell: int = 192
) -> None:
    """Contact sheet with one row per pair: content | style | each method's output."""
    from tfstyle import images, sheets

    grid = []
    for row in rows:
        paths = [row.content, row.style] + [row.outputs[m] for m in methods if m != CONTENT_BASELINE]
        grid.append([images.load_image(p, size=cell) for p in paths])
    titles = ["content", "style"] + [m for m in methods if m != CONTENT_BASELINE]
    sheets.contact_sheet(grid, titles, path, cell=cell, row_labels=[row.name for row in rows])
