"""Local and semantic transfer: label maps (files, tables, errors), per-region strength in every
engine, semantic Gram matching in Gatys, and feathered edges without a step.

Small images (64-128 px) throughout. Engine tests use the shipped weights (teacher decoder, student
INT8 TFLite pair) and are skipped without them.
"""

from __future__ import annotations

import json
import os
import pathlib

import numpy as np
import pytest
from PIL import Image

from tfstyle import cli
from tfstyle import labels as L
from tfstyle import masks as M
from tfstyle.errors import InputError, TfstyleError

ASSETS = pathlib.Path(M.__file__).parent / "assets"
HAS_TEACHER = (ASSETS / "teacher_decoder.h5").is_file()
HAS_TFLITE = (ASSETS / "student_predictor_int8.tflite").is_file()


def _halves(shape, left: int = 1, right: int = 2) -> np.ndarray:
    labels = np.full(shape, right, np.int32)
    labels[:, : shape[1] // 2] = left
    return labels


def _kodim01_mondrian_udnie(data_dir, shape: tuple[int, int]):
    """kodim01 resized to ``shape``, and the two styles at its long side."""
    from tfstyle.images import load_image, resize_to

    content = resize_to(load_image(data_dir / "dev" / "content" / "kodim01.png"), shape)
    styles = [
        load_image(data_dir / "dev" / "style" / f"{s}.jpg", size=max(shape)) for s in ("mondrian", "udnie")
    ]
    return content, *styles


@pytest.fixture(scope="module")
def small(data_dir):
    return _kodim01_mondrian_udnie(data_dir, (64, 96))


@pytest.fixture
def files(tmp_path, small):
    """A content, two styles and a two-class label map on disk."""
    from tfstyle.images import save_image

    content = small[0]
    paths = {name: tmp_path / f"{name}.png" for name in ("content", "a", "b")}
    for name, image in zip(paths, small):
        save_image(paths[name], image)
    paths["labels"] = tmp_path / "labels.png"
    Image.fromarray(_halves(content.shape[:2]).astype(np.uint8)).save(paths["labels"])
    return paths


# ----------------------------------------------------------------------------- label images


def test_label_pngs_8_and_16_bit_and_palette_read_as_indices(tmp_path):
    labels = np.zeros((20, 30), np.int64)
    labels[5:, :10], labels[:, 20:] = 3, 7
    Image.fromarray(labels.astype(np.uint8)).save(tmp_path / "l8.png")
    Image.fromarray((labels * 1000).astype(np.uint16)).save(tmp_path / "l16.png")
    palette = Image.frombytes("P", (30, 20), labels.astype(np.uint8).tobytes())
    palette.putpalette([255, 255, 255, 10, 200, 30] * 128)  # indices 3 and 7 have different colours
    palette.save(tmp_path / "pal.png")
    gray_rgb = Image.fromarray(np.repeat(labels.astype(np.uint8)[..., None], 3, axis=2))
    gray_rgb.save(tmp_path / "rgb.png")

    np.testing.assert_array_equal(L.load_labels(tmp_path / "l8.png"), labels)
    np.testing.assert_array_equal(L.load_labels(tmp_path / "l16.png"), labels * 1000)
    np.testing.assert_array_equal(L.load_labels(tmp_path / "pal.png"), labels)  # indices, not colours
    np.testing.assert_array_equal(L.load_labels(tmp_path / "rgb.png"), labels)  # R = G = B is fine
    resized = L.load_labels(tmp_path / "l16.png", shape=(47, 13))  # nearest: no new labels
    assert resized.shape == (47, 13) and set(np.unique(resized)) == {0, 3000, 7000}


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda p: Image.new("RGB", (20, 20), (200, 10, 10)).save(p, format="PNG"), "colour"),
        (lambda p: Image.new("L", (20, 20), 3).save(p, format="JPEG"), "lossless"),
        (lambda p: Image.fromarray(np.full((20, 20), 0.5, np.float32)).save(p, format="TIFF"), "mode F"),
        (lambda p: p.write_text("not an image"), "not an image"),
    ],
)
def test_unusable_label_images_name_the_file(tmp_path, make, reason):
    path = tmp_path / "labels.png"
    make(path)
    with pytest.raises(InputError, match=reason) as info:
        L.load_labels(path)
    assert str(info.value).startswith(str(path))


