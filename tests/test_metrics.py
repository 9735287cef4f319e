"""The naming scheme: StatsD keys, Graphite paths, escaping, node positions."""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from queuedash.errors import NamingError
from queuedash.naming.metrics import ANY, Naming, Pattern, escape, glob

NODE = re.compile(r"^[A-Za-z0-9_-]+$")


@given(st.text(min_size=1))
def test_escape_always_gives_one_graphite_node(name):
    node = escape(name)
    assert NODE.match(node)
    assert "." not in node
    assert len(node) == len(name)


@given(st.text(alphabet=st.characters(whitelist_categories=("Lu", "Ll", "Nd")), min_size=1))
def test_escape_keeps_safe_ascii_names(name):
    if NODE.match(name):
        assert escape(name) == name


def test_escape_folds_dots_and_at_signs():
    assert escape("proj.tasks.add") == "proj_tasks_add"
    assert escape("celery@host.example.com") == "celery_host_example_com"


def test_escape_rejects_empty_names():
    with pytest.raises(NamingError):
        escape("")


def test_legacy_names_follow_stock_statsd():
    n = Naming()
    assert n.task_key("default", "proj.tasks.add", "failed") == "celery.tasks.default.proj_tasks_add.failed"
    assert n.task_count("default", "proj.tasks.add", "failed") == "stats_counts.celery.tasks.default.proj_tasks_add.failed"
    assert n.task_rate("default", "add", "received") == "stats.celery.tasks.default.add.received"
    assert n.task_timer("default", "add", "runtime", "upper_90") == "stats.timers.celery.tasks.default.add.runtime.upper_90"
    assert n.broker_gauge("default", "length") == "stats.gauges.celery.broker.default.length"
    assert n.worker_gauge("w1@host", "online") == "stats.gauges.celery.workers.w1_host.online"


def test_modern_namespace_is_one_setting_away():
    n = Naming(namespace="modern")
    assert n.task_count("q", "t", "failed") == "stats.counters.celery.tasks.q.t.failed.count"
    assert n.task_rate("q", "t", "failed") == "stats.counters.celery.tasks.q.t.failed.rate"
    assert n.task_timer("q", "t", "wait", "mean") == "stats.timers.celery.tasks.q.t.wait.mean"


def test_prefix_and_root_are_settings():
    n = Naming(prefix="myapp.celery", root="metrics")
    assert n.task_count("q", "t", "sent") == "metrics_counts.myapp.celery.tasks.q.t.sent"
    assert n.broker_gauge("q", "unacked") == "metrics.gauges.myapp.celery.broker.q.unacked"


@pytest.mark.parametrize("namespace", ["legacy", "modern"])
@pytest.mark.parametrize("prefix", ["celery", "a.b.c"])
def test_node_positions_point_at_the_named_part(namespace, prefix):
    n = Naming(namespace=namespace, prefix=prefix)
    count = n.task_count("QQ", "TT", "failed").split(".")
    assert count[n.task_queue_node] == "QQ" and count[n.task_task_node] == "TT"
    assert count[n.task_state_node] == "failed"
    assert n.task_rate("QQ", "TT", "failed").split(".")[n.task_state_node] == "failed"
    timer = n.task_timer("QQ", "TT", "runtime", "mean").split(".")
    assert timer[n.timer_queue_node] == "QQ" and timer[n.timer_task_node] == "TT"
    assert n.broker_gauge("QQ", "length").split(".")[n.broker_queue_node] == "QQ"
    assert n.worker_gauge("HH", "online").split(".")[n.worker_host_node] == "HH"


def test_patterns_are_kept_and_names_escaped():
    n = Naming()
    assert n.task_count(Pattern("$queue"), ANY, "failed") == "stats_counts.celery.tasks.$queue.*.failed"
    assert n.task_count("$queue", "a.b", "failed") == "stats_counts.celery.tasks._queue.a_b.failed"


def test_glob_matches_exactly_the_names():
    assert glob(["emails"]) == "emails"
    assert glob(["b.x", "a"]) == "{a,b_x}"


@pytest.mark.parametrize("kwargs", [
    {"namespace": "flat"}, {"prefix": ""}, {"prefix": "a..b"}, {"root": "st ats"}, {"timer_percentile": 100},
])
def test_bad_naming_settings_are_refused(kwargs):
    with pytest.raises(NamingError):
        Naming(**kwargs)


def test_unknown_metric_leaves_are_refused():
    n = Naming()
    with pytest.raises(NamingError):
        n.task_key("q", "t", "exploded")
    with pytest.raises(NamingError):
        n.broker_key("q", "size")
    with pytest.raises(NamingError):
        n.worker_key("h", "load")


def test_per_host_task_keys_carry_the_host_after_the_task():
    n = Naming(per_host=True)
    assert n.task_key("default", "proj.tasks.add", "failed", "web-1.example.com") == \
        "celery.tasks.default.proj_tasks_add.web-1_example_com.failed"
    assert n.task_count("q", "t", "sent", "h1") == "stats_counts.celery.tasks.q.t.h1.sent"
    assert n.task_timer("q", "t", "runtime", "upper_90", "h1") == "stats.timers.celery.tasks.q.t.h1.runtime.upper_90"
    # queries leave the host at every host
    assert n.task_count("q", ANY, "received") == "stats_counts.celery.tasks.q.*.*.received"
    assert Naming(per_host=True, namespace="modern").task_rate("q", "t", "failed", "h") == \
        "stats.counters.celery.tasks.q.t.h.failed.rate"
    # gauges are one per queue or worker already: no host node
    assert n.broker_gauge("q", "length") == "stats.gauges.celery.broker.q.length"
    assert n.worker_gauge("w@h", "online") == "stats.gauges.celery.workers.w_h.online"


def test_without_the_per_host_mode_a_host_is_not_part_of_the_key():
    assert Naming().task_key("q", "t", "failed", "web-1") == "celery.tasks.q.t.failed"
    with pytest.raises(NamingError):
        Naming().task_host_node


@pytest.mark.parametrize("namespace", ["legacy", "modern"])
@pytest.mark.parametrize("prefix", ["celery", "a.b.c"])
def test_per_host_node_positions_point_at_the_named_part(namespace, prefix):
    n = Naming(namespace=namespace, prefix=prefix, per_host=True)
    count = n.task_count("QQ", "TT", "failed", "HH").split(".")
    assert count[n.task_queue_node] == "QQ" and count[n.task_task_node] == "TT"
    assert count[n.task_host_node] == "HH" and count[n.task_state_node] == "failed"
    assert n.task_rate("QQ", "TT", "failed", "HH").split(".")[n.task_state_node] == "failed"
    timer = n.task_timer("QQ", "TT", "runtime", "mean", "HH").split(".")
    assert timer[n.timer_queue_node] == "QQ" and timer[n.timer_task_node] == "TT"


def test_per_host_must_be_a_boolean():
    with pytest.raises(NamingError):
        Naming(per_host="yes")
