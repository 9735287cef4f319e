"""Evaluate built dashboards against a Graphite, the way Grafana's Graphite datasource does.

Grafana shows a broken or misnamed Graphite target as an empty panel, not as an
error, so the only proof that a query is right is to run it. For every panel
(children of rows included) and every visible target, this module does what
Grafana's frontend does before it calls graphite-web:

1. template variables are replaced by concrete values: each variable's All is
   its ``allValue`` (selection `ALL`), or the values ``/metrics/find`` returned
   for it, as a glob ``{a,b}`` (selection `FOUND`); a repeated panel or row is
   evaluated once per value of its repeat variable, as Grafana clones it;
2. quoted intervals ``'<n>m'`` become ``'<n>min'`` (Graphite reads ``m`` as
   nothing it knows);
3. ``#X`` references are resolved by Grafana's two-pass algorithm
   (`graphite.targets.expand_references`); hidden targets feed references, not requests;
4. ``/render`` with ``format=json``, ``from``, ``until`` and ``maxDataPoints``
   (the panel's own, else its width in pixels, as Grafana sends it).

Each visible target is its own request (Graphite evaluates targets
independently, so the series are the same as in Grafana's one request per
panel), which lets a panel say which target is empty or refused. A target is
OK when a series has a value, EMPTY when none has (valid, but most likely a
naming mismatch: the result names the metric paths it expected and where they
stop matching, or says they exist with or without values in the time range),
ERROR when Graphite refused it (its message). A target with ``transformNull``
is OK only when a metric it reads has a value: zeros made of nothing are not
data. A panel takes
the worst status of its targets. Every template variable's query is asked of
``/metrics/find`` as well.

Works on dashboard JSON dicts (`build.Built.data`), never on the model; never
prints (the `check` command does).

Imports `errors`, `graphite`, `queries`.
"""

from __future__ import annotations

import itertools
import re
import string
from dataclasses import dataclass, field

from queuedash.errors import QueuedashError
from queuedash.graphite.client import GraphiteClient, QueryError, Series
from queuedash.graphite.targets import expand_references
from queuedash.naming.metrics import alternatives

OK, EMPTY, ERROR = "OK", "EMPTY", "ERROR"
STATUSES = (OK, EMPTY, ERROR)
_RANK = {OK: 0, EMPTY: 1, ERROR: 2}

#: How template variables are filled for panels that do not repeat over them.
ALL = "all"        # the All option: allValue ("*"), as a dashboard opens
FOUND = "found"    # every value metrics/find returned, as a glob {a,b,c}
SELECTIONS = (ALL, FOUND)

#: Grafana asks for as many points as the panel is wide in pixels; we assume a
#: 1920-pixel-wide dashboard, so a 4-column stat asks for 320 points.
DASHBOARD_WIDTH_PX = 1920

# templateSrv's variable syntax: $name, [[name]] (deprecated), ${name}, ${name:format}.
_VARIABLE = re.compile(r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}")
# Grafana's graphite datasource: intervalFormatFixRegex = /'(\d+)m'/gi.
_MINUTES = re.compile(r"'(\d+)m'", re.IGNORECASE)
_RELATIVE = re.compile(r"^(?:now)?-(\d+)([A-Za-z]+)$")
_PATH_CHAR = re.compile(r"[\w\-*?\[\]{}$.:%@]")
_KEYWORDS = {"true", "false", "True", "False", "None", "null", "inf", "nan"}


class CheckError(QueuedashError):
    """The check cannot run as asked (a time range Graphite refuses, an unknown selection)."""


# -- time range ----------------------------------------------------------------------


def graphite_time(text: str) -> str:
    """A time as Graphite reads it, translated like Grafana's datasource does.

    ``now-1h`` becomes ``-1h``; a minute ``m`` becomes ``min`` and a month ``M``
    becomes ``mon`` (``-5m`` is no unit to Graphite); anything else is passed on.
    """
    text = text.strip()
    match = _RELATIVE.match(text)
    if not match:
        return text
    amount, unit = match.groups()
    unit = {"m": "min", "M": "mon"}.get(unit, unit)
    return f"-{amount}{unit}"


