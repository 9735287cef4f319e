"""Overview: every queue on one page, a row repeated per queue ($queue).

The same figures as the per-queue dashboards, condensed: backlog, failures,
queue length, consumers and task rates for each selected queue.
"""

from queuedash.authoring import health, variables
from queuedash.authoring.dashboard import dashboard, description
from queuedash.authoring.layout import Row
from queuedash.naming.metrics import ANY, TASK_STATES, Pattern
from queuedash.authoring.model import threshold_steps
from queuedash.authoring.panels import Presets
from queuedash.authoring.queries import BrokerQueries, TaskQueries, call, quote
from queuedash.settings import ZERO_CONDITIONS


def build(settings):
    presets = Presets(settings)
    queue = Pattern("$queue")
    tasks = TaskQueries(settings.naming, queue=queue, task=ANY)
    broker = BrokerQueries(settings.naming, queue=queue)
    warning = settings.dashboards.queue_length_warning

    rows = [
        Row("Should be zero", health.for_queues(presets, settings, settings.queues, ZERO_CONDITIONS)),
        Row("Queue $queue", [
            presets.should_be_zero("Backlog", tasks.backlog_with_references(queue), size=(4, 6),
                                   description="Received minus processed over the time range."),
            presets.should_be_zero("Failed", [call("alias", tasks.total_count(["failed"]), quote("failed"))],
                                   size=(4, 6), description="Tasks failed over the time range."),
            presets.stat("Queue length", [broker.gauge_by_queue("length")], size=(4, 6),
                         thresholds=threshold_steps(("green", None), ("orange", warning))),
            presets.gauge_count("Consumers", [broker.gauge_by_queue("consumers")], size=(4, 6)),
            presets.rate("Task states per second", [tasks.rates_by_state(TASK_STATES)], size=(8, 6),
                         legend_calcs=()),
        ], repeat="queue"),
    ]
    return dashboard(
        settings,
        name="overview",
        title="Celery queues overview",
        rows=rows,
        variables=[variables.queue(settings)],
        description=description(settings, "Every queue on one page: a row per queue, repeated over $queue.",
                                "dashboards/overview.py"),
    )
