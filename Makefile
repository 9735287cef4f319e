# queuedash: `make dashboards` builds every dashboard, `make test` runs the suite.
# Both bootstrap the virtualenv (.venv) when it is missing or pyproject.toml changed
# (uv installs into it, `.venv/bin/uv pip ...`); `make test` also installs the real
# servers the tests start (stack/install.sh: Graphite in .stack/graphite-venv, npm
# statsd in .stack/statsd, and, as root, Debian's redis-server, rabbitmq-server and carbon-c-relay)
# and Grafana's display code (npm @grafana/data in tests/grafana_display).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
PYTEST_ARGS ?=
# pytest-xdist workers of `make test`: one per core of ours. Each test file goes to one worker
# whole (its module fixtures run once), the real-server tests first, so that their waits
# (servers booting, StatsD flushes) overlap the unit tests. TEST_WORKERS=0: one process.
TEST_WORKERS ?= 2

.PHONY: dashboards test validate benchmark deploy-dashboards benchmark-deploy benchmark-agent benchmark-pipeline clean \
	grafana-display record-events

# Grafana's own display code (@grafana/data, pinned in its package-lock.json), which the tests run
# on Node to see the text and colour of every stat panel.
GRAFANA_DISPLAY := tests/grafana_display/node_modules/.installed

dashboards: $(INSTALLED)
	$(BIN)/queuedash build

validate: dashboards
	$(BIN)/queuedash validate build/dashboards build/rules

test: $(INSTALLED) stack-install $(GRAFANA_DISPLAY)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

# `queuedash build` end to end, as it is and as it was (benchmarks/baseline_build.py), 10 to 1,000 queues.
benchmark: $(INSTALLED)
	$(BIN)/python benchmarks/build_benchmark.py

# Push the dashboards and their alert rules through Grafana's HTTP API: needs GRAFANA_URL and
# GRAFANA_TOKEN (or GRAFANA_USER/GRAFANA_PASSWORD). Extra arguments: make deploy-dashboards
# DEPLOY_ARGS=--dry-run (or --no-rules: dashboards only).
DEPLOY_ARGS ?=
deploy-dashboards: $(INSTALLED)
	$(BIN)/queuedash deploy $(DEPLOY_ARGS)

benchmark-deploy: $(INSTALLED)
	$(BIN)/python benchmarks/deploy_benchmark.py

# The agent's costs: monitor events/s and memory after 1M tasks, the signal hook's overhead per task.
# AGENT_BENCHMARK_ARGS=--celery-exporter-python /path/to/venv/bin/python also runs celery-exporter on the same stream.
AGENT_BENCHMARK_ARGS ?=
benchmark-agent: $(INSTALLED)
	$(BIN)/python benchmarks/agent_benchmark.py $(AGENT_BENCHMARK_ARGS)

# The metrics pipeline's capacity: tasks/s counted exactly through one StatsD and through the fleet
# reference (proxy -> two StatsD -> carbon-c-relay -> two carbon-caches), 60 s per rate; about 20 minutes.
# PIPELINE_BENCHMARK_ARGS="--duration 10 --topologies single" for a quick look.
PIPELINE_BENCHMARK_ARGS ?=
benchmark-pipeline: $(INSTALLED)
	$(MAKE) stack-install STACK_COMPONENTS="graphite statsd relay"
	$(BIN)/python benchmarks/pipeline_benchmark.py $(PIPELINE_BENCHMARK_ARGS)

$(INSTALLED): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv --without-pip $(VENV)
	@# pip only puts uv into the venv: the interpreter's own pip when it has one (setting up a pip
	@# of the venv's took longer than everything else here), else one from ensurepip
	@test -x $(BIN)/uv || $(PYTHON) -m pip --python $(BIN)/python install --quiet uv 2>/dev/null || \
		{ $(BIN)/python -m ensurepip --default-pip >/dev/null && $(BIN)/python -m pip install --quiet uv; }
	@# --compile-bytecode, as pip does: else each test worker and subprocess compiles the same modules
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -e '.[test]'
	@touch $@

grafana-display: $(GRAFANA_DISPLAY)

$(GRAFANA_DISPLAY): tests/grafana_display/package.json tests/grafana_display/package-lock.json
	npm ci --prefix tests/grafana_display --no-audit --no-fund
	@touch $@

# Record the events real Celery workers send, on every pool that installs here, into
# tests/fixtures/celery_events (the translator's tests replay them). After a Celery upgrade.
record-events: $(INSTALLED)
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[record]'
	$(BIN)/python tests/recording/record_celery_events.py

clean:
	rm -rf build .pytest_cache .hypothesis

include stack/stack.mk
