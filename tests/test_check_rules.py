"""Alert rules evaluated as Grafana's alerting would, against a real Graphite with known data.

tests/feeder.py writes two minutes of known data into carbon: a clean queue
(`default`), a failing one (`emails`), a stuck one with no consumer
(`reports.daily`), plus here a queue whose failure counter never fired (`quiet`:
StatsD never sent it, so Graphite has no such metric) and a queue on a broker that
sends no consumer count (`redisq`, as the Redis poller does). The rules are the
ones the build makes from the repository's definitions; `queuedash.check.alerting`
runs each one's query over its own time range, reduces and thresholds it.

The first tests check that emulation against Grafana's own semantics (the Go code
it cites), without a server.
"""

from __future__ import annotations

import math

import pytest

import feeder
from queuedash.check import alerting
from queuedash.check.alerting import FIRING, NODATA, OK, reduce, threshold
from queuedash.cli.main import cli
from queuedash.compile.build import build_all
from queuedash.compile.rules import rule_groups
from queuedash.graphite.client import GraphiteClient
from queuedash.naming.metrics import Naming
from queuedash.settings import load

QUIET = {"quiet": {"mail.ping": {"sent": [1] * 12, "received": [1] * 12, "started": [1] * 12,
                                 "succeeded": [1] * 12}}}
REDIS = {"redisq": {"length": [5] * 12}}   # no `consumers` gauge: a Redis broker's poller sends none


# -- Grafana's reduce and threshold, without a server ----------------------------------------------


@pytest.mark.parametrize("values, reducer, mode, expected", [
    ([1.0, None, 2.0], "sum", "", math.nan),          # strict: a null poisons sum, mean, min, max
    ([1.0, None, 2.0], "sum", "dropNN", 3.0),
    ([None, None], "sum", "dropNN", 0.0),             # nothing left to sum: 0, a value
    ([None, None], "last", "dropNN", None),           # nothing left: no value
    ([1.0, None], "last", "", None),                  # strict last takes the point as it is
    ([1.0, None], "last", "dropNN", 1.0),             # the stat's lastNotNull
    ([1.0, None], "last", "replaceNN", 0.0),
    ([], "mean", "dropNN", None),
    ([1.0, None, 3.0], "count", "", 3.0),
    ([4.0, math.nan, 1.0], "max", "dropNN", 4.0),
    ([4.0, math.inf], "min", "dropNN", 4.0),
])
def test_reduce_follows_grafanas_mathexp(values, reducer, mode, expected):
    result = reduce(values, reducer, mode)
    if expected is None or result is None:
        assert result is expected
    elif math.isnan(expected):
        assert math.isnan(result)
    else:
        assert result == expected


@pytest.mark.parametrize("value, evaluator, expected", [
    (-1.0, {"type": "outside_range", "params": [0, 0]}, 1.0),
    (0.0, {"type": "outside_range", "params": [0, 0]}, 0.0),
    (0.5, {"type": "outside_range", "params": [0, 0]}, 1.0),
    (0.0, {"type": "ne", "params": [0]}, 0.0),
    (math.nan, {"type": "ne", "params": [0]}, 1.0),    # NaN != 0 in Go too
    (math.nan, {"type": "gt", "params": [0]}, 0.0),
    (5.0, {"type": "within_range", "params": [5, 10]}, 0.0),
    (5.0, {"type": "within_range_included", "params": [5, 10]}, 1.0),
    (50.0, {"type": "gte", "params": [50]}, 1.0),
    (50.0, {"type": "gt", "params": [50 - 1e-9]}, 1.0),
    (None, {"type": "gt", "params": [0]}, None),
])
def test_threshold_follows_grafanas_predicates(value, evaluator, expected):
    assert threshold(value, evaluator) == expected


def test_an_unknown_evaluator_is_an_error_not_a_guess():
    with pytest.raises(alerting.RuleError):
        threshold(1.0, {"type": "around", "params": [1]})


