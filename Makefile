# queuedash: `make dashboards` builds every dashboard, `make test` runs the suite.
# Both bootstrap the virtualenv (.venv) when it is missing or pyproject.toml changed;
# `make test` also installs the real servers the tests start (stack/install.sh:
# Graphite in .stack/graphite-venv, npm statsd in .stack/statsd, and, as root,
# Debian's redis-server and rabbitmq-server).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: dashboards test validate benchmark deploy-dashboards benchmark-deploy benchmark-agent clean

dashboards: $(INSTALLED)
	$(BIN)/queuedash build

validate: dashboards
	$(BIN)/queuedash validate build/dashboards

test: $(INSTALLED) stack-install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# `queuedash build` end to end, as it is and as it was (benchmarks/baseline_build.py), 10 to 1,000 queues.
benchmark: $(INSTALLED)
	$(BIN)/python benchmarks/build_benchmark.py

# Push the dashboards through Grafana's HTTP API: needs GRAFANA_URL and GRAFANA_TOKEN
# (or GRAFANA_USER/GRAFANA_PASSWORD). Extra arguments: make deploy-dashboards DEPLOY_ARGS=--dry-run
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

$(INSTALLED): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

clean:
	rm -rf build .pytest_cache .hypothesis

include stack/stack.mk
