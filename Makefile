# tfstyle developer entry points. `make install && make test` is all a new contributor needs.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
SHARED ?= $(abspath ../shared)

export TF_USE_LEGACY_KERAS := 1
export TF_CPP_MIN_LOG_LEVEL := 2
# Local ImageNet weights when ../shared has them; otherwise keras.applications downloads them.
ifneq ($(wildcard $(SHARED)/weights/vgg19_imagenet_notop.h5),)
export TFSTYLE_VGG19_WEIGHTS ?= $(SHARED)/weights/vgg19_imagenet_notop.h5
export TFSTYLE_MOBILENET_WEIGHTS ?= $(SHARED)/weights/mobilenet_v2_0.35_imagenet_notop.h5
export TFSTYLE_DATA ?= $(SHARED)/data
endif

.PHONY: install test lint demo train train-smoke export-tflite bench clean

install: ## create .venv and install tfstyle with its dev extras
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'

test: ## run the test suite (needs ../shared/weights or the TFSTYLE_* variables)
	$(PY) -m pytest

lint:
	$(VENV)/bin/ruff check tfstyle tests training benchmarks
	$(VENV)/bin/ruff format --check tfstyle tests training benchmarks

demo: ## stylize scikit-image sample photos into demo_out/ with a contact sheet
	$(VENV)/bin/tfstyle demo -o demo_out

train: ## train the AdaIN teacher decoder (resumes from runs/teacher/checkpoints) and ship it
	$(PY) -m training.teacher --out runs/teacher --steps 8000 --batch 8 --crop 128 --lr 3e-4 --checkpoint-every 250 --ship

train-smoke: ## a 40-step teacher run from scratch into runs/teacher-smoke (under a minute; ships nothing)
	rm -rf runs/teacher-smoke
	$(PY) -m training.teacher --out runs/teacher-smoke --steps 40 --batch 4 --crop 64 \
		--checkpoint-every 20 --sample-every 20

export-tflite:
	@echo "make export-tflite: QAT and TFLite export (export/) are not built yet (issue #5)." >&2; exit 2

bench:
	@echo "make bench: the TFLite benchmark (export/bench.py) is not built yet (issue #5)." >&2; exit 2

clean:
	rm -rf demo_out .pytest_cache build *.egg-info
