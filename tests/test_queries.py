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


def test_per_host_sums_every_host_in_the_backlog():
    tasks = TaskQueries(Naming(per_host=True), queue="emails", task=ANY)
    assert tasks.backlog() == (
        "diffSeries("
        "transformNull(sumSeries(stats_counts.celery.tasks.emails.*.*.received), 0), "
        "transformNull(sumSeries(stats_counts.celery.tasks.emails.*.*.{succeeded,failed,retried,rejected,revoked}), 0))"
    )


def test_per_host_groups_by_the_state_and_queue_nodes_summing_hosts():
    tasks = TaskQueries(Naming(per_host=True), queue=Pattern("$queue"), task=Pattern("$task"))
    assert tasks.rates_by_state(["failed"]) == \
        "aliasByNode(groupByNode(stats.celery.tasks.$queue.$task.*.failed, 6, 'sum'), 0)"
    assert tasks.counts_by_queue("failed", Pattern("{a,b}")) == \
        "aliasByNode(transformNull(groupByNode(stats_counts.celery.tasks.{a,b}.*.*.failed, 3, 'sum'), 0), 0)"


def test_per_task_tables_combine_the_hosts_of_a_task_into_one_series():
    plain = TaskQueries(Naming(), queue="q", task=ANY)
    assert plain.per_task("failed") == "aliasByNode(stats_counts.celery.tasks.q.*.failed, 3, 4)"
    assert plain.timer_per_task("runtime", "upper_90") == \
        "aliasByNode(stats.timers.celery.tasks.q.*.runtime.upper_90, 4, 5)"
    per_host = TaskQueries(Naming(per_host=True), queue="q", task=ANY)
    assert per_host.per_task("failed") == "groupByNodes(stats_counts.celery.tasks.q.*.*.failed, 'sum', 3, 4)"
    assert per_host.timer_per_task("runtime", "upper_90") == \
        "groupByNodes(stats.timers.celery.tasks.q.*.*.runtime.upper_90, 'max', 4, 5)"
    assert per_host.timer_per_task("runtime", "mean") == \
        "groupByNodes(stats.timers.celery.tasks.q.*.*.runtime.mean, 'average', 4, 5)"
