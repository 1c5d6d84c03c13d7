# `make demo` starts the web app, `make test` runs the linter and the tests; both build .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Torch comes first, from the CPU index: a plain `pip install torch` on Linux also pulls gigabytes of CUDA.
# Its own dependencies (filelock, sympy, ...) come with the project's in the next step, from the usual index.
TORCH := torch==2.13.0
TORCH_INDEX := https://download.pytorch.org/whl/cpu

.PHONY: venv demo test lint browser-deps

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --no-deps --extra-index-url $(TORCH_INDEX) '$(TORCH)'
	$(BIN)/pip install -e '.[test]'
	touch $@

demo: venv
	$(BIN)/python app.py

lint: venv
	$(BIN)/ruff check .

# The browser test of the app drives Debian's /usr/bin/chromium; the Lohit font renders Devanagari there.
browser-deps:
	@if [ -x /usr/bin/chromium ] && dpkg -s fonts-lohit-deva >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
			chromium fonts-lohit-deva; \
	else echo "make: chromium or fonts-lohit-deva is missing and cannot be installed here (needs root and apt-get)" >&2; \
	fi

test: venv browser-deps
	$(BIN)/ruff check .
	$(BIN)/python -m pytest
