"""Exact values of the signature panels, against a real Graphite fed known data.

The numbers are computed from the feeder's plan (tests/feeder.py); what a stat shows (its text
and colour) is asked of Grafana's own display code (tests/grafana_display.py), on the series
`queuedash.check.evaluate` got from graphite-web exactly as Grafana asks for them (the panel's
maxDataPoints, else its width in pixels).
Seeded under a prefix of its own, once for the module.
"""

from __future__ import annotations

import pytest

import feeder
from grafana_display import display
from queuedash.compile.build import build_all
from queuedash.check.evaluate import check_all, grafana_targets
from queuedash.graphite.client import GraphiteClient
from queuedash.naming.metrics import ANY, PROCESSED_STATES, Naming, escape
from queuedash.authoring.queries import call, states
from queuedash.settings import ZERO_TASK_STATES, load

QUEUES = list(feeder.PLAN)
CLEAN, FAILING, STUCK = "default", "emails", "reports.daily"


@pytest.fixture(scope="module")
def seeded(graphite):
    return feeder.seed(graphite, Naming(prefix="qdvalues"))


@pytest.fixture(scope="module")
def checked(graphite, seeded, tmp_path_factory):
    """Every dashboard of the seeded inventory, evaluated: name -> DashboardCheck."""
    path = tmp_path_factory.mktemp("values") / "queuedash.toml"
    path.write_text(feeder.settings_toml(seeded.naming))
    results = check_all(build_all(load(path)), GraphiteClient(graphite.web_url))
    return {r.name: r for r in results}


def shown(panel_check) -> dict:
    """What a stat shows, by series name: (value, colour), as Grafana draws it."""
    return {s.name: (s.numeric, s.color) for s in display().shown(panel_check.panel, panel_check.series)}


def total(values) -> float:
    """The sum of a series' points, nulls skipped."""
    return sum(v for v in values if v is not None)


def red_unless_zero(value) -> str:
    return "green" if value == 0 else "red"


# -- the backlog -----------------------------------------------------------------------


@pytest.mark.parametrize("queue", QUEUES)
def test_backlog_stat_is_received_minus_processed(checked, queue):
    expected = feeder.backlog(queue)

    for dashboard, title in (("broker", f"Backlog: {queue}"), (f"queue-{queue}", f"Backlog: {queue}")):
        assert shown(checked[dashboard].panel(title)) == {"received - processed": (expected, red_unless_zero(expected))}
    assert shown(checked["overview"].panel("Backlog", queue=escape(queue))) == {
        "received - processed": (expected, red_unless_zero(expected))}


def test_backlog_is_zero_when_every_received_task_ended_and_n_while_n_are_in_flight():
    assert feeder.backlog(CLEAN) == 0 and feeder.backlog(FAILING) == 0   # failures end tasks too
    assert feeder.backlog(STUCK) == feeder.IN_FLIGHT == 4


def test_backlog_graph_is_received_minus_processed_in_every_slot_gaps_as_zero(checked, seeded):
    panel = checked[f"queue-{STUCK}"].panel("Backlog: received - processed")
    [series] = panel.series

    for k, ts in enumerate(seeded.timestamps):
        received = sum(feeder.counts(STUCK, t, "received")[k] or 0 for t in feeder.PLAN[STUCK])
        processed = sum(feeder.counts(STUCK, t, s)[k] or 0 for t in feeder.PLAN[STUCK] for s in PROCESSED_STATES)
        assert series.value_at(ts) == received - processed, f"slot {k}"


def test_without_transform_null_the_gaps_in_received_would_flip_signs(graphite, seeded):
    """The seeded gaps are real: Graphite's diffSeries without transformNull takes a lone
    processed count as the minuend, and the sum is wrong."""
    n = seeded.naming
    received = call("sumSeries", n.task_count(STUCK, ANY, "received"))
    processed = call("sumSeries", n.task_count(STUCK, ANY, states(PROCESSED_STATES)))
    [naive] = GraphiteClient(graphite.web_url).render([call("diffSeries", received, processed)])

    per_slot = []
    for k in range(feeder.INTERVALS):
        r = [feeder.counts(STUCK, t, "received")[k] for t in feeder.PLAN[STUCK]]
        p = [feeder.counts(STUCK, t, s)[k] for t in feeder.PLAN[STUCK] for s in PROCESSED_STATES]
        r = None if all(v is None for v in r) else sum(v or 0 for v in r)
        p = None if all(v is None for v in p) else sum(v or 0 for v in p)
        per_slot.append(p if r is None else r - (p or 0))   # safeDiff: the first non-null is the minuend
    assert total(naive.values) == sum(v for v in per_slot if v is not None) != feeder.IN_FLIGHT


# -- should-be-zero panels -----------------------------------------------------------


