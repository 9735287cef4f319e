"""Discovery: which queues Graphite has metrics for, against the inventory.

Asks graphite-web's ``/metrics/find`` for the queue node of the task counters
and of the broker gauges (the naming scheme says where that node is), and
compares with the inventory's escaped names. New queues can be appended to
the settings file's `queues` list with tomlkit, which keeps the file's
comments, order and layout.

Imports `errors`, `graphite`, `metrics`, `settings`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import tomlkit
from tomlkit.exceptions import TOMLKitError

from queuedash.errors import SettingsError
from queuedash.files import write_text
from queuedash.graphite.client import GraphiteClient, GraphiteError, QueryError
from queuedash.naming.metrics import ANY, Naming
from queuedash.settings import Settings


@dataclass(frozen=True)
class Discovery:
    found: tuple[str, ...]     # queue nodes Graphite has metrics for
    new: tuple[str, ...]       # in Graphite, not in the inventory
    missing: tuple[str, ...]   # inventory queue names with no metrics in Graphite
    known: tuple[str, ...]     # inventory queue names with metrics


def queue_find_queries(naming: Naming) -> list[str]:
    """The metrics/find queries listing queue nodes: task counters and broker gauges."""
    count = naming.task_count(ANY, ANY, "received").split(".")[: naming.task_queue_node + 1]
    gauge = naming.broker_gauge(ANY, "length").split(".")[: naming.broker_queue_node + 1]
    return [".".join(count), ".".join(gauge)]


def find(client: GraphiteClient, query: str) -> list[str]:
    """Node names matching `query` (graphite-web's metrics/find); a refusal names the query."""
    try:
        return client.find(query)
    except QueryError as exc:
        raise GraphiteError(f"{client.url}: Graphite refused metrics/find {query!r}: {exc}") from None


def discover(settings: Settings, graphite_url: str, timeout: float = 10.0) -> Discovery:
    client = GraphiteClient(graphite_url, timeout)
    found = set()
    for query in queue_find_queries(settings.naming):
        found.update(find(client, query))
    inventory = {q.node: q.name for q in settings.queues}
    return Discovery(
        found=tuple(sorted(found)),
        new=tuple(sorted(found - set(inventory))),
        missing=tuple(sorted(name for node, name in inventory.items() if node not in found)),
        known=tuple(sorted(name for node, name in inventory.items() if node in found)),
    )


def add_queues(path: Path, names) -> None:
    """Append `names` to the `queues` list of the settings file at `path`,
    keeping its comments and order; the file is replaced in one step."""
    names = list(names)
    try:
        original = path.read_text(encoding="utf-8")
        document = tomlkit.parse(original)
    except OSError as exc:
        raise SettingsError(f"{path}: cannot read: {exc.strerror}") from None
    except TOMLKitError as exc:
        raise SettingsError(f"{path}: not valid TOML: {exc}") from None
    if "queues" not in document:
        # A top-level key must come before the first table, so it goes first.
        document = tomlkit.parse("queues = []\n" + original)
    queues = document["queues"]
    if not isinstance(queues, list):
        raise SettingsError(f"{path}: queues: expected a list")
    for name in names:
        if name not in queues:
            queues.append(name)
    write_text(path, tomlkit.dumps(document))
