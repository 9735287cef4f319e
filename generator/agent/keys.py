"""The agent's metric names: every StatsD key it sends is built here, by
`queuedash.naming.metrics.Naming`, the module the dashboards' queries come from.

Nothing else in the agent spells a key. `Keys` only caches what `Naming`
builds: escaping a name costs a regular expression, and the hook runs on every
task, so each (queue, task, leaf, host) is built once and then looked up.

In the per-host mode a task key carries a host node: the host part of a Celery
node name (``celery@web-1`` counts under ``web-1``), or a plain host name.

The families below are what the agent can emit; tests/test_agent_contract.py
matches them against every path the built dashboards query, both ways.

Imports `queuedash.naming.metrics` only (which imports only `queuedash.errors`).
"""

from __future__ import annotations

from functools import lru_cache

from queuedash.naming.metrics import BROKER_GAUGES, TASK_STATES, TASK_TIMERS, WORKER_GAUGES, Naming

#: Counters ``<prefix>.tasks.<queue>.<task>.<state>`` (``...<task>.<host>.<state>`` per host): every task state.
TASK_COUNTERS = TASK_STATES
#: Timers ``<prefix>.tasks.<queue>.<task>.{runtime,wait}``, in milliseconds.
TASK_TIMER_KEYS = TASK_TIMERS
#: Gauges ``<prefix>.broker.<queue>.<gauge>`` from the poller (Redis: length only).
BROKER_GAUGE_KEYS = BROKER_GAUGES
#: Gauges ``<prefix>.workers.<host>.<gauge>`` from heartbeats (the event monitor).
WORKER_GAUGE_KEYS = WORKER_GAUGES

#: The queue or task name used when the real one cannot be known (documented).
UNKNOWN = "unknown"


def host_of(name: str | None) -> str | None:
    """The host of a Celery node name (``celery@web-1`` -> ``web-1``); a plain host name as it is."""
    if not name:
        return None
    return name.rpartition("@")[2] or None


class Keys:
    """StatsD keys for one naming scheme, cached.

    Caches are bounded: a fleet with more distinct (queue, task, leaf, host)
    tuples than `cache_size` still gets correct keys, only rebuilt more often.
    """

    def __init__(self, naming: Naming | None = None, cache_size: int = 8192):
        self.naming = naming or Naming()
        self._cached_task = lru_cache(maxsize=cache_size)(self._task)
        self.broker = lru_cache(maxsize=cache_size)(self.naming.broker_key)
        self.worker = lru_cache(maxsize=cache_size)(self.naming.worker_key)

    def task(self, queue: str | None, task: str | None, leaf: str, host: str | None = None) -> str:
        """The key of a task counter or timer; `host` (a host or Celery node name) is
        part of it only in the per-host mode."""
        return self._cached_task(queue, task, leaf, host if self.naming.per_host else None)

    def _task(self, queue: str | None, task: str | None, leaf: str, host: str | None) -> str:
        # An empty or missing name cannot become a Graphite node (Naming
        # refuses it); it is a task, queue or host we could not learn.
        if not self.naming.per_host:
            return self.naming.task_key(queue or UNKNOWN, task or UNKNOWN, leaf)
        return self.naming.task_key(queue or UNKNOWN, task or UNKNOWN, leaf, host_of(host) or UNKNOWN)
