"""Every generated query evaluated against a real Graphite, and `queuedash check`.

A real carbon + graphite-web (the `graphite` fixture) is fed known data under the
naming scheme (tests/feeder.py); the repository's dashboards are built for the same
queues and every visible target of every panel is sent to /render the way Grafana
sends it. Each namespace is seeded under a prefix of its own, so nothing here sees
the other tests' metrics (nor they ours). Exact values are in test_check_values.py.
"""

from __future__ import annotations

import socket
import time

import pytest
import requests

import feeder
from grafana_display import display
from queuedash.compile.build import build_all
from queuedash.check.evaluate import (
    EMPTY,
    FOUND,
    OK,
    CheckError,
    Checker,
    TimeRange,
    check_all,
    grafana_targets,
    graphite_time,
    interpolate,
    metric_paths,
)
from queuedash.cli.main import cli
from queuedash.graphite.client import GraphiteClient, QueryError, error_message
from queuedash.naming.metrics import ANY, Naming, escape
from queuedash.settings import load

NAMESPACES = {"legacy": "qdcheck", "modern": "qdcheckm"}


@pytest.fixture(scope="module")
def seeded(graphite):
    """The feeder's plan, once per namespace, each under its own prefix."""
    return {ns: feeder.seed(graphite, Naming(namespace=ns, prefix=prefix)) for ns, prefix in NAMESPACES.items()}


def write_settings(folder, naming, queues=None, extra=""):
    path = folder / f"{naming.prefix}.toml"
    path.write_text(feeder.settings_toml(naming, queues, extra))
    return path


@pytest.fixture(scope="module")
def settings_files(seeded, tmp_path_factory):
    folder = tmp_path_factory.mktemp("check")
    zero_metric = (  # a settings-defined should-be-zero panel on a seeded metric
        '[[zero_metrics]]\ntitle = "Unknown, all queues"\ndashboard = "tasks"\n'
        f'target = "sumSeries({seeded["legacy"].naming.task_count(ANY, ANY, "unknown")})"\n'
    )
    return {ns: write_settings(folder, s.naming, extra=zero_metric if ns == "legacy" else "")
            for ns, s in seeded.items()}


# -- every target of every panel -------------------------------------------------------


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_every_target_of_every_panel_returns_data(graphite, settings_files, namespace):
    built = build_all(load(settings_files[namespace]))
    results = check_all(built, GraphiteClient(graphite.web_url))

    assert {r.name for r in results} == {"broker", "overview", "tasks", "workers", "queue-default",
                                         "queue-emails", "queue-reports.daily"}
    not_ok = [(r.uid, p.label, p.status, p.message or [e.describe() for e in p.expected])
              for r in results for p in r.panels if p.status != OK]
    # Every panel has seeded data behind it: none is expected EMPTY.
    assert not_ok == []
    panels = sum(len(r.panels) for r in results)
    targets = sum(len(p.targets) for r in results for p in r.panels)
    assert panels > 90 and targets > panels


def test_repeated_rows_and_panels_are_evaluated_once_per_queue(graphite, settings_files):
    checker = Checker(GraphiteClient(graphite.web_url))
    by_name = {b.name: b for b in build_all(load(settings_files["legacy"]))}
    overview = checker.check(by_name["overview"].data, "overview")
    broker = checker.check(by_name["broker"].data, "broker")
    nodes = [escape(q) for q in feeder.PLAN]

    for node in nodes:
        backlog = overview.panel("Backlog", queue=node)
        assert backlog.status == OK
        # The repeat variable is one value in each clone, not the All glob.
        assert f".tasks.{node}.*.received" in backlog.targets[0].target
        assert broker.panel(f"Backlog: received - processed ({node})", queue=node).status == OK
    assert len([p for p in overview.panels if p.scope]) == 5 * len(nodes)


def test_variables_filled_with_every_value_found_evaluate_too(graphite, settings_files):
    built = build_all(load(settings_files["legacy"]), only="tasks")
    [tasks] = check_all(built, GraphiteClient(graphite.web_url), selection=FOUND)

    assert [p.label for p in tasks.panels if p.status != OK] == []
    runtime = tasks.panel("Runtime").targets[0].target
    assert ".tasks.{default,emails,reports_daily}.{mail_render,mail_send," in runtime


