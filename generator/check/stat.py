"""What a stat panel shows: Grafana's reducers, value mappings, threshold colours.

Grafana computes a stat in the browser: it reduces each series with the
panel's ``reduceOptions.calcs[0]``, looks the value up in
``fieldConfig.defaults.mappings``, colours it by the thresholds unless a
mapping gave a colour, and shows ``noValue`` when there is no value. The
functions here do the same with the series graphite-web returned, so the tests
and `queuedash check` can say which number a panel shows and in which colour.

They follow Grafana's own code (grafana-data's fieldReducer.ts,
valueMappings.ts, thresholds.ts and displayProcessor.ts), quirks included:

* ``sum`` of a series with no value at all is 0, not null; ``mean``, ``max``,
  ``min`` and ``lastNotNull`` are null;
* the first threshold step's ``null`` means -Infinity, and a null value takes
  the colour of that first step;
* in a range mapping, a ``null`` bound is compared as 0 (JavaScript's
  ``isNaN(null)`` is false and ``v < null`` is ``v < 0``), so
  ``{"from": null, "to": -1}`` matches nothing. Open ranges need finite bounds.

Imports `errors`, `graphite` (for `Series`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from queuedash.errors import QueuedashError
from queuedash.graphite.client import Series
from queuedash.settings import REDUCERS



class StatError(QueuedashError):
    """A stat panel uses a reducer or an option these functions do not compute."""


def reduce(values: list[float | None], reducer: str) -> float | None:
    """One series reduced as Grafana's stat does; None is "no value"."""
    present = [v for v in values if v is not None]
    if reducer == "sum":
        return float(sum(present))          # 0 even when every point is null
    if reducer == "count":
        return float(len(values))
    if reducer == "lastNotNull":
        return present[-1] if present else None
    if reducer == "firstNotNull":
        return present[0] if present else None
    if reducer == "last":
        return values[-1] if values else None
    if reducer == "first":
        return values[0] if values else None
    if reducer == "mean":
        return sum(present) / len(present) if present else None
    if reducer == "max":
        return max(present) if present else None
    if reducer == "min":
        return min(present) if present else None
    raise StatError(f"reducer {reducer!r} is not one of {', '.join(REDUCERS)}")


def threshold_color(value: float | None, thresholds: dict) -> str | None:
    """The colour of the highest step whose value is <= `value` (null steps and values: -Infinity)."""
    mode = thresholds.get("mode", "absolute")
    if mode != "absolute":
        raise StatError(f"{mode} thresholds are not computed, only absolute ones")
    steps = thresholds.get("steps") or []
    if not steps:
        return None
    number = -math.inf if value is None else value
    active = steps[0]
    for step in steps[1:]:   # Grafana stops at the first step above the value
        if number >= _step_value(step):
            active = step
        else:
            break
    return active.get("color")


def _step_value(step: dict) -> float:
    return -math.inf if step.get("value") is None else float(step["value"])


def _js_number(bound) -> float:
    """A mapping bound as JavaScript compares it: null is 0, text that is no number is NaN."""
    if bound is None:
        return 0.0
    try:
        return float(bound)
    except (TypeError, ValueError):
        return math.nan


def _js_key(value: float) -> str:
    """The property name JavaScript looks up for a number: 5.0 is "5"."""
    return str(int(value)) if float(value).is_integer() else repr(value)


def mapping_result(value: float | None, mappings: list[dict]) -> dict | None:
    """The result ({"color", "text", ...}) of the first mapping that matches, as Grafana picks it."""
    for mapping in mappings or []:
        kind, options = mapping.get("type"), mapping.get("options") or {}
        if kind == "value" and value is not None:
            result = options.get(_js_key(value))
            if result:
                return result
        elif kind == "range" and value is not None:
            low, high = _js_number(options.get("from")), _js_number(options.get("to"))
            if not math.isnan(low) and value < low:
                continue
            if not math.isnan(high) and value > high:
                continue
            return options.get("result")
        elif kind == "special":
            match = options.get("match")
            if (match in ("null", "null+nan") and value is None) or \
                    (match in ("nan", "null+nan") and value is not None and math.isnan(value)):
                return options.get("result")
        elif kind == "regex":
            continue  # matches text values only; a stat of Graphite series holds numbers
    return None


def color(value: float | None, defaults: dict) -> str | None:
    """The colour a value shows with these field defaults: a mapping's colour first, else the thresholds'."""
    result = mapping_result(value, defaults.get("mappings") or [])
    if result and result.get("color"):
        return result["color"]
    return threshold_color(value, defaults.get("thresholds") or {})


@dataclass(frozen=True)
class Shown:
    """One value of a stat panel: the series name, the reduced value, its text and colour."""

    name: str
    value: float | None
    text: str
    color: str | None


def text(value: float | None, defaults: dict) -> str:
    """The text shown, without unit formatting: a mapping's text, the number, or ``noValue``."""
    result = mapping_result(value, defaults.get("mappings") or [])
    if result and result.get("text"):
        return result["text"]
    if value is None:
        return defaults.get("noValue") or "No data"
    return f"{value:g}"


def reducer_of(panel: dict) -> str:
    calcs = (panel.get("options") or {}).get("reduceOptions", {}).get("calcs") or ["lastNotNull"]
    return calcs[0]


def shown(panel: dict, series: list[Series]) -> list[Shown]:
    """What the stat `panel` shows for these series: one value per series, or one "No data"."""
    defaults = (panel.get("fieldConfig") or {}).get("defaults") or {}
    if not series:
        return [Shown("No data", None, text(None, defaults), color(None, defaults))]
    reducer = reducer_of(panel)
    values = [(s.target, reduce(s.values, reducer)) for s in series]
    return [Shown(name, value, text(value, defaults), color(value, defaults)) for name, value in values]

