"""Graphite query builders: the expressions panels draw.

Every function returns a Graphite target string built from the naming scheme
(`metrics.Naming`); nothing here knows about panels or Grafana JSON.

In the naming's per-host mode a task path has one series per host where it had
one: every query here sums (or, for timer statistics, combines) across hosts, so
a panel shows the same figures in both modes.

Imports `metrics`.
"""

from __future__ import annotations

from dataclasses import dataclass

from queuedash.naming.metrics import ANY, PROCESSED_STATES, Naming, Pattern, alternatives


@dataclass(frozen=True)
class Query:
    """A Graphite target with options: `hidden` helpers feed ``#X`` references."""

    target: str
    hidden: bool = False
    ref: str | None = None


def quote(text: str) -> str:
    """A Graphite string literal."""
    if "'" in text:
        return '"' + text.replace('"', "") + '"'
    return "'" + text + "'"


def call(function: str, *args) -> str:
    """``function(arg, ...)``; str args are expressions, numbers are literals."""
    return f"{function}({', '.join(_arg(a) for a in args)})"


def _arg(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return str(value)


def states(names) -> Pattern:
    """A pattern over several task states, in their order, e.g. ``{failed,succeeded}``."""
    return alternatives(names)


#: How one timer statistic of several hosts combines into one (per-host mode): the
#: largest maximum or percentile, the smallest minimum, the hosts' counts and sums
#: added, their means averaged (each host's mean weighs the same).
_TIMER_ACROSS_HOSTS = (("upper", "max"), ("lower", "min"), ("count", "sum"), ("sum", "sum"), ("mean", "average"),
                       ("median", "average"), ("std", "average"))


def across_hosts(stat: str) -> str:
    """The aggregation combining a timer statistic (``upper_90``, ``mean``...) over hosts."""
    for start, how in _TIMER_ACROSS_HOSTS:
        if stat.startswith(start):
            return how
    return "average"


def zero_filled(expression: str) -> str:
    """Nulls (no data in a slot) become 0, so sums and differences keep their sign."""
    return call("transformNull", expression, 0)


# -- task counters ---------------------------------------------------------------


class TaskQueries:
    """Queries over task counters and timers, for a queue and task selection."""

    def __init__(self, naming: Naming, queue=Pattern("$queue"), task=Pattern("$task")):
        self.naming = naming
        self.queue = queue
        self.task = task

    def count(self, state, queue=None, task=None) -> str:
        return self.naming.task_count(queue or self.queue, task or self.task, state)

    def rate(self, state, queue=None, task=None) -> str:
        return self.naming.task_rate(queue or self.queue, task or self.task, state)

    def total_count(self, state_names, queue=None) -> str:
        """Count per flush of these states, summed over the selected tasks."""
        return call("sumSeries", self.count(states(state_names), queue=queue))

    def received(self, queue=None) -> str:
        return zero_filled(self.total_count(["received"], queue))

    def processed(self, queue=None) -> str:
        return zero_filled(self.total_count(PROCESSED_STATES, queue))

    def backlog(self, queue=None) -> str:
        """Received minus processed, per flush: a slowdown shows as a growing value.

        Both sides are zero-filled: Graphite's diffSeries drops nulls first, so a
        null first series would make the result the second one with its sign flipped.
        """
        return call("diffSeries", self.received(queue), self.processed(queue))

    def backlog_with_references(self, queue=None, label="received - processed") -> list[Query]:
        """The backlog written with Grafana references: hidden A (received) and
        B (processed), and C = diffSeries(#A, #B), which gets ``targetFull``."""
        return [
            Query(self.received(queue), hidden=True),
            Query(self.processed(queue), hidden=True),
            Query(call("alias", call("diffSeries", "#A", "#B"), quote(label))),
        ]

    def rates_by_state(self, state_names) -> str:
        """One series per state: the rate summed over the selected queues and tasks."""
        node = self.naming.task_state_node
        return call("aliasByNode", call("groupByNode", self.rate(states(state_names)), node, quote("sum")), 0)

    def counts_by_queue(self, state, queues: Pattern) -> str:
        """One series per queue, named after it: count per flush of `state`, nulls as 0."""
        node = self.naming.task_queue_node
        grouped = call("groupByNode", self.count(state, queue=queues, task=ANY), node, quote("sum"))
        # transformNull renames each series "transformNull(<queue>,0)"; aliasByNode
        # reads the queue back out of that name.
        return call("aliasByNode", zero_filled(grouped), 0)

    def per_task(self, state) -> str:
        """One series per queue.task, for tables of the worst tasks."""
        n = self.naming
        return self._by_task(self.count(state), n.task_queue_node, n.task_task_node, "sum")

    def _by_task(self, path: str, queue_node: int, task_node: int, how: str) -> str:
        """One series per queue.task, named ``<queue>.<task>``. In the per-host mode the
        hosts' series of a task are combined with `how` first (groupByNodes names its
        series by the same nodes aliasByNode keeps)."""
        if self.naming.per_host:
            return call("groupByNodes", path, quote(how), queue_node, task_node)
        return call("aliasByNode", path, queue_node, task_node)

    def failure_ratio(self) -> str:
        """Failed as a percentage of failed + succeeded: 0 % where tasks ended and none failed.

        Written as (ended - succeeded) / ended rather than failed / ended: a queue that never
        failed has no failed counter at all, and asPercent of nothing is nothing ("No data"),
        while ended minus a missing succeeded is ended itself (every ended task failed).
        """
        ended = self.total_count(["failed", "succeeded"])
        return call("asPercent", call("diffSeries", ended, self.total_count(["succeeded"])), ended)

    def timer(self, timer: str, stat: str) -> str:
        return self.naming.task_timer(self.queue, self.task, timer, stat)

    def timer_per_task(self, timer: str, stat: str) -> str:
        n = self.naming
        return self._by_task(self.timer(timer, stat), n.timer_queue_node, n.timer_task_node, across_hosts(stat))


# -- broker gauges ----------------------------------------------------------------


class BrokerQueries:
    def __init__(self, naming: Naming, queue=Pattern("$queue")):
        self.naming = naming
        self.queue = queue

    def gauge_by_queue(self, gauge: str, queue=None) -> str:
        path = self.naming.broker_gauge(queue or self.queue, gauge)
        return call("aliasByNode", path, self.naming.broker_queue_node)

    def waiting_without_consumers(self, queues: Pattern) -> str:
        """Per queue whose consumer count is known: messages waiting while no consumer is
        attached, else 0. A queue without a consumers gauge (a count nobody could give) has no
        series at all: unknown, never "no consumer".

        applyByNode walks the queues that have a ``consumers`` gauge and evaluates, for each,
        ``removeAboveValue(consumers, 0)`` (only the slots with no consumer), scaled by 0 and
        offset by 1 (those slots become 1, the others stay null, then 0), times the length.

        The length itself stays null where it has no point, and the indicator is zero-filled
        only where the length has a point (transformNull's reference series): a stat takes the
        last non-null value, and zeros in the slots not flushed yet would hide the queue waiting
        right now.
        """
        node = self.naming.broker_queue_node
        consumers = self.naming.broker_gauge(queues, "consumers")
        # applyByNode substitutes "%" with each queue's path prefix.
        no_consumer = call("offset", call("scale", call("removeAboveValue", "%.consumers", 0), 0), 1)
        template = call("multiplySeries", "%.length", call("transformNull", no_consumer, 0, "%.length"))
        return call(
            "aliasByNode",
            call("applyByNode", consumers, node, quote(template), quote("%.no_consumers")),
            node,
        )


# -- worker gauges ----------------------------------------------------------------


class WorkerQueries:
    def __init__(self, naming: Naming, host=Pattern("$host")):
        self.naming = naming
        self.host = host

    def gauge_by_host(self, gauge: str, host=None) -> str:
        path = self.naming.worker_gauge(host or self.host, gauge)
        return call("aliasByNode", path, self.naming.worker_host_node)

    def online_total(self) -> str:
        return call("sumSeries", self.naming.worker_gauge(ANY, "online"))

    def offline_total(self) -> str:
        """Workers whose last online gauge is 0: sum over hosts of (1 - online)."""
        online = self.naming.worker_gauge(ANY, "online")
        return call("sumSeries", call("offset", call("scale", online, -1), 1))

    def processed_per_second(self) -> str:
        # The heartbeat's `processed` is cumulative since the worker started;
        # nonNegativeDerivative-style perSecond ignores the reset on restart.
        path = self.naming.worker_gauge(self.host, "processed")
        return call("aliasByNode", call("perSecond", path), self.naming.worker_host_node)
