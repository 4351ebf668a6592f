# Two commands do all the set-up on a fresh machine:
#   make demo   a campaign against the built-in sandbox gateway (embedded Redis if REDIS_URL unset)
#   make test   the whole test suite (what .ci/run runs)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench bench-webhook install clean chromium rabbitmq

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

# The RabbitMQ tests (tests/integration/test_rabbitmq.py) need a local RabbitMQ with
# rabbitmqctl: start the machine's if it is installed and not running, else install Debian's.
rabbitmq:
	@command -v rabbitmqctl >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends rabbitmq-server; }
	@rabbitmqctl -q status >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO rabbitmq-server -detached; \
	  for i in $$(seq 60); do rabbitmqctl -q status >/dev/null 2>&1 && break; sleep 1; done; }

install: $(STAMP) chromium rabbitmq

demo: $(STAMP)
	$(BIN)/smsdispatch demo

# pytest in three processes (pytest-xdist): the integration tests mostly wait, so three keep
# two cores busy; an idle one takes tests queued for another; each uses its own Redis database
# (tests/conftest.py).  Coverage of the five packages, the worker, webhook and CLI processes
# the tests start included (pyproject.toml's [tool.coverage.run]); the sandbox is not measured.
PYTEST_PARALLEL ?= -n 3 --dist worksteal
PYTEST_COVERAGE ?= --cov=core --cov=providers --cov=workers --cov=dispatcher --cov=config \
	--cov-report=term-missing:skip-covered

test: $(STAMP) chromium rabbitmq
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q $(PYTEST_PARALLEL) $(PYTEST_COVERAGE)

bench: $(STAMP)
	$(BIN)/python bench/end_to_end.py

bench-webhook: $(STAMP)
	$(BIN)/python bench/webhook_bench.py

clean:
	rm -rf $(VENV) .smsdispatch .pytest_cache