def test_every_variable_lists_the_seeded_queues_tasks_and_hosts(graphite, settings_files):
    built = build_all(load(settings_files["legacy"]))
    results = {r.name: r for r in check_all(built, GraphiteClient(graphite.web_url))}
    queues = {escape(q) for q in feeder.PLAN}
    all_tasks = {escape(t) for tasks in feeder.PLAN.values() for t in tasks}

    assert set(results["tasks"].variable("queue").values) == queues
    assert set(results["tasks"].variable("task").values) == all_tasks
    assert set(results["overview"].variable("queue").values) == queues
    assert set(results["broker"].variable("queue").values) == {escape(q) for q in feeder.BROKER}
    assert set(results["workers"].variable("host").values) == {escape(h) for h in feeder.WORKERS}
    for queue, tasks in feeder.PLAN.items():
        variable = results[f"queue-{queue}"].variable("task")
        assert set(variable.values) == {escape(t) for t in tasks}, variable.query
    assert {v.status for r in results.values() for v in r.variables} == {OK}


# -- EMPTY: what it names --------------------------------------------------------------


def test_a_counter_that_never_fired_is_empty_names_its_path_and_shows_no_value_as_0(graphite, tmp_path):
    naming = Naming(prefix="qdquiet")
    plan = {"quiet": {"proj.tasks.ping": {"received": [2] * feeder.INTERVALS, "succeeded": [2] * feeder.INTERVALS}}}
    feeder.seed(graphite, naming, plan=plan, broker={}, workers={}, idle_zeros=False)
    built = build_all(load(write_settings(tmp_path, naming, ["quiet"])), only="queue-quiet")
    [result] = check_all(built, GraphiteClient(graphite.web_url))

    failed = result.panel("Failed tasks")
    assert failed.status == EMPTY
    [expected] = failed.expected
    assert expected.path == naming.task_count("quiet", ANY, "failed")
    assert not expected.exists and expected.deepest == naming.task_count("quiet", ANY, "failed").rsplit(".", 1)[0]
    # Grafana shows the panel's noValue, in the base (green) colour.
    assert [(s.text, s.color) for s in display().shown(failed.panel, failed.series)] == [("0", "green")]
    assert result.panel("Backlog: received - processed").status == OK


def test_the_failure_ratio_of_a_queue_that_never_failed_is_0_percent(graphite, tmp_path):
    """No failed counter exists at all (StatsD only sends counters it has seen): the ratio is
    0 % in every slot where tasks ended, not "No data"."""
    naming = Naming(prefix="qdneverfailed")
    succeeded = [2, None, 3] + [1] * (feeder.INTERVALS - 3)
    plan = {"calm": {"proj.tasks.ping": {"received": succeeded, "succeeded": succeeded}}}
    seeded = feeder.seed(graphite, naming, plan=plan, broker={}, workers={}, idle_zeros=False)
    built = build_all(load(write_settings(tmp_path, naming, ["calm"])), only="queue-calm")
    [result] = check_all(built, GraphiteClient(graphite.web_url))

    ratio = result.panel("Failure ratio")
    assert ratio.status == OK
    [series] = ratio.series
    assert [series.value_at(ts) for ts in seeded.timestamps] == [None if v is None else 0.0 for v in succeeded]


def test_a_metric_with_no_point_in_the_time_range_is_empty_and_said_to_exist(graphite, settings_files):
    built = build_all(load(settings_files["legacy"]), only="workers")
    checker = Checker(GraphiteClient(graphite.web_url), TimeRange("-3h", "-2h"))
    result = checker.check(built[0].data, "workers")

    offline = result.panel("Workers offline")
    assert offline.status == EMPTY
    assert [e.exists for e in offline.expected] == [True]
    assert "exists, no value in the time range" in offline.expected[0].describe()


def test_zeros_made_by_transform_null_of_a_range_without_data_are_empty_not_ok(graphite, settings_files):
    """transformNull turns a range with no point at all into zeros: the backlog and the
    should-be-zero panels would read 0 and green. They are EMPTY and say the metrics have no value."""
    built = build_all(load(settings_files["legacy"]), only="queue-emails")
    result = Checker(GraphiteClient(graphite.web_url), TimeRange("-3h", "-2h")).check(built[0].data, "queue-emails")

    for title in ("Backlog: received - processed", "Failed tasks", "Waiting with no consumer"):
        panel = result.panel(title)
        assert panel.status == EMPTY, title
        assert panel.expected and all(e.exists and not e.has_values for e in panel.expected), title
        assert all("exists, no value in the time range" in e.describe() for e in panel.expected)


