"""The real servers queuedash is tested against, started on loopback on free ports.

One module per server: graphite.py (carbon-cache + graphite-web, or a front graphite-web over
several), statsd.py (etsy statsd on node, and its cluster proxy), relay.py (carbon-c-relay),
redis.py and rabbitmq.py, on what base.py shares (mirakuru executors, port-for ports, the install
locations of install.sh, StackError). reference.py reads the reference configuration of fleet/,
which StatsD, the proxy, the relay and Graphite start from. cli.py backs `make graphite-up` /
`graphite-down`. servers.py gathers the classes for the test suite (tests/realstack.py, the
pytest plugin).

Not part of the queuedash package: run from the repository with the project's .venv.
"""