def test_label_arrays_must_be_integers():
    with pytest.raises(TfstyleError, match="integer"):
        L.load_labels(np.full((8, 8), 0.5))
    with pytest.raises(TfstyleError, match="negative"):
        L.load_labels(-np.ones((8, 8), np.int32))
    assert L.load_labels(np.ones((8, 8, 1), np.float32)).dtype == np.int32


# ----------------------------------------------------------------------------- tables


def test_table_forms_relative_paths_and_default(tmp_path, files):
    sub = tmp_path / "maps"
    sub.mkdir()
    path = sub / "map.json"
    path.write_text(
        json.dumps(
            {
                "1": {"name": "sky", "style": "../a.png", "strength": 1},
                "2": 0.3,
                "4": "../b.png",
                "default": {"strength": 0.5, "style": "../b.png"},
            }
        )
    )
    table = L.load_table(path)
    assert table.classes[1] == L.LabelStyle(os.path.join(sub, "../a.png"), 1.0, None, "sky")
    assert table.classes[2] == L.LabelStyle(None, 0.3)
    assert table.classes[4].style == os.path.join(sub, "../b.png") and table.classes[4].strength == 1.0
    assert table.default.strength == 0.5 and table.source == str(path)
    assert L.load_table({3: 0.2}).classes[3].strength == 0.2  # Python mapping, int keys


def test_regions_merge_classes_and_leave_strength_zero_to_the_content():
    labels = np.array([[0, 1, 2, 3]] * 4)
    plan = L.plan_regions(L.LabelMap(labels, {1: 1.0, 2: 1.0, 3: 0.3}), (4, 4), 1, [1.0])
    assert [(r.labels, r.strength) for r in plan.regions] == [((1, 2), 1.0), ((3,), 0.3)]
    assert M.coverage([r.mask for r in plan.regions])[:, 0].max() == 0.0  # label 0: unlisted, content
    semantic = L.plan_regions(L.LabelMap(labels, {1: 1.0, 2: 1.0}, style_labels=labels), (4, 4), 1, [1.0])
    assert [r.labels for r in semantic.regions] == [(1,), (2,)]  # each class its own style region
    everything = L.plan_regions(L.LabelMap(labels), (4, 4), 2, [0.7, 0.3])  # no table: all styled
    assert [(r.styles, r.blend) for r in everything.regions] == [((0, 1), (0.7, 0.3))]


def test_a_listed_class_missing_from_the_map_warns_and_is_ignored():
    with pytest.warns(L.LabelWarning, match="label 9 not in"):
        plan = L.plan_regions(L.LabelMap(np.ones((4, 4), int), {1: 1.0, 9: 0.5}), (4, 4), 1, [1.0])
    assert len(plan.regions) == 1


def test_nothing_styled_or_no_style_is_an_error():
    with pytest.raises(InputError, match="no label gets a style"):
        L.plan_regions(L.LabelMap(np.ones((4, 4), int), {1: 0.0}), (4, 4), 1, [1.0])
    with pytest.raises(InputError, match="label 1: no style given"):
        L.plan_regions(L.LabelMap(np.ones((4, 4), int), {1: 1.0}), (4, 4), 0, [])


def _write(path: pathlib.Path, text: str) -> pathlib.Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("table", "reason"),
    [
        ('{"1": {"strength": 0.5,}}', "invalid JSON"),
        ('{"1": {"strength": 1.5}}', "label 1: strength must be between 0 and 1, not 1.5"),
        ('{"1": {"strength": "high"}}', "label 1: strength must be a number"),
        ('{"1": {"strenght": 0.5}}', "label 1: unknown field 'strenght'"),
        ('{"1": {"style": "missing.jpg"}}', "label 1: style image 'missing.jpg' not found"),
        ('{"sky": 1.0}', "key 'sky' is neither an integer label"),
        ('{"1": 1.0, "1": 0.5}', "key '1' appears twice"),
        ("[1, 2]", "expected an object"),
    ],
)
def test_cli_table_errors_are_one_line_naming_the_file(files, tmp_path, capsys, table, reason):
    path = _write(tmp_path / "map.json", table)
    out = tmp_path / "out.png"
    args = [str(files["content"]), "--style", str(files["a"]), "--labels", str(files["labels"])]
    code = cli.main(["stylize", *args, "--label-map", str(path), "-o", str(out), "-q"])
    err = capsys.readouterr().err
    assert code == 2 and not out.exists()
    assert err.count("\n") == 1 and err.startswith(f"tfstyle: error: {path}: ") and reason in err


