"""The dashboard model: grafanalib's classes, emitting JSON current Grafana loads.

grafanalib 0.7.1 is the model (attrs value objects, `attr.evolve`, panel ids),
but its serialisers emit forms from the Grafana 4-7 era: ``schemaVersion`` 12,
``style``/``rows``/``sharedCrosshair``/``hideControls``, ``"null"`` as a string
in thresholds, Prometheus fields on every target, ``span``/``height``/``error``
on panels, tables with top-level ``columns`` and ``fontSize``, variables
without ``definition``. The subclasses here fix that at the source: each one
overrides ``to_json_data`` to emit only what Grafana 10.4-12 reads, in the
shapes its JSON Schemas accept (schemaVersion 39, datasource references as
``{"type", "uid"}`` objects, a JSON ``null`` base threshold step, no key whose
value is unset).

Nothing a definition sets is dropped without a word. Every attrs field of
these classes is either written in Grafana's current form or, when it has no
place there (legacy layout keys, Prometheus fields, removed features), refused
at construction: a value other than the field's default is a
`DefinitionError` naming the class and the field and saying what to use
instead. The defaults grafanalib supplies that reach the JSON (line width,
point size, colour modes, stat orientation, ...) are declared again here, so
the look of a bare panel is read in this file, not in grafanalib's.

Panels that draw a query (time series, stat, table) can carry alert rules
(`alerts`, see `authoring.alerts`): they stay out of the dashboard JSON; the
compiler turns them into Grafana alert rules linked to the panel.

The model never prints and never does I/O. Imports grafanalib and `errors`.
"""

from __future__ import annotations

import functools
import operator
import reprlib
from collections.abc import Callable
from dataclasses import dataclass

import attr
from attr.validators import in_, instance_of, optional
from grafanalib import core

from queuedash.errors import DefinitionError

SCHEMA_VERSION = 39  # Grafana 10.3-11.2 write 39; 11.3+ migrate it up on load.

BUILT_IN_ANNOTATION = {
    "builtIn": 1,
    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
    "enable": True,
    "hide": True,
    "iconColor": "rgba(0, 211, 255, 1)",
    "name": "Annotations & Alerts",
    "type": "dashboard",
}

REFRESH_INTERVALS = ["10s", "30s", "1m", "5m", "15m", "30m", "1h", "2h", "1d"]


def _set(mapping: dict, key: str, value) -> None:
    """Add `key` only when it carries something: unset fields are left out."""
    if value is not None and value != "" and value != [] and value != {}:
        mapping[key] = value


def threshold_steps(*steps: tuple[str, float | None]) -> list[dict]:
    """Threshold steps, ascending; the first value is None (JSON null = -Infinity)."""
    out = [{"color": color, "value": value} for color, value in steps]
    if not out or out[0]["value"] is not None:
        raise ValueError("the first threshold step must have the value None (-Infinity)")
    values = [s["value"] for s in out[1:]]
    if values != sorted(values):
        raise ValueError(f"threshold steps must ascend, got {values}")
    return out


def link(title: str, url: str) -> dict:
    """A dashboard link to a URL, opened in a new tab, keeping the time range."""
    return {
        "asDropdown": False,
        "icon": "external link",
        "includeVars": False,
        "keepTime": False,
        "tags": [],
        "targetBlank": True,
        "title": title,
        "tooltip": "",
        "type": "link",
        "url": url,
    }


# -- fields with no place in current Grafana JSON ----------------------------------------


_SHORT = reprlib.Repr()
_SHORT.maxother = _SHORT.maxstring = 60  # long enough to show a Repeat(...) whole


def unsupported(obj, field: str, advice: str) -> DefinitionError:
    """The one-line error for a field the model does not emit: class, field, value, what instead."""
    value = _SHORT.repr(functools.reduce(getattr, field.split("."), obj))
    return DefinitionError(f"{type(obj).__name__}.{field} = {value}: {advice}")


@dataclass(frozen=True)
class _Refusals:
    """The refused fields of one class, their defaults resolved once.

    A large build constructs tens of thousands of model objects: the check
    compares one tuple of values with one tuple of defaults, in C.
    """

    values: Callable[[object], tuple]
    defaults: tuple
    advice: tuple[tuple[str, object, str], ...]  # (field, default, what instead)


