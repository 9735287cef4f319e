"""Panel presets, layered: a base, then rate / count / duration / percent /
table, and `should_be_zero` on top.

A preset takes a title and Graphite targets (strings from `queries`, or `Query`
for a hidden helper referenced as ``#A``) and returns a model panel with its
size set; `layout` places it. Target refIds are given in order (A, B, ...) and
every target that references another gets ``targetFull`` with the references
expanded as Grafana would.

Imports `model`, `queries`, `settings`.
"""

from __future__ import annotations

import string
import sys

from grafanalib.core import GridPos, Repeat

from queuedash.authoring import model
from queuedash.authoring.queries import Query
from queuedash.graphite.targets import expand_references, references_in
from queuedash.settings import Settings

#: Smallest value the "should be zero" red step catches. Thresholds match
#: value >= step, and rates and averages can be small fractions.
NONZERO = 1e-9

#: The lowest number JSON can hold: the open lower end of a range mapping.
#: Grafana compares a null bound as 0 (JavaScript's isNaN(null) is false), so
#: {"from": null, "to": -1e-9} would match no value at all.
LOWEST = -sys.float_info.max

#: maxDataPoints of panels that reduce series to numbers themselves (stat,
#: table). Asked for fewer points than the range holds (by default, the panel's
#: width in pixels: 320 for a 4-column stat, against 360 points in an hour of
#: 10 s flushes), Graphite averages neighbouring points, and a stat's sum of
#: counts comes out too small. 43200 (Grafana's own default for alert queries)
#: covers 5 days of 10 s points or 30 days of 1 min ones.
ALL_POINTS = 43200

STAT_SIZE = (4, 4)
GRAPH_SIZE = (12, 8)
TABLE_SIZE = (12, 8)


def red_unless_zero() -> list[dict]:
    """Threshold steps: green at 0 (and below), red from the smallest positive value."""
    return model.threshold_steps(("green", None), ("red", NONZERO))


#: What a panel shows for a figure nobody could give (a Redis queue's consumers when no worker
#: could be asked): the word, on no colour, never a number that would read as zero.
UNKNOWN_TEXT = "unknown"


def unknown_when_null() -> list[dict]:
    """A value mapping: no value shows "unknown" on a transparent background."""
    return [{"type": "special", "options": {"match": "null+nan",
                                            "result": {"text": UNKNOWN_TEXT, "color": "transparent", "index": 0}}}]


def _as_query(item) -> Query:
    return item if isinstance(item, Query) else Query(str(item))