@pytest.mark.parametrize("command", ["stylize", "optimize"])
def test_cli_label_option_errors(files, tmp_path, capsys, command):
    out = str(tmp_path / "out.png")
    base = [command, str(files["content"]), "--style", str(files["a"]), "-o", out]
    rgb = tmp_path / "rgb.png"
    Image.new("RGB", (32, 32), (255, 0, 0)).save(rgb)
    cases = [
        (["--label-map", str(_write(tmp_path / "m.json", "{}"))], "--label-map needs --labels"),
        (["--labels", str(files["labels"]), "--mask", str(files["labels"])], "not both"),
        (["--labels", str(rgb)], f"{rgb}: is a colour (RGB) image"),
        (["--labels", str(tmp_path / "nope.png")], "nope.png: no such file"),
    ]
    for extra, reason in cases:
        assert cli.main([*base, *extra]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and reason in err, err


def test_cli_warning_is_one_line(capsys):
    from tfstyle.commands._common import one_line_warnings

    with one_line_warnings():
        L.plan_regions(L.LabelMap(np.ones((4, 4), int), {1: 1.0, 5: 1.0}), (4, 4), 1, [1.0])
    assert capsys.readouterr().err == "tfstyle: warning: label styles: label 5 not in label map; ignored\n"


# ----------------------------------------------------------------------------- feathering


def test_feathered_label_regions_are_a_partition_without_a_step():
    labels = np.ones((64, 96), np.int32)
    labels[20:50, 30:70] = 2
    labels[:, 80:] = 3
    plan = L.plan_regions(L.LabelMap(labels, {1: 1.0, 2: 0.3, 3: 0.6}), labels.shape, 1, [1.0])
    assert len(plan.regions) == 3
    sigma = 3.0
    weights, rest = M.soft_regions(plan.regions, sigma)
    assert rest is None  # every class styled: nothing left between the feathered regions
    np.testing.assert_allclose(np.sum(weights, axis=0), 1.0, atol=1e-5)
    bound = 1.0 / (sigma * np.sqrt(2 * np.pi))  # steepest slope of a Gaussian-blurred unit step
    for w in weights:
        steps = max(np.abs(np.diff(w, axis=0)).max(), np.abs(np.diff(w, axis=1)).max())
        assert steps <= 1.05 * bound


# ----------------------------------------------------------------------------- engines


@pytest.mark.skipif(not HAS_TEACHER, reason="needs the shipped teacher decoder")
def test_teacher_region_strength_is_a_feature_level_alpha(small):
    import tfstyle
    from tfstyle.engines.teacher import TeacherEngine

    content, a, _ = small
    engine = TeacherEngine()
    whole = tfstyle.stylize(content, a, labels=L.LabelMap(np.ones((8, 8), int), {1: 0.4}), engine=engine)
    np.testing.assert_allclose(whole, tfstyle.stylize(content, a, alpha=0.4, engine=engine), atol=1e-5)
    zero = tfstyle.stylize(content, a, labels=L.LabelMap(np.ones((8, 8), int), {1: 1e-9}), engine=engine)
    np.testing.assert_allclose(zero, tfstyle.stylize(content, a, alpha=0.0, engine=engine), atol=1e-4)
    # strength 0 keeps the content itself (not its reconstruction), exactly, with hard edges
    halves = tfstyle.stylize(
        content, a, labels=L.LabelMap(_halves((64, 96)), {1: 1.0, 2: 0.0}), feather=0, engine=engine
    )
    np.testing.assert_array_equal(halves[:, 48:], content[:, 48:])


@pytest.fixture(scope="module")
def tflite():
    if not HAS_TFLITE:
        pytest.skip("needs the shipped student TFLite pair")
    from tfstyle.runtime import TfliteEngine

    return TfliteEngine(threads=1)


def test_student_region_strength_mixes_the_style_vector(small, tflite):
    import tfstyle

    content, a, _ = small
    whole = tfstyle.stylize(content, a, labels=L.LabelMap(np.ones((8, 8), int), {1: 0.5}), engine=tflite)
    np.testing.assert_allclose(whole, tfstyle.stylize(content, a, alpha=0.5, engine=tflite), atol=1e-6)


@pytest.fixture(scope="module")
def medium(data_dir):
    """128 x 192: the student's strength ordering needs a content above its 1/8 grid's few cells (at
    64 x 96 its full-strength texture overshoots: farther from the style than at 0.6)."""
    return _kodim01_mondrian_udnie(data_dir, (128, 192))


def test_regions_take_their_own_style_and_strength_orders(medium, tflite, vgg):
    import tfstyle
    from tfstyle.metrics import style_distance

    content, a, b = medium
    labels = _halves((128, 192))
    left, right = (labels == 1).astype(np.float32), (labels == 2).astype(np.float32)
    out = tfstyle.stylize(
        content, [], labels=L.LabelMap(labels, {1: {"style": a}, 2: {"style": b}}), engine=tflite
    )

    def dist(image, style, mask):
        return style_distance(image, style, vgg, mask=mask)["mean_std"]

    assert dist(out, a, left) < dist(out, b, left)
    assert dist(out, b, right) < dist(out, a, right)
    strong = tfstyle.stylize(content, b, labels=L.LabelMap(labels, {1: 0.3, 2: 1.0}), engine=tflite)
    weak = tfstyle.stylize(content, b, labels=L.LabelMap(labels, {1: 1.0, 2: 0.3}), engine=tflite)
    assert dist(strong, b, right) < dist(weak, b, right) < dist(content, b, right)


def test_style_label_maps_are_for_gatys_only(small, tflite):
    import tfstyle

    content, a, _ = small
    with pytest.raises(TfstyleError, match="tfstyle optimize"):
        tfstyle.stylize(
            content, a, labels=L.LabelMap(_halves((64, 96)), None, _halves((8, 8))), engine=tflite
        )


# ----------------------------------------------------------------------------- Gatys


def test_semantic_targets_come_from_the_matching_style_region(small, vgg):
    from tfstyle import losses
    from tfstyle.gatys import GatysConfig, StyleObjective
    from tfstyle.images import resize

    content, a, b = small
    style = np.concatenate([a[:32, :96], b[:32, :96]], axis=0)  # a on top (label 1), b below (label 2)
    style_labels = np.concatenate([np.ones((32, 96), int), np.full((32, 96), 2)], axis=0)
    plan = L.plan_regions(L.LabelMap(_halves((64, 96)), None, style_labels), (64, 96), 1, [1.0])
    config = GatysConfig(precision="float32")
    objective = StyleObjective(vgg, content, [style], config, None, None, plan.regions, plan.style_labels)
    styled = resize(style, min(content.shape[:2]), side="short")
    feats = vgg(styled[None])
    for (targets, _, _), label in zip(objective.terms, (1, 2)):
        mask = (L.resize_labels(style_labels, styled.shape[:2]) == label).astype(np.float32)
        expected = losses.style_targets(feats, tuple(config.style_layers), mask=mask[None, :, :, None])
        np.testing.assert_allclose(targets.grams["relu3_1"], expected.grams["relu3_1"], rtol=1e-5)
    whole = losses.style_targets(feats, tuple(config.style_layers))
    assert not np.allclose(objective.terms[0][0].grams["relu3_1"], whole.grams["relu3_1"], rtol=1e-2)


def test_semantic_gatys_loss_decreases_and_strength_scales_the_style_term(small, vgg):
    from tfstyle.gatys import GatysConfig, optimize

    content, a, _ = small
    style_labels = np.ones(a.shape[:2], int)
    style_labels[a.shape[0] // 2 :] = 2
    labels = L.LabelMap(_halves((64, 96)), {1: 1.0, 2: 0.25}, style_labels)
    result = optimize(content, [a], GatysConfig(steps=12, precision="float32"), labels=labels, extractor=vgg)
    assert result.history[-1]["total"] < 0.7 * result.history[0]["total"]
    labels = L.LabelMap(_halves((64, 96)), {1: 1.0, 2: 1.0}, style_labels)
    full = optimize(content, [a], GatysConfig(steps=1, precision="float32"), labels=labels, extractor=vgg)
    # step 0 sees the content itself, with the same targets: the 0.25 class adds a quarter of its term
    assert result.history[0]["style"] < 0.9 * full.history[0]["style"]
