"""Every stat panel of the built dashboards, run through Grafana's own display code
(`@grafana/data`, tests/grafana_display.py) for 0, a positive, a fractional and a negative value
and for no data at all: the text a user reads and the background colour.

The expectations are what each panel means, written per kind of panel:

* should be zero: green "0" at zero and when there is no data (a counter that never fired);
  red at any other value, negative ones included (a negative backlog is as wrong as a positive);
* at least N (workers online, workers consuming a queue with `expected_workers`): red below N;
* information (succeeded, queue length, consumers): green whatever the value, orange from
  the queue length warning;
* a figure that may be unknown (consumers, and the waiting-with-no-consumer condition built on
  them): "unknown" on no colour when there is no value, never a 0 that would read as known.
"""

from __future__ import annotations

import pytest
from grafana_display import grafana_display  # noqa: F401 (a fixture)

SERIES = {
    "zero": [0.0, 0.0],
    "positive": [1.0, 2.0],
    "fractional": [0.25, None],
    "negative": [-2.0, None],
    "only nulls": [None, None],
    "no data": None,
}

# Titles of the stats that are not should-be-zero panels, by kind.
AT_LEAST = {"Workers online": 3, ("queue-emails", "Workers consuming"): 2}
INFORMATION = {"Succeeded", "Queue length now", "Queue length", "Consumers", "Workers consuming"}
MAY_BE_UNKNOWN = {"Consumers", "Workers consuming", "Waiting with no consumer"}


def stat_panels(built):
    for name, item in sorted(built.items()):
        for panel in item.data["panels"]:
            for candidate in [panel, *(panel.get("panels") or [])]:
                if candidate.get("type") == "stat":
                    yield name, candidate


def graphite_series(values):
    if values is None:
        return []
    return [{"target": "series", "datapoints": [[v, 1_700_000_000 + 10 * i] for i, v in enumerate(values)]}]


def reduced(panel, values):
    """Grafana's reducers: the sum of no value is 0, the last non-null of none is none."""
    present = [v for v in values if v is not None]
    reducer = panel["options"]["reduceOptions"]["calcs"][0]
    return {"sum": sum(present), "lastNotNull": present[-1] if present else None}[reducer]


def text_of(value: float) -> str:
    # Grafana's "short" unit: whole numbers as they are, fractions with three decimals below 1.
    return f"{value:g}" if float(value).is_integer() else f"{value:.3f}"


def expected(name, panel, values):
    """(text, colour) the panel must show for these values."""
    title = panel["title"]
    minimum = AT_LEAST.get((name, title), AT_LEAST.get(title))
    value = None if values is None else reduced(panel, values)
    if value is None:
        if title in MAY_BE_UNKNOWN:
            return "unknown", "transparent"
        no_value = panel["fieldConfig"]["defaults"].get("noValue") or "No data"
        return no_value, ("red" if minimum else "green")
    if minimum:
        return text_of(value), "green" if value >= minimum else "red"
    if title in INFORMATION:
        return text_of(value), "green"
    return text_of(value), "green" if value == 0 else "red"


def test_every_dashboard_has_stats_of_each_kind(built):
    titles = {panel["title"] for _, panel in stat_panels(built)}
    assert {"Failed tasks", "Backlog", "Workers offline", "Waiting with no consumer"} <= titles
    assert {"Workers online", "Succeeded", "Queue length now", "Workers consuming"} <= titles


@pytest.mark.parametrize("case", list(SERIES))
def test_every_stat_panel_shows_the_right_text_in_the_right_colour(built, grafana_display, case):  # noqa: F811
    values = SERIES[case]
    wrong = []
    for name, panel in stat_panels(built):
        [shown] = grafana_display.shown(panel, graphite_series(values))
        want = expected(name, panel, values)
        if (shown.text, shown.color) != want:
            wrong.append(f"{name}: {panel['title']!r} shows {shown.text!r} on {shown.color}, not {want[0]!r} "
                         f"on {want[1]}")
    assert not wrong, "\n".join(wrong)


def test_the_failed_stat_of_the_tasks_dashboard_is_red_below_zero_like_every_should_be_zero_panel(
        built, grafana_display):  # noqa: F811
    panel = next(p for name, p in stat_panels(built) if name == "tasks" and p["title"].startswith("Failed in"))
    assert [(s.text, s.color) for s in grafana_display.shown(panel, graphite_series([-2.0]))] == [("-2", "red")]
