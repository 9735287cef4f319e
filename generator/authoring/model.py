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

Panels that draw a query (time series, stat, table) can carry alert rules
(`alerts`, see `authoring.alerts`): they stay out of the dashboard JSON; the
compiler turns them into Grafana alert rules linked to the panel.

The model never prints and never does I/O. Imports grafanalib only.
"""

from __future__ import annotations

import attr
from attr.validators import instance_of, optional
from grafanalib import core

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


# -- targets ------------------------------------------------------------------


@attr.s
class GraphiteTarget(core.Target):
    """A Graphite query: ``target`` as written (may hold ``#A`` references) and,
    when it has references, ``targetFull`` with them expanded (contract §9.2).
    """

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
    if panel.repeat.variable:
        data["repeat"] = panel.repeat.variable
        data["repeatDirection"] = panel.repeat.direction or "h"
        if data["repeatDirection"] == "h":
            _set(data, "maxPerRow", panel.repeat.maxPerRow)
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


@attr.s
class TimeSeries(core.TimeSeries):
    # grafanalib's default is 100 points; unset, Grafana asks for the panel's width in pixels.
    maxDataPoints = attr.ib(default=None, validator=optional(instance_of(int)))
    #: Alert rules on this panel's query (authoring.alerts); not part of the dashboard JSON.
    alerts = attr.ib(default=(), converter=tuple)

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
            "stacking": self.stacking or {"group": "A", "mode": "none"},
            "thresholdsStyle": {"mode": self.thresholdsStyleMode},
        }
        _set(custom, "axisLabel", self.axisLabel)
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
        return data


@attr.s
class Stat(core.Stat):
    # grafanalib's default is 100 points; unset, Grafana asks for the panel's width in pixels.
    maxDataPoints = attr.ib(default=None, validator=optional(instance_of(int)))
    #: Alert rules on this panel's query (authoring.alerts); not part of the dashboard JSON.
    alerts = attr.ib(default=(), converter=tuple)

    def to_json_data(self):
        data = _panel_common(self, "stat")
        data["fieldConfig"] = {
            "defaults": _field_defaults(
                self, self.format, self.color or {"mode": "thresholds"}, self.mappings,
                {"decimals": self.decimals, "noValue": self.noValue if self.noValue != "none" else None},
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
        return data


@attr.s
class Table(core.Table):
    # grafanalib's default is 100 points; unset, Grafana asks for the panel's width in pixels.
    maxDataPoints = attr.ib(default=None, validator=optional(instance_of(int)))
    #: Alert rules on this panel's query (authoring.alerts); not part of the dashboard JSON.
    alerts = attr.ib(default=(), converter=tuple)

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
        return data


@attr.s
class Text(core.Text):
    """A markdown panel (runbooks, ownership): no datasource, no targets."""

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
        return data


@attr.s
class RowPanel(core.RowPanel):
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
        return data


# -- variables ----------------------------------------------------------------


@attr.s
class QueryVariable(core.Template):
    """A Graphite query variable (metrics/find), as the current editor saves it."""

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
            "options": [],
            "skipUrlSync": False,
            # Grafana computes the options on load (refresh 1); "All" is the start.
            "current": {"text": ["All"], "value": ["$__all"]} if self.includeAll else {},
        }
        _set(data, "label", self.label)
        _set(data, "allValue", self.allValue)
        return data


# -- dashboard ----------------------------------------------------------------


@attr.s
class Dashboard(core.Dashboard):
    """A dashboard; `panels` holds rows and panels in order, rows not collapsed."""

    schemaVersion = attr.ib(default=SCHEMA_VERSION)
    timezone = attr.ib(default="browser")
    graphTooltip = attr.ib(default=1, validator=instance_of(int))  # shared crosshair
    time = attr.ib(default=attr.Factory(lambda: core.Time("now-6h", "now")), validator=instance_of(core.Time))
    refresh = attr.ib(default="1m")
    name = attr.ib(default="", validator=instance_of(str))  # the definition's identity, not in JSON
    source = attr.ib(default=None, validator=optional(instance_of(str)))  # definition file, not in JSON

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
            "timepicker": {"refresh_intervals": REFRESH_INTERVALS},
            "timezone": self.timezone,
            "title": self.title,
            "uid": self.uid,
        }
        _set(data, "description", self.description)
        return data