@functools.cache
def _refusals(cls) -> _Refusals | None:
    fields = attr.fields_dict(cls)
    advice = []
    for name, why in cls._refused.items():
        default = fields[name].default
        advice.append((name, default.factory() if isinstance(default, attr.Factory) else default, why))
    if not advice:
        return None
    get = operator.attrgetter(*(name for name, _, _ in advice))
    values = get if len(advice) > 1 else lambda obj: (get(obj),)  # attrgetter of one name is no tuple
    return _Refusals(values, tuple(default for _, default, _ in advice), tuple(advice))


class _Refuses:
    """Mixin: at construction, a refused field away from its default is a DefinitionError.

    `_refused` maps a field name to what to do instead. `_check_values` adds the
    checks that depend on values (a repeat direction without a variable, ...).
    """

    _refused: dict[str, str] = {}

    def __attrs_post_init__(self):
        refusals = _refusals(type(self))
        if refusals is not None and refusals.values(self) != refusals.defaults:
            for name, default, advice in refusals.advice:
                if getattr(self, name) != default:
                    raise unsupported(self, name, advice)
        self._check_values()

    def _check_values(self) -> None:
        pass


#: grafanalib Panel fields from the row layout of Grafana 4 and earlier; a
#: panel's size and place are its gridPos, which `layout` sets.
_LEGACY_PANEL = {
    "editable": "Grafana 10+ has no per-panel `editable`; Dashboard(editable=False) makes the dashboard read-only",
    "error": "Grafana 10+ does not read a panel's `error` flag; leave it unset",
    "height": "Grafana 10+ sizes panels by gridPos; give the preset size=(width, height)",
    "minSpan": "Grafana 10+ places panels by gridPos on the 24-column grid; leave minSpan unset",
    "span": "Grafana 10+ sizes panels by gridPos; give the preset size=(width, height)",
}


def _no_queries(what: str) -> dict[str, str]:
    """Refusals for panels that query nothing (text, rows)."""
    why = f"{what} queries nothing"
    return {name: why for name in (
        "dataSource", "targets", "cacheTimeout", "hideTimeOverride", "interval", "maxDataPoints",
        "thresholds", "thresholdType", "timeFrom", "timeShift", "transformations",
    )}


def _repeat_problem(repeat: core.Repeat, row: bool) -> str | None:
    """Why a Repeat cannot be written as Grafana reads it, or None."""
    if not repeat.variable and (repeat.direction is not None or repeat.maxPerRow is not None):
        return "direction and maxPerRow need a variable to repeat for: Repeat(variable=...)"
    if row and (repeat.direction is not None or repeat.maxPerRow is not None):
        return "a row repeats downwards; direction and maxPerRow are for panels: Repeat(variable=...)"
    if repeat.direction not in (None, "h", "v"):
        return "direction is 'h' (side by side) or 'v' (stacked)"
    if repeat.direction == "v" and repeat.maxPerRow is not None:
        return "maxPerRow applies to horizontal repeats only"
    return None


def _extra(data: dict, extra: dict | None) -> dict:
    """grafanalib's `extraJson`: merged over the panel's JSON, dicts key by key, anything else replaced."""
    for key, value in (extra or {}).items():
        current = data.get(key)
        if hasattr(current, "to_json_data"):
            current = current.to_json_data()
        data[key] = _extra(dict(current), value) if isinstance(current, dict) and isinstance(value, dict) else value
    return data


def _max_data_points():
    # grafanalib's default is 100 points; unset, Grafana asks for the panel's width in pixels.
    return attr.ib(default=None, validator=optional(instance_of(int)))


def _alerts():
    # Alert rules on the panel's query (authoring.alerts): compiled into rules, not dashboard JSON.
    return attr.ib(default=(), converter=tuple, metadata={"json": False})


def _green_base():
    # One green step from -Infinity: the least a threshold list holds (the lint refuses an empty one).
    return attr.ib(default=attr.Factory(lambda: threshold_steps(("green", None))))


def _absolute_thresholds():
    # Steps are values, not percentages of the field's min..max.
    return attr.ib(default="absolute", validator=in_(["absolute", "percentage"]))


# -- targets ------------------------------------------------------------------


