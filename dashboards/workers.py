"""Workers: how many are online against how many are expected, what they do,
and how regularly their heartbeats arrive.
"""

from queuedash.authoring import health, variables
from queuedash.authoring.dashboard import dashboard, description
from queuedash.authoring.layout import Row
from queuedash.authoring.model import threshold_steps
from queuedash.authoring.panels import Presets
from queuedash.authoring.queries import WorkerQueries, call, quote


def build(settings):
    presets = Presets(settings)
    workers = WorkerQueries(settings.naming)
    expected = settings.dashboards.expected_workers
    # A worker counts as gone after two missed heartbeats (Celery's own rule).
    heartbeat_limit = 2 * settings.dashboards.heartbeat_interval

    zero_panels = [health.workers_offline(presets, settings)] + health.extra(presets, settings, "workers")

    rows = [
        Row("Should be zero", zero_panels),
        Row("Workers", [
            presets.stat("Workers online", [call("alias", workers.online_total(), quote("online"))],
                         thresholds=threshold_steps(("red", None), ("green", expected)) if expected else None,
                         no_value="0",
                         description=f"Workers sending heartbeats; red below the expected {expected}."),
            presets.timeseries("Workers online against expected", [
                call("alias", workers.online_total(), quote("online")),
                call("alias", call("constantLine", expected), quote("expected")),
            ], size=(20, 8)),
            presets.timeseries("Active tasks", [workers.gauge_by_host("active")],
                               description="Tasks executing right now, per worker."),
            presets.rate("Processed per second", [workers.processed_per_second()],
                         description="Tasks each worker finished, per second."),
            presets.timeseries("Heartbeat gaps", [workers.gauge_by_host("heartbeat_age")], unit="s",
                               thresholds=threshold_steps(("green", None), ("red", heartbeat_limit)),
                               size=(24, 8),
                               description=f"Seconds since each worker's last heartbeat; past {heartbeat_limit:g} s "
                                           "it counts as offline."),
        ]),
    ]
    return dashboard(
        settings,
        name="workers",
        title="Celery workers",
        rows=rows,
        variables=[variables.host(settings)],
        description=description(settings, "Workers online, active tasks, throughput and heartbeat gaps.",
                                "dashboards/workers.py", per_queue=False),
    )