@pytest.mark.parametrize("state", ZERO_TASK_STATES)
def test_should_be_zero_task_states_are_0_green_on_the_clean_queue_and_the_count_red_on_the_failing_one(
        checked, state):
    watching = [q for q in QUEUES if q != STUCK or state == "failed"]   # see feeder.settings_toml
    expected = {escape(q): (feeder.total(q, [state]), red_unless_zero(feeder.total(q, [state]))) for q in watching}
    title = {"failed": "Failed tasks", "rejected": "Rejected tasks", "retried": "Retried tasks",
             "revoked": "Revoked tasks", "unknown": "Unknown tasks (NotRegistered)"}[state]

    assert expected[CLEAN] == (0, "green")
    assert expected[FAILING][0] > 0 and expected[FAILING][1] == "red"
    assert shown(checked["tasks"].panel(title)) == expected
    assert shown(checked["overview"].panel(title)) == expected
    for queue in watching:
        assert shown(checked[f"queue-{queue}"].panel(title)) == {escape(queue): expected[escape(queue)]}


def test_failed_over_the_time_range(checked):
    assert feeder.total(FAILING, ["failed"]) == 6
    assert shown(checked["tasks"].panel("Failed in $queue ($task)")) == {"failed": (6, "red")}
    for queue in QUEUES:
        failed = feeder.total(queue, ["failed"])
        assert shown(checked["overview"].panel("Failed", queue=escape(queue))) == {
            "failed": (failed, red_unless_zero(failed))}
    succeeded = sum(feeder.total(q, ["succeeded"]) for q in QUEUES)
    assert shown(checked["tasks"].panel("Succeeded")) == {"succeeded": (succeeded, "green")}


def test_waiting_with_no_consumer_is_the_length_of_the_queue_nobody_consumes(checked):
    length = feeder.BROKER[STUCK]["length"][-1]
    expected = {escape(STUCK): (length, "red"), escape(CLEAN): (0, "green"), escape(FAILING): (0, "green")}

    assert length == 7 and feeder.BROKER[FAILING]["length"][-1] > 0    # emails waits too, but is consumed
    assert shown(checked["broker"].panel("Waiting with no consumer")) == expected
    assert shown(checked[f"queue-{STUCK}"].panel("Waiting with no consumer")) == {escape(STUCK): (length, "red")}
    assert shown(checked[f"queue-{STUCK}"].panel("Workers consuming")) == {escape(STUCK): (0, "green")}


def test_workers_offline_is_1_once_a_worker_went_offline(checked):
    assert feeder.WORKERS[feeder.OFFLINE_HOST]["online"][-1] == 0
    assert shown(checked["workers"].panel("Workers offline")) == {"offline": (1, "red")}
    # 2 of the 3 expected workers online: red below the expected count.
    assert shown(checked["workers"].panel("Workers online")) == {"online": (2, "red")}


def test_gauges_show_their_last_value(checked):
    expected = {escape(q): (gauges["length"][-1], "green") for q, gauges in feeder.BROKER.items()}
    assert shown(checked["broker"].panel("Queue length now")) == expected
    for queue in QUEUES:
        assert shown(checked["overview"].panel("Queue length", queue=escape(queue))) == {
            escape(queue): expected[escape(queue)]}


def test_stats_and_tables_ask_graphite_for_every_point(graphite, checked):
    """With the panel's width as maxDataPoints (320 for a 4-column stat, 360 points in the
    hour), graphite-web would average pairs of points and the sum would come out halved."""
    panel = checked["queue-emails"].panel("Failed tasks")
    [(_, target)] = grafana_targets(panel.panel, {})
    [narrow] = GraphiteClient(graphite.web_url).render([target], max_data_points=320)

    assert panel.panel["maxDataPoints"] > 360
    assert total(narrow.values) < 6 == shown(panel)[escape(FAILING)][0]


# -- tables and graphs -------------------------------------------------------------------


def test_most_failing_tasks_table_sums_each_task(checked):
    panel = checked["tasks"].panel("Most failing tasks")
    sums = {s.target: total(s.values) for s in panel.series}
    assert sums[f"{escape(FAILING)}.{escape('mail.send')}"] == feeder.total(FAILING, ["failed"])
    assert sums[f"{escape(CLEAN)}.{escape('proj.tasks.add')}"] == 0


def test_failure_ratio_is_failed_over_failed_and_succeeded_in_every_slot(checked, seeded):
    [series] = checked[f"queue-{FAILING}"].panel("Failure ratio").series
    for k, ts in enumerate(seeded.timestamps):
        failed = sum(feeder.counts(FAILING, t, "failed")[k] for t in feeder.PLAN[FAILING])
        succeeded = sum(feeder.counts(FAILING, t, "succeeded")[k] for t in feeder.PLAN[FAILING])
        assert series.value_at(ts) == pytest.approx(100 * failed / (failed + succeeded)), f"slot {k}"


def test_runtime_graph_shows_mean_percentile_and_max(checked, seeded):
    series = {s.target: s for s in checked[f"queue-{FAILING}"].panel("Runtime").series}
    means = [feeder.TIMERS[t][0] for t in feeder.PLAN[FAILING]]
    ts = seeded.timestamps[-1]
    assert series["mean"].value_at(ts) == pytest.approx(sum(means) / len(means))
    assert series["p90"].value_at(ts) == pytest.approx(1.5 * max(means))
    assert series["max"].value_at(ts) == pytest.approx(2 * max(means))
