"""Label maps: per-class styles and strengths from any segmentation tool's output.

A label map is an image of integer classes, one per pixel: an 8- or 16-bit grayscale PNG, or a
palette PNG read as its indices (never converted to colours). A table says what each class gets::

    {"1": {"name": "sky", "style": "sky.jpg", "strength": 1.0},
     "2": {"name": "people", "strength": 0.3},
     "default": {"strength": 0}}

* ``style`` is a path relative to the JSON file; without one the class gets the command's own
  ``--style`` images (blended by ``--weights``). ``strength`` in [0, 1] (default 1) scales the style
  in that class as ``alpha`` does for the whole image; 0 keeps the content.
* ``style_labels`` (Gatys only) is the label map of that style image: class *k* of the content then
  matches the statistics of class *k* of the style (semantic Gram matching).
* Shorthands: ``"3": 0.5`` is a strength, ``"4": "wave.jpg"`` a style at strength 1.
* Classes the table does not list take ``"default"``, which by default keeps the content. With no
  table at all every class is styled with the command's styles, each class its own region.
* A class listed in the table but absent from the label map is **not an error** (one segmentation
  table serves many photos, and not every photo has a sky): it is reported with a
  :class:`LabelWarning` and ignored.

The label map is resized to the content with nearest neighbour (labels are not interpolated); the
soft edges come afterwards, when each region's hard mask is feathered (:mod:`tfstyle.masks`).
NumPy and Pillow only, like :mod:`tfstyle.masks`, so the LiteRT path uses the same code.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from tfstyle.errors import ImageError, InputError, TfstyleError
from tfstyle.masks import RegionSpec

__all__ = [
    "LabelMap",
    "LabelPlan",
    "LabelStyle",
    "LabelTable",
    "LabelWarning",
    "as_label_map",
    "load_labels",
    "load_table",
    "plan_regions",
    "resize_labels",
    "style_region",
]

_FIELDS = ("name", "strength", "style", "style_labels")
_INTEGER_MODES = ("1", "L", "P", "I", "I;16", "I;16L", "I;16B", "I;16N")


class LabelWarning(UserWarning):
    """Something in a label table that is ignored, not fatal (a class the map does not contain)."""


@dataclass(frozen=True)
class LabelStyle:
    """What one class gets: a style (path or image; None = the call's own styles) at a strength."""

    style: str | np.ndarray | None = None
    strength: float = 1.0
    style_labels: str | np.ndarray | None = None
    name: str = ""


KEEP = LabelStyle(strength=0.0)
"""The default for classes a table does not list: keep the content."""


@dataclass
class LabelTable:
    """A parsed table: class -> :class:`LabelStyle`, the entry for unlisted classes, and its source."""

    classes: dict[int, LabelStyle]
    default: LabelStyle = KEEP
    source: str = "label styles"


@dataclass
class LabelMap:
    """A label map and its table, as the Python API takes them.

    >>> LabelMap("seg.png", "map.json")  # doctest: +SKIP
    >>> LabelMap(seg_array, {1: 1.0, 2: 0.3})  # sky full strength, people 0.3  # doctest: +SKIP

    ``styles``: a :class:`LabelTable`, a mapping as in the JSON format, a JSON path, or None (every
    class styled with the call's styles). ``style_labels``: the label map of the call's own style
    images (Gatys' semantic Gram matching).
    """

    labels: np.ndarray | str | os.PathLike
    styles: LabelTable | Mapping | str | os.PathLike | None = None
    style_labels: np.ndarray | str | os.PathLike | None = None

    def table(self) -> LabelTable:
        if self.styles is None:
            return LabelTable({}, default=LabelStyle(strength=1.0), source=_name(self.labels))
        return load_table(self.styles)


@dataclass
class LabelPlan:
    """The regions a label map makes: ``regions`` index the call's styles, then ``styles`` (the table's)."""

    styles: list = field(default_factory=list)
    style_labels: list = field(default_factory=list)  # per style index: its label map or None
    regions: list[RegionSpec] = field(default_factory=list)


def as_label_map(value) -> LabelMap:
    """A :class:`LabelMap` from itself, or from a bare label map (array or path) with no table."""
    return value if isinstance(value, LabelMap) else LabelMap(value)


# ----------------------------------------------------------------------------- label images


def _name(labels) -> str:
    return os.fspath(labels) if isinstance(labels, (str, os.PathLike)) else "label map"


def load_labels(labels, shape: tuple[int, int] | None = None) -> np.ndarray:
    """An int32 H x W label map from a PNG path or an array; ``shape`` resizes it (nearest neighbour)."""
    if isinstance(labels, (str, os.PathLike)):
        array = _read_labels(os.fspath(labels))
    else:
        array = _check_array(labels)
    if shape is not None and array.shape != tuple(shape):
        array = resize_labels(array, shape)
    return array


def _read_labels(path: str) -> np.ndarray:
    from tfstyle.images import _check_file, _open  # the image loader's one-line file errors

    _check_file(path)
    with _open(path) as im:
        if im.format == "JPEG":
            raise InputError(path, "a label map must be lossless (PNG); JPEG compression changes the labels")
        try:
            im.load()
        except (OSError, ValueError, SyntaxError) as exc:
            raise ImageError(path, f"truncated or corrupt image data ({exc})") from exc
        mode = im.mode
        array = np.asarray(im)  # palette images give their indices: never converted to colours
    if mode in _INTEGER_MODES:
        pass
    elif mode in ("LA", "PA"):
        array = array[..., 0]
    elif mode in ("RGB", "RGBA", "RGBX"):
        rgb = array[..., :3]
        if not ((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 0] == rgb[..., 2]).all()):
            raise InputError(
                path,
                f"is a colour ({mode}) image; a label map needs one integer label per pixel "
                "(save it as 8- or 16-bit grayscale or palette PNG)",
            )
        array = rgb[..., 0]
    else:
        raise InputError(path, f"pixel mode {mode} is not integer labels (use 8/16-bit grayscale or palette)")
    array = array.astype(np.int64)
    if array.min(initial=0) < 0:
        raise InputError(path, "a label map cannot hold negative labels")
    return array.astype(np.int32)


