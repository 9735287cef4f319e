"""The "should be zero" panels, for any set of queues, and the alert rules on them.

Shared by the task, broker, per-queue and overview dashboards: which condition
a queue must keep at zero comes from its settings (`must_be_zero`), and each
panel names the queues it watches.

The alert rules are made here too, from the same query objects as the panels
they are attached to: one rule per condition on the queue's own dashboard
(`queue_should_be_zero`), the backlog growing and the queue length (attached by
the queue's definition to its panels), workers offline. Their settings are the
queue's `alert_*` options; their summary and description are rendered from the
templates `alert-summary.md.j2` and `alert-description.md.j2`.

Imports `alerts`, `metrics`, `panels`, `queries`, `settings`, `text`.
"""

from __future__ import annotations

from typing import Callable

from queuedash.authoring import text
from queuedash.authoring.alerts import NOT_ZERO, Alert, Condition, above, at_least, attach
from queuedash.durations import format_duration
from queuedash.naming.metrics import ANY, glob
from queuedash.authoring.panels import Presets
from queuedash.authoring.queries import BrokerQueries, TaskQueries, WorkerQueries, call, quote
from queuedash.settings import ZERO_CONDITIONS as ZERO_CONDITIONS_ORDER
from queuedash.settings import ZERO_TASK_STATES, AlertOptions, Queue, Settings

#: Renders a template with the queue's inventory entry: (template, **extra) -> text.
Render = Callable[..., str]

SUMMARY_TEMPLATE = "alert-summary.md.j2"
DESCRIPTION_TEMPLATE = "alert-description.md.j2"

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
    """Workers offline (last value), with its alert rule."""
    workers = WorkerQueries(settings.naming)
    panel = presets.should_be_zero(
        "Workers offline", [call("alias", workers.offline_total(), quote("offline"))],
        reduce="lastNotNull",
        description="Workers whose heartbeats stopped without a goodbye, until the agent's --worker-expiry "
                    "(then their gauges stop). A worker that said goodbye (a stop, a scale-down) is gone, "
                    "not offline.",
    )
    return attach(panel, *workers_offline_alert(settings))


# -- alert rules ---------------------------------------------------------------------------


def rule_group(settings: Settings, options: AlertOptions, team: str | None) -> str:
    """The rule group a rule goes in: the folder's (named after it) or the queue's team's."""
    if options.group == "team" and team:
        return team
    return settings.grafana.folder.title


def _labels(options: AlertOptions, severity: str, queue: Queue | None = None) -> tuple[tuple[str, str], ...]:
    labels = {"severity": severity}
    if queue is not None:
        labels["queue"] = queue.name
        if queue.team:
            labels["team"] = queue.team
    labels.update(dict(options.labels))
    return tuple(sorted(labels.items()))


def _rule(settings: Settings, render: Render, *, kind: str, name: str, title: str, condition: Condition,
          reducer: str, options: AlertOptions, queue: Queue | None, pending: int | None = None,
          severity: str | None = None, target: str | None = None) -> Alert:
    severity = severity or options.severity
    pending_seconds = options.pending if pending is None else pending
    about = {
        "kind": kind, "title": title, "condition": condition.describe(), "severity": severity,
        "window": format_duration(options.window), "for": format_duration(pending_seconds),
    }
    return Alert(
        name=name,
        title=title,
        condition=condition,
        reducer=reducer,
        options=options,
        pending=pending,
        group=rule_group(settings, options, queue.team if queue else None),
        labels=_labels(options, severity, queue),
        summary=render(SUMMARY_TEMPLATE, rule=about),
        description=render(DESCRIPTION_TEMPLATE, rule=about),
        runbook_url=(queue.runbook_url or "") if queue else "",
        target=target,
    )


def queue_should_be_zero(presets: Presets, settings: Settings, queue: Queue, render: Render) -> list:
    """The queue's should-be-zero panels (per its `must_be_zero`), each with its alert rule.

    The panels are those `for_queues` makes for this one queue; each rule runs its
    panel's query, reduced as the panel reduces it, and fires when it is not zero.
    The no-consumer query has no series for a queue whose consumer count is unknown
    (Redis): no data, which does not page (`alert_no_data` OK), never zero consumers.
    """
    panels = []
    for condition in (c for c in ZERO_CONDITIONS_ORDER if c in queue.must_be_zero):
        [panel] = for_queues(presets, settings, [queue], [condition])
        if queue.alert.enabled:
            reducer = "last" if condition == "no_consumers" else "sum"
            panel = attach(panel, _rule(
                settings, render, kind=condition, name=f"queue-{queue.name}-{condition}",
                title=f"{TITLES[condition]} on {queue.name}", condition=NOT_ZERO, reducer=reducer,
                options=queue.alert, queue=queue,
            ))
        panels.append(panel)
    return panels


def backlog_growing_alert(settings: Settings, queue: Queue, render: Render) -> tuple[Alert, ...]:
    """For the queue's received-minus-processed panel: fires when the backlog grew over
    every `alert_window` for `backlog_growing_for` (the sum over the window stays above 0)."""
    if not queue.alert.enabled:
        return ()
    return (_rule(settings, render, kind="backlog_growing", name=f"queue-{queue.name}-backlog-growing",
                  title=f"Backlog growing on {queue.name}", condition=above(0), reducer="sum",
                  options=queue.alert, queue=queue, pending=queue.alert.backlog_growing_for),)


def queue_length_alert(settings: Settings, queue: Queue, render: Render) -> tuple[Alert, ...]:
    """For the queue's "Queue length now" stat: fires from `queue_length_warning`
    messages, where the panel turns orange (a warning, not a page)."""
    if not queue.alert.enabled:
        return ()
    return (_rule(settings, render, kind="queue_length", name=f"queue-{queue.name}-queue-length",
                  title=f"Queue length on {queue.name}", condition=at_least(queue.queue_length_warning),
                  reducer="last", options=queue.alert, queue=queue, severity="warning"),)


def workers_offline_alert(settings: Settings) -> tuple[Alert, ...]:
    """For the "Workers offline" stat: fires while any worker is offline ([defaults] options)."""
    options = settings.alert_defaults
    if not options.enabled:
        return ()

    def render(template: str, **extra) -> str:
        return text.render(template, settings.templates, queue=None, paths=None, **extra)

    return (_rule(settings, render, kind="workers_offline", name="workers-offline", title="Workers offline",
                  condition=NOT_ZERO, reducer="last", options=options, queue=None),)
