# Two commands do all the set-up on a fresh machine:
#   make demo   a campaign against the built-in sandbox gateway (embedded Redis if REDIS_URL unset)
#   make test   the whole test suite (what .ci/run runs)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench bench-webhook install clean chromium

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $(STAMP)

# The browser test (tests/integration/test_ops_page.py) drives Debian's Chromium.
chromium:
	@command -v chromium >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; }

install: $(STAMP) chromium

demo: $(STAMP)
	$(BIN)/smsdispatch demo

test: $(STAMP) chromium
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python bench/end_to_end.py

bench-webhook: $(STAMP)
	$(BIN)/python bench/webhook_bench.py

clean:
	rm -rf $(VENV) .smsdispatch .pytest_cache
