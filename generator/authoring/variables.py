"""Template variables: Graphite query variables over the naming scheme.

Each variable lists the nodes Graphite has at one position of a metric path
(queues, tasks of the selected queues, worker hosts). Multi-value with All;
All is the glob ``*`` so a query reads ``...tasks.*.*...`` rather than a long
list.

Imports `metrics`, `model`, `settings`.
"""

from __future__ import annotations

from queuedash.naming.metrics import ANY, Pattern
from queuedash.authoring.model import QueryVariable
from queuedash.settings import Settings


def _variable(settings: Settings, name: str, label: str, query: str) -> QueryVariable:
    return QueryVariable(
        name=name,
        label=label,
        query=query,
        dataSource=settings.datasource.ref(),
        includeAll=True,
        multi=True,
        allValue="*",
        refresh=1,
        sort=1,
    )


def _up_to(path: str, node: int) -> str:
    """The path cut after `node`: the metrics/find query listing that node."""
    return ".".join(path.split(".")[: node + 1])


def queue(settings: Settings) -> QueryVariable:
    n = settings.naming
    return _variable(settings, "queue", "Queue", _up_to(n.task_count(ANY, ANY, "received"), n.task_queue_node))


def task(settings: Settings) -> QueryVariable:
    n = settings.naming
    path = n.task_count(Pattern("$queue"), ANY, "received")
    return _variable(settings, "task", "Task", _up_to(path, n.task_task_node))


def broker_queue(settings: Settings) -> QueryVariable:
    n = settings.naming
    return _variable(settings, "queue", "Queue", _up_to(n.broker_gauge(ANY, "length"), n.broker_queue_node))


def host(settings: Settings) -> QueryVariable:
    n = settings.naming
    return _variable(settings, "host", "Worker", _up_to(n.worker_gauge(ANY, "online"), n.worker_host_node))


def task_of_queue(settings: Settings, queue_name: str) -> QueryVariable:
    """The tasks seen on one concrete queue."""
    n = settings.naming
    path = n.task_count(queue_name, ANY, "received")
    return _variable(settings, "task", "Task", _up_to(path, n.task_task_node))