@attr.s
class GraphiteTarget(_Refuses, core.Target):
    """A Graphite query: ``target`` as written (may hold ``#A`` references) and,
    when it has references, ``targetFull`` with them expanded (contract §9.2).
    """

    _refused = {
        "expr": "a Prometheus field; a Graphite query is its `target`",
        "format": "a Prometheus/SQL field; Graphite always answers with time series",
        "legendFormat": "a Prometheus field; name Graphite series with alias() or aliasByNode() in the target",
        "interval": "Graphite queries have no interval of their own; set the panel's `interval`",
        "intervalFactor": "a Prometheus field Grafana's Graphite queries do not read",
        "metric": "a legacy field Grafana's Graphite editor does not read; write the path in `target`",
        "step": "a Prometheus field; a Graphite panel's resolution is its `interval` and `maxDataPoints`",
        "instant": "a Prometheus field; a stat panel reduces a Graphite series to one value",
    }

    targetFull = attr.ib(default="", validator=instance_of(str))

    def to_json_data(self):
        data = {"refId": self.refId, "target": self.target, "textEditor": True}
        if self.targetFull and self.targetFull != self.target:
            data["targetFull"] = self.targetFull
        if self.hide:
            data["hide"] = True
        _set(data, "datasource", self.datasource)
        return data


# -- panels -------------------------------------------------------------------


def _repeat_keys(panel, data: dict) -> None:
    if panel.repeat.variable:
        data["repeat"] = panel.repeat.variable
        data["repeatDirection"] = panel.repeat.direction or "h"
        if data["repeatDirection"] == "h":
            _set(data, "maxPerRow", panel.repeat.maxPerRow)


def _panel_common(panel: core.Panel, panel_type: str) -> dict:
    data = {
        "type": panel_type,
        "id": panel.id,
        "title": panel.title,
        "gridPos": panel.gridPos,
        "datasource": panel.dataSource,
        "targets": panel.targets,
    }
    _set(data, "description", panel.description)
    _set(data, "links", panel.links)
    _set(data, "transformations", panel.transformations)
    _set(data, "interval", panel.interval)
    _set(data, "timeFrom", panel.timeFrom)
    _set(data, "timeShift", panel.timeShift)
    _set(data, "maxDataPoints", panel.maxDataPoints)
    _set(data, "cacheTimeout", panel.cacheTimeout)
    if panel.hideTimeOverride:
        data["hideTimeOverride"] = True
    if panel.transparent:
        data["transparent"] = True
    _repeat_keys(panel, data)
    return data


def _field_defaults(panel, unit: str, color: dict, mappings: list, extra: dict | None = None) -> dict:
    defaults = {
        "color": color,
        "mappings": mappings,
        "thresholds": {"mode": panel.thresholdType, "steps": panel.thresholds},
    }
    _set(defaults, "unit", unit)
    for key, value in (extra or {}).items():
        if value is not None:
            defaults[key] = value
    return defaults


class _QueryPanel(_Refuses):
    """Checks shared by the panels that query Graphite."""

    _refused = _LEGACY_PANEL

    def _check_values(self) -> None:
        problem = _repeat_problem(self.repeat, row=False)
        if problem:
            raise unsupported(self, "repeat", problem)


