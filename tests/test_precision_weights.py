"""Precision policy choice and weight resolution."""

from __future__ import annotations

import pytest

from tfstyle import weights
from tfstyle.errors import TfstyleError, WeightsError
from tfstyle.precision import choose_policy, policy_scope


@pytest.mark.parametrize(
    ("gpus", "flags", "expected"),
    [
        (1, {"avx512_bf16"}, "mixed_float16"),
        (0, {"avx512f", "avx512_bf16"}, "mixed_bfloat16"),
        (0, {"amx_bf16"}, "mixed_bfloat16"),
        (0, {"avx2", "fma"}, "float32"),
    ],
)
def test_auto_policy(gpus, flags, expected):
    assert choose_policy("auto", gpus=gpus, flags=flags) == expected


def test_explicit_policy_and_unknown():
    assert choose_policy("float32", gpus=1) == "float32"
    with pytest.raises(TfstyleError, match="unknown precision"):
        choose_policy("float8")


def test_policy_scope_restores_global_policy():
    from tfstyle._keras import keras

    before = keras.mixed_precision.global_policy().name
    with policy_scope("mixed_bfloat16") as name:
        assert name == keras.mixed_precision.global_policy().name == "mixed_bfloat16"
    assert keras.mixed_precision.global_policy().name == before


def test_weights_env_var_wins(monkeypatch, tmp_path):
    f = tmp_path / "w.h5"
    f.write_bytes(b"x")
    monkeypatch.setenv(weights.VGG19.env_var, str(f))
    assert weights.resolve(weights.VGG19) == str(f)
    monkeypatch.setenv(weights.VGG19.env_var, str(tmp_path / "missing.h5"))
    with pytest.raises(WeightsError, match="TFSTYLE_VGG19_WEIGHTS=.*missing.h5: no such file"):
        weights.resolve(weights.VGG19)
    monkeypatch.delenv(weights.VGG19.env_var)
    assert weights.resolve(weights.VGG19) == "imagenet"


def test_offline_without_weights_names_file_and_variable(monkeypatch):
    monkeypatch.delenv(weights.MOBILENET_V2_035.env_var, raising=False)

    def offline(_):
        raise OSError("URL fetch failure: no network")

    with pytest.raises(WeightsError) as err:
        weights.load_application(weights.MOBILENET_V2_035, offline)
    msg = str(err.value)
    assert "TFSTYLE_MOBILENET_WEIGHTS" in msg and weights.MOBILENET_V2_035.keras_file in msg
    assert "\n" not in msg
