"""Quantisation-aware training, TFLite export, parity checks and the phone-like CPU benchmark.

``python -m export`` (``make export-tflite``) runs QAT, writes every variant with its manifest and
checks parity; ``python -m export.bench`` (``make bench``) benchmarks the files against Magenta.
"""