@attr.s
class TimeSeries(_QueryPanel, core.TimeSeries):
    # How a time series looks unless a preset says otherwise: Grafana's own
    # defaults for a new panel, written out so the JSON does not depend on them.
    colorMode = attr.ib(default="palette-classic", validator=instance_of(str))  # a colour per series
    drawStyle = attr.ib(default="line", validator=instance_of(str))
    lineInterpolation = attr.ib(default="linear", validator=instance_of(str))
    lineWidth = attr.ib(default=1, validator=instance_of(int))
    fillOpacity = attr.ib(default=0, validator=instance_of(int))
    gradientMode = attr.ib(default="none", validator=instance_of(str))
    showPoints = attr.ib(default="auto", validator=instance_of(str))  # points only when they are sparse
    pointSize = attr.ib(default=5, validator=instance_of(int))
    spanNulls = attr.ib(default=False, validator=instance_of(bool))  # a gap in the data is a gap in the line
    stacking = attr.ib(default=attr.Factory(lambda: {"group": "A", "mode": "none"}), validator=instance_of(dict))
    axisPlacement = attr.ib(default="auto", validator=instance_of(str))
    thresholdsStyleMode = attr.ib(default="off", validator=instance_of(str))  # thresholds colour, not drawn
    legendDisplayMode = attr.ib(default="list", validator=instance_of(str))
    legendPlacement = attr.ib(default="bottom", validator=instance_of(str))
    tooltipMode = attr.ib(default="single", validator=instance_of(str))
    tooltipSort = attr.ib(default="none", validator=instance_of(str))
    # Written only when changed: absent, Grafana centres bars and scales linearly.
    barAlignment = attr.ib(default=0, validator=instance_of(int))
    scaleDistributionType = attr.ib(default="linear", validator=instance_of(str))
    scaleDistributionLog = attr.ib(default=2, validator=instance_of(int))  # the base, for log and symlog
    thresholds = _green_base()
    thresholdType = _absolute_thresholds()
    maxDataPoints = _max_data_points()
    alerts = _alerts()

    def _check_values(self) -> None:
        super()._check_values()
        if self.scaleDistributionLog != 2 and self.scaleDistributionType not in ("log", "symlog"):
            raise unsupported(self, "scaleDistributionLog",
                              "a log base applies with scaleDistributionType 'log' or 'symlog'")

    def to_json_data(self):
        custom = {
            "axisPlacement": self.axisPlacement,
            "drawStyle": self.drawStyle,
            "fillOpacity": self.fillOpacity,
            "gradientMode": self.gradientMode,
            "lineInterpolation": self.lineInterpolation,
            "lineWidth": self.lineWidth,
            "pointSize": self.pointSize,
            "showPoints": self.showPoints,
            "spanNulls": self.spanNulls,
            "stacking": self.stacking,
            "thresholdsStyle": {"mode": self.thresholdsStyleMode},
        }
        _set(custom, "axisLabel", self.axisLabel)
        _set(custom, "axisSoftMin", self.axisSoftMin)
        _set(custom, "axisSoftMax", self.axisSoftMax)
        if self.barAlignment != 0:
            custom["barAlignment"] = self.barAlignment
        if self.scaleDistributionType != "linear":
            scale = {"type": self.scaleDistributionType}
            if self.scaleDistributionType in ("log", "symlog"):
                scale["log"] = self.scaleDistributionLog
            custom["scaleDistribution"] = scale
        data = _panel_common(self, "timeseries")
        data["fieldConfig"] = {
            "defaults": _field_defaults(
                self, self.unit, {"mode": self.colorMode}, self.mappings,
                {"custom": custom, "min": self.valueMin, "max": self.valueMax, "decimals": self.valueDecimals},
            ),
            "overrides": self.overrides,
        }
        data["options"] = {
            "legend": {
                "calcs": self.legendCalcs,
                "displayMode": self.legendDisplayMode,
                "placement": self.legendPlacement,
                "showLegend": self.legendDisplayMode != "hidden",
            },
            "tooltip": {"mode": self.tooltipMode, "sort": self.tooltipSort},
        }
        return _extra(data, self.extraJson)


@attr.s
class Stat(_QueryPanel, core.Stat):
    # How a stat looks unless a preset says otherwise: Grafana's own defaults
    # for a new panel, written out so the JSON does not depend on them.
    color = attr.ib(default=attr.Factory(lambda: {"mode": "thresholds"}), validator=instance_of(dict))  # by threshold step
    colorMode = attr.ib(default="value")  # the number is coloured, not the background
    graphMode = attr.ib(default="area")  # a sparkline under the number
    textMode = attr.ib(default="auto")
    alignment = attr.ib(default="auto")  # options.justifyMode
    orientation = attr.ib(default="auto")  # several values side by side or stacked, by the panel's shape
    reduceCalc = attr.ib(default="mean", validator=instance_of(str))
    fields = attr.ib(default="")  # numeric fields
    format = attr.ib(default="none")  # the unit
    noValue = attr.ib(default=None, validator=optional(instance_of(str)))  # unset: Grafana shows "No data"
    thresholds = _green_base()
    thresholdType = _absolute_thresholds()
    maxDataPoints = _max_data_points()
    alerts = _alerts()

    def to_json_data(self):
        data = _panel_common(self, "stat")
        data["fieldConfig"] = {
            "defaults": _field_defaults(
                self, self.format, self.color, self.mappings, {"decimals": self.decimals, "noValue": self.noValue},
            ),
            "overrides": self.overrides,
        }
        data["options"] = {
            "colorMode": self.colorMode,
            "graphMode": self.graphMode,
            "justifyMode": self.alignment,
            "orientation": self.orientation,
            "percentChangeColorMode": "standard",
            "reduceOptions": {"calcs": [self.reduceCalc], "fields": self.fields, "values": False},
            "showPercentChange": False,
            "textMode": self.textMode,
            "wideLayout": True,
        }
        return _extra(data, self.extraJson)