class Presets:
    """Panel presets bound to one settings object (datasource, thresholds)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.datasource = settings.datasource.ref()

    # -- base -------------------------------------------------------------

    def targets(self, items) -> list[model.GraphiteTarget]:
        queries = [_as_query(i) for i in items]
        if len(queries) > len(string.ascii_uppercase):
            raise ValueError("a panel takes at most 26 targets")
        refs = []
        for index, query in enumerate(queries):
            refs.append(query.ref or string.ascii_uppercase[index])
        if len(set(refs)) != len(refs):
            raise ValueError(f"duplicate refIds in {refs}")
        referencing = any("#" in query.target for query in queries)
        expanded = expand_references(list(zip(refs, (q.target for q in queries)))) if referencing else {}
        targets = []
        for ref, query in zip(refs, queries):
            full = expanded[ref] if referencing and references_in(query.target) else ""
            targets.append(
                model.GraphiteTarget(refId=ref, target=query.target, targetFull=full, hide=query.hidden)
            )
        return targets

    def _common(self, title, targets, size, description, repeat) -> dict:
        width, height = size
        return dict(
            title=title,
            dataSource=self.datasource,
            targets=self.targets(targets),
            description=description,
            gridPos=GridPos(h=height, w=width, x=0, y=0),
            repeat=Repeat(direction="h", variable=repeat, maxPerRow=4) if repeat else Repeat(),
        )

    def timeseries(self, title, targets, *, unit="short", description=None, size=GRAPH_SIZE,
                   stack=False, bars=False, minimum=0, legend_calcs=("mean", "max"),
                   thresholds=None, repeat=None) -> model.TimeSeries:
        return model.TimeSeries(
            **self._common(title, targets, size, description, repeat),
            unit=unit,
            drawStyle="bars" if bars else "line",
            fillOpacity=60 if bars else 10,
            stacking={"group": "A", "mode": "normal" if stack else "none"},
            legendDisplayMode="table",
            legendCalcs=list(legend_calcs),
            tooltipMode="multi",
            tooltipSort="desc",
            valueMin=minimum,
            thresholds=thresholds or model.threshold_steps(("green", None)),
            thresholdsStyleMode="line" if thresholds else "off",
        )

    def stat(self, title, targets, *, unit="short", reduce="lastNotNull", thresholds=None,
             description=None, size=STAT_SIZE, mappings=(), no_value=None, repeat=None,
             graph=False) -> model.Stat:
        return model.Stat(
            **self._common(title, targets, size, description, repeat),
            format=unit,
            reduceCalc=reduce,
            colorMode="background",
            graphMode="area" if graph else "none",
            textMode="value_and_name",
            thresholds=thresholds or model.threshold_steps(("green", None)),
            mappings=list(mappings),
            # Without it Grafana shows nothing at all for a series with no point in the range.
            noValue=no_value if no_value is not None else "No data",
            maxDataPoints=ALL_POINTS,
        )

    def table(self, title, targets, *, reducers=("mean", "max"), unit="short", description=None,
              size=TABLE_SIZE, sort_by=None) -> model.Table:
        table = model.Table(
            **self._common(title, targets, size, description, None),
            unit=unit,
            thresholds=model.threshold_steps(("green", None)),
            transformations=[
                # Graphite returns one frame per series: one row per series, one
                # column per reducer.
                {"id": "reduce", "options": {"reducers": list(reducers)}},
            ],
            maxDataPoints=ALL_POINTS,
        )
        return table

    def markdown(self, title, content: str, *, size=(24, 6), description=None) -> model.Text:
        """Text for people: runbooks, ownership, what to do when a panel is red."""
        width, height = size
        return model.Text(title=title, content=content, mode="markdown", description=description,
                          gridPos=GridPos(h=height, w=width, x=0, y=0))

    # -- layered presets ----------------------------------------------------

    def rate(self, title, targets, **options) -> model.TimeSeries:
        """Events per second."""
        return self.timeseries(title, targets, unit="ops", **options)

    def count(self, title, targets, **options) -> model.TimeSeries:
        """Events per StatsD flush interval, drawn as bars."""
        options.setdefault("bars", True)
        return self.timeseries(title, targets, unit="short", **options)

    def duration(self, title, targets, **options) -> model.TimeSeries:
        """Milliseconds (StatsD timers)."""
        return self.timeseries(title, targets, unit="ms", **options)

    def percent(self, title, targets, *, warn=1.0, alert=5.0, **options) -> model.TimeSeries:
        steps = model.threshold_steps(("green", None), ("orange", warn), ("red", alert))
        return self.timeseries(title, targets, unit="percent", thresholds=steps, **options)

    def gauge_count(self, title, targets, *, thresholds=None, description=None, size=STAT_SIZE) -> model.Stat:
        """A stat of a gauge that may be unknown (consumers): its last value, "unknown" without one."""
        return self.stat(title, targets, thresholds=thresholds, mappings=unknown_when_null(),
                         no_value=UNKNOWN_TEXT, description=description, size=size)

    def should_be_zero(self, title, targets, *, reduce="sum", description=None, repeat=None,
                       size=STAT_SIZE, graph=False, unknown_without_data=False) -> model.Stat:
        """A stat whose background is green at 0 and red at any other value.

        Green base step, red from the smallest positive value; a range mapping
        paints negative values red too (a negative backlog is as wrong as a
        positive one). No data shows as 0: a counter that never fired is zero.
        With `unknown_without_data`, no value shows "unknown" instead: for a
        condition whose figures may be missing (a Redis queue's consumers),
        absent is not zero.
        """
        negative = {"type": "range", "options": {"from": LOWEST, "to": -NONZERO, "result": {"color": "red", "index": 0}}}
        mappings = [negative]
        if unknown_without_data:
            negative["options"]["result"]["index"] = 1
            mappings = unknown_when_null() + [negative]
        return self.stat(
            title,
            targets,
            reduce=reduce,
            thresholds=red_unless_zero(),
            mappings=mappings,
            no_value=UNKNOWN_TEXT if unknown_without_data else "0",
            description=description,
            repeat=repeat,
            size=size,
            graph=graph,
        )
