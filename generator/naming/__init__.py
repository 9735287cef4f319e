"""Metric naming: the one place a StatsD key or a Graphite path is built.

`metrics` holds the naming scheme (`Naming`), the escaping of queue, task and
host names into Graphite nodes, and Graphite's ``{a,b}`` alternatives. The
dashboards' queries and the agent's keys both come from here, so they cannot
drift apart.

Imports only `queuedash.errors`: the agent imports this inside users' Celery
workers.
"""