@attr.s
class Table(_QueryPanel, core.Table):
    _refused = {
        **_LEGACY_PANEL,
        "columns": "the Angular table's columns; a Grafana 10+ table reduces series with a `reduce` "
                   "transformation (the table preset adds one)",
        "fontSize": "the Angular table's font size; Grafana 10+ tables have none",
        # Grafana's current form of it, custom.cellOptions, fails Grafana's own published JSON
        # Schema (its oneOf of cell option shapes matches several at once), which every
        # dashboard queuedash builds passes.
        "displayMode": "not written: its current form, custom.cellOptions, fails Grafana's published "
                       "JSON Schema; set cellOptions per field with an override",
    }

    # How a table looks unless a preset says otherwise: Grafana's own defaults.
    align = attr.ib(default="auto", validator=instance_of(str))
    colorMode = attr.ib(default="thresholds", validator=instance_of(str))
    filterable = attr.ib(default=False, validator=instance_of(bool))
    showHeader = attr.ib(default=True, validator=instance_of(bool))
    thresholds = _green_base()
    thresholdType = _absolute_thresholds()
    maxDataPoints = _max_data_points()
    alerts = _alerts()

    def to_json_data(self):
        data = _panel_common(self, "table")
        custom = {"align": self.align, "inspect": False}
        if self.filterable:
            custom["filterable"] = True
        data["fieldConfig"] = {
            "defaults": _field_defaults(self, self.unit, {"mode": self.colorMode}, self.mappings, {"custom": custom}),
            "overrides": self.overrides,
        }
        options = {"cellHeight": "sm", "frameIndex": 0, "showHeader": self.showHeader}
        _set(options, "sortBy", self.sortBy)
        data["options"] = options
        return _extra(data, self.extraJson)


@attr.s
class Text(_Refuses, core.Text):
    """A markdown panel (runbooks, ownership): no datasource, no targets."""

    _refused = {**_LEGACY_PANEL, **_no_queries("a text panel")}

    mode = attr.ib(default="markdown", validator=in_([core.TEXT_MODE_MARKDOWN, core.TEXT_MODE_HTML, core.TEXT_MODE_TEXT]))
    maxDataPoints = _max_data_points()

    def _check_values(self) -> None:
        if self.mode == core.TEXT_MODE_TEXT:
            raise unsupported(self, "mode", "Grafana removed the 'text' mode (it shows such panels as "
                                            "markdown); use 'markdown'")
        problem = _repeat_problem(self.repeat, row=False)
        if problem:
            raise unsupported(self, "repeat", problem)

    def to_json_data(self):
        data = {
            "type": "text",
            "id": self.id,
            "title": self.title,
            "gridPos": self.gridPos,
            "options": {
                "code": {"language": "plaintext", "showLineNumbers": False, "showMiniMap": False},
                "content": self.content,
                "mode": self.mode,
            },
        }
        _set(data, "description", self.description)
        _set(data, "links", self.links)
        if self.transparent:
            data["transparent"] = True
        _repeat_keys(self, data)
        return _extra(data, self.extraJson)


@attr.s
class RowPanel(_Refuses, core.RowPanel):
    _refused = {
        **_LEGACY_PANEL,
        **_no_queries("a row"),
        "description": "a row has no description in Grafana's JSON; put text in a Text panel",
        "links": "a row has no links in Grafana's JSON; give them to a panel or the dashboard",
        "transparent": "a row has no background to hide",
    }

    maxDataPoints = _max_data_points()

    def _check_values(self) -> None:
        problem = _repeat_problem(self.repeat, row=True)
        if problem:
            raise unsupported(self, "repeat", problem)

    def to_json_data(self):
        data = {
            "type": "row",
            "id": self.id,
            "title": self.title,
            "gridPos": self.gridPos,
            "collapsed": self.collapsed,
            "panels": self.panels,
        }
        if self.repeat.variable:
            data["repeat"] = self.repeat.variable
        return _extra(data, self.extraJson)


# -- variables ----------------------------------------------------------------


_NOT_INTERVAL = "an interval-variable option; a query variable has none"
_NO_TAGS = "Grafana 8 removed variable tags; filter the values with `regex`"


