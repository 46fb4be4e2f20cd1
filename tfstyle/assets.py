"""Paths of the trained models the package ships (no TensorFlow import, so the CLI and the
LiteRT runner can check them cheaply)."""

from __future__ import annotations

import os

ASSETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets")
TEACHER_DECODER = os.path.join(ASSETS, "teacher_decoder.h5")
STUDENT_PREDICTOR = os.path.join(ASSETS, "student_predictor.h5")
STUDENT_TRANSFORMER = os.path.join(ASSETS, "student_transformer.h5")
STUDENT_PREDICTOR_TFLITE = os.path.join(ASSETS, "student_predictor_int8.tflite")
STUDENT_TRANSFORMER_TFLITE = os.path.join(ASSETS, "student_transformer_int8.tflite")
STUDENT_V2_ENCODER = os.path.join(ASSETS, "student_v2_encoder.h5")
STUDENT_V2_DECODER = os.path.join(ASSETS, "student_v2_decoder.h5")
STUDENT_V2_ENCODER_TFLITE = os.path.join(ASSETS, "student_v2_encoder_float32.tflite")  # parity
STUDENT_V2_DECODER_TFLITE = os.path.join(ASSETS, "student_v2_decoder_int8.tflite")

MULTILEVEL_DECODERS = {
    "relu1_1": os.path.join(ASSETS, "decoder_relu1_1.h5"),
    "relu2_1": os.path.join(ASSETS, "decoder_relu2_1.h5"),
    "relu3_1": os.path.join(ASSETS, "decoder_relu3_1.h5"),
    "relu4_1": TEACHER_DECODER,
}
"""Reconstruction decoders of the multi-level teacher; its relu4_1 level is the AdaIN teacher's decoder
(same layers, trained with a reconstruction term; see docs/MODELS.md)."""