@dataclass(frozen=True)
class TimeRange:
    from_: str = "-1h"
    until: str = "now"

    def __post_init__(self):
        object.__setattr__(self, "from_", graphite_time(self.from_))
        object.__setattr__(self, "until", graphite_time(self.until))


# -- what Grafana sends ------------------------------------------------------------


def _glob(value) -> str:
    """templateSrv's default format for Graphite: one value as is, several as {a,b}."""
    if isinstance(value, (list, tuple)):
        return alternatives(value)
    return str(value)


def interpolate(text: str, scope: dict) -> str:
    """Replace the variables of `scope` in `text`; unknown variables stay as written, as in Grafana."""
    def replace(match):
        name = match.group(1) or match.group(2) or match.group(4)
        return _glob(scope[name]) if name in scope else match.group(0)

    return _VARIABLE.sub(replace, text)


def grafana_targets(panel: dict, scope: dict) -> list[tuple[str, str]]:
    """``(refId, target)`` of each visible target, as Grafana sends it to ``/render``."""
    entries, hidden = [], set()
    for index, target in enumerate(panel.get("targets") or []):
        text = target.get("target") or ""
        if not text:
            continue
        ref = target.get("refId") or string.ascii_uppercase[index]
        text = _MINUTES.sub(r"'\1min'", interpolate(text, scope))
        entries.append((ref, text))
        if target.get("hide"):
            hidden.add(ref)
    expanded = expand_references(entries)
    return [(ref, expanded[ref]) for ref, _ in entries if ref not in hidden]


def max_data_points(panel: dict) -> int:
    """The panel's ``maxDataPoints``, else its width in pixels (what Grafana asks for)."""
    if panel.get("maxDataPoints"):
        return int(panel["maxDataPoints"])
    width = (panel.get("gridPos") or {}).get("w") or 24
    return max(1, round(width / 24 * DASHBOARD_WIDTH_PX))


def metric_paths(target: str) -> list[str]:
    """The metric path patterns a Graphite target reads, in order, without repeats.

    Skips function names, numbers, keyword arguments and quoted strings (so the
    ``%.x`` templates of applyByNode too); commas inside ``{a,b}`` belong to the path.
    """
    paths: list[str] = []
    i, n = 0, len(target)
    while i < n:
        char = target[i]
        if char in "'\"":
            i += 1
            while i < n and target[i] != char:
                i += 2 if target[i] == "\\" else 1
            i += 1
            continue
        if not _PATH_CHAR.match(char):
            i += 1
            continue
        start, depth = i, 0
        while i < n and (_PATH_CHAR.match(target[i]) or (target[i] == "," and depth > 0)):
            depth += {"{": 1, "}": -1}.get(target[i], 0)
            i += 1
        token = target[start:i]
        rest = target[i:].lstrip()
        if rest.startswith(("(", "=")) or token in _KEYWORDS or _is_number(token):
            continue
        if token not in paths:
            paths.append(token)
    return paths


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def split_path(path: str) -> list[str]:
    """A path's nodes; a dot inside ``{...}`` does not split."""
    nodes, depth, current = [], 0, ""
    for char in path:
        depth += {"{": 1, "}": -1}.get(char, 0)
        if char == "." and depth == 0:
            nodes.append(current)
            current = ""
        else:
            current += char
    nodes.append(current)
    return nodes


# -- results ----------------------------------------------------------------------------


def worst(statuses) -> str:
    return max(statuses, key=_RANK.__getitem__, default=OK)


