"""Evaluate alert rules against a Graphite, the way Grafana's alerting does, now.

For each rule (JSON, as the provisioning API takes it) this module does what
Grafana's scheduler does at an evaluation, from Grafana's own code:

1. the query (G:pkg/tsdb/graphite/query.go): ``targetFull``, else ``target``,
   quoted ``'<n>m'`` made ``'<n>min'`` (``'<n>M'``: ``'<n>mon'``), POSTed to
   ``/render`` with ``from`` and ``until`` as Unix seconds (now minus the query's
   ``relativeTimeRange``) and the model's ``maxDataPoints``; one frame per series;
2. the reduce expression (G:pkg/expr/mathexp/reduce.go): ``sum``, ``mean``,
   ``min``, ``max``, ``count``, ``last`` over each series; in the default
   (strict) mode a null or NaN point makes ``sum``, ``mean``, ``min`` and ``max``
   NaN and ``last`` takes the last point as it is; ``dropNN`` drops null, NaN and
   infinite points first and turns a NaN result into no value; ``replaceNN``
   replaces them with ``replaceWithValue``;
3. the threshold expression (G:pkg/expr/threshold.go): ``gt``, ``lt``,
   ``within_range`` (exclusive), ``outside_range`` (exclusive), ``eq``, ``ne``,
   ``gte``, ``lte`` and the ``*_included`` ranges; no value stays no value;
4. the state (G:pkg/services/ngalert/eval/eval.go): no series at all, or every
   value absent, is NoData, which the rule's ``noDataState`` maps (``OK``:
   Normal, ``NoData``: a DatasourceNoData alert, ``Alerting``: firing); a
   condition of 1 is Alerting, 0 Normal; a query Graphite refuses is an Error
   (``execErrState``).

The rule's ``for`` is reported, not waited for: FIRING says the condition holds
now; Grafana pages once it has held for that long.

Works on rule JSON, never on the model; never prints. Imports `errors`,
`graphite`.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass

from queuedash.errors import QueuedashError
from queuedash.graphite.client import GraphiteClient, QueryError

FIRING, OK, NODATA, ERROR = "FIRING", "OK", "NODATA", "ERROR"
STATES = (OK, FIRING, NODATA, ERROR)
EXPRESSION_UIDS = ("__expr__", "-100")
_MINUTES = re.compile(r"'(\d+)m'")
_MONTHS = re.compile(r"'(\d+)M'")


class RuleError(QueuedashError):
    """A rule this module cannot evaluate as Grafana would (an expression it does not know)."""


def fix_interval_format(target: str) -> str:
    """Grafana's Graphite backend: ``'5m'`` -> ``'5min'``, ``'1M'`` -> ``'1mon'``."""
    return _MONTHS.sub(r"'\1mon'", _MINUTES.sub(r"'\1min'", target))


# -- Grafana's reduce ------------------------------------------------------------------------

def _strict(values: list[float | None], reducer: str) -> float | None:
    nan = math.nan
    if reducer == "count":
        return float(len(values))
    if reducer == "last":
        return values[-1] if values else nan
    if reducer in ("min", "max") and not values:
        return nan
    if any(v is None or math.isnan(v) for v in values):
        return nan
    if reducer == "sum":
        return float(sum(values))
    if reducer == "mean":
        return float(sum(values)) / len(values) if values else nan
    if reducer == "min":
        return float(min(values))
    if reducer == "max":
        return float(max(values))
    raise RuleError(f"reducer {reducer!r} is not one of Grafana's (sum, mean, min, max, count, last)")


def reduce(values: list[float | None], reducer: str, mode: str = "", replace_with: float = 0.0) -> float | None:
    """One series reduced as Grafana's reduce expression does; None is "no value", NaN is NaN."""
    def bad(value) -> bool:
        return value is None or math.isnan(value) or math.isinf(value)

    if mode == "dropNN":
        result = _strict([v for v in values if not bad(v)], reducer)
        return None if result is not None and math.isnan(result) else result
    if mode == "replaceNN":
        result = _strict([replace_with if bad(v) else v for v in values], reducer)
        return replace_with if result is not None and math.isnan(result) else result
    if mode:
        raise RuleError(f"reduce mode {mode!r} is not one of Grafana's (strict, dropNN, replaceNN)")
    return _strict(values, reducer)


# -- Grafana's threshold -----------------------------------------------------------------------

_PREDICATES = {
    "gt": lambda v, p: v > p[0],
    "lt": lambda v, p: v < p[0],
    "eq": lambda v, p: v == p[0],
    "ne": lambda v, p: v != p[0],
    "gte": lambda v, p: v >= p[0],
    "lte": lambda v, p: v <= p[0],
    "within_range": lambda v, p: p[0] < v < p[1],
    "outside_range": lambda v, p: v < p[0] or v > p[1],
    "within_range_included": lambda v, p: p[0] <= v <= p[1],
    "outside_range_included": lambda v, p: v <= p[0] or v >= p[1],
}


def threshold(value: float | None, evaluator: dict) -> float | None:
    """1 when the evaluator holds, 0 when not, None for no value (NaN compares false, so
    ``ne`` holds for it: Grafana's own quirk)."""
    kind, params = evaluator.get("type"), evaluator.get("params") or []
    predicate = _PREDICATES.get(kind)
    if predicate is None:
        raise RuleError(f"evaluator {kind!r} is not one Grafana knows")
    if value is None:
        return None
    return 1.0 if predicate(value, [float(p) for p in params]) else 0.0


