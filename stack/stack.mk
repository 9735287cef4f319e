# stack/stack.mk — make targets for the real servers (Graphite, StatsD, Redis, RabbitMQ).
# Included from the main Makefile:  include stack/stack.mk
#
#   make stack-install                    install what the real-server tests need (idempotent)
#   make stack-install STACK_COMPONENTS="graphite statsd"
#   make graphite-up                      carbon :2003 + graphite-web :8080 in the background
#   make graphite-up GRAPHITE_UP_ARGS="--with-statsd --web-port 8081"
#   make graphite-down                    stop what graphite-up started
#
# graphite-up/down run `python -m stack` (stack/cli.py) with the project's .venv, which has what
# it needs (mirakuru, port-for, psutil: the test extra); the main Makefile's $(INSTALLED) sets it up.
# Paths are relative to this file, so the fragment works from any checkout.

STACK_MK_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
STACK_REPO := $(abspath $(STACK_MK_DIR)/..)
STACK_PYTHON ?= $(if $(BIN),$(BIN)/python,$(STACK_REPO)/.venv/bin/python)
# empty = all: graphite statsd redis rabbitmq
STACK_COMPONENTS ?=
# where `graphite up` keeps data, logs, servers.json and env.sh (same default as stack/base.py's installs)
STACK_RUN_DIR ?= $(or $(QUEUEDASH_STACK_DIR),$(STACK_REPO)/.stack)/run
# extra options for `python -m stack graphite up`: --with-statsd, --carbon-port N, --web-port N, ...
GRAPHITE_UP_ARGS ?=
# uv, when the project's venv has it, installs the Graphite venv in a fraction of pip's time
STACK_UV ?= $(if $(BIN),$(BIN)/uv)

.PHONY: stack-install graphite-up graphite-down

stack-install: $(INSTALLED)
	UV=$(STACK_UV) bash $(STACK_MK_DIR)/install.sh $(STACK_COMPONENTS)

# install.sh is idempotent (a fraction of a second when everything is there)
graphite-up: $(INSTALLED)
	UV=$(STACK_UV) bash $(STACK_MK_DIR)/install.sh graphite $(if $(filter --with-statsd,$(GRAPHITE_UP_ARGS)),statsd)
	PYTHONPATH=$(STACK_REPO) $(STACK_PYTHON) -m stack graphite up --dir $(STACK_RUN_DIR) $(GRAPHITE_UP_ARGS)

graphite-down: $(INSTALLED)
	PYTHONPATH=$(STACK_REPO) $(STACK_PYTHON) -m stack graphite down --dir $(STACK_RUN_DIR)