@dataclass(frozen=True)
class Expected:
    """A metric path an EMPTY target reads, and how far Graphite has it."""

    path: str
    #: metrics/find matches the whole path: the metric exists.
    exists: bool = False
    #: When it does not: the longest prefix of the path Graphite has ("" for none).
    deepest: str = ""
    #: The metric itself has values in the time range (what empties the target is the
    #: expression around it, or another metric it reads).
    has_values: bool = False

    def describe(self) -> str:
        if self.has_values:
            return f"{self.path} (has values in the time range)"
        if self.exists:
            return f"{self.path} (exists, no value in the time range)"
        if self.deepest:
            rest = self.path[len(self.deepest) + 1:]
            return f"{self.path} (no such metric: Graphite has {self.deepest}, nothing below it matches {rest})"
        return f"{self.path} (no such metric)"


@dataclass(frozen=True)
class TargetCheck:
    ref: str
    target: str                       # as sent to Graphite
    status: str
    series: tuple[Series, ...] = ()
    message: str = ""                 # Graphite's, for ERROR
    expected: tuple[Expected, ...] = ()


@dataclass(frozen=True)
class PanelCheck:
    dashboard: str                    # the dashboard's uid
    title: str                        # variables of the repeat scope replaced
    panel_id: int | None
    scope: tuple[tuple[str, str], ...]  # the repeat variables' values of this clone
    targets: tuple[TargetCheck, ...]
    panel: dict = field(repr=False, compare=False)

    @property
    def status(self) -> str:
        return worst(t.status for t in self.targets)

    @property
    def label(self) -> str:
        where = ", ".join(f"{name}={value}" for name, value in self.scope)
        return f"{self.title} ({where})" if where else self.title

    @property
    def series(self) -> list[Series]:
        return [s for t in self.targets for s in t.series]

    @property
    def expected(self) -> tuple[Expected, ...]:
        return tuple(e for t in self.targets if t.status == EMPTY for e in t.expected)

    @property
    def message(self) -> str:
        """The first target's error, named by refId when the panel sends several."""
        for target in self.targets:
            if target.status == ERROR:
                return f"{target.ref}: {target.message}" if len(self.targets) > 1 else target.message
        return ""


@dataclass(frozen=True)
class VariableCheck:
    dashboard: str
    name: str
    query: str                        # as sent to metrics/find
    values: tuple[str, ...] = ()
    message: str = ""                 # Graphite's, when it refused the query

    @property
    def status(self) -> str:
        if self.message:
            return ERROR
        return OK if self.values else EMPTY


@dataclass(frozen=True)
class DashboardCheck:
    uid: str
    name: str
    title: str
    variables: tuple[VariableCheck, ...]
    panels: tuple[PanelCheck, ...]

    def panel(self, title: str, **scope: str) -> PanelCheck:
        """The panel titled `title` (in the clone for `scope`, for repeated ones)."""
        wanted = tuple(sorted(scope.items()))
        for panel in self.panels:
            if panel.title == title and tuple(sorted(panel.scope)) == wanted:
                return panel
        raise KeyError(f"{self.uid}: no panel {title!r} with {scope or 'no repeat'}")

    def variable(self, name: str) -> VariableCheck:
        for variable in self.variables:
            if variable.name == name:
                return variable
        raise KeyError(f"{self.uid}: no variable {name!r}")


@dataclass(frozen=True)
class Summary:
    """Counts by status over checked dashboards, for a summary line and the exit status."""

    dashboards: int
    panels: dict
    variables: dict

    @classmethod
    def of(cls, checks) -> Summary:
        panels = {status: 0 for status in STATUSES}
        variables = {status: 0 for status in STATUSES}
        for check in checks:
            for panel in check.panels:
                panels[panel.status] += 1
            for variable in check.variables:
                variables[variable.status] += 1
        return cls(len(checks), panels, variables)

    def failed(self, strict: bool = False) -> bool:
        bad = (ERROR, EMPTY) if strict else (ERROR,)
        return any(self.panels[s] or self.variables[s] for s in bad)


