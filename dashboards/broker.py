"""Broker: queue length, consumers and unacked messages per queue, the flow of
tasks in and out, and the received-minus-processed backlog.
"""

from generator import text, variables
from generator.dashboard import dashboard
from generator.layout import Row
from generator.metrics import ANY, PROCESSED_STATES, Pattern, glob
from generator.model import threshold_steps
from generator.panels import Presets, Query
from generator.queries import BrokerQueries, TaskQueries, call, quote


def backlog_queries(tasks: TaskQueries, queue) -> list[Query]:
    """Received minus processed for one queue, written with Grafana references:
    hidden A (received) and B (processed), and C = diffSeries(#A, #B)."""
    return [
        Query(tasks.received(queue), hidden=True),
        Query(tasks.processed(queue), hidden=True),
        Query(call("alias", call("diffSeries", "#A", "#B"), quote("received - processed"))),
    ]


def should_be_zero(settings, presets, tasks, broker):
    panels = []
    queues = settings.queues_where_zero("no_consumers")
    if queues:
        panels.append(presets.should_be_zero(
            "Waiting with no consumer",
            [broker.waiting_without_consumers(glob(q.name for q in queues))],
            reduce="lastNotNull",
            description="Messages waiting in a queue that no worker consumes, per queue: "
                        f"{', '.join(q.name for q in queues)}.",
        ))
    for queue in settings.queues_where_zero("backlog"):
        panels.append(presets.should_be_zero(
            f"Backlog: {queue.display_title}",
            backlog_queries(tasks, queue.name),
            description=f"Tasks received minus tasks processed on {queue.name} over the time range: "
                        "0 when every received task has ended.",
        ))
    for metric in settings.zero_metrics:
        if metric.dashboard == "broker":
            panels.append(presets.should_be_zero(metric.title, [metric.target], reduce=metric.reduce))
    return panels


def build(settings):
    presets = Presets(settings)
    tasks = TaskQueries(settings.naming, queue=Pattern("$queue"), task=ANY)
    broker = BrokerQueries(settings.naming)
    warning = settings.dashboards.queue_length_warning

    rows = [
        Row("Should be zero", should_be_zero(settings, presets, tasks, broker)),
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
                call("alias", call("sumSeries", tasks.rate(Pattern("{" + ",".join(PROCESSED_STATES) + "}"))),
                     quote("processed")),
            ], size=(24, 8), description="Tasks sent by producers against tasks ended by workers, per second."),
            presets.count("Backlog: received - processed ($queue)", backlog_queries(tasks, Pattern("$queue")),
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
        description=text.render(
            "dashboard-description.md.j2",
            summary="Queue length, consumers, unacked messages and the received-minus-processed backlog.",
            source="dashboards/broker.py",
            naming=settings.naming,
            queues=[q.name for q in settings.queues],
        ),
    )