def test_an_empty_target_whose_metric_has_values_says_so(graphite, seeded):
    """The metric is there with points; what empties the target is the expression around it."""
    path = seeded["legacy"].naming.task_count("emails", "mail.send", "failed")
    dashboard = {"uid": "hand", "panels": [{"id": 1, "title": "Filtered away", "type": "timeseries",
                                            "targets": [{"refId": "A", "target": f"removeAboveValue({path}, -1)"}]}]}
    [panel] = Checker(GraphiteClient(graphite.web_url)).check(dashboard, "hand").panels

    assert panel.status == EMPTY
    [expected] = panel.expected
    assert expected.describe() == f"{path} (has values in the time range)"


# -- what Grafana sends ------------------------------------------------------------


def test_quoted_minutes_become_min_as_grafana_rewrites_them(graphite, seeded):
    path = seeded["legacy"].naming.worker_gauge("celery@web-1.example.com", "active")
    client = GraphiteClient(graphite.web_url)
    panel = {"targets": [{"refId": "A", "target": f"summarize({path}, '1m', 'max')"}]}
    [(_, sent)] = grafana_targets(panel, {})

    assert sent == f"summarize({path}, '1min', 'max')"
    assert any(s.has_data for s in client.render([sent]))
    with pytest.raises(QueryError, match="Invalid offset unit 'm'"):
        client.render([f"summarize({path}, '1m', 'max')"])


def test_references_and_variables_are_expanded_like_grafana():
    panel = {"targets": [
        {"refId": "A", "target": "sumSeries(a.$queue.x)", "hide": True},
        {"refId": "B", "target": "sumSeries(a.${queue}.y)", "hide": True},
        {"refId": "C", "target": "diffSeries(#A, #B)"},
        {"target": "alias(#C, 'c')"},
    ]}
    assert grafana_targets(panel, {"queue": ["q1", "q2"]}) == [
        ("C", "diffSeries(sumSeries(a.{q1,q2}.x), sumSeries(a.{q1,q2}.y))"),
        ("D", "alias(diffSeries(sumSeries(a.{q1,q2}.x), sumSeries(a.{q1,q2}.y)), 'c')"),
    ]
    assert interpolate("$queue.[[task]].$unknown", {"queue": "*", "task": "t"}) == "*.t.$unknown"


def test_metric_paths_skip_functions_numbers_and_quoted_templates():
    target = ("aliasByNode(applyByNode(stats.gauges.c.broker.{a,b}.length, 4, 'multiplySeries(%.length, 1)', "
              "'%.x'), 4)")
    assert metric_paths(target) == ["stats.gauges.c.broker.{a,b}.length"]
    assert metric_paths("alias(offset(scale(s.w.*.online, -1), 1e-09), \"it's\")") == ["s.w.*.online"]
    assert metric_paths("alias(constantLine(3), 'expected')") == []


def test_time_ranges_are_translated_like_grafana_does():
    assert [graphite_time(t) for t in ("now-6h", "-15m", "now-2M", "now", "-1h", "20240101")] == [
        "-6h", "-15min", "-2mon", "now", "-1h", "20240101"]


def test_graphite_error_pages_become_one_line():
    message = "Invalid parameters (Unknown day reference: x)"
    assert error_message(400, message) == message
    page = ("<body><pre>\nTraceback (most recent call last):\n  File &quot;x&quot;\n"
            "ValueError: bad &#x27;m&#x27;\n</pre>")
    assert error_message(500, page) == "ValueError: bad 'm'"
    assert error_message(502, "") == "HTTP 502"


# -- queuedash check -------------------------------------------------------------------


def run_check(runner, settings_path, *args):
    return runner.invoke(cli, ["--config", str(settings_path), "check", *args])


