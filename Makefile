# Lab 3 — two commands: `make demo` and `make test` (each installs what it needs into .venv).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
LAB3   := $(VENV)/bin/lab3
# torch from this machine's disk / the CUDA or CPU wheel pip picks; pinned so pip never swaps it (the pin's
# one declaration: the build, setup.sh and the Docker script read it too).
PINS   := autograder/torch_pins.txt
PYTEST_ARGS ?=
# Test workers (pytest-xdist, one test file per worker at a time): some tests sleep until a deadline kills a
# submission, so a third worker keeps 2 cores busy.
TEST_WORKERS ?= 3
# Idle OpenMP threads sleep instead of spinning: several torch processes share 2 cores in the tests.
export OMP_WAIT_POLICY ?= PASSIVE
# SST-2 on offline machines: the course's local copy next to the checkout, when there is one (elsewhere
# Hugging Face `datasets` fetches it). Override with LAB3_SST2_DIR=... make test.
SST2_COPY := $(abspath ../shared/data/sst2)
export LAB3_SST2_DIR ?= $(if $(wildcard $(SST2_COPY)/stsa.binary.train),$(SST2_COPY))

.PHONY: install data build check test test-fast demo lint clean browser-test-deps

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml $(PINS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r $(PINS)
	$(PY) -m pip install -q -e ".[dev]" -r $(PINS)
	touch $@

data: install
	$(LAB3) data

build: install
	$(LAB3) build

check: install
	$(LAB3) build --check

lint: install
	$(VENV)/bin/ruff check autograder source tests benchmarks scripts

# Headless Chromium for the grading pages' browser test (npm packages, pinned in tests/gradebook/browser).
BROWSER_DIR := tests/gradebook/browser
browser-test-deps: $(BROWSER_DIR)/node_modules/.installed

$(BROWSER_DIR)/node_modules/.installed: $(BROWSER_DIR)/package.json
	cd $(BROWSER_DIR) && npm install --no-audit --no-fund --no-package-lock
	touch $@

test: install data browser-test-deps
	$(LAB3) build --check
	$(VENV)/bin/ruff check autograder source tests benchmarks scripts
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

# The inner loop: every test not marked slow (no corpus, no end-to-end grading, no notebook run), ~2 min.
test-fast: install data
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

demo: install data
	$(LAB3) build
	$(LAB3) grade --batch examples/submissions --out out/demo -j 2
	$(LAB3) selftest --from out/demo
	@echo "class report: out/demo/report.html; written answers: $(LAB3) answers serve out/demo"

clean:
	rm -rf out runs autograder/dist
