# clipzz: `make demo` runs the main job on the bundled sample; `make test` runs the suite.
# Every target creates or reuses .venv and installs what it needs.

VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
SHARED_ASSETS := $(abspath ../shared/assets)

# Model files (YuNet, LR-ASD) come from CLIPZZ_MODEL_DIR when set or when ../shared/assets
# exists; otherwise they are downloaded once from pinned URLs and checked by sha256.
ifeq ($(origin CLIPZZ_MODEL_DIR), undefined)
ifneq ($(wildcard $(SHARED_ASSETS)),)
export CLIPZZ_MODEL_DIR := $(SHARED_ASSETS)
endif
endif

# Tests and demos start private local Ray clusters: no token auth, nothing written to ~/.ray.
export RAY_AUTH_MODE ?= disabled

.PHONY: install demo test bench lint format clean

$(PY):
	python3 -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

install: $(STAMP)

demo: install
	$(VENV)/bin/clipzz clip bench/sample/podcast.mp4 --clips 3 --out demo-out

test: install
	$(PY) -m pytest

bench: install
	$(PY) bench/stages.py

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf demo-out bench/results/*.tmp .pytest_cache
