"""The compiled dashboards: what Grafana 10.4-12 needs and what users rely on."""

import json

import pytest

from queuedash.compile.build import build_all
from queuedash.naming.metrics import PROCESSED_STATES
from queuedash.graphite.targets import expand_references
from queuedash.settings import load
from test_schema import schema_errors

ALL_PANEL_TYPES = {"timeseries", "stat", "table", "row", "text"}


def panels(built_dashboard):
    return [p for p in built_dashboard.data["panels"] if p["type"] != "row"]


def by_title(built_dashboard, title):
    matches = [p for p in panels(built_dashboard) if p["title"] == title]
    assert matches, f"no panel {title!r} in {built_dashboard.name}"
    return matches[0]


def test_dashboards_with_stable_uids(built):
    assert sorted(built) == [
        "broker", "overview", "queue-billing.invoices", "queue-default", "queue-emails", "tasks", "workers",
    ]
    assert {b.uid for b in built.values()} == {
        "queuedash-broker", "queuedash-overview", "queuedash-queue-default", "queuedash-queue-emails",
        "queuedash-queue-billing-invoice-ddf23c48",
        "queuedash-tasks", "queuedash-workers",
    }


def test_modern_grafana_shapes(built):
    for item in built.values():
        data = item.data
        assert data["schemaVersion"] == 39
        assert "id" not in data and "style" not in data and "rows" not in data
        for panel in data["panels"]:
            assert panel["type"] in ALL_PANEL_TYPES
            if panel["type"] in ("row", "text"):
                continue
            assert panel["datasource"] == {"type": "graphite", "uid": "graphite-test"}
            steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
            assert steps[0]["value"] is None
            for target in panel["targets"]:
                assert set(target) <= {"refId", "target", "targetFull", "hide", "textEditor", "datasource"}


def test_layout_fills_the_grid_without_overlap(built):
    for item in built.values():
        cells = set()
        for panel in item.data["panels"]:
            pos = panel["gridPos"]
            assert pos["x"] + pos["w"] <= 24
            covered = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])}
            assert not covered & cells, panel["title"]
            cells |= covered
        ids = [p["id"] for p in item.data["panels"]]
        assert ids == list(range(1, len(ids) + 1))


def test_should_be_zero_panels_turn_red_on_any_non_zero_value(built):
    panel = by_title(built["tasks"], "Failed tasks")
    defaults = panel["fieldConfig"]["defaults"]
    assert panel["options"]["colorMode"] == "background"
    steps = defaults["thresholds"]["steps"]
    assert steps[0] == {"color": "green", "value": None}
    assert steps[1]["color"] == "red" and 0 < steps[1]["value"] < 1e-6
    negative = defaults["mappings"][0]
    # A finite lower bound: Grafana compares a null "from" as 0, so null would match nothing.
    assert negative["type"] == "range" and negative["options"]["from"] <= -1e300
    assert negative["options"]["to"] < 0 and negative["options"]["result"]["color"] == "red"
    assert defaults["noValue"] == "0"
    assert panel["options"]["reduceOptions"]["calcs"] == ["sum"]


def test_which_queues_must_have_no_failures_is_per_queue(built):
    failed = by_title(built["tasks"], "Failed tasks")["targets"][0]["target"]
    assert "{billing_invoices,default,emails}" in failed
    retried = by_title(built["tasks"], "Retried tasks")["targets"][0]["target"]
    assert ".tasks.billing_invoices.*.retried" in retried
    rejected = by_title(built["tasks"], "Rejected tasks")["targets"][0]["target"]
    assert "{billing_invoices,default}" in rejected


def test_backlog_panels_use_hidden_references_and_carry_target_full(built):
    broker = built["broker"]
    stat = by_title(broker, "Backlog: E-mail")
    a, b, c = stat["targets"]
    assert a["hide"] and b["hide"] and "hide" not in c
    assert c["target"] == "alias(diffSeries(#A, #B), 'received - processed')"
    expanded = expand_references([(t["refId"], t["target"]) for t in stat["targets"]])["C"]
    assert c["targetFull"] == expanded
    assert a["target"] == "transformNull(sumSeries(stats_counts.celery.tasks.emails.*.received), 0)"
    processed = "{" + ",".join(PROCESSED_STATES) + "}"
    assert b["target"] == f"transformNull(sumSeries(stats_counts.celery.tasks.emails.*.{processed}), 0)"
    assert stat["options"]["colorMode"] == "background"


def test_the_backlog_graph_repeats_per_queue(built):
    panel = by_title(built["broker"], "Backlog: received - processed ($queue)")
    assert panel["repeat"] == "queue" and panel["repeatDirection"] == "h"
    assert "$queue" in panel["targets"][2]["targetFull"]