@attr.s
class QueryVariable(_Refuses, core.Template):
    """A Graphite query variable (metrics/find), as the current editor saves it."""

    _refused = {
        "type": "QueryVariable is a Graphite query variable; other variable types are not modelled",
        "useTags": _NO_TAGS,
        "tagsQuery": _NO_TAGS,
        "tagValuesQuery": _NO_TAGS,
        "auto": _NOT_INTERVAL,
        "autoCount": _NOT_INTERVAL,
        "autoMin": _NOT_INTERVAL,
    }

    refresh = attr.ib(default=1, validator=instance_of(int))  # on dashboard load: the list follows Graphite
    sort = attr.ib(default=1)  # alphabetical, ascending
    hide = attr.ib(default=0)  # label and value shown

    def __attrs_post_init__(self):
        core.Template.__attrs_post_init__(self)  # grafanalib's own (its `current`; ours is written below)
        _Refuses.__attrs_post_init__(self)

    def _current_selection(self) -> dict:
        if self.default is not None:
            value = [self.default] if self.multi and isinstance(self.default, str) else self.default
            return {"text": value, "value": value}
        # Grafana computes the options on load (refresh 1); "All" is the start.
        return {"text": ["All"], "value": ["$__all"]} if self.includeAll else {}

    def to_json_data(self):
        data = {
            "type": "query",
            "name": self.name,
            "datasource": self.dataSource,
            "query": self.query,
            "definition": self.query,  # what the variable editor shows
            "refresh": self.refresh,
            "includeAll": self.includeAll,
            "multi": self.multi,
            "regex": self.regex or "",
            "sort": self.sort,
            "hide": self.hide,
            "options": self.options,
            "skipUrlSync": False,
            "current": self._current_selection(),
        }
        _set(data, "label", self.label)
        _set(data, "allValue", self.allValue)
        return data


# -- dashboard ----------------------------------------------------------------


@attr.s
class Dashboard(_Refuses, core.Dashboard):
    """A dashboard; `panels` holds rows and panels in order, rows not collapsed."""

    _refused = {
        "gnetId": "a grafana.com id Grafana writes on import; leave it unset",
        "hideControls": "removed from Grafana; TimePicker(hidden=True) hides the time picker",
        "id": "instance-local: Grafana assigns it; the uid is the dashboard's identity",
        "inputs": "import inputs are written by `queuedash build --for-import`",
        "rows": "the row layout of Grafana 4; put panels and RowPanels in `panels` (layout.Row does)",
        "schemaVersion": f"queuedash writes the shapes of schemaVersion {SCHEMA_VERSION}; "
                         "newer Grafana versions migrate them on load",
        "sharedCrosshair": "removed from Grafana; graphTooltip=1 is the shared crosshair",
        "style": "removed from Grafana; the theme is each user's preference",
        "version": "Grafana's save counter; `queuedash deploy` sends the live version itself",
    }

    schemaVersion = attr.ib(default=SCHEMA_VERSION)
    timezone = attr.ib(default="browser")
    graphTooltip = attr.ib(default=1, validator=instance_of(int))  # shared crosshair
    time = attr.ib(default=attr.Factory(lambda: core.Time("now-6h", "now")), validator=instance_of(core.Time))
    timePicker = attr.ib(
        default=attr.Factory(lambda: core.TimePicker(refreshIntervals=list(REFRESH_INTERVALS), timeOptions=[])),
        validator=instance_of(core.TimePicker),
    )
    refresh = attr.ib(default="1m")
    # The definition's identity (uids, --only, [[zero_metrics]]), not part of Grafana's JSON.
    name = attr.ib(default="", validator=instance_of(str), metadata={"json": False})

    def _check_values(self) -> None:
        if self.timePicker.timeOptions:
            raise unsupported(self, "timePicker.timeOptions",
                              "Grafana no longer reads time_options (schemaVersion 41 drops them); pass timeOptions=[]")

    def _timepicker(self) -> dict:
        picker = {"refresh_intervals": self.timePicker.refreshIntervals}
        if self.timePicker.hidden:
            picker["hidden"] = True
        _set(picker, "nowDelay", self.timePicker.nowDelay)
        return picker

    def to_json_data(self):
        data = {
            "annotations": {"list": [BUILT_IN_ANNOTATION] + list(self.annotations.list)},
            "editable": self.editable,
            "fiscalYearStartMonth": 0,
            "graphTooltip": self.graphTooltip,
            "links": self.links,
            "liveNow": False,
            "panels": self.panels,
            "refresh": self.refresh,
            "schemaVersion": self.schemaVersion,
            "tags": self.tags,
            "templating": self.templating,
            "time": self.time,
            "timepicker": self._timepicker(),
            "timezone": self.timezone,
            "title": self.title,
            "uid": self.uid,
        }
        _set(data, "description", self.description)
        return data