def _check_array(labels) -> np.ndarray:
    array = np.asarray(labels)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim != 2:
        raise TfstyleError(f"a label map must be an H x W array of integer labels, got shape {array.shape}")
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)) or not np.all(array == np.round(array)):
            raise TfstyleError("a label map must hold integer labels, not fractions")
    elif array.dtype.kind not in "iub":
        raise TfstyleError(f"a label map must hold integer labels, not {array.dtype}")
    if array.size and array.min() < 0:
        raise TfstyleError("a label map cannot hold negative labels")
    return array.astype(np.int32)


def resize_labels(labels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize (pixel centres): labels are classes, never averaged."""
    h, w = labels.shape
    rows = np.minimum(((np.arange(shape[0]) + 0.5) * h / shape[0]).astype(np.int64), h - 1)
    cols = np.minimum(((np.arange(shape[1]) + 0.5) * w / shape[1]).astype(np.int64), w - 1)
    return labels[rows[:, None], cols[None, :]]


# ----------------------------------------------------------------------------- tables


def load_table(source) -> LabelTable:
    """Parse a table from a JSON file, a mapping (paths relative to the working directory) or itself."""
    if isinstance(source, LabelTable):
        return source
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        data = _read_json(path)
        return parse_table(data, os.path.dirname(os.path.abspath(path)), path)
    if isinstance(source, Mapping):
        return parse_table(source, os.getcwd(), "label styles")
    raise TfstyleError(f"label styles must be a JSON path or a mapping, not {type(source).__name__}")


def _read_json(path: str) -> object:
    if not os.path.isfile(path):
        raise InputError(path, "no such file" if not os.path.exists(path) else "not a file")
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh, object_pairs_hook=_unique_keys(path))
    except json.JSONDecodeError as exc:
        raise InputError(path, f"invalid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, f"cannot read the file ({exc})") from None


def _unique_keys(path: str):
    def hook(pairs):
        keys = [k for k, _ in pairs]
        twice = sorted({k for k in keys if keys.count(k) > 1})
        if twice:
            raise InputError(path, f"key {twice[0]!r} appears twice")
        return dict(pairs)

    return hook


def parse_table(data, base: str, source: str) -> LabelTable:
    """Check a table (JSON object or mapping), resolving paths against ``base``; errors name ``source``."""
    if not isinstance(data, Mapping):
        raise InputError(source, 'expected an object like {"1": {"style": "a.jpg", "strength": 0.5}}')
    classes: dict[int, LabelStyle] = {}
    default = KEEP
    for key, value in data.items():
        if key == "default":
            default = _entry("default", value, base, source)
            continue
        label = _label_key(key, source)
        if label in classes:
            raise InputError(source, f"label {label} is given twice")
        classes[label] = _entry(f"label {label}", value, base, source)
    return LabelTable(classes, default, source)


def _label_key(key, source: str) -> int:
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        label = int(key)
    elif isinstance(key, str) and key.strip().isdigit():
        label = int(key)
    else:
        raise InputError(source, f'key {key!r} is neither an integer label nor "default"')
    if label < 0:
        raise InputError(source, f"label {label}: labels are non-negative integers")
    return label


def _entry(where: str, value, base: str, source: str) -> LabelStyle:
    if isinstance(value, LabelStyle):
        value = {"style": value.style, "strength": value.strength, "style_labels": value.style_labels}
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        value = {"strength": value}
    elif isinstance(value, (str, os.PathLike, np.ndarray)):
        value = {"style": value}
    if not isinstance(value, Mapping):
        expected = '{"style": ..., "strength": ...}, a strength or a style path'
        raise InputError(source, f"{where}: expected {expected}")
    unknown = sorted(set(value) - set(_FIELDS))
    if unknown:
        raise InputError(source, f"{where}: unknown field {unknown[0]!r} (known: {', '.join(_FIELDS)})")
    return LabelStyle(
        style=_file(value.get("style"), base, source, where, "style image"),
        strength=_strength(value.get("strength", 1.0), source, where),
        style_labels=_file(value.get("style_labels"), base, source, where, "style label map"),
        name=str(value.get("name", "")),
    )


def _strength(value, source: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(source, f"{where}: strength must be a number between 0 and 1, not {value!r}")
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise InputError(source, f"{where}: strength must be between 0 and 1, not {value}")
    return float(value)


def _file(value, base: str, source: str, where: str, what: str):
    if value is None or isinstance(value, np.ndarray):
        return value
    if not isinstance(value, (str, os.PathLike)):
        raise InputError(source, f"{where}: {what} must be a path, not {value!r}")
    path = os.path.join(base, os.fspath(value))
    if not os.path.isfile(path):
        raise InputError(source, f"{where}: {what} {os.fspath(value)!r} not found ({path})")
    return path


# ----------------------------------------------------------------------------- regions


def plan_regions(
    label_map: LabelMap, shape: tuple[int, int], n_styles: int, blend: Sequence[float]
) -> LabelPlan:
    """The regions of ``label_map`` at ``shape`` for a call with ``n_styles`` own styles mixed by ``blend``.

    Classes with the same style(s) and strength form one region, so there is no seam between them;
    with a style label map (semantic Gram matching) every class is its own region, since each
    matches its own part of the style. Classes at strength 0 are left out: they keep the content.
    """
    table = label_map.table()
    labels = load_labels(label_map.labels, shape)
    present = np.unique(labels).tolist()
    absent = sorted(set(table.classes) - set(present))
    if absent:
        warnings.warn(
            f"{table.source}: label {', '.join(map(str, absent))} not in {_name(label_map.labels)}; ignored",
            LabelWarning,
            stacklevel=2,
        )
    plan = LabelPlan(style_labels=[label_map.style_labels] * n_styles)
    index: dict[tuple, int] = {}
    groups: dict[tuple, list[int]] = {}
    for label in present:
        entry = table.classes.get(label, table.default)
        if entry.strength <= 0.0:
            continue
        styles, weights = _entry_styles(entry, label, plan, index, n_styles, blend, table.source)
        semantic = any(plan.style_labels[i] is not None for i in styles)
        key = (styles, weights, entry.strength, label if semantic else None)
        groups.setdefault(key, []).append(label)
    if not groups:
        raise InputError(table.source, "no label gets a style (all strengths are 0): nothing to do")
    plan.regions = [
        RegionSpec(np.isin(labels, members).astype(np.float32), styles, weights, strength, tuple(members))
        for (styles, weights, strength, _), members in groups.items()
    ]
    return plan


def _entry_styles(entry: LabelStyle, label: int, plan: LabelPlan, index: dict, n: int, blend, source: str):
    """(style indices, blend) of one class: the call's own styles, or the entry's (added once)."""
    if entry.style is None:
        if n == 0:
            raise InputError(source, f"label {label}: no style given, and the command has no style image")
        return tuple(range(n)), tuple(float(w) for w in blend)
    key = tuple(_identity(x) for x in (entry.style, entry.style_labels))
    if key not in index:
        index[key] = n + len(plan.styles)
        plan.styles.append(entry.style)
        plan.style_labels.append(entry.style_labels)
    return (index[key],), (1.0,)


def _identity(value):
    return None if value is None else os.fspath(value) if isinstance(value, (str, os.PathLike)) else id(value)


def style_region(style_labels, labels: Sequence[int], shape: tuple[int, int]) -> np.ndarray | None:
    """Where a style image (of ``shape``) has the classes ``labels``: a float H x W mask, or None
    (with a :class:`LabelWarning`) when it has none of them, so the region matches the whole style."""
    array = load_labels(style_labels, shape)
    mask = np.isin(array, list(labels))
    if not mask.any():
        warnings.warn(
            f"{_name(style_labels)}: no pixel with label {', '.join(map(str, labels))}; "
            "that region matches the whole style image",
            LabelWarning,
            stacklevel=2,
        )
        return None
    return mask.astype(np.float32)