# -- the evaluation ----------------------------------------------------------------


def _variable_query(variable: dict) -> str:
    query = variable.get("query", "")
    if isinstance(query, dict):   # the object the current query editor writes
        query = query.get("target") or query.get("query") or ""
    return str(query)


def _js_regex(pattern: str) -> re.Pattern:
    """A variable's regex, written like JavaScript's ``/.../i`` or bare."""
    flags = 0
    if pattern.startswith("/") and pattern.rfind("/") > 0:
        end = pattern.rfind("/")
        flags = re.IGNORECASE if "i" in pattern[end + 1:] else 0
        pattern = pattern[1:end]
    return re.compile(pattern, flags)


def _filter(values: list[str], pattern: str) -> list[str]:
    """Grafana's variable regex: keep matching values; a capture group is the value."""
    if not pattern:
        return values
    regex = _js_regex(pattern)
    kept = []
    for value in values:
        match = regex.search(value)
        if match:
            kept.append(match.group(1) if regex.groups else value)
    return list(dict.fromkeys(kept))


class Checker:
    """Evaluates dashboards against the Graphite of `client` over `time_range`.

    `diagnose` asks metrics/find, for each EMPTY target, whether its paths exist
    and where they stop matching (a few more requests, only for EMPTY targets).
    """

    def __init__(self, client: GraphiteClient, time_range: TimeRange = TimeRange(),
                 selection: str = ALL, diagnose: bool = True):
        if selection not in SELECTIONS:
            raise CheckError(f"selection must be one of {', '.join(SELECTIONS)}, got {selection!r}")
        self.client = client
        self.time_range = time_range
        self.selection = selection
        self.diagnose = diagnose
        self._found: dict[str, list[str]] = {}

    def probe(self) -> None:
        """Fail early, in one line, when Graphite is unreachable or refuses the time range."""
        try:
            self.client.render(["constantLine(0)"], self.time_range.from_, self.time_range.until)
        except QueryError as exc:
            raise CheckError(f"{self.client.url}: Graphite refuses the time range from "
                             f"{self.time_range.from_!r} until {self.time_range.until!r}: {exc}") from None

    def check(self, data: dict, name: str = "") -> DashboardCheck:
        uid = data.get("uid", "")
        variables, found, base = self._variables(uid, data)
        panels = []
        for panel, row_repeat in _placed_panels(data):
            if not panel.get("targets"):
                continue                      # text panels: nothing to ask Graphite
            repeats = list(dict.fromkeys(v for v in (row_repeat, panel.get("repeat")) if v))
            for clone in _clones(repeats, found):
                panels.append(self._check_panel(uid, panel, base, clone))
        return DashboardCheck(uid=uid, name=name, title=data.get("title", ""),
                              variables=tuple(variables), panels=tuple(panels))

    # -- variables

    def _find(self, query: str) -> list[str]:
        if query not in self._found:
            self._found[query] = self.client.find(query)
        return self._found[query]

    def _variables(self, uid: str, data: dict):
        checks, found, base = [], {}, {}
        for variable in (data.get("templating") or {}).get("list", []):
            name, kind = variable.get("name"), variable.get("type")
            if kind == "query":
                query = interpolate(_variable_query(variable), base)
                try:
                    values = _filter(self._find(query), variable.get("regex") or "")
                except QueryError as exc:
                    checks.append(VariableCheck(uid, name, query, message=str(exc)))
                    values = []
                else:
                    checks.append(VariableCheck(uid, name, query, tuple(values)))
            elif kind == "custom":
                values = [v.strip() for v in str(variable.get("query", "")).split(",") if v.strip()]
            elif kind == "constant":
                values = [str(variable.get("query", ""))]
            else:
                continue
            found[name] = values
            chosen = self._selected(variable, values)
            if chosen is not None:
                base[name] = chosen
        return checks, found, base

    def _selected(self, variable: dict, values: list[str]):
        """What `$name` stands for outside repeats, in this checker's selection."""
        all_value = variable.get("allValue")
        if self.selection == ALL and variable.get("includeAll"):
            # Grafana's All: allValue when set, else the glob of every option.
            return all_value if all_value else (values or None)
        if not values:
            return all_value or None
        if self.selection == FOUND and variable.get("multi"):
            return values
        return values[0]

    # -- panels

    def _check_panel(self, uid: str, panel: dict, base: dict, clone: dict) -> PanelCheck:
        scope = {**base, **clone}
        points = max_data_points(panel)
        targets = []
        for ref, target in grafana_targets(panel, scope):
            try:
                series = self.client.render([target], self.time_range.from_, self.time_range.until, points)
            except QueryError as exc:
                targets.append(TargetCheck(ref, target, ERROR, message=str(exc)))
                continue
            if any(s.has_data for s in series) and not self._only_filled_nulls(target):
                targets.append(TargetCheck(ref, target, OK, tuple(series)))
            else:
                targets.append(TargetCheck(ref, target, EMPTY, tuple(series), expected=self._expected(target)))
        return PanelCheck(
            dashboard=uid,
            title=interpolate(panel.get("title") or "", clone),
            panel_id=panel.get("id"),
            scope=tuple(clone.items()),
            targets=tuple(targets),
            panel=panel,
        )

    def _only_filled_nulls(self, target: str) -> bool:
        """Whether the target's values are only what transformNull made of nothing.

        transformNull turns a range without a single point into zeros, so a backlog or a
        should-be-zero panel would read 0 (and look fine) where the metrics it reads are
        absent: the target counts as EMPTY unless at least one of them has a value.
        """
        if "transformNull(" not in target:
            return False
        return not any(self._has_values(path) for path in metric_paths(target))

    def _has_values(self, path: str) -> bool:
        try:
            series = self.client.render([path], self.time_range.from_, self.time_range.until)
        except QueryError:
            return True             # a path render cannot read alone: trust the target's answer
        return any(s.has_data for s in series)

    def _expected(self, target: str) -> tuple[Expected, ...]:
        paths = metric_paths(target)
        if not self.diagnose:
            return tuple(Expected(path) for path in paths)
        return tuple(self._locate(path) for path in paths)

    def _locate(self, path: str) -> Expected:
        try:
            if self._find(path):
                return Expected(path, exists=True, has_values=self._has_values(path))
            nodes = split_path(path)
            for length in range(len(nodes) - 1, 0, -1):
                prefix = ".".join(nodes[:length])
                if self._find(prefix):
                    return Expected(path, deepest=prefix)
        except QueryError:
            pass                              # a path metrics/find cannot read: report it bare
        return Expected(path)


def _placed_panels(data: dict):
    """Every non-row panel, with the repeat variable of the row it belongs to (or None)."""
    row_repeat = None
    for panel in data.get("panels", []):
        if panel.get("type") == "row":
            row_repeat = panel.get("repeat") or None
            for child in panel.get("panels") or []:   # a collapsed row holds its children
                yield child, row_repeat
            continue
        yield panel, row_repeat


def _clones(repeats: list[str], found: dict) -> list[dict]:
    """One scope per clone Grafana makes: every combination of the repeat variables' values."""
    axes = [[(name, value) for value in found.get(name, [])] for name in repeats]
    axes = [axis for axis in axes if axis]     # no values: Grafana shows the panel once, unrepeated
    return [dict(combination) for combination in itertools.product(*axes)]


def check_all(built, client: GraphiteClient, time_range: TimeRange = TimeRange(),
              selection: str = ALL, diagnose: bool = True) -> list[DashboardCheck]:
    """Check every dashboard of `built` (`build.Built`), after probing Graphite once."""
    checker = Checker(client, time_range, selection, diagnose)
    checker.probe()
    return [checker.check(item.data, item.name) for item in built]