def test_check_prints_a_line_per_variable_and_panel_and_a_summary(runner, graphite, settings_files):
    result = run_check(runner, settings_files["legacy"], "--graphite", graphite.web_url, "--only", "workers")

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("OK     queuedash-workers  $host  3 values: celery_batch_1, ")
    assert "OK     queuedash-workers  Workers offline" in lines
    assert all(line.startswith("OK ") for line in lines[:-1])
    assert lines[-1] == (f"checked 1 dashboard against {graphite.web_url}: panels 6 OK, 0 EMPTY, 0 ERROR; "
                         "variables 1 OK, 0 EMPTY, 0 ERROR")


def test_check_reports_graphite_errors_and_exits_1(runner, graphite, seeded, tmp_path):
    naming = seeded["legacy"].naming
    broken = (f'[[zero_metrics]]\ntitle = "Broken"\ndashboard = "workers"\n'
              f'target = "groupByNode({naming.worker_gauge(ANY, "online")}, 3, \'bogus\')"\n')
    settings = write_settings(tmp_path, naming, extra=broken)

    result = run_check(runner, settings, "--graphite", graphite.web_url, "--only", "workers")

    assert result.exit_code == 1
    [line] = [line for line in result.stdout.splitlines() if "Broken" in line]
    assert line.startswith(
        "ERROR  queuedash-workers  Broken  Invalid parameters (Unsupported aggregation function: bogus)")
    assert result.stderr.strip() == (f"Error: checked 1 dashboard against {graphite.web_url}: panels 6 OK, 0 EMPTY, "
                                     "1 ERROR; variables 1 OK, 0 EMPTY, 0 ERROR")


def test_empty_panels_fail_only_with_strict(runner, graphite, seeded, tmp_path):
    naming = seeded["legacy"].naming
    missing = naming.worker_gauge("celery@nowhere", "online")
    extra = f'[[zero_metrics]]\ntitle = "Nowhere"\ndashboard = "workers"\ntarget = "{missing}"\n'
    settings = write_settings(tmp_path, naming, extra=extra)
    args = ["--graphite", graphite.web_url, "--only", "workers"]

    relaxed = run_check(runner, settings, *args)
    strict = run_check(runner, settings, *args, "--strict")

    assert relaxed.exit_code == 0, relaxed.output
    assert f"EMPTY  queuedash-workers  Nowhere  {missing} (no such metric: Graphite has " in relaxed.output
    assert strict.exit_code == 1
    assert "panels 6 OK, 1 EMPTY, 0 ERROR" in strict.stderr


def test_an_unreachable_graphite_is_one_line(runner, settings_files):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]      # bound, never listening: connections are refused
        result = run_check(runner, settings_files["legacy"], "--graphite", f"http://127.0.0.1:{port}")

    assert result.exit_code == 2  # could not check: not the same as a broken panel (1)
    assert result.output == f"Error: http://127.0.0.1:{port}: cannot reach Graphite: [Errno 111] Connection refused\n"


def test_a_graphite_that_never_answers_is_one_line(runner, settings_files):
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()                     # the kernel accepts connections; nobody ever answers
        port = silent.getsockname()[1]
        started = time.monotonic()
        result = run_check(runner, settings_files["legacy"], "--graphite", f"http://127.0.0.1:{port}",
                           "--timeout", "0.5")
        elapsed = time.monotonic() - started

    assert result.exit_code == 2
    assert result.output == f"Error: http://127.0.0.1:{port}: Graphite did not answer within 0.5 s\n"
    assert elapsed < 5


def test_a_time_range_graphite_refuses_is_one_line(runner, graphite, settings_files):
    result = run_check(runner, settings_files["legacy"], "--graphite", graphite.web_url, "--from", "yesterdayish")

    assert result.exit_code == 2
    assert result.output.startswith(
        f"Error: {graphite.web_url}: Graphite refuses the time range from 'yesterdayish'")
    assert len(result.output.splitlines()) == 1


def test_a_selection_is_all_or_found(graphite):
    with pytest.raises(CheckError):
        Checker(GraphiteClient(graphite.web_url), selection="some")


def test_validate_knows_exactly_the_functions_graphite_web_serves(graphite):
    """The lint's list of functions is graphite-web's own: a function it lacks would make
    `validate` refuse a query Graphite runs (groupByNodes was missing)."""
    from queuedash.graphite.functions import KNOWN_FUNCTIONS

    served = requests.get(f"{graphite.web_url}/functions", timeout=10).json()
    assert set(served) == set(KNOWN_FUNCTIONS)
