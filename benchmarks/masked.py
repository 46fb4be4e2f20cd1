"""Local (masked) and semantic transfer, measured (issue 6, parts 2 and 3).

python -m benchmarks.masked            # -> section "masked" of docs/QUALITY.md, docs/img/masked_sheet.png

On dev content images, for every engine (Gatys, teacher, student, student INT8 TFLite, student v2):

* **Two regions** (an ellipse and the rest; mondrian inside, udnie outside): the style distance of
  each region's core (the region less its feathered edge band) to the other style over that to its
  own style. Goal: at least 2x, in every region of every image.
* **Edges**: the luminance gradient magnitude in the band around the region boundary (3 sigma of the
  feather each side) against the image's own edges: the content's, and the output's away from the
  boundary (99th percentiles). Goal: the band has no step above the image's own edges. The same
  renders with hard masks (feather 0) show what a seam looks like to this measure.
* **Semantic strength**: a two-class label map (bright and dark areas, a stand-in for a
  segmentation) and a label table giving the classes strengths 1.0 and 0.3, then swapped. Goal: in
  every class, style distance at 1.0 < at 0.3 < the content's own.
* **Semantic Gram matching** (Gatys, ``style_labels``): a style made of two halves (mondrian on
  top, udnie below) with its own label map; class 1 of the content should take the mondrian half,
  class 2 the udnie half, where without the style's labels both match the mixed whole.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable

import numpy as np

from benchmarks.devset import DEV_C, DEV_S
from benchmarks.report import machine, update_section

CONTENTS = ("golden_gate", "kodim01", "kodim03", "kodim05")
STYLES = ("mondrian", "udnie")  # flat primaries vs blue/orange swirls (as tests/test_stylize.py)
STRENGTH_STYLE = "udnie"
BAND_SIGMAS = 3.0
SHEET = "docs/img/masked_sheet.png"
Render = Callable[..., np.ndarray]


# ----------------------------------------------------------------------------- inputs


def _find(folder: str, stem: str) -> str:
    names = [n for n in sorted(os.listdir(folder)) if os.path.splitext(n)[0] == stem]
    if not names:
        raise SystemExit(f"{folder}: no image named {stem}")
    return os.path.join(folder, names[0])


def blob(shape: tuple[int, int]) -> np.ndarray:
    """An ellipse covering half the image: a curved boundary, not only a straight seam."""
    h, w = shape
    y, x = np.mgrid[:h, :w]
    inside = ((y + 0.5 - 0.5 * h) / (0.4 * h)) ** 2 + ((x + 0.5 - 0.5 * w) / (0.4 * w)) ** 2 <= 1.0
    return inside.astype(np.float32)


def two_classes(content: np.ndarray) -> np.ndarray:
    """Labels 1 (bright) and 2 (dark) from the blurred luminance split at its median: a crude
    segmentation with large, smooth regions, as a segmentation tool would give."""
    from tfstyle.masks import feather

    luma = feather(content @ np.array([0.299, 0.587, 0.114], np.float32), min(content.shape[:2]) / 16)
    return np.where(luma >= np.median(luma), 1, 2).astype(np.uint8)


def halves_style(top: np.ndarray, bottom: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A style image whose top half is ``top`` and bottom half ``bottom``, and its label map (1, 2)."""
    from tfstyle.images import resize_to

    half = (size // 2, size)
    image = np.concatenate([resize_to(top, half), resize_to(bottom, half)], axis=0)
    labels = np.concatenate([np.ones(half, np.uint8), np.full(half, 2, np.uint8)], axis=0)
    return image, labels


# ----------------------------------------------------------------------------- measures


def core(mask: np.ndarray, sigma: float) -> np.ndarray:
    """The part of a hard region farther than the edge band from its boundary."""
    from scipy.ndimage import distance_transform_edt

    return (distance_transform_edt(mask > 0.5) > BAND_SIGMAS * max(sigma, 1.0)).astype(np.float32)


def band(mask: np.ndarray, sigma: float) -> np.ndarray:
    """Pixels within the edge band (3 sigma, at least 2 px) of the region boundary."""
    from scipy.ndimage import distance_transform_edt

    hard = mask > 0.5
    dist = np.where(hard, distance_transform_edt(hard), distance_transform_edt(~hard))
    return dist <= max(BAND_SIGMAS * sigma, 2.0)


def gradient(image: np.ndarray) -> np.ndarray:
    """Luminance gradient magnitude (forward differences): the size of the step between neighbours."""
    luma = image @ np.array([0.299, 0.587, 0.114], np.float32)
    dy = np.abs(np.diff(luma, axis=0, append=luma[-1:]))
    dx = np.abs(np.diff(luma, axis=1, append=luma[:, -1:]))
    return np.hypot(dx, dy)


def edges(out: np.ndarray, content: np.ndarray, mask: np.ndarray, sigma: float) -> dict:
    """p99 of the gradient in the boundary band vs p99 of the content's and the output's elsewhere."""
    near = band(mask, sigma)
    g = gradient(out)
    return {
        "band_p99": float(np.percentile(g[near], 99)),
        "band_max": float(g[near].max()),
        "content_p99": float(np.percentile(gradient(content), 99)),
        "output_p99": float(np.percentile(g[~near], 99)),
        "band_mean_ratio": float(g[near].mean() / g[~near].mean()),
    }


def distances(out: np.ndarray, styles: dict[str, np.ndarray], mask: np.ndarray, vgg) -> dict:
    from tfstyle.metrics import style_distance

    return {name: style_distance(out, s, vgg, mask=mask) for name, s in styles.items()}


# ----------------------------------------------------------------------------- engines


def engines(steps: int) -> dict[str, Render]:
    import tfstyle
    from tfstyle.engines import StylizeConfig
    from tfstyle.errors import TfstyleError
    from tfstyle.gatys import GatysConfig, optimize
    from tfstyle.runtime import TfliteEngine

    def gatys(content, styles, masks=None, labels=None, feather=None):
        config = GatysConfig(steps=steps, feather=feather)
        return optimize(content, styles, config, masks=masks, labels=labels).image

    def feed_forward(engine):
        def run(content, styles, masks=None, labels=None, feather=None):
            return tfstyle.stylize(
                content, styles, masks=masks, labels=labels, feather=feather, engine=engine
            )

        return run

    out = {"gatys": gatys, "teacher": feed_forward("teacher"), "student": feed_forward("student")}
    out.update({name: feed_forward(name) for name in ("student_v2", "tflite_v2")})  # computed style code
    try:
        TfliteEngine().check(StylizeConfig())
        out["tflite_int8"] = feed_forward(TfliteEngine(threads=2))
    except TfstyleError:
        pass  # before `make export-tflite`
    return out


# ----------------------------------------------------------------------------- runs


def run_all(
    size: int,
    steps: int,
    out_dir: str,
    contents: tuple[str, ...] = CONTENTS,
    previous: dict | None = None,
    reuse: frozenset[str] = frozenset(),
    only: frozenset[str] = frozenset(),
) -> dict:
    """Render and score every engine (or those in ``only``); those in ``reuse`` are taken from ``previous`` (an earlier
    run's results at the same size and steps, renders still in ``out_dir``), so a new student does
    not cost another 40 CPU minutes of Gatys."""
    from tfstyle.images import load_image, save_image
    from tfstyle.labels import LabelMap
    from tfstyle.masks import auto_sigma
    from tfstyle.metrics import default_extractor

    vgg = default_extractor()
    styles = {s: load_image(_find(DEV_S, s), size=size) for s in STYLES}
    a, b = STYLES
    renders = engines(steps)
    if only:
        renders = {k: v for k, v in renders.items() if k in only}
    results: dict = {"size": size, "steps": steps, "images": {}}
    tmp = tempfile.mkdtemp(prefix="masked_")
    for name in contents:
        content = load_image(_find(DEV_C, name), size=size)
        shape = content.shape[:2]
        sigma = auto_sigma(shape)
        inside = blob(shape)
        regions = {a: inside, b: 1.0 - inside}
        cores = {s: core(m, sigma) for s, m in regions.items()}
        labels = two_classes(content)
        label_png = os.path.join(tmp, f"{name}_labels.png")
        save_image_labels(label_png, labels)
        tables = {}
        for key, strengths in (("1.0/0.3", (1.0, 0.3)), ("0.3/1.0", (0.3, 1.0))):
            path = os.path.join(tmp, f"{name}_{key.replace('/', '_')}.json")
            with open(path, "w", encoding="utf-8") as fh:
                json.dump({"1": {"strength": strengths[0]}, "2": {"strength": strengths[1]}}, fh)
            tables[key] = path
        class_cores = {k: core((labels == k).astype(np.float32), sigma) for k in (1, 2)}
        row: dict = {
            "sigma_px": sigma,
            "content": {s: distances(content, styles, cores[s], vgg) for s in regions},
            "content_classes": {k: distances(content, styles, m, vgg) for k, m in class_cores.items()},
        }
        strength_style = styles[STRENGTH_STYLE]
        for engine, render in renders.items():
            if engine in reuse:
                row[engine] = previous["images"][name][engine]
                continue
            t = time.perf_counter()
            entry: dict = {}
            out = render(content, [styles[a], styles[b]], masks=[regions[a], regions[b]])
            save_image(os.path.join(out_dir, engine, f"{name}__regions.png"), out)
            entry["regions"] = {s: distances(out, styles, cores[s], vgg) for s in regions}
            entry["edges"] = edges(out, content, inside, sigma)
            if engine != "gatys":  # the seam a hard mask leaves, and each style over the whole image
                hard = render(content, [styles[a], styles[b]], masks=[regions[a], regions[b]], feather=0)
                entry["edges_hard"] = edges(hard, content, inside, sigma)
                ones = np.ones(shape, np.float32)
                entry["whole"] = {
                    s: distances(render(content, [styles[s]]), styles, ones, vgg) for s in regions
                }
            entry["strength"] = {}
            for key, table in tables.items():
                out = render(content, [strength_style], labels=LabelMap(label_png, table))
                save_image(
                    os.path.join(out_dir, engine, f"{name}__strength_{key.replace('/', '_')}.png"), out
                )
                entry["strength"][key] = {
                    k: distances(out, {STRENGTH_STYLE: strength_style}, m, vgg)[STRENGTH_STYLE]
                    for k, m in class_cores.items()
                }
            entry["seconds"] = time.perf_counter() - t
            row[engine] = entry
            print(f"{name} {engine}: {entry['seconds']:.0f} s", file=sys.stderr)
        if "gatys" in reuse:
            row["semantic"] = dict(previous["images"][name]["semantic"])
            row["semantic"]["style"] = halves_style(styles[a], styles[b], max(shape))[0]
        elif "gatys" in renders:
            row["semantic"] = semantic(
                content, labels, styles, class_cores, renders["gatys"], out_dir, name, vgg
            )
        results["images"][name] = row
    return results


def save_image_labels(path: str, labels: np.ndarray) -> None:
    """An 8-bit grayscale PNG of integer labels (what a segmentation tool writes)."""
    from PIL import Image

    from tfstyle.files import atomic_path

    with atomic_path(path) as tmp:
        Image.fromarray(labels.astype(np.uint8)).save(tmp, format="PNG")  # 2-D uint8: mode L


def semantic(content, labels, styles, class_cores, gatys: Render, out_dir: str, name: str, vgg) -> dict:
    """Gatys with a two-part style, with and without the style's own label map."""
    from tfstyle.images import save_image
    from tfstyle.labels import LabelMap

    a, b = STYLES
    style, style_labels = halves_style(styles[a], styles[b], max(content.shape[:2]))
    out = {}
    for key, slabels in (("semantic", style_labels), ("whole style", None)):
        image = gatys(content, [style], labels=LabelMap(labels, None, slabels))
        save_image(os.path.join(out_dir, "gatys", f"{name}__{key.replace(' ', '_')}.png"), image)
        out[key] = {k: distances(image, styles, m, vgg) for k, m in class_cores.items()}
    out["style"] = style
    return out


# ----------------------------------------------------------------------------- report


def _table(label: int, strength: float) -> str:
    """The label table in which class ``label`` has ``strength`` (class 1 gets the first value)."""
    return "1.0/0.3" if (label == 1) == (strength == 1.0) else "0.3/1.0"


def _ratio(d: dict, own: str, other: str, kind: str) -> float:
    return d[other][kind] / d[own][kind]


def _gmean(values) -> float:
    return float(np.exp(np.mean(np.log(values))))


def summarise(results: dict) -> dict:
    """Per engine: own/other ratios, edge figures and strength orderings over every image."""
    a, b = STYLES
    names = list(results["images"])
    engines_ = [k for k in results["images"][names[0]] if isinstance(results["images"][names[0]][k], dict)]
    engines_ = [e for e in engines_ if "regions" in results["images"][names[0]][e]]
    out = {}
    for e in engines_:
        rows = [results["images"][n][e] for n in names]
        ratio = {
            kind: [_ratio(r["regions"][s], s, o, kind) for r in rows for s, o in ((a, b), (b, a))]
            for kind in ("mean_std", "gram")
        }
        order, order_strength, order_content, closed = [], [], [], {1.0: [], 0.3: []}
        for n, r in zip(names, rows):
            for k in (1, 2):
                base = results["images"][n]["content_classes"][k][STRENGTH_STYLE]["mean_std"]
                d = {s: r["strength"][_table(k, s)][k]["mean_std"] for s in (1.0, 0.3)}
                order.append(d[1.0] < d[0.3] < base)
                order_strength.append(d[1.0] < d[0.3])
                order_content.append(d[0.3] < base)
                for s in (1.0, 0.3):
                    closed[s].append(1.0 - d[s] / base)
        out[e] = {
            "ratio_gmean": {k: _gmean(v) for k, v in ratio.items()},
            "ratio_min": {k: float(min(v)) for k, v in ratio.items()},
            "ratio_n_ok": sum(v >= 2.0 for v in ratio["mean_std"]),
            "ratio_n": len(ratio["mean_std"]),
            "edges": {k: float(np.mean([r["edges"][k] for r in rows])) for k in rows[0]["edges"]},
            "edges_ok": sum(r["edges"]["band_p99"] <= r["edges"]["output_p99"] for r in rows),
            "edges_ok_content": sum(r["edges"]["band_p99"] <= r["edges"]["content_p99"] for r in rows),
            "edges_hard": (
                {k: float(np.mean([r["edges_hard"][k] for r in rows])) for k in rows[0]["edges_hard"]}
                if "edges_hard" in rows[0]
                else None
            ),
            "order_ok": sum(order),
            "order_strength": sum(order_strength),
            "order_content": sum(order_content),
            "whole_ratio": (
                _gmean([_ratio(r["whole"][s], s, o, "mean_std") for r in rows for s, o in ((a, b), (b, a))])
                if "whole" in rows[0]
                else None
            ),
            "order_n": len(order),
            "closed": {s: float(np.mean(v)) for s, v in closed.items()},
            "seconds": float(np.mean([r["seconds"] for r in rows])),
        }
    return out


def semantic_summary(results: dict) -> dict | None:
    a, b = STYLES
    rows = [r["semantic"] for r in results["images"].values() if "semantic" in r]
    if not rows:
        return None
    own = {1: (a, b), 2: (b, a)}  # class 1 (bright) -> the top half (mondrian)
    out = {}
    for key in ("semantic", "whole style"):
        ratios = [_ratio(r[key][k], *own[k], "mean_std") for r in rows for k in (1, 2)]
        out[key] = {"gmean": _gmean(ratios), "min": float(min(ratios)), "n": len(ratios)}
    return out


def _status(ok: bool) -> str:
    return "met" if ok else "**not met**"


def report(results: dict, summary: dict, sem: dict | None) -> str:
    a, b = STYLES
    n_img = len(results["images"])
    lines = [
        f"## Local and semantic transfer ({results['size']} px)\n",
        f"`python -m benchmarks.masked` on {machine()}: {n_img} dev contents "
        f"({', '.join(results['images'])}), long side {results['size']} px, default feather "
        f"(Gaussian sigma 1.5% of the short side, {np.mean([r['sigma_px'] for r in results['images'].values()]):.1f} px). "
        f"Gatys: {results['steps']} Adam steps from the content. Two regions: an ellipse over half the image "
        f"gets **{a}**, the rest **{b}** (one `--mask` per style). Style distance = the project's mean/std "
        "style distance (`tfstyle.metrics.style_distance`), restricted to each region's core (the region "
        f"less a {BAND_SIGMAS:g}-sigma band at its edge); ratio = distance to the other style / distance "
        "to its own. Edge band: pixels within 3 sigma of the boundary; step = luminance gradient magnitude.\n",
        "| engine | own/other ratio, mean/std (geo-mean, min) | unmasked ratio (ceiling) "
        "| ratio, Gram (geo-mean, min) "
        "| regions >= 2x | boundary band p99 | content p99 | output p99 elsewhere | band/elsewhere mean "
        "| hard mask: band p99, band/elsewhere mean | s per image |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for e, s in summary.items():
        ed, hard = s["edges"], s["edges_hard"]
        hard_txt = f"{hard['band_p99']:.3f}, {hard['band_mean_ratio']:.2f}" if hard else "—"
        whole = f"{s['whole_ratio']:.2f}x" if s["whole_ratio"] else "—"
        lines.append(
            f"| {e} | {s['ratio_gmean']['mean_std']:.2f}x, {s['ratio_min']['mean_std']:.2f}x | {whole} "
            f"| {s['ratio_gmean']['gram']:.2f}x, {s['ratio_min']['gram']:.2f}x "
            f"| {s['ratio_n_ok']}/{s['ratio_n']} | {ed['band_p99']:.3f} | {ed['content_p99']:.3f} "
            f"| {ed['output_p99']:.3f} | {ed['band_mean_ratio']:.2f} | {hard_txt} | {s['seconds']:.0f} |"
        )
    lines += [
        "",
        "Unmasked ratio: each style alone over the whole image (no regions), the same measure: what the "
        "engine itself separates the two styles by, so the ceiling of its masked ratio. Hard mask: the "
        "same render with `--feather 0`; the teacher mixes regions on its 1/8-resolution feature grid "
        "and decodes, so even hard masks leave it no pixel seam, while the student and TFLite blend "
        "pixels and show the seam as a higher band p99.",
        "",
        f"Semantic strength: a two-class label map (PNG) per image (blurred luminance split at its median: "
        f"class 1 bright, class 2 dark) and a JSON table giving the classes strengths 1.0 and 0.3, then "
        f"0.3 and 1.0, one style (**{STRENGTH_STYLE}**). Fraction of the content's style distance closed "
        "(1 - d(output)/d(content), mean/std, per class core):\n",
        "| engine | closed at strength 1.0 | closed at strength 0.3 | d(1.0) < d(0.3) | d(0.3) < d(content) "
        "| both |",
        "|---|---|---|---|---|---|",
    ]
    for e, s in summary.items():
        n = s["order_n"]
        lines.append(
            f"| {e} | {s['closed'][1.0]:.2f} | {s['closed'][0.3]:.2f} | {s['order_strength']}/{n} "
            f"| {s['order_content']}/{n} | {s['order_ok']}/{n} classes |"
        )
    if sem:
        lines += [
            "",
            f"Semantic Gram matching (Gatys, `--style-labels`): the style is one image, {a} on top (label 1) "
            f"and {b} below (label 2), with its own label map; the content's class 1 should take {a}, "
            f"class 2 {b}. Ratio = distance to the other half's style / to its own, per class core:\n",
            "| targets | ratio (geo-mean) | min | classes |",
            "|---|---|---|---|",
        ]
        for key, s in sem.items():
            lines.append(f"| {key} | {s['gmean']:.2f}x | {s['min']:.2f}x | {s['n']} |")
    ratio_ok = all(s["ratio_n_ok"] == s["ratio_n"] for s in summary.values())
    edges_ok = {e: s["edges_ok"] for e, s in summary.items()}
    edges_ok_content = {e: s["edges_ok_content"] for e, s in summary.items()}
    order_ok = {e: f"{s['order_ok']}/{s['order_n']}" for e, s in summary.items()}
    lines += [
        "",
        "| acceptance | measured | goal | status |",
        "|---|---|---|---|",
        "| own/other style distance in each region | "
        + ", ".join(f"{e} {s['ratio_min']['mean_std']:.2f}x" for e, s in summary.items())
        + " (worst region) | >= 2x in every region | "
        + _status(ratio_ok)
        + (
            ""
            if ratio_ok
            else " ("
            + ", ".join(f"{e} {s['ratio_n_ok']}/{s['ratio_n']}" for e, s in summary.items())
            + " regions)"
        )
        + " |",
        "| feathered edge: boundary band p99 <= the output's own edges (p99 away from the boundary) | "
        + ", ".join(f"{e} {v}/{n_img}" for e, v in edges_ok.items())
        + f" images | all {n_img} | "
        + _status(all(v == n_img for v in edges_ok.values()))
        + " |",
        "| feathered edge: boundary band p99 <= the content's edges (p99) | "
        + ", ".join(f"{e} {v}/{n_img}" for e, v in edges_ok_content.items())
        + f" images | all {n_img} | "
        + _status(all(v == n_img for v in edges_ok_content.values()))
        + " |",
        "| semantic strength ordering | "
        + ", ".join(f"{e} {v}" for e, v in order_ok.items())
        + " | every class | "
        + _status(all(s["order_ok"] == s["order_n"] for s in summary.values()))
        + " |",
    ]
    if sem:
        lines.append(
            f"| semantic Gram matching beats whole-style targets | {sem['semantic']['gmean']:.2f}x vs "
            f"{sem['whole style']['gmean']:.2f}x | higher | {_status(sem['semantic']['gmean'] > sem['whole style']['gmean'])} |"
        )
    lines += ["", f"![local and semantic transfer](img/{os.path.basename(SHEET)})", ""]
    return "\n".join(lines)


def sheet(results: dict, out_dir: str, renders: list[str], path: str = SHEET) -> None:
    from tfstyle.images import load_image
    from tfstyle.sheets import contact_sheet

    a = STYLES[0]
    rows, labels = [], []
    for name, row in results["images"].items():
        content = load_image(_find(DEV_C, name), size=results["size"])
        inside = blob(content.shape[:2])
        overlay = content * 0.5 + 0.5 * np.where(inside[..., None] > 0.5, [1.0, 0.2, 0.2], [0.2, 0.4, 1.0])
        cells = [content, overlay.astype(np.float32)]
        cells += [load_image(os.path.join(out_dir, e, f"{name}__regions.png")) for e in renders]
        labels_img = two_classes(content)
        cells.append(np.repeat((labels_img == 1)[..., None].astype(np.float32), 3, axis=2))
        cells.append(load_image(os.path.join(out_dir, "teacher", f"{name}__strength_1.0_0.3.png")))
        if "semantic" in row:
            cells.append(row["semantic"]["style"])
            cells.append(load_image(os.path.join(out_dir, "gatys", f"{name}__semantic.png")))
        rows.append(cells)
        labels.append(name)
    titles = ["content", f"regions ({a} in red)", *renders, "classes (1 white)", "teacher 1.0 / 0.3"]
    titles += ["two-part style", "Gatys semantic"]
    contact_sheet(rows, titles, path, cell=160, row_labels=labels)


def _previous(path: str, size: int, steps: int, contents: tuple[str, ...], reuse: frozenset[str]):
    """The earlier results that ``--reuse`` draws on, checked to be comparable with this run."""
    from tfstyle.errors import TfstyleError

    if not reuse:
        return None
    try:
        with open(path, encoding="utf-8") as fh:
            previous = json.load(fh)["results"]
    except (OSError, ValueError, KeyError) as e:
        raise TfstyleError(f"{path}: --reuse needs an earlier run's results ({e})") from None
    if (previous["size"], previous["steps"]) != (size, steps):
        raise TfstyleError(
            f"{path}: --reuse: that run was at {previous['size']} px / {previous['steps']} steps, "
            f"not {size} / {steps}"
        )
    for name in contents:
        missing = [e for e in reuse if e not in previous["images"].get(name, {})]
        if missing:
            raise TfstyleError(f"{path}: --reuse: no {', '.join(missing)} figures for {name}")
    for row in previous["images"].values():
        for e in reuse:
            if "strength" in row[e]:
                row[e]["strength"] = {key: _class_keys(t) for key, t in row[e]["strength"].items()}
        if "semantic" in row:
            row["semantic"] = {key: _class_keys(t) for key, t in row["semantic"].items()}
    return previous


def _class_keys(table: dict) -> dict:
    """JSON turned the int class labels that key these tables into strings; the report looks them
    up by int, as a fresh run stores them."""
    return {int(k): v for k, v in table.items()}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--steps", type=int, default=150, help="Gatys Adam steps")
    p.add_argument("--out", default="runs/bench/masked", help="renders and masked.json")
    p.add_argument("--contents", default=",".join(CONTENTS), help="dev content stems, comma-separated")
    p.add_argument("--report", default="docs/QUALITY.md")
    p.add_argument("--sheet", default=SHEET)
    p.add_argument(
        "--reuse",
        default="",
        help="engines (e.g. gatys,teacher) whose figures and renders are kept from --out/masked.json",
    )
    p.add_argument(
        "--engines",
        default="",
        help="only these engines (e.g. student,tflite_int8 for a new student): the figures are printed "
        "and written to --out/masked.json, the report is left as it is",
    )
    args = p.parse_args()
    only = frozenset(filter(None, args.engines.split(",")))
    if only:
        results = run_all(args.size, args.steps, args.out, tuple(args.contents.split(",")), only=only)
        summary = summarise(results)
        with open(os.path.join(args.out, "masked_engines.json"), "w", encoding="utf-8") as fh:
            json.dump({"results": results, "summary": summary}, fh, indent=1)
        for engine, row in summary.items():
            print(
                f"{engine}: own/other mean/std geo-mean {row['ratio_gmean']['mean_std']:.2f}x, "
                f"min {row['ratio_min']['mean_std']:.2f}x, regions >= 2x {row['ratio_n_ok']}/{row['ratio_n']}; "
                f"Gram geo-mean {row['ratio_gmean']['gram']:.2f}x, min {row['ratio_min']['gram']:.2f}x"
            )
        return 0
    contents = tuple(args.contents.split(","))
    reuse = frozenset(filter(None, args.reuse.split(",")))
    previous = _previous(os.path.join(args.out, "masked.json"), args.size, args.steps, contents, reuse)
    results = run_all(args.size, args.steps, args.out, contents, previous, reuse)
    summary = summarise(results)
    sem = semantic_summary(results)
    sheet(results, args.out, list(summary), args.sheet)
    for row in results["images"].values():
        row.get("semantic", {}).pop("style", None)
    with open(os.path.join(args.out, "masked.json"), "w", encoding="utf-8") as fh:
        json.dump({"results": results, "summary": summary, "semantic": sem}, fh, indent=1)
    update_section(args.report, "masked", report(results, summary, sem), title="# Quality")
    return 0


if __name__ == "__main__":
    from tfstyle.errors import guarded

    sys.exit(guarded("benchmarks.masked", main))