def test_interval_format_is_fixed_as_grafanas_backend_does():
    assert alerting.fix_interval_format("summarize(a.b, '5m', 'sum')") == "summarize(a.b, '5min', 'sum')"
    assert alerting.fix_interval_format("summarize(a.b, '1M')") == "summarize(a.b, '1mon')"


# -- on a real Graphite ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seeded(graphite):
    naming = Naming(prefix="qdrules")
    feeder.seed(graphite, naming)
    feeder.seed(graphite, naming, plan=QUIET, broker=REDIS, workers={}, idle_zeros=False)
    return naming


@pytest.fixture(scope="module")
def settings_path(seeded, tmp_path_factory):
    path = tmp_path_factory.mktemp("rules") / "queuedash.toml"
    path.write_text(feeder.settings_toml(seeded, queues=list(feeder.PLAN) + ["quiet", "redisq"],
                                         extra="[defaults]\nqueue_length_warning = 5\n"))
    return path


@pytest.fixture(scope="module")
def checked(graphite, settings_path):
    settings = load(settings_path)
    groups = [g.body() for g in rule_groups(settings, build_all(settings), "11.6")]
    return {c.title: c for c in alerting.check_rules(GraphiteClient(graphite.web_url), groups)}


def values(check) -> list:
    return [instance.value for instance in check.instances]


@pytest.mark.realstack
def test_the_failing_queues_rule_fires_and_the_clean_queues_does_not(checked):
    failing, clean = checked["Failed tasks on emails"], checked["Failed tasks on default"]
    assert (failing.status, values(failing)) == (FIRING, [feeder.total("emails", ["failed"])])
    assert failing.pages and "fires after 1m" in failing.describe()
    assert (clean.status, values(clean)) == (OK, [0.0])
    assert not clean.pages
    for state in ("rejected", "retried", "revoked", "unknown"):
        title = f"{state.capitalize()} tasks on emails" if state != "unknown" else \
            "Unknown tasks (NotRegistered) on emails"
        assert checked[title].status == FIRING, title
        assert values(checked[title]) == [feeder.total("emails", [state])]


@pytest.mark.realstack
def test_a_counter_that_never_fired_does_not_page(checked):
    quiet = checked["Failed tasks on quiet"]
    assert quiet.instances == ()           # StatsD never sent it: Graphite has no series at all
    assert quiet.status == OK and not quiet.pages
    assert quiet.describe() == "no series (noDataState OK: does not page)"


@pytest.mark.realstack
def test_no_data_pages_when_a_queue_asks_for_it(graphite, settings_path):
    settings = load(settings_path)
    [group] = [g.body() for g in rule_groups(settings, build_all(settings), "11.6")]
    [rule] = [r for r in group["rules"] if r["title"] == "Failed tasks on quiet"]
    check = alerting.evaluate(GraphiteClient(graphite.web_url), {**rule, "noDataState": "NoData"})
    assert check.status == NODATA and check.pages


@pytest.mark.realstack
def test_no_consumer_pages_only_where_the_consumer_count_is_known(graphite, checked):
    stuck = checked["Waiting with no consumer on reports.daily"]
    assert (stuck.status, values(stuck)) == (FIRING, [feeder.BROKER["reports.daily"]["length"][-1]])
    assert [i.name for i in stuck.instances] == ["reports_daily"]
    assert checked["Waiting with no consumer on default"].status == OK
    # Redis sends no consumer count: unknown, so no series at all and no page, although messages wait.
    redis = checked["Waiting with no consumer on redisq"]
    assert redis.status == OK and redis.instances == ()
    assert redis.describe() == "no series (noDataState OK: does not page)"


@pytest.mark.realstack
def test_backlog_workers_and_queue_length(checked):
    assert values(checked["Backlog growing on reports.daily"]) == [feeder.IN_FLIGHT]
    assert checked["Backlog growing on reports.daily"].status == FIRING
    assert checked["Backlog growing on reports.daily"].describe().endswith("fires after 15m")
    assert checked["Backlog growing on default"].status == OK
    assert checked["Backlog on reports.daily"].status == FIRING
    assert (checked["Workers offline"].status, values(checked["Workers offline"])) == (FIRING, [1.0])
    assert checked["Queue length on emails"].status == FIRING          # 5 waiting, warning from 5
    assert checked["Queue length on default"].status == OK


