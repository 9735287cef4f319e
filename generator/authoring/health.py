"""The "should be zero" panels, for any set of queues.

Shared by the task, broker, per-queue and overview dashboards: which condition
a queue must keep at zero comes from its settings (`must_be_zero`), and each
panel names the queues it watches.

Imports `metrics`, `panels`, `queries`, `settings`.
"""

from __future__ import annotations

from queuedash.naming.metrics import ANY, glob
from queuedash.authoring.panels import Presets
from queuedash.authoring.queries import BrokerQueries, TaskQueries, WorkerQueries, call, quote
from queuedash.settings import ZERO_TASK_STATES, Queue, Settings

TITLES = {
    "failed": "Failed tasks",
    "rejected": "Rejected tasks",
    "retried": "Retried tasks",
    "revoked": "Revoked tasks",
    "unknown": "Unknown tasks (NotRegistered)",
    "no_consumers": "Waiting with no consumer",
    "backlog": "Backlog",
}


def _names(queues) -> str:
    return ", ".join(q.name for q in queues)


def task_state(presets: Presets, settings: Settings, state: str, queues, description=None):
    """Tasks in `state` over the time range, one value per queue."""
    tasks = TaskQueries(settings.naming, task=ANY)
    return presets.should_be_zero(
        TITLES[state],
        [tasks.counts_by_queue(state, glob(q.name for q in queues))],
        description=description or f"Tasks {state} in the time range, per queue that must have none: {_names(queues)}.",
    )


def no_consumers(presets: Presets, settings: Settings, queues, description=None):
    """Messages waiting in a queue that no worker consumes (last value); a queue whose consumer
    count is unknown is not listed, and "unknown" shows when no queue's count is known."""
    broker = BrokerQueries(settings.naming)
    return presets.should_be_zero(
        TITLES["no_consumers"],
        [broker.waiting_without_consumers(glob(q.name for q in queues))],
        reduce="lastNotNull",
        unknown_without_data=True,
        description=description or (
            f"Messages waiting in a queue that no worker consumes, per queue: {_names(queues)}. A queue whose "
            "consumer count is unknown (no consumers gauge: on Redis, no worker could be asked) is not shown; "
            "\"unknown\" when no count is known."),
    )


def backlog(presets: Presets, settings: Settings, queue: Queue, title=None, description=None):
    """Received minus processed on one queue over the time range."""
    tasks = TaskQueries(settings.naming, task=ANY)
    return presets.should_be_zero(
        title or f"Backlog: {queue.display_title}",
        tasks.backlog_with_references(queue.name),
        description=description or f"Tasks received minus tasks processed on {queue.name} over the time range: "
                                   "0 when every received task has ended.",
    )


def for_queues(presets: Presets, settings: Settings, queues, conditions) -> list:
    """One panel per condition in `conditions` that any of `queues` declares."""
    panels = []
    for condition in conditions:
        watching = [q for q in queues if condition in q.must_be_zero]
        if not watching:
            continue
        if condition in ZERO_TASK_STATES:
            panels.append(task_state(presets, settings, condition, watching))
        elif condition == "no_consumers":
            panels.append(no_consumers(presets, settings, watching))
        elif condition == "backlog":
            panels.extend(backlog(presets, settings, q) for q in watching)
    return panels


def extra(presets: Presets, settings: Settings, dashboard: str) -> list:
    """The settings' own [[zero_metrics]] meant for `dashboard`."""
    return [
        presets.should_be_zero(m.title, [m.target], reduce=m.reduce)
        for m in settings.zero_metrics if m.dashboard == dashboard
    ]


def workers_offline(presets: Presets, settings: Settings):
    workers = WorkerQueries(settings.naming)
    return presets.should_be_zero(
        "Workers offline", [call("alias", workers.offline_total(), quote("offline"))],
        reduce="lastNotNull",
        description="Workers whose heartbeats stopped without a goodbye, until the agent's --worker-expiry "
                    "(then their gauges stop). A worker that said goodbye (a stop, a scale-down) is gone, "
                    "not offline.",
    )
