# stack/stack.mk — make targets for the real servers (Graphite, StatsD, Redis, RabbitMQ).
# Included from the main Makefile:  include stack/stack.mk
#
#   make stack-install                    install what the real-server tests need (idempotent)
#   make stack-install STACK_COMPONENTS="graphite statsd"
#   make graphite-up                      carbon :2003 + graphite-web :8080 in the background
#   make graphite-up GRAPHITE_UP_ARGS="--with-statsd --web-port 8081"
#   make graphite-down                    stop what graphite-up started
#
# Paths are relative to this file, so the fragment works from any checkout.

STACK_MK_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
STACK_PYTHON ?= python3
# empty = all: graphite statsd redis rabbitmq
STACK_COMPONENTS ?=
# where `graphite up` keeps data, logs, pids and env.sh (same default as stack/servers.py's installs)
STACK_RUN_DIR ?= $(or $(QUEUEDASH_STACK_DIR),$(dir $(STACK_MK_DIR)).stack)/run
# extra options for `servers.py graphite up`: --with-statsd, --carbon-port N, --web-port N, ...
GRAPHITE_UP_ARGS ?=

.PHONY: stack-install graphite-up graphite-down

stack-install:
	bash $(STACK_MK_DIR)/install.sh $(STACK_COMPONENTS)

# install.sh is idempotent (a fraction of a second when everything is there)
graphite-up:
	bash $(STACK_MK_DIR)/install.sh graphite $(if $(filter --with-statsd,$(GRAPHITE_UP_ARGS)),statsd)
	$(STACK_PYTHON) $(STACK_MK_DIR)/servers.py graphite up --dir $(STACK_RUN_DIR) $(GRAPHITE_UP_ARGS)

graphite-down:
	$(STACK_PYTHON) $(STACK_MK_DIR)/servers.py graphite down --dir $(STACK_RUN_DIR)