@pytest.mark.realstack
def test_a_query_graphite_refuses_is_an_error(graphite, seeded):
    rule = {"uid": "broken", "title": "Broken", "condition": "B", "noDataState": "OK", "for": "1m",
            "data": [{"refId": "A", "relativeTimeRange": {"from": 600, "to": 0}, "datasourceUid": "graphite",
                      "model": {"target": f"divideSeries(stats.gauges.{seeded.prefix}.broker.*.length, "
                                          f"stats.gauges.{seeded.prefix}.broker.*.length)"}},
                     {"refId": "B", "datasourceUid": "__expr__",
                      "model": {"type": "reduce", "expression": "A", "reducer": "last"}}]}
    check = alerting.evaluate(GraphiteClient(graphite.web_url), rule)
    assert check.status == alerting.ERROR and check.pages
    assert "divideSeries second argument must reference exactly 1 series" in check.message


@pytest.mark.realstack
def test_check_prints_each_rule_and_a_summary(graphite, settings_path, runner, in_tmp):
    result = runner.invoke(cli, ["-c", str(settings_path), "check", "--graphite", graphite.web_url])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "FIRING queuedash-queue-emails-failed  Failed tasks on emails  emails=6; fires after 1m" in lines
    assert "OK     queuedash-queue-default-failed  Failed tasks on default  default=0" in lines
    assert [line for line in lines if "Failed tasks on quiet" in line][0].endswith(
        "no series (noDataState OK: does not page)")
    # 5 queues x (7 conditions but reports.daily's 3, + growing + length), and workers offline
    assert lines[-1].endswith("; rules 30 OK, 12 FIRING, 0 NODATA, 0 ERROR")


BROKEN_RULE = '''
from queuedash.authoring.alerts import NOT_ZERO, Alert, attach
from queuedash.authoring.dashboard import dashboard
from queuedash.authoring.layout import Row
from queuedash.authoring.panels import Presets


def build(settings):
    presets = Presets(settings)
    # The panel's query is fine; the rule's own query (target=) is one Graphite refuses.
    broken = "divideSeries(stats.gauges.{prefix}.broker.*.length, stats.gauges.{prefix}.broker.*.length)"
    panel = attach(presets.stat("Ratio", ["sumSeries(stats.gauges.{prefix}.broker.*.length)"]),
                   Alert(name="ratio", title="Ratio", condition=NOT_ZERO, target=broken))
    return dashboard(settings, name="ratio", title="Ratio", rows=[Row("", [panel])])
'''


@pytest.mark.realstack
def test_check_fails_on_a_rule_graphite_refuses(graphite, seeded, runner, in_tmp):
    (in_tmp / "dashboards").mkdir()
    (in_tmp / "dashboards" / "ratio.py").write_text(BROKEN_RULE.format(prefix=seeded.prefix))
    (in_tmp / "queuedash.toml").write_text('queues = ["default"]\n')
    result = runner.invoke(cli, ["check", "--graphite", graphite.web_url])
    assert result.exit_code == 1
    assert "panels 1 OK, 0 EMPTY, 0 ERROR" in result.output     # the rule alone fails the check
    assert "ERROR  queuedash-ratio  Ratio  Graphite refused the query: Invalid parameters (divideSeries second " \
           "argument must reference exactly 1 series" in result.output
    assert "; rules 0 OK, 0 FIRING, 0 NODATA, 1 ERROR" in result.output
    panels_only = runner.invoke(cli, ["check", "--graphite", graphite.web_url, "--no-rules"])
    assert panels_only.exit_code == 0, panels_only.output
    assert "; rules" not in panels_only.output and "Graphite refused the query" not in panels_only.output
