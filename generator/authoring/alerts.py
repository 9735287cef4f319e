"""Alert rules: what a panel's query must not do, as a Grafana-managed alert rule.

A definition attaches an `Alert` to the panel it belongs to (`attach`), so the
rule runs the panel's own query: the panel and its rule cannot disagree. The
compiler (`compile/rules.py`) finds the alerts on the placed panels, where each
panel has its id, and calls `rule_json` with what only the build knows (the
dashboard's uid, the panel id, the rule's uid and group).

What Grafana runs (contract §11b, and Grafana's source where it says more):

* ``A``: the panel's Graphite target, fully expanded (alerting sends each query
  alone and never expands ``#X``; pkg/tsdb/graphite/query.go reads
  ``targetFull``, else ``target``), over the last `window` seconds, with every
  point (``maxDataPoints`` 43200, as the stat panels ask);
* ``B``: a reduce expression in ``dropNN`` mode (pkg/expr/mathexp/reduce.go):
  nulls are dropped, so a sum over slots StatsD has not flushed yet is the sum of
  the points there are, and ``last`` is the last non-null value, as the stat
  panels compute them; a series with no point at all reduces to no value;
* ``C``: a threshold expression on ``B`` (pkg/expr/threshold.go). "Not zero" is
  ``ne [0]`` from Grafana 11.6, ``outside_range [0, 0]`` before it (``eq``,
  ``ne``, ``gte``, ``lte`` arrived in about 11.6); "at least N" is ``gte [N]``
  from 11.6 and ``gt [N - 1e-9]`` before, the panels' own "red from the smallest
  step above" rule.

A query that returns no series (a counter that never fired: StatsD sends only
counters it has seen) is Grafana's NoData state, which `no_data` maps (``OK`` by
default: it does not page anyone).

Imports `durations`, `settings`, and attrs (to attach rules to the model's panels).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field

from queuedash.durations import format_duration
from queuedash.settings import AlertOptions

#: Grafana's expression datasource uid (older docs: "-100").
EXPRESSION_UID = "__expr__"
#: Every point of the window: Grafana's default for alert queries (models.AlertQuery).
ALL_POINTS = 43200
INTERVAL_MS = 1000
#: Grafana's server-side reducers (pkg/expr/mathexp/reduce.go GetSupportedReduceFuncs).
REDUCERS = ("sum", "mean", "min", "max", "count", "last")
#: The smallest step above a threshold, as the panels use it (panels.NONZERO).
NONZERO = 1e-9
#: The first release with eq, ne, gte, lte and the *_included evaluators (G#99516;
#: the exact release is UNVERIFIED, contract §11b).
EQUALITY_EVALUATORS_SINCE = (11, 6)
#: The evaluators every version 10.4+ knows.
BASIC_EVALUATORS = ("gt", "lt", "within_range", "outside_range")
NEWER_EVALUATORS = ("eq", "ne", "gte", "lte", "within_range_included", "outside_range_included")
#: The annotations that link a rule to its panel; Grafana wants both or neither.
DASHBOARD_UID = "__dashboardUid__"
PANEL_ID = "__panelId__"


def version_tuple(version: str) -> tuple[int, int]:
    """(major, minor) of a Grafana version such as "11.6", "11.6.0" or "13.0.0-pre"."""
    match = re.match(r"\s*v?(\d+)\.(\d+)", version or "")
    if not match:
        raise ValueError(f"not a Grafana version: {version!r}")
    return int(match.group(1)), int(match.group(2))


def has_equality_evaluators(version: str) -> bool:
    return version_tuple(version) >= EQUALITY_EVALUATORS_SINCE


def evaluators_of(version: str) -> tuple[str, ...]:
    """The threshold evaluator types the Grafana `version` evaluates."""
    return BASIC_EVALUATORS + (NEWER_EVALUATORS if has_equality_evaluators(version) else ())


@dataclass(frozen=True)
class Condition:
    """When the reduced value fires: "not_zero", "above" `value` or "at_least" `value`."""

    kind: str
    value: float = 0.0

    def __post_init__(self):
        if self.kind not in ("not_zero", "above", "at_least"):
            raise ValueError(f"unknown condition {self.kind!r}: not_zero, above or at_least")

    def evaluator(self, version: str) -> dict:
        """Grafana's threshold evaluator for this condition on the Grafana `version`."""
        newer = has_equality_evaluators(version)
        if self.kind == "not_zero":
            return {"params": [0], "type": "ne"} if newer else {"params": [0, 0], "type": "outside_range"}
        if self.kind == "above":
            return {"params": [_number(self.value)], "type": "gt"}
        if newer:
            return {"params": [_number(self.value)], "type": "gte"}
        return {"params": [self.value - NONZERO], "type": "gt"}

    def describe(self) -> str:
        if self.kind == "not_zero":
            return "not zero"
        word = "above" if self.kind == "above" else "at least"
        return f"{word} {_number(self.value)}"


