"""One dashboard per queue of the inventory: its tasks, backlog, should-be-zero
panels and broker figures, with the queue's own text, links and thresholds.

Text (description, runbook panel, panel descriptions, link URLs) is rendered
from Jinja2 templates with the queue's inventory entry as context; a queue can
point `runbook_template` at a template of its own.

The queue's alert rules are attached here to the panels they watch: each
should-be-zero condition, the backlog growing, the queue length (see
queuedash.authoring.health).
"""

from dataclasses import replace

from queuedash.authoring import health, text
from queuedash.authoring.alerts import attach
from queuedash.authoring.dashboard import dashboard
from queuedash.errors import DefinitionError, SettingsError
from queuedash.authoring.layout import Row
from queuedash.naming.metrics import ANY, TASK_STATES, Pattern
from queuedash.authoring.model import link, threshold_steps
from queuedash.authoring.panels import Presets
from queuedash.authoring.queries import BrokerQueries, TaskQueries, call, quote
from queuedash.settings import toml_key
from queuedash.authoring.variables import task_of_queue


def build(settings):
    return [queue_dashboard(settings, queue) for queue in settings.queues]


def context(settings, queue) -> dict:
    """What templates see: the queue's inventory entry and its metric paths."""
    naming = settings.naming
    return {
        "queue": {
            "name": queue.name,
            "node": queue.node,
            "title": queue.display_title,
            "team": queue.team,
            "tags": list(queue.tags),
            "runbook_url": queue.runbook_url,
            "must_be_zero": list(queue.must_be_zero),
            "expected_workers": queue.expected_workers,
            "queue_length_warning": queue.queue_length_warning,
            "failure_ratio_warning": queue.failure_ratio_warning,
            "failure_ratio_alert": queue.failure_ratio_alert,
        },
        "paths": {
            "received": naming.task_count(queue.name, ANY, "received"),
            "length": naming.broker_gauge(queue.name, "length"),
        },
    }


class QueueText:
    """Renders the queue's templates; an error names the template, line and queue.

    URLs from the settings (`runbook_url`, link `url`s) are templates too; the
    runbook URL is rendered first, so templates see it rendered."""

    def __init__(self, settings, queue):
        self.settings = settings
        self.queue = queue
        #: The queue's table in the settings file, for messages: queue."reports.daily".
        self.key = f"queue.{toml_key(queue.name)}"
        self.context = context(settings, queue)
        if queue.runbook_url:
            self.context["queue"]["runbook_url"] = self.url(queue.runbook_url, f"{self.key}.runbook_url")

    def render(self, template, **extra):
        try:
            return text.render(template, self.settings.templates, **self.context, **extra)
        except DefinitionError as exc:
            raise DefinitionError(f"{exc} (queue {self.queue.name!r})") from None

    def url(self, source, name):
        """A URL from the settings, rendered; its mistake is the settings file's."""
        try:
            return text.render_string(source, name, **self.context)
        except DefinitionError as exc:
            raise SettingsError(f"{self.settings.where}: {exc}") from None

    def panel(self, name):
        return self.render("queue-panel.md.j2", panel=name)

    def for_rules(self):
        """The queue as its alert rules see it: the runbook URL rendered, as the dashboard links it."""
        return replace(self.queue, runbook_url=self.context["queue"]["runbook_url"])

    def links(self):
        links = []
        if self.queue.runbook_url:
            links.append(link("Runbook", self.context["queue"]["runbook_url"]))
        for index, item in enumerate(self.queue.links):
            links.append(link(item.title, self.url(item.url, f"{self.key}.links[{index}].url")))
        return links


def queue_dashboard(settings, queue):
    presets = Presets(settings)
    words = QueueText(settings, queue)
    all_tasks = TaskQueries(settings.naming, queue=queue.name, task=ANY)
    tasks = TaskQueries(settings.naming, queue=queue.name, task=Pattern("$task"))
    broker = BrokerQueries(settings.naming, queue=queue.name)
    percentile = settings.naming.timer_percentile
    expected = queue.expected_workers
    ruled = words.for_rules()

    rows = [
        Row("Should be zero", health.queue_should_be_zero(presets, settings, ruled, words.render)),
        Row("Backlog and broker", [
            attach(presets.count("Backlog: received - processed", all_tasks.backlog_with_references(queue.name),
                                 bars=False, minimum=None, size=(12, 8), description=words.panel("backlog")),
                   *health.backlog_growing_alert(settings, ruled, words.render)),
            attach(presets.stat("Queue length now", [broker.gauge_by_queue("length")], size=(6, 8),
                                thresholds=threshold_steps(("green", None), ("orange", queue.queue_length_warning)),
                                graph=True, description=words.panel("queue_length")),
                   *health.queue_length_alert(settings, ruled, words.render)),
            presets.gauge_count("Workers consuming", [broker.gauge_by_queue("consumers")], size=(6, 8),
                                thresholds=threshold_steps(("red", None), ("green", expected)) if expected else None,
                                description=words.panel("workers")),
            presets.timeseries("Queue length", [broker.gauge_by_queue("length")], size=(8, 8)),
            presets.timeseries("Consumers", [broker.gauge_by_queue("consumers")], size=(8, 8)),
            presets.timeseries("Unacked", [broker.gauge_by_queue("unacked")], size=(8, 8)),
        ]),
        Row("Tasks", [
            presets.rate("Task states per second", [tasks.rates_by_state(TASK_STATES)]),
            presets.percent("Failure ratio", [call("alias", tasks.failure_ratio(), quote("failed %"))],
                            warn=queue.failure_ratio_warning, alert=queue.failure_ratio_alert,
                            description=words.panel("failure_ratio")),
            presets.duration("Runtime", [
                call("alias", call("averageSeries", tasks.timer("runtime", "mean")), quote("mean")),
                call("alias", call("maxSeries", tasks.timer("runtime", settings.naming.percentile_stat)),
                     quote(f"p{percentile}")),
                call("alias", call("maxSeries", tasks.timer("runtime", "upper")), quote("max")),
            ]),
            presets.table("Most failing tasks", [call("highestAverage", tasks.per_task("failed"), 10)],
                          reducers=("sum", "max")),
        ]),
        Row("About this queue", [
            presets.markdown("Runbook and ownership", words.render(queue.runbook_template)),
        ]),
    ]
    tags = list(queue.tags) + ([f"team:{queue.team}"] if queue.team else []) + ["queue"]
    return dashboard(
        settings,
        name=f"queue-{queue.name}",
        title=f"Celery queue: {queue.display_title}",
        rows=rows,
        variables=[task_of_queue(settings, queue.name)],
        description=words.render("queue-description.md.j2"),
        tags=tags,
        links=words.links(),
    )
