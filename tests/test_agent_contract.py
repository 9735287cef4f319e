"""The contract between the agent and the dashboards, both ways:

* every metric path a built dashboard queries (panel targets, ``#A``
  references expanded, applyByNode templates included, and the template
  variables' metrics/find queries) is one the agent emits;
* every key family the agent emits is queried by some panel.

The agent's key families (queuedash.agent.keys) are turned into Graphite paths
by `queuedash.naming.metrics.Naming`, with placeholders for the queue, task and host
nodes, and with every statistic StatsD writes for a timer. A query node
matches a placeholder when it can match a name (``*``, ``$queue``, a list of
names); it matches a literal node by Graphite's glob rules. Checked for both
StatsD namespaces, a non-default prefix and root, and the per-host mode (task
keys carry the host).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from queuedash import settings as settings_module
from queuedash.compile.build import build_all
from queuedash.check.evaluate import metric_paths, split_path
from queuedash.naming.metrics import Naming, Pattern
from queuedash.graphite.targets import expand_references
from queuedash.agent.keys import BROKER_GAUGE_KEYS, TASK_COUNTERS, TASK_TIMER_KEYS, WORKER_GAUGE_KEYS, Keys
from queuedash.agent.translate import Translator

INVENTORY = Path(__file__).resolve().parent / "fixtures" / "inventory.toml"

QUEUE, TASK, HOST = Pattern("<queue>"), Pattern("<task>"), Pattern("<host>")
PLACEHOLDERS = {QUEUE, TASK, HOST}
VARIABLES = re.compile(r"\$(queue|task|host)\b")
NAME = re.compile(r"^[A-Za-z0-9_-]+$")
APPLY_BY_NODE = re.compile(r"applyByNode\(")


def timer_stats(naming: Naming) -> list[str]:
    """What npm statsd writes for a timer (lib/process_metrics.js), percentThreshold included."""
    p = naming.timer_percentile
    return ["count", "count_ps", "lower", "upper", "mean", "median", "std", "sum", "sum_squares",
            f"mean_{p}", f"upper_{p}", f"sum_{p}", f"count_{p}", f"sum_squares_{p}"]


def emitted_families(naming: Naming) -> dict[str, list[str]]:
    """Family (its StatsD key with placeholders) -> the Graphite paths StatsD writes for it."""
    families = {}
    for state in TASK_COUNTERS:
        key = naming.task_key(QUEUE, TASK, state, HOST)
        families[key] = [naming.counter_count(key), naming.counter_rate(key)]
    for timer in TASK_TIMER_KEYS:
        key = naming.task_key(QUEUE, TASK, timer, HOST)
        families[key] = [naming.timer(key, stat) for stat in timer_stats(naming)]
    for gauge in BROKER_GAUGE_KEYS:
        key = naming.broker_key(QUEUE, gauge)
        families[key] = [naming.gauge(key)]
    for gauge in WORKER_GAUGE_KEYS:
        key = naming.worker_key(HOST, gauge)
        families[key] = [naming.gauge(key)]
    return families


# -- Graphite patterns -----------------------------------------------------------------


def _alternatives(node: str) -> list[str]:
    """'{a,b}x' -> ['ax', 'bx'] (one level of braces, as the dashboards write them)."""
    match = re.search(r"\{([^{}]*)\}", node)
    if not match:
        return [node]
    head, tail = node[:match.start()], node[match.end():]
    return [alt for choice in match.group(1).split(",") for alt in _alternatives(head + choice + tail)]


def _glob_regex(node: str) -> re.Pattern:
    parts = []
    for alternative in _alternatives(node):
        out, i = "", 0
        while i < len(alternative):
            char = alternative[i]
            if char == "*":
                out += "[^.]*"
            elif char == "?":
                out += "[^.]"
            elif char == "[":
                end = alternative.index("]", i)
                out += alternative[i:end + 1]
                i = end
            else:
                out += re.escape(char)
            i += 1
        parts.append(out)
    return re.compile("^(?:" + "|".join(parts) + ")$")


def could_be_a_name(node: str) -> bool:
    """Whether a query node can match an escaped queue/task/host name."""
    return all(any(c in alt for c in "*?[") or NAME.match(alt) for alt in _alternatives(node))


def node_matches(query_node: str, family_node: str) -> bool:
    if family_node in PLACEHOLDERS:
        return could_be_a_name(query_node)
    return bool(_glob_regex(query_node).match(family_node))


def matches(query: str, path: str, prefix_only: bool = False) -> bool:
    """Whether the query pattern reads `path` (or, for a metrics/find query, a prefix of it)."""
    q, p = split_path(query), path.split(".")
    if prefix_only:
        p = p[:len(q)]
    return len(q) == len(p) and all(node_matches(a, b) for a, b in zip(q, p, strict=True))


# -- what the dashboards query -------------------------------------------------------------


def _panels(data):
    for panel in data.get("panels", []):
        yield panel
        yield from panel.get("panels") or []


def applied_paths(target: str) -> list[str]:
    """Paths read by applyByNode templates: '%' is each prefix of the series, cut after nodeNum."""
    found = []
    for call in APPLY_BY_NODE.finditer(target):
        rest = target[call.end():]
        series = metric_paths(rest)[0]
        arguments = re.match(r"\s*" + re.escape(series) + r"\s*,\s*(\d+)\s*,\s*(['\"])(.*?)\2", rest)
        assert arguments, f"cannot read applyByNode in {target}"
        prefix = ".".join(split_path(series)[:int(arguments.group(1)) + 1])
        found += metric_paths(arguments.group(3).replace("%", prefix))
    return found


def queried(built) -> tuple[set[str], set[str]]:
    """(paths panels read, metrics/find queries of variables), variables as `*`."""
    paths, finds = set(), set()
    for item in built:
        for panel in _panels(item.data):
            targets = [(t.get("refId"), t.get("target") or "") for t in panel.get("targets") or []]
            expanded = expand_references(targets)
            for ref, target in targets:
                text = VARIABLES.sub("*", expanded.get(ref, target))
                paths.update(metric_paths(text))
                paths.update(applied_paths(text))
        for variable in item.data.get("templating", {}).get("list", []):
            finds.add(VARIABLES.sub("*", str(variable.get("query", ""))))
    return paths, finds


NAMINGS = {
    "legacy": {},
    "modern": {"naming.namespace": "modern"},
    "modern, own prefix and root": {"naming.namespace": "modern", "naming.prefix": "acme.jobs"},
    "legacy, own prefix": {"naming.prefix": "workers_celery"},
    "legacy, per host": {"naming.per_host": True},
    "modern, per host": {"naming.namespace": "modern", "naming.per_host": True},
}


@pytest.fixture(params=NAMINGS, ids=list(NAMINGS))
def contract(request):
    settings = settings_module.load(INVENTORY, NAMINGS[request.param])
    if request.param == "modern, own prefix and root":
        settings = dataclasses.replace(settings, naming=dataclasses.replace(settings.naming, root="metrics"))
    # [[zero_metrics]] are the user's own free-form targets, not the agent's names.
    settings = dataclasses.replace(settings, zero_metrics=())
    paths, finds = queried(build_all(settings))
    return settings.naming, paths, finds


def test_every_path_a_dashboard_queries_is_one_the_agent_emits(contract):
    naming, paths, _ = contract
    emitted = [path for family in emitted_families(naming).values() for path in family]
    assert paths, "no metric path found in the dashboards"
    orphans = sorted(q for q in paths if not any(matches(q, path) for path in emitted))
    assert orphans == [], f"queried but never emitted by the agent: {orphans}"


def test_every_variable_lists_nodes_the_agent_emits(contract):
    naming, _, finds = contract
    emitted = [path for family in emitted_families(naming).values() for path in family]
    orphans = sorted(q for q in finds if not any(matches(q, path, prefix_only=True) for path in emitted))
    assert orphans == [], f"variables listing nodes the agent never emits: {orphans}"


def test_every_key_family_the_agent_emits_is_queried_by_a_panel(contract):
    naming, paths, _ = contract
    unread = sorted(key for key, family in emitted_families(naming).items()
                    if not any(matches(q, path) for q in paths for path in family))
    assert unread == [], f"emitted by the agent but no panel reads it: {unread}"


def test_a_wrong_name_would_be_caught():
    """The matcher is not vacuous: a misspelt state or gauge matches no family."""
    naming = Naming()
    emitted = [path for family in emitted_families(naming).values() for path in family]
    assert any(matches("stats_counts.celery.tasks.*.*.failed", p) for p in emitted)
    assert not any(matches("stats_counts.celery.tasks.*.*.failure", p) for p in emitted)
    assert not any(matches("stats.gauges.celery.broker.*.size", p) for p in emitted)
    assert not any(matches("stats_counts.celery.tasks.*.failed", p) for p in emitted)   # a node short
    assert not any(matches("stats_counts.celery.tasks.a.b.c.failed", p) for p in emitted)


class _Recorder:
    """A StatsD client that remembers the keys (for what the code really sends)."""

    def __init__(self):
        self.keys = set()

    def incr(self, key, count=1):
        self.keys.add(key)

    def timing(self, key, ms):
        self.keys.add(key)

    def gauge(self, key, value):
        self.keys.add(key)


@pytest.mark.parametrize("naming", [Naming(), Naming(per_host=True)], ids=["plain", "per host"])
def test_the_monitor_sends_only_declared_families_and_all_task_and_worker_ones(naming):
    recorder = _Recorder()
    now = 1000.0
    translator = Translator(Keys(naming), recorder, lambda name: "q", clock=lambda: now)
    stream = [
        {"type": "task-sent", "uuid": "a", "name": "t", "queue": "q", "timestamp": now},
        {"type": "task-received", "uuid": "a", "name": "t", "timestamp": now},
        {"type": "task-started", "uuid": "a", "timestamp": now + 1},
        {"type": "task-succeeded", "uuid": "a", "runtime": 0.5, "timestamp": now + 2},
        {"type": "task-failed", "uuid": "b", "exception": "ValueError()", "timestamp": now},
        {"type": "task-retried", "uuid": "c", "timestamp": now},
        {"type": "task-rejected", "uuid": "d", "timestamp": now},
        {"type": "task-revoked", "uuid": "e", "timestamp": now},
        {"type": "task-failed", "uuid": "f", "exception": "NotRegistered('x')", "timestamp": now},
        {"type": "worker-heartbeat", "hostname": "w@h", "freq": 2.0, "active": 1, "processed": 3,
         "local_received": now},
    ]
    for event in stream:
        translator.handle({"hostname": "w@h", **event})
    now += 5          # past the wait for task-sent events that will not come
    translator.tick()
    families = emitted_families(naming)
    declared = [path for path in families]            # StatsD keys with placeholders
    assert all(any(matches(key, family) for family in declared) for key in recorder.keys), recorder.keys
    task_and_worker = [k for k in families if ".broker." not in k]
    missing = [f for f in task_and_worker if not any(matches(key, f) for key in recorder.keys)]
    assert missing == []
