"""Graphite query builders and Grafana's #A reference expansion."""

from queuedash.naming.metrics import ANY, Naming, Pattern
from queuedash.authoring.queries import TaskQueries, call, quote
from queuedash.graphite.targets import expand_references


def test_backlog_is_received_minus_every_way_a_task_ends_with_nulls_as_zero():
    tasks = TaskQueries(Naming(), queue="emails", task=ANY)
    assert tasks.backlog() == (
        "diffSeries("
        "transformNull(sumSeries(stats_counts.celery.tasks.emails.*.received), 0), "
        "transformNull(sumSeries(stats_counts.celery.tasks.emails.*.{succeeded,failed,retried,rejected,revoked}), 0))"
    )


def test_backlog_in_the_modern_namespace():
    tasks = TaskQueries(Naming(namespace="modern"), queue=Pattern("$queue"), task=ANY)
    assert "stats.counters.celery.tasks.$queue.*.received.count" in tasks.backlog()


def test_call_formats_arguments():
    assert call("f", "a.b", 3, 0.5, quote("x"), True) == "f(a.b, 3, 0.5, 'x', true)"
    assert quote("it's") == '"it\'s"'


def test_references_to_earlier_targets_see_them_expanded():
    table = expand_references([("A", "a.b"), ("B", "sumSeries(#A)"), ("C", "diffSeries(#A, #B)")])
    assert table["C"] == "diffSeries(a.b, sumSeries(a.b))"


def test_references_to_later_targets_see_them_unexpanded_as_grafana_does():
    table = expand_references([("A", "scale(#B, 2)"), ("B", "alias(#C, 'x')"), ("C", "c.d")])
    assert table["A"] == "scale(alias(#C, 'x'), 2)"
    assert table["B"] == "alias(c.d, 'x')"


def test_unknown_references_are_left_as_they_are():
    assert expand_references([("A", "sumSeries(#Z)")])["A"] == "sumSeries(#Z)"


def test_empty_targets_are_skipped():
    assert expand_references([("A", ""), ("B", "x(#A)")]) == {"B": "x(#A)"}
