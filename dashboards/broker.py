"""Broker: queue length, consumers and unacked messages per queue, the flow of
tasks in and out, and the received-minus-processed backlog.
"""

from queuedash.authoring import health, variables
from queuedash.authoring.dashboard import dashboard, description
from queuedash.authoring.layout import Row
from queuedash.naming.metrics import ANY, PROCESSED_STATES, Pattern
from queuedash.authoring.model import threshold_steps
from queuedash.authoring.panels import Presets
from queuedash.authoring.queries import BrokerQueries, TaskQueries, call, quote, states


def build(settings):
    presets = Presets(settings)
    tasks = TaskQueries(settings.naming, queue=Pattern("$queue"), task=ANY)
    broker = BrokerQueries(settings.naming)
    warning = settings.dashboards.queue_length_warning

    rows = [
        Row("Should be zero", health.for_queues(presets, settings, settings.queues, ["no_consumers", "backlog"])
            + health.extra(presets, settings, "broker")),
        Row("Queues", [
            presets.timeseries("Queue length", [broker.gauge_by_queue("length")],
                               description="Messages waiting in the broker, per queue."),
            presets.stat("Queue length now", [broker.gauge_by_queue("length")], size=(12, 8),
                         thresholds=threshold_steps(("green", None), ("orange", warning)),
                         description=f"Last value per queue; orange from {warning} messages."),
            presets.timeseries("Consumers", [broker.gauge_by_queue("consumers")],
                               description="Consumers attached to each queue (RabbitMQ)."),
            presets.timeseries("Unacked", [broker.gauge_by_queue("unacked")],
                               description="Messages delivered to a worker and not yet acknowledged."),
        ]),
        Row("Flow", [
            presets.rate("Sent against processed", [
                call("alias", call("sumSeries", tasks.rate("sent")), quote("sent")),
                call("alias", call("sumSeries", tasks.rate(states(PROCESSED_STATES))),
                     quote("processed")),
            ], size=(24, 8), description="Tasks sent by producers against tasks ended by workers, per second."),
            presets.count("Backlog: received - processed ($queue)", tasks.backlog_with_references(Pattern("$queue")),
                          bars=False, minimum=None, repeat="queue", size=(6, 8),
                          description="Per flush interval: positive while workers fall behind."),
        ]),
    ]
    return dashboard(
        settings,
        name="broker",
        title="Celery broker",
        rows=rows,
        variables=[variables.broker_queue(settings)],
        description=description(settings, "Queue length, consumers, unacked messages and the received-minus-processed backlog.",
                                "dashboards/broker.py"),
    )
