"""Metric naming: the one place a StatsD key or a Graphite path is built.

Imports only `errors`, so that the agent (which runs inside users' Celery apps)
can use exactly the names the dashboards query without pulling in the
dashboard model.

Two kinds of names live here:

* StatsD keys, what a client sends: ``celery.tasks.<queue>.<task>.<state>``,
  ``celery.broker.<queue>.length``, ``celery.workers.<host>.online``.
  In the per-host mode (`Naming.per_host`) a task key also names the host that
  counted it, ``celery.tasks.<queue>.<task>.<host>.<state>``: a fleet with an
  aggregator (StatsD, Bucky) on every host then writes one series per host,
  which the queries sum, instead of several aggregators overwriting one series.
* Graphite paths, what StatsD's Graphite backend writes and dashboards query.
  In the legacy namespace (stock StatsD and Bucky) a counter ``k`` becomes
  ``stats_counts.k`` (count per flush) and ``stats.k`` (rate per second); in the
  modern one ``stats.counters.k.count`` and ``stats.counters.k.rate``. Timers
  become ``stats.timers.k.<stat>``, gauges ``stats.gauges.k``.

Names are built in layers (prefix -> group -> queue or host -> task -> [host] -> leaf).
Every concrete name given for a queue, task or host goes through `escape`; a
Graphite pattern (``$queue``, ``*``, ``{a,b}``) is passed as a `Pattern` and kept
as it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from queuedash.errors import NamingError

#: Every state a task counter can have. "unknown" counts messages for tasks the
#: worker does not know (Celery's NotRegistered), which never reach "received".
TASK_STATES = (
    "sent",
    "received",
    "started",
    "succeeded",
    "failed",
    "retried",
    "rejected",
    "revoked",
    "unknown",
)

#: Every way a received task ends. received - sum(these) is the backlog: tasks
#: received by a worker and not yet finished. A retried task ends its current
#: delivery and comes back as a new "received", so it counts here.
PROCESSED_STATES = ("succeeded", "failed", "retried", "rejected", "revoked")

TASK_TIMERS = ("runtime", "wait")
BROKER_GAUGES = ("length", "consumers", "unacked")
WORKER_GAUGES = ("online", "active", "processed", "heartbeat_age")

NAMESPACES = ("legacy", "modern")

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_SAFE_NODE = re.compile(r"^[A-Za-z0-9_-]+$")


class Pattern(str):
    """A Graphite pattern or template variable used in place of a name.

    Kept verbatim: ``Pattern("$queue")``, ``Pattern("*")``, ``Pattern("{a,b}")``.
    """


ANY = Pattern("*")


def escape(name: str) -> str:
    """Turn a queue, task or host name into one Graphite node.

    Any character outside ``[A-Za-z0-9_-]`` becomes ``_``: Celery task names
    contain dots and worker names contain ``@``, and a dot would shift every
    node index after it.
    """
    if not isinstance(name, str) or name == "":
        raise NamingError(f"a metric name part must be a non-empty string, got {name!r}")
    return _UNSAFE.sub("_", name)


def alternatives(nodes) -> Pattern:
    """Graphite's ``{a,b}``: any of these nodes, as given and in their order; one node is
    itself. The one place such a pattern is spelled (queries, check, the agent's tests)."""
    nodes = [str(node) for node in nodes]
    if not nodes:
        raise NamingError("cannot build a pattern from an empty list of names")
    return Pattern(nodes[0] if len(nodes) == 1 else "{" + ",".join(nodes) + "}")


def glob(names) -> Pattern:
    """A Graphite pattern matching exactly these concrete names (escaped, sorted)."""
    return alternatives(sorted({escape(n) for n in names}))


def _node(part: str) -> str:
    return str(part) if isinstance(part, Pattern) else escape(part)


def _check_prefix(value: str, what: str) -> str:
    nodes = value.split(".")
    if not value or not all(_SAFE_NODE.match(n) for n in nodes):
        raise NamingError(f"{what} must be dot-separated [A-Za-z0-9_-] nodes, got {value!r}")
    return value


@dataclass(frozen=True)
class Naming:
    """The naming scheme: how StatsD keys and Graphite paths are spelled."""

    namespace: str = "legacy"
    prefix: str = "celery"
    root: str = "stats"
    timer_percentile: int = 90
    #: Task keys carry the host that counted them (a node after the task): for fleets
    #: with an aggregator per host, whose flushes of one shared key would overwrite
    #: each other in Graphite.
    per_host: bool = False

    def __post_init__(self):
        if self.namespace not in NAMESPACES:
            raise NamingError(f"namespace must be one of {', '.join(NAMESPACES)}, got {self.namespace!r}")
        _check_prefix(self.prefix, "prefix")
        _check_prefix(self.root, "root")
        if not (isinstance(self.timer_percentile, int) and 0 < self.timer_percentile < 100):
            raise NamingError(f"timer_percentile must be a whole number from 1 to 99, got {self.timer_percentile!r}")
        if not isinstance(self.per_host, bool):
            raise NamingError(f"per_host must be true or false, got {self.per_host!r}")

    # -- StatsD keys (what the agent sends) ---------------------------------

    def task_key(self, queue: str, task: str, leaf: str, host: str = ANY) -> str:
        """``celery.tasks.<queue>.<task>.<leaf>``: a task counter or timer key;
        ``celery.tasks.<queue>.<task>.<host>.<leaf>`` in the per-host mode.

        `leaf` is a state or a timer name, or a `Pattern` of states in queries.
        `host` is the agent's host name (escaped like any name), or a pattern; queries
        leave it at ``*``, every host. Outside the per-host mode it is not part of the key.
        """
        if not isinstance(leaf, Pattern) and leaf not in TASK_STATES and leaf not in TASK_TIMERS:
            raise NamingError(f"unknown task metric {leaf!r}")
        if self.per_host:
            return f"{self.prefix}.tasks.{_node(queue)}.{_node(task)}.{_node(host)}.{leaf}"
        return f"{self.prefix}.tasks.{_node(queue)}.{_node(task)}.{leaf}"

    def broker_key(self, queue: str, gauge: str) -> str:
        if gauge not in BROKER_GAUGES:
            raise NamingError(f"unknown broker gauge {gauge!r}")
        return f"{self.prefix}.broker.{_node(queue)}.{gauge}"

    def worker_key(self, host: str, gauge: str) -> str:
        if gauge not in WORKER_GAUGES:
            raise NamingError(f"unknown worker gauge {gauge!r}")
        return f"{self.prefix}.workers.{_node(host)}.{gauge}"

    # -- Graphite paths (what dashboards query) -----------------------------

    def counter_count(self, key: str) -> str:
        """Graphite path of a counter's count per flush."""
        if self.namespace == "legacy":
            return f"{self.root}_counts.{key}"
        return f"{self.root}.counters.{key}.count"

    def counter_rate(self, key: str) -> str:
        """Graphite path of a counter's rate per second."""
        if self.namespace == "legacy":
            return f"{self.root}.{key}"
        return f"{self.root}.counters.{key}.rate"

    def timer(self, key: str, stat: str) -> str:
        """Graphite path of one timer statistic (mean, upper, upper_90, count...)."""
        return f"{self.root}.timers.{key}.{stat}"

    def gauge(self, key: str) -> str:
        return f"{self.root}.gauges.{key}"

    def task_count(self, queue, task, state, host=ANY) -> str:
        return self.counter_count(self.task_key(queue, task, state, host))

    def task_rate(self, queue, task, state, host=ANY) -> str:
        return self.counter_rate(self.task_key(queue, task, state, host))

    def task_timer(self, queue, task, timer: str, stat: str, host=ANY) -> str:
        return self.timer(self.task_key(queue, task, timer, host), stat)

    def broker_gauge(self, queue, gauge: str) -> str:
        return self.gauge(self.broker_key(queue, gauge))

    def worker_gauge(self, host, gauge: str) -> str:
        return self.gauge(self.worker_key(host, gauge))

    @property
    def percentile_stat(self) -> str:
        """Timer statistic of the configured percentile, e.g. ``upper_90``."""
        return f"upper_{self.timer_percentile}"

    # -- Node positions (for aliasByNode, groupByNode, applyByNode) ---------

    def node_of(self, path: str, marker: str) -> int:
        """Index of the node equal to `marker` in a path built with that marker."""
        nodes = path.split(".")
        if nodes.count(marker) != 1:
            raise NamingError(f"marker {marker!r} must appear once in {path!r}")
        return nodes.index(marker)

    @property
    def task_queue_node(self) -> int:
        return self.node_of(self.task_count(Pattern("QUEUE"), ANY, "failed"), "QUEUE")

    @property
    def task_task_node(self) -> int:
        return self.node_of(self.task_count(ANY, Pattern("TASK"), "failed"), "TASK")

    @property
    def task_host_node(self) -> int:
        """Node of the host in a count path; only the per-host mode has one."""
        if not self.per_host:
            raise NamingError("task paths have a host node only in the per-host mode")
        return self.node_of(self.task_count(ANY, ANY, "failed", Pattern("HOST")), "HOST")

    @property
    def task_state_node(self) -> int:
        """Node of the state in a count path (and in a rate path: same position)."""
        key = self.task_key(ANY, ANY, Pattern("STATE"))
        count = self.node_of(self.counter_count(key), "STATE")
        rate = self.node_of(self.counter_rate(key), "STATE")
        if count != rate:  # never true for StatsD's namespaces; guards a future one
            raise NamingError("count and rate paths put the state at different nodes")
        return count

    @property
    def timer_queue_node(self) -> int:
        return self.node_of(self.task_timer(Pattern("QUEUE"), ANY, "runtime", "mean"), "QUEUE")

    @property
    def timer_task_node(self) -> int:
        return self.node_of(self.task_timer(ANY, Pattern("TASK"), "runtime", "mean"), "TASK")

    @property
    def broker_queue_node(self) -> int:
        return self.node_of(self.broker_gauge(Pattern("QUEUE"), "length"), "QUEUE")

    @property
    def worker_host_node(self) -> int:
        return self.node_of(self.worker_gauge(Pattern("HOST"), "online"), "HOST")
