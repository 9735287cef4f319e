"""What a stat panel shows, computed as Grafana computes it (queuedash.check.stat)."""

import pytest

from queuedash.check import stat
from queuedash.graphite.client import Series

NULL_SERIES = [None, None]


@pytest.mark.parametrize("reducer, values, expected", [
    ("sum", [1, None, 2], 3),
    ("sum", NULL_SERIES, 0),            # Grafana's sum starts at 0
    ("sum", [], 0),
    ("lastNotNull", [1, 2, None], 2),
    ("lastNotNull", NULL_SERIES, None),
    ("last", [1, 2, None], None),
    ("mean", [1, None, 2], 1.5),
    ("mean", NULL_SERIES, None),
    ("max", [1, 5, None], 5),
    ("min", [1, 5, None], 1),
    ("count", [1, None], 2),
])
def test_reducers_follow_grafana(reducer, values, expected):
    assert stat.reduce(values, reducer) == expected


def test_an_unknown_reducer_is_a_domain_error():
    with pytest.raises(stat.StatError, match="reducer 'median'"):
        stat.reduce([1], "median")


THRESHOLDS = {"mode": "absolute", "steps": [{"color": "green", "value": None}, {"color": "orange", "value": 10},
                                            {"color": "red", "value": 50}]}


@pytest.mark.parametrize("value, colour", [(None, "green"), (-5, "green"), (9.99, "green"), (10, "orange"),
                                           (49, "orange"), (50, "red"), (1e9, "red")])
def test_thresholds_take_the_highest_step_at_or_below_the_value(value, colour):
    assert stat.threshold_color(value, THRESHOLDS) == colour


def test_range_mappings_win_over_thresholds():
    defaults = {"thresholds": THRESHOLDS,
                "mappings": [{"type": "range", "options": {"from": 20, "to": 30, "result": {"color": "blue"}}}]}
    assert [stat.color(v, defaults) for v in (15, 25, 35)] == ["orange", "blue", "orange"]


def test_a_null_range_bound_is_compared_as_zero_like_javascript_does():
    # isNaN(null) is false in JavaScript and -5 < null is -5 < 0: this mapping never matches.
    mapping = [{"type": "range", "options": {"from": None, "to": -1e-9, "result": {"color": "red"}}}]
    assert stat.mapping_result(-5, mapping) is None
    assert stat.mapping_result(0, [{"type": "range", "options": {"from": None, "to": None,
                                                                 "result": {"color": "x"}}}]) == {"color": "x"}


def test_no_data_shows_no_value_in_the_base_colour():
    panel = {"fieldConfig": {"defaults": {"thresholds": THRESHOLDS, "noValue": "0"}}}
    assert stat.shown(panel, []) == [stat.Shown("No data", None, "0", "green")]


def test_should_be_zero_panels_are_red_on_either_side_of_zero(built):
    """The generated preset: green at 0, red above it and below it (a negative backlog)."""
    panel = next(p for p in built["broker"].data["panels"] if p["title"] == "Backlog: E-mail")
    defaults = panel["fieldConfig"]["defaults"]
    colours = {v: stat.color(v, defaults) for v in (-3, -1e-6, 0, None, 1e-6, 4)}
    assert colours == {-3: "red", -1e-6: "red", 0: "green", None: "green", 1e-6: "red", 4: "red"}

    series = [Series("received - processed", ((1.0, 10), (-4.0, 20), (None, 30)))]
    assert stat.shown(panel, series) == [stat.Shown("received - processed", -3.0, "-3", "red")]