NOT_ZERO = Condition("not_zero")


def above(value: float) -> Condition:
    return Condition("above", value)


def at_least(value: float) -> Condition:
    return Condition("at_least", value)


def _number(value: float):
    """Whole numbers as ints: JSON and Grafana's Go both print 100, not 100.0."""
    return int(value) if float(value).is_integer() else value


@dataclass(frozen=True)
class Alert:
    """An alert rule on the panel it is attached to.

    `name` is the rule's identity: its uid derives from it, so it must be unique
    in the project and stay the same across builds. `target` replaces the panel's
    query for the rule (a guarded form of it, say); by default the rule runs the
    panel's visible target (`ref` names it when there are several).
    """

    name: str
    title: str
    condition: Condition
    reducer: str = "last"
    options: AlertOptions = field(default_factory=AlertOptions)
    #: The rule's `for` in seconds; None: the options' `pending`.
    pending: int | None = None
    #: The rule group's name; "" is the group named after the folder.
    group: str = ""
    labels: tuple[tuple[str, str], ...] = ()
    summary: str = ""
    description: str = ""
    runbook_url: str = ""
    target: str | None = None
    ref: str | None = None

    def __post_init__(self):
        if not self.name.strip():
            raise ValueError("an alert needs a name (its identity)")
        if not self.title.strip():
            raise ValueError(f"alert {self.name!r} needs a title")
        if self.reducer not in REDUCERS:
            raise ValueError(f"alert {self.name!r}: reducer {self.reducer!r} is not one of {', '.join(REDUCERS)}")

    @property
    def for_seconds(self) -> int:
        return self.options.pending if self.pending is None else self.pending


def attach(panel, *alerts: Alert):
    """The panel with these alert rules on it: a new panel, the one given stays as it was.

    A copy, not attr.evolve, as `layout` places panels: evolve runs the class's
    __init__ again, some fifty validators over values that do not change, for
    every rule of every queue. `alerts` has no validator to skip.
    """
    attached = copy.copy(panel)
    attached.alerts = tuple(panel.alerts) + tuple(alerts)
    return attached


def rule_json(alert: Alert, *, uid: str, target: str, datasource_uid: str, dashboard_uid: str, panel_id: int,
              version: str, org_id: int = 1) -> dict:
    """The rule as Grafana's provisioning API takes it (ProvisionedAlertRule, §11b),
    inside a rule group body (the group supplies folder, group name and interval)."""
    window = alert.options.window
    annotations = {DASHBOARD_UID: dashboard_uid, PANEL_ID: str(panel_id)}
    for key, value in (("summary", alert.summary), ("description", alert.description),
                       ("runbook_url", alert.runbook_url)):
        if value:
            annotations[key] = value
    return {
        "annotations": annotations,
        "condition": "C",
        "data": [
            {
                "datasourceUid": datasource_uid,
                "model": {
                    "datasource": {"type": "graphite", "uid": datasource_uid},
                    "intervalMs": INTERVAL_MS,
                    "maxDataPoints": ALL_POINTS,
                    "refId": "A",
                    "target": target,
                    "targetFull": target,
                },
                "refId": "A",
                "relativeTimeRange": {"from": window, "to": 0},
            },
            _expression("B", {"expression": "A", "reducer": alert.reducer, "settings": {"mode": "dropNN"},
                              "type": "reduce"}),
            _expression("C", {"conditions": [{"evaluator": alert.condition.evaluator(version)}], "expression": "B",
                              "type": "threshold"}),
        ],
        "execErrState": "Error",
        "for": format_duration(alert.for_seconds),
        "isPaused": False,
        "labels": dict(alert.labels),
        "noDataState": alert.options.no_data,
        "orgID": org_id,
        "title": alert.title,
        "uid": uid,
    }


def _expression(ref: str, model: dict) -> dict:
    return {
        "datasourceUid": EXPRESSION_UID,
        "model": {**model, "datasource": {"type": EXPRESSION_UID, "uid": EXPRESSION_UID},
                  "intervalMs": INTERVAL_MS, "maxDataPoints": ALL_POINTS, "refId": ref},
        "refId": ref,
        "relativeTimeRange": {"from": 0, "to": 0},
    }
