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

.PHONY: install test lint demo train train-v2 train-smoke export-tflite bench bench-video bench-video-speed bench-live bench-dataset clean

install: ## create .venv and install tfstyle with its dev extras
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'

test: ## run the test suite (needs ../shared/weights or the TFSTYLE_* variables)
	$(PY) -m pytest

lint:
	$(VENV)/bin/ruff check tfstyle tests training benchmarks export
	$(VENV)/bin/ruff format --check tfstyle tests training benchmarks export

demo: ## photos x paintings through teacher, student, INT8 TFLite (and a short Gatys) -> demo_out/contact_sheet.png
	$(VENV)/bin/tfstyle demo -o demo_out

train: ## train the teacher decoder (also the multilevel teacher's relu4_1 level) and the relu1_1-relu3_1 reconstruction decoders, then distil the student in three stages (the last ships the mean of its last 5 checkpoints); each resumes
	$(PY) -m training.teacher --out runs/teacher --steps 8000 --batch 8 --crop 128 --lr 3e-4 --checkpoint-every 250 --ship
	$(PY) -m training.decoders --level relu1_1 --steps 1000 --batch 8 --crop 128 --checkpoint-every 250 --ship
	$(PY) -m training.decoders --level relu2_1 --steps 3000 --batch 8 --crop 128 --checkpoint-every 250 --ship
	$(PY) -m training.decoders --level relu3_1 --steps 3000 --batch 8 --crop 128 --checkpoint-every 250 --ship
	$(PY) -m training.student --out runs/student_s1 --stage 1 --steps 8000 --lr 1e-3 --checkpoint-every 250 \
		--weights style=20
	$(PY) -m training.student --out runs/student_s2 --stage 2 --init-from runs/student_s1 --steps 600 \
		--crop 256 --lr 1e-4 --checkpoint-every 50 --weights style=20
	$(PY) -m training.student --out runs/student_s3 --stage 2 --init-from runs/student_s2 --steps 300 \
		--crop 256 --lr 1e-4 --checkpoint-every 100 --weights style=20,output=30 --seed 4 \
		--style-layers relu1_1=23,relu2_1=5.5,relu3_1=3,relu4_1=1
	$(PY) -m training.student --out runs/student_s3 --stage 2 --init-from runs/student_s2 --steps 1300 \
		--crop 256 --lr 1e-4 --checkpoint-every 100 --weights style=20,output=30 --seed 4 \
		--style-layers relu1_1=50,relu2_1=10,relu3_1=4,relu4_1=1 --average 5 --ship

V2_RUN := --bank 2048 --bank-run runs/student_v2 --batch 8 --crop 128 --checkpoint-every 100 --sample-every 250
train-v2: ## student v2 (computed style code): cached bank (2,048 pairs), distil from the teacher in 4 stages, then the lite student from it, INT8 export; ships; resumes
	$(PY) -m training.student_v2 --out runs/student_v2 $(V2_RUN) --steps 6000 --lr 1e-3 --weights grid=0
	$(PY) -m training.student_v2 --out runs/student_v2_s2 $(V2_RUN) --init-from runs/student_v2 --steps 3000 \
		--lr 3e-4 --weights style=60,grid=10
	$(PY) -m training.student_v2 --out runs/student_v2_s3 $(V2_RUN) --init-from runs/student_v2_s2 --steps 2500 \
		--lr 3e-4 --weights style=100,output=5,grid=10
	$(PY) -m training.student_v2 --out runs/student_v2_s4 $(V2_RUN) --init-from runs/student_v2_s3 --steps 1500 \
		--lr 3e-4 --weights style=100,output=5,grid=500
	$(PY) -m training.student_v2_lite --out runs/student_v2_lite --source runs/student_v2_s4 \
		--bank-run runs/student_v2 --steps 8000 --batch 16 --checkpoint-every 200 --sample-every 2000
	$(PY) -m training.student_v2 --out runs/student_v2_lite_ft $(V2_RUN) --lite --init-from runs/student_v2_lite \
		--steps 1500 --lr 3e-4 --weights style=100,output=5,grid=500 --ship
	$(PY) -m export.student_v2 --encoder runs/student_v2_lite_ft/student_v2_encoder.h5 \
		--decoder runs/student_v2_lite_ft/student_v2_decoder.h5 --ship

train-smoke: ## a 40-step teacher run from scratch into runs/teacher-smoke (under a minute; ships nothing)
	rm -rf runs/teacher-smoke
	$(PY) -m training.teacher --out runs/teacher-smoke --steps 40 --batch 4 --crop 64 \
		--checkpoint-every 20 --sample-every 20

export-tflite: ## QAT fine-tuning, every TFLite variant + manifest in export/out, parity check; ships INT8
	$(PY) -m export --ship

bench: ## phone-like CPU benchmark of export/out/*.tflite vs Magenta -> docs/BENCHMARKS.md (minutes)
	$(PY) -m export.bench

bench-video: ## video: warping error, style distance, frames/s per clip, engine and --consistency mode -> docs/QUALITY.md, BENCHMARKS.md (needs `apt-get install opencv-doc` for the real clips); again with la_muse; the INT8 v2 student (the default) and v1
	$(PY) -m benchmarks.video
	$(PY) -m benchmarks.video --no-speed --style la_muse.jpg --section video-la_muse \
		--strip docs/img/video_strip_la_muse.png --out runs/bench/video_la_muse

bench-dataset: ## tfstyle dataset on Ray (1/2 workers vs a plain loop, per engine) and StyleAugment -> docs/BENCHMARKS.md (~10 min)
	$(PY) -m benchmarks.dataset

bench-video-speed: ## only the video throughput lines (INT8 TFLite, 384 px, 2 threads): rerun on a quiet machine
	$(PY) -m benchmarks.video --speed-only

bench-live: ## the web app's Live view in headless Chromium with a fake camera: frames/s at 256 px, latency -> docs/BENCHMARKS.md
	$(PY) -m benchmarks.live

.PHONY: serve
PORT ?= 8000
serve: ## the local web app on http://127.0.0.1:$(PORT) (PORT=8080 make serve to change it)
	$(VENV)/bin/tfstyle serve --port $(PORT)

clean:
	rm -rf demo_out .pytest_cache build *.egg-info