def test_extra_zero_metrics_from_the_settings(built):
    panel = by_title(built["broker"], "Dead letters")
    assert panel["targets"][0]["target"] == "stats.gauges.celery.broker.dead_letters.length"
    assert panel["options"]["reduceOptions"]["calcs"] == ["lastNotNull"]


def test_variables_are_graphite_queries_with_all(built):
    tasks = {v["name"]: v for v in built["tasks"].data["templating"]["list"]}
    assert tasks["queue"]["query"] == "stats_counts.celery.tasks.*"
    assert tasks["task"]["query"] == "stats_counts.celery.tasks.$queue.*"
    for variable in tasks.values():
        assert variable["multi"] and variable["includeAll"] and variable["allValue"] == "*"
        assert variable["current"] == {"text": ["All"], "value": ["$__all"]}
        assert variable["definition"] == variable["query"]


def test_workers_online_is_red_below_the_expected_count(built):
    panel = by_title(built["workers"], "Workers online")
    assert panel["fieldConfig"]["defaults"]["thresholds"]["steps"] == [
        {"color": "red", "value": None}, {"color": "green", "value": 3},
    ]


def test_modern_namespace_changes_every_path(inventory_settings):
    from dataclasses import replace

    from queuedash.naming.metrics import Naming

    settings = replace(inventory_settings, naming=Naming(namespace="modern"))
    text = "".join(b.text for b in build_all(settings))
    assert "stats_counts." not in text
    assert "stats.counters.celery.tasks.$queue.*.received.count" in text


def test_the_json_has_sorted_keys_two_space_indent_and_a_final_newline(built):
    # Byte-identical rebuilds, across processes and hash seeds, are what the golden files check.
    for item in built.values():
        assert item.text.endswith("}\n")
        assert item.text == json.dumps(json.loads(item.text), sort_keys=True, indent=2, ensure_ascii=False) + "\n"


@pytest.mark.parametrize("name", ["tasks", "broker", "workers", "overview", "queue-emails"])
def test_the_repository_settings_build_dashboards_grafana_accepts(repo, name):
    # (build_all has linted them already; Grafana's schemas are another check)
    settings = load(repo / "queuedash.toml")
    (item,) = build_all(settings, only=name)
    assert item.uid == f"queuedash-{name}"
    assert schema_errors(item.data) == []


def test_the_tasks_dashboard_says_which_failed_figure_follows_the_selection(built):
    """Two 'failed' figures on one screen: the row of should-be-zero panels watches every
    queue that declares them, whatever $queue and $task say; the Failed stat follows them.
    Each says so, so they cannot be read as the same number."""
    data = built["tasks"].data["panels"]
    rows = [p for p in data if p["type"] == "row"]
    watched = rows[0]
    assert watched["title"] == "Should be zero: every watched queue, whatever the selection"
    first_row_panels = data[data.index(watched) + 1:data.index(rows[1])]
    assert first_row_panels and all("$queue" not in t["target"] and "$task" not in t["target"]
                                    for p in first_row_panels for t in p["targets"])
    failed = next(p for p in panels(built["tasks"]) if p["title"].startswith("Failed in"))
    assert failed["title"] == "Failed in $queue ($task)"
    assert all("$queue" in t["target"] and "$task" in t["target"] for t in failed["targets"])


def test_the_per_host_mode_reads_every_host_in_every_task_path(inventory_settings):
    """Every task path of every dashboard has the host node (as `*`), nothing else moves:
    the variables list the same nodes, and the dashboards still pass the lint and the schemas."""
    from dataclasses import replace

    from queuedash.check.evaluate import metric_paths
    from queuedash.naming.metrics import Naming

    plain = {b.name: b for b in build_all(inventory_settings)}
    per_host = {b.name: b for b in build_all(replace(inventory_settings, naming=Naming(per_host=True)))}
    task_paths = 0
    for name, item in per_host.items():
        assert schema_errors(item.data) == []
        for panel in panels(item):
            for target in panel.get("targets", []):
                for path in metric_paths(target.get("target", "")):
                    nodes = path.split(".")
                    if nodes[:3] in (["stats_counts", "celery", "tasks"], ["stats", "celery", "tasks"]):
                        task_paths += 1
                        assert len(nodes) == 7 and nodes[5] == "*", path
                    elif nodes[:4] == ["stats", "timers", "celery", "tasks"]:
                        task_paths += 1
                        assert len(nodes) == 9 and nodes[6] == "*", path
        variables = lambda b: [(v["name"], v["query"]) for v in b.data["templating"]["list"]]  # noqa: E731
        assert variables(item) == variables(plain[name])
    assert task_paths > 50


def test_the_per_host_mode_changes_nothing_unless_asked(inventory_settings):
    from dataclasses import replace

    from queuedash.naming.metrics import Naming

    assert inventory_settings.naming.per_host is False
    per_host = replace(inventory_settings, naming=Naming(per_host=True))
    assert [b.text for b in build_all(inventory_settings)] != [b.text for b in build_all(per_host)]