# -- one rule ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Instance:
    """One series of the rule: its name, the reduced value, its state."""

    name: str
    value: float | None
    state: str  # Alerting, Normal, NoData


@dataclass(frozen=True)
class RuleCheck:
    uid: str
    title: str
    group: str
    status: str                       # FIRING, OK, NODATA, ERROR
    target: str                       # as sent to Graphite
    instances: tuple[Instance, ...] = ()
    message: str = ""
    pending: str = ""                 # the rule's `for`
    no_data_state: str = "NoData"

    @property
    def no_data(self) -> bool:
        return not self.instances or all(i.state == "NoData" for i in self.instances)

    @property
    def pages(self) -> bool:
        """Whether Grafana would notify: firing (after `for`), a NoData or an Error alert."""
        return self.status in (FIRING, NODATA, ERROR)

    def describe(self) -> str:
        if self.status == ERROR:
            return self.message
        if self.no_data:
            what = "no series" if not self.instances else "no value in the time range"
            result = {OK: "does not page", NODATA: "a NoData alert pages", FIRING: "fires"}[self.status]
            return f"{what} (noDataState {self.no_data_state}: {result})"
        shown = ", ".join(f"{i.name}={_number(i.value)}" for i in self.instances[:5])
        more = f" and {len(self.instances) - 5} more" if len(self.instances) > 5 else ""
        return f"{shown}{more}" + (f"; fires after {self.pending}" if self.status == FIRING and self.pending not in
                                   ("", "0s") else "")


def _number(value: float | None) -> str:
    return "none" if value is None else f"{value:g}"


def _data(rule: dict) -> dict:
    return {item.get("refId"): item for item in rule.get("data") or [] if isinstance(item, dict)}


def evaluate(client: GraphiteClient, rule: dict, group: str = "", now: float | None = None) -> RuleCheck:
    """The rule evaluated now against the Graphite of `client`."""
    now = int(time.time() if now is None else now)
    data = _data(rule)
    common = dict(uid=str(rule.get("uid")), title=str(rule.get("title")), group=group,
                  pending=str(rule.get("for") or ""), no_data_state=str(rule.get("noDataState") or "NoData"))
    queries = [item for item in data.values() if item.get("datasourceUid") not in EXPRESSION_UIDS]
    if len(queries) != 1:
        raise RuleError(f"rule {common['uid']!r}: {len(queries)} datasource queries; this check runs one")
    query = queries[0]
    model = query.get("model") or {}
    target = fix_interval_format(model.get("targetFull") or model.get("target") or "")
    span = query.get("relativeTimeRange") or {}
    try:
        series = client.render([target], str(now - int(span.get("from", 600))), str(now - int(span.get("to", 0))),
                               int(model.get("maxDataPoints") or 43200))
    except QueryError as exc:
        return RuleCheck(status=ERROR, target=target, message=f"Graphite refused the query: {exc}", **common)
    values = {query.get("refId"): [(s.target, s.values) for s in series]}
    condition = rule.get("condition")
    results = _expressions(data, values, condition)
    instances = tuple(Instance(name, reduced, _state(result)) for name, reduced, result in results)
    return RuleCheck(status=_status(instances, common["no_data_state"]), target=target, instances=instances, **common)


def _expressions(data: dict, values: dict, condition) -> list[tuple[str, float | None, float | None]]:
    """Run the reduce and threshold expressions down to the condition: per series, the
    reduced value and the condition's result."""
    reduced: dict = {}
    results: dict = {}
    for ref, item in data.items():
        if item.get("datasourceUid") not in EXPRESSION_UIDS:
            continue
        model = item.get("model") or {}
        kind, source = model.get("type"), model.get("expression")
        if kind == "reduce":
            settings = model.get("settings") or {}
            reduced[ref] = [(name, reduce(points, model.get("reducer", "last"), settings.get("mode", ""),
                                          float(settings.get("replaceWithValue") or 0.0)))
                            for name, points in values.get(source, [])]
            results[ref] = [(name, value, value) for name, value in reduced[ref]]
        elif kind == "threshold":
            evaluator = ((model.get("conditions") or [{}])[0] or {}).get("evaluator") or {}
            inputs = reduced.get(source, [])
            results[ref] = [(name, value, threshold(value, evaluator)) for name, value in inputs]
        else:
            raise RuleError(f"expression {ref!r} of type {kind!r}: this check evaluates reduce and threshold only")
    if condition not in results:
        raise RuleError(f"condition {condition!r} is not a reduce or threshold expression of the rule")
    return results[condition]


def _state(result: float | None) -> str:
    if result is None:
        return "NoData"
    return "Normal" if result == 0 else "Alerting"  # NaN is non-zero: Alerting (eval.go)


def _status(instances: tuple[Instance, ...], no_data_state: str) -> str:
    if any(i.state == "Alerting" for i in instances):
        return FIRING
    if instances and not all(i.state == "NoData" for i in instances):
        return OK
    return {"OK": OK, "Alerting": FIRING}.get(no_data_state, NODATA)


def check_rules(client: GraphiteClient, groups: list[dict], now: float | None = None) -> list[RuleCheck]:
    """Every rule of `groups` (rule group bodies), in group and uid order."""
    checks = []
    for group in groups:
        for rule in sorted(group.get("rules") or [], key=lambda r: str(r.get("uid"))):
            checks.append(evaluate(client, rule, str(group.get("title") or ""), now))
    return checks


def counts(checks: list[RuleCheck]) -> dict[str, int]:
    found = {state: 0 for state in STATES}
    for check in checks:
        found[check.status] += 1
    return found

