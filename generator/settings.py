"""One frozen settings object, merged from the settings file, environment and CLI.

Precedence, highest first: CLI options (click also reads their environment
variables, `QUEUEDASH_*`), then the TOML settings file, then the defaults here.
The file is read with `tomllib`; an unknown key, a wrong type or a bad value is
a `SettingsError` naming the key and the file.

Imports `errors`, `identity`, `project`, `durations` and `metrics` (the naming
scheme is part of the settings).
"""

from __future__ import annotations

import difflib
import json
import re
import tomllib
from dataclasses import dataclass, field, replace
from datetime import datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

from queuedash.durations import DurationError, parse_duration
from queuedash.errors import NamingError, SettingsError
from queuedash.identity import is_valid_uid
from queuedash.naming.metrics import Naming, escape
from queuedash.project import is_valid_project_id

DEFAULT_SETTINGS_FILE = "queuedash.toml"
#: Seconds a definition may run before the build stops it (a loop that never ends).
DEFAULT_DEFINITION_TIMEOUT = 60.0
#: The longest wait a setting may ask for (a request, a definition): a day. Far beyond any use,
#: and far below what a socket's or a thread's timeout accepts (about 1e10 s: time_t overflows).
MAX_SECONDS = 86400.0
#: The user's own definitions folder, beside the settings file, when it exists.
DEFAULT_DEFINITIONS = "dashboards"


def standard_definitions() -> Path:
    """queuedash's own definitions (tasks, broker, workers, overview, one per queue),
    installed with the package."""
    return Path(str(files("queuedash.definitions")))


def _definitions_beside(base: Path) -> Path:
    """The user's `dashboards/` beside the settings file if there is one, else the standard ones."""
    own = base / DEFAULT_DEFINITIONS
    return own if own.is_dir() else standard_definitions()

#: What a queue can declare must be zero. Task states count per flush; the two
#: others are broker conditions.
ZERO_TASK_STATES = ("failed", "rejected", "retried", "revoked", "unknown")
ZERO_CONDITIONS = ZERO_TASK_STATES + ("no_consumers", "backlog")
DEFAULT_MUST_BE_ZERO = ("failed", "rejected", "unknown", "no_consumers")

#: Grafana's reducer ids a stat panel may use (fieldReducer.ts) that make sense for a
#: should-be-zero figure: a [[zero_metrics]] `reduce` is one of these.
REDUCERS = ("sum", "lastNotNull", "last", "mean", "max", "min", "first", "firstNotNull", "count")


@dataclass(frozen=True)
class Datasource:
    uid: str = "graphite"
    name: str = "Graphite"

    def ref(self) -> dict:
        """The datasource reference Grafana 10.4+ expects in panels and targets."""
        return {"type": "graphite", "uid": self.uid}


@dataclass(frozen=True)
class Folder:
    uid: str = "queuedash"
    title: str = "Celery queues"


#: How deploy may talk to Grafana: chosen from `GET /apis`, or one path forced.
API_CHOICES = ("auto", "legacy", "apis")


@dataclass(frozen=True)
class GrafanaSettings:
    """Where dashboards go. Credentials are never read from the file: they come
    from GRAFANA_TOKEN or GRAFANA_USER/GRAFANA_PASSWORD only."""

    url: str = ""
    org_id: int | None = None
    verify_tls: bool = True
    ca_bundle: str = ""
    timeout: float = 10.0
    folder: Folder = field(default_factory=Folder)
    #: Folders above `folder`, outermost first (Grafana's nested folders).
    parents: tuple[Folder, ...] = ()
    #: The project id deploy records in each dashboard's marker ("" = derived from git,
    #: queuedash.project).
    project: str = ""
    #: Which API deploy uses: "auto" (from GET /apis), "legacy" or "apis".
    api: str = "auto"


@dataclass(frozen=True)
class Link:
    """A dashboard link; `url` is a Jinja2 template rendered with the queue."""

    title: str
    url: str


#: Grafana's alert rule states for "the query returned no data" (noDataState); KeepLast,
#: only in newer versions, is not offered.
NO_DATA_STATES = ("OK", "NoData", "Alerting")
#: Where a queue's alert rules go: the rule group named after the folder, or the one
#: named after the queue's team.
ALERT_GROUPS = ("folder", "team")
#: Grafana's scheduler evaluates rules on this base interval: a group's interval is a
#: multiple of it (contract §11b; `[unified_alerting] min_interval`, 10 s by default).
BASE_INTERVAL_SECONDS = 10


@dataclass(frozen=True)
class AlertOptions:
    """How a queue's alert rules behave in Grafana (durations in seconds)."""

    #: Condition true this long before the rule fires (the rule's `for`).
    pending: int = 60
    #: How much data the query reads: the sum or last value is taken over it.
    window: int = 600
    #: The rule group's evaluation interval (all rules of a group share it).
    interval: int = 60
    #: The state when the query returns nothing (a counter that never fired).
    no_data: str = "OK"
    severity: str = "critical"
    #: Extra labels, sorted (name, value) pairs.
    labels: tuple[tuple[str, str], ...] = ()
    group: str = "folder"
    #: The backlog rule fires when the backlog grew over every window for this long.
    backlog_growing_for: int = 900
    #: False: no rules for this queue.
    enabled: bool = True


@dataclass(frozen=True)
class AlertingSettings:
    """Alerting settings shared by every rule."""

    #: The Grafana version `build`, `validate` and `check` write rules for (deploy writes
    #: for the server it talks to): it decides which threshold evaluators exist.
    grafana_version: str = "10.4"


@dataclass(frozen=True)
class Queue:
    """One queue of the inventory, with its optional overrides."""

    name: str
    title: str | None = None
    team: str | None = None
    must_be_zero: tuple[str, ...] = DEFAULT_MUST_BE_ZERO
    tags: tuple[str, ...] = ()
    links: tuple[Link, ...] = ()
    runbook_url: str | None = None
    #: Template (in the settings' templates folder) for the runbook panel.
    runbook_template: str = "queue-runbook.md.j2"
    #: Workers that should consume this queue; fewer turns the panel red (0: no check).
    expected_workers: int = 0
    queue_length_warning: int = 100
    failure_ratio_warning: float = 1.0
    failure_ratio_alert: float = 5.0
    alert: AlertOptions = field(default_factory=AlertOptions)

    @property
    def node(self) -> str:
        """The queue's Graphite node (its escaped name)."""
        return escape(self.name)

    @property
    def display_title(self) -> str:
        return self.title or self.name


@dataclass(frozen=True)
class ZeroMetric:
    """An extra "should be zero" panel on a Graphite target the settings name."""

    title: str
    target: str
    dashboard: str = "tasks"
    reduce: str = "sum"


@dataclass(frozen=True)
class DashboardOptions:
    refresh: str = "1m"
    time_from: str = "now-6h"
    tags: tuple[str, ...] = ("celery", "queuedash")
    uid_prefix: str = "queuedash"
    expected_workers: int = 1
    heartbeat_interval: float = 2.0
    queue_length_warning: int = 100


@dataclass(frozen=True)
class Settings:
    source: Path | None = None
    #: Folder of the dashboard definitions (load() picks the user's or the standard ones).
    definitions: Path = field(default_factory=standard_definitions)
    output: Path = Path("build/dashboards")
    datasource: Datasource = field(default_factory=Datasource)
    grafana: GrafanaSettings = field(default_factory=GrafanaSettings)
    naming: Naming = field(default_factory=Naming)
    dashboards: DashboardOptions = field(default_factory=DashboardOptions)
    queues: tuple[Queue, ...] = ()
    zero_metrics: tuple[ZeroMetric, ...] = ()
    #: Folder of the user's own Jinja2 templates (queue runbooks and the like).
    templates: Path | None = None
    #: Seconds a definition may take (loading and build()) before the build stops it.
    definition_timeout: float = DEFAULT_DEFINITION_TIMEOUT
    alerting: AlertingSettings = field(default_factory=AlertingSettings)
    #: The [defaults] alert options, for rules that belong to no queue (workers offline).
    alert_defaults: AlertOptions = field(default_factory=AlertOptions)

    @property
    def where(self) -> str:
        return str(self.source) if self.source else "the default settings"

    def queue(self, name: str) -> Queue:
        for queue in self.queues:
            if queue.name == name:
                return queue
        raise SettingsError(f"{self.where}: no queue named {name!r} in the inventory")

    def queues_where_zero(self, condition: str) -> tuple[Queue, ...]:
        """The queues that declare `condition` must be zero."""
        return tuple(q for q in self.queues if condition in q.must_be_zero)


# -- reading the file ------------------------------------------------------------


class _Reader:
    """Reads one TOML table, remembering which keys were used, for error messages."""

    def __init__(self, table: dict, where: str, path: str = ""):
        self.table = table
        self.where = where
        self.path = path
        self.used: set[str] = set()

    def name(self, key: str) -> str:
        return f"{self.path}.{toml_key(key)}" if self.path else toml_key(key)

    def fail(self, key: str, message: str):
        raise SettingsError(f"{self.where}: {self.name(key)}: {message}")

    def get(self, key: str, kind: type | tuple, default: Any = None):
        self.used.add(key)
        if key not in self.table:
            return default
        value = self.table[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        # bool is an int in Python; a TOML true where a number is wanted is a mistake.
        if isinstance(value, bool) and bool not in kinds:
            self.fail(key, f"expected {_kind_names(kinds)}, got {value!r}")
        if not isinstance(value, kinds):
            self.fail(key, f"expected {_kind_names(kinds)}, got {type(value).__name__} {shown(value)}")
        return value

    def strings(self, key: str, default: tuple = ()) -> tuple[str, ...]:
        value = self.get(key, list, None)
        if value is None:
            return tuple(default)
        for item in value:
            if not isinstance(item, str) or not item:
                self.fail(key, f"expected a list of non-empty strings, got {shown(item)} in it")
        return tuple(value)

    def table_of(self, key: str) -> "_Reader":
        value = self.get(key, dict, {})
        return _Reader(value, self.where, self.name(key))

    def finish(self):
        self.refuse_unknown(self.used)

    def refuse_unknown(self, known) -> None:
        """An unknown key is an error naming it, and the known key it was probably meant to be."""
        unknown = sorted(set(self.table) - set(known))
        if unknown:
            close = difflib.get_close_matches(unknown[0], sorted(known), n=1)
            self.fail(unknown[0], "unknown key" + (f" (did you mean {close[0]!r}?)" if close else ""))


def toml_key(key: str) -> str:
    """A key as TOML writes it: bare when it can be, else quoted (so "reports.daily" is one key,
    and a key with a line break stays on one line)."""
    return key if _BARE_KEY.fullmatch(key) else json.dumps(key, ensure_ascii=False)


def shown(value: Any, limit: int = 60) -> str:
    """A value for a message: its repr (one line), cut."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _kind_names(kinds: tuple) -> str:
    names = {str: "a string", int: "a whole number", float: "a number", bool: "true or false",
             list: "a list", dict: "a table"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _read_toml(path: Path) -> dict:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise SettingsError(f"{path}: settings file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise SettingsError(f"{path}: cannot read: {exc.strerror}") from None


def load(path: Path | str | None, overrides: dict | None = None) -> Settings:
    """Read the settings file (if any) and apply CLI/environment overrides.

    `overrides` maps dotted names (``datasource.uid``, ``naming.namespace``,
    ``output``...) to values; None values are ignored (option not given).
    """
    if path is None:
        settings = Settings(definitions=_definitions_beside(Path()))
    else:
        path = Path(path)
        settings = _from_table(_read_toml(path), path)
    return apply_overrides(settings, overrides or {})


#: The keys of the file's top level: checked before anything else, so a misspelt `queues`
#: is reported as what it is, not as overrides of queues that are not in the inventory.
TOP_LEVEL_KEYS = ("queues", "definitions", "output", "templates", "definition_timeout", "datasource", "grafana",
                  "naming", "dashboards", "defaults", "queue", "zero_metrics", "alerting")

#: Grafana's refresh: gtime.ParseDuration, "<n>d|w|M|y" or a Go duration ("30s", "1m", "1h30m").
_REFRESH = re.compile(r"\d+[dwMy]|(?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+")
#: Grafana's relative times ("now-6h", "now-1d/d", "now/w"); absolute ones are dates or epoch ms.
_RELATIVE_TIME = re.compile(r"now(?:[+-]\d+[smhdwMy])*(?:/[smhdwMy])?")


def _from_table(data: dict, path: Path) -> Settings:
    where = str(path)
    top = _Reader(data, where)
    top.refuse_unknown(TOP_LEVEL_KEYS)
    base = path.parent

    datasource_t = top.table_of("datasource")
    datasource = Datasource(
        uid=datasource_t.get("uid", str, Datasource.uid),
        name=datasource_t.get("name", str, Datasource.name),
    )
    if not is_valid_uid(datasource.uid):
        datasource_t.fail("uid", _uid_problem(datasource.uid))
    if not datasource.name.strip():
        datasource_t.fail("name", "is blank: give the datasource's name in Grafana")
    datasource_t.finish()

    grafana = _grafana(top.table_of("grafana"))

    naming_t = top.table_of("naming")
    try:
        naming = Naming(
            namespace=naming_t.get("namespace", str, Naming.namespace),
            prefix=naming_t.get("prefix", str, Naming.prefix),
            root=naming_t.get("root", str, Naming.root),
            timer_percentile=naming_t.get("timer_percentile", int, Naming.timer_percentile),
            per_host=naming_t.get("per_host", bool, Naming.per_host),
        )
    except NamingError as exc:
        raise SettingsError(f"{where}: naming: {exc}") from None
    naming_t.finish()

    dash_t = top.table_of("dashboards")
    defaults = DashboardOptions()
    options = DashboardOptions(
        refresh=dash_t.get("refresh", str, defaults.refresh),
        time_from=dash_t.get("time_from", str, defaults.time_from),
        tags=dash_t.strings("tags", defaults.tags),
        uid_prefix=dash_t.get("uid_prefix", str, defaults.uid_prefix),
        expected_workers=dash_t.get("expected_workers", int, defaults.expected_workers),
        heartbeat_interval=float(dash_t.get("heartbeat_interval", (int, float), defaults.heartbeat_interval)),
        queue_length_warning=dash_t.get("queue_length_warning", int, defaults.queue_length_warning),
    )
    if options.refresh and (not _REFRESH.fullmatch(options.refresh) or not re.search(r"[1-9]", options.refresh)):
        dash_t.fail("refresh", f"{options.refresh!r} is not a refresh interval Grafana reads: write it "
                               'like "30s", "1m", "1h" or "1d" ("" turns refresh off)')
    if not _is_grafana_time(options.time_from):
        dash_t.fail("time_from", f"{options.time_from!r} is not a time Grafana reads: write it like "
                                 '"now-6h", "now-7d" or "now-1d/d"')
    if options.expected_workers < 0:
        dash_t.fail("expected_workers", "must not be negative")
    if options.heartbeat_interval <= 0:
        dash_t.fail("heartbeat_interval", "must be positive")
    dash_t.finish()

    defaults_t = top.table_of("defaults")
    queue_defaults = _queue_fields(defaults_t, Queue(name="-", queue_length_warning=options.queue_length_warning))
    defaults_t.finish()

    queues = _queues(top, queue_defaults)
    zero_metrics = _zero_metrics(top)
    alerting = _alerting(top.table_of("alerting"))

    settings = Settings(
        source=path,
        definitions=_definitions(top, base),
        output=base / top.get("output", str, "build/dashboards"),
        datasource=datasource,
        grafana=grafana,
        naming=naming,
        dashboards=options,
        queues=queues,
        zero_metrics=zero_metrics,
        templates=base / top.get("templates", str, "templates"),
        definition_timeout=_definition_timeout(top),
        alerting=alerting,
        alert_defaults=queue_defaults["alert"],
    )
    top.finish()
    return settings


def _uid_problem(uid: str) -> str:
    return f"{shown(uid)} is not a Grafana uid (1-40 characters of A-Z, a-z, 0-9, - and _)"


def _is_grafana_time(text: str) -> bool:
    """A time Grafana's time picker reads: relative to now, epoch milliseconds, or a date."""
    if _RELATIVE_TIME.fullmatch(text) or text.isdigit():
        return True
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def _definition_timeout(top: _Reader) -> float:
    seconds = float(top.get("definition_timeout", (int, float), DEFAULT_DEFINITION_TIMEOUT))
    if not 0 < seconds <= MAX_SECONDS:
        top.fail("definition_timeout", f"must be a positive number of seconds, at most {MAX_SECONDS:g}")
    return seconds


def _definitions(top: _Reader, base: Path) -> Path:
    """A folder the file names must exist (build says so if not); unnamed, the user's
    `dashboards/` beside the file takes precedence over the standard definitions."""
    named = top.get("definitions", str, None)
    return base / named if named is not None else _definitions_beside(base)


def _grafana(reader: _Reader) -> GrafanaSettings:
    defaults = GrafanaSettings()
    folder = Folder(
        uid=reader.get("folder_uid", str, Folder.uid),
        title=reader.get("folder_title", str, Folder.title),
    )
    parents = []
    for index, entry in enumerate(reader.get("parent_folders", list, [])):
        if not isinstance(entry, dict):
            reader.fail("parent_folders", f"entry {index} must be a table {{uid = ..., title = ...}}")
        parent = _Reader(entry, reader.where, f"{reader.name('parent_folders')}[{index}]")
        uid, title = parent.get("uid", str, ""), parent.get("title", str, "")
        if not uid or not title:
            parent.fail("uid", "each parent folder needs a uid and a title")
        parent.finish()
        parents.append(Folder(uid=uid, title=title))
    for candidate in parents + [folder]:
        if not is_valid_uid(candidate.uid):
            reader.fail("folder_uid", f"folder uid {candidate.uid!r} is not 1-40 characters of [A-Za-z0-9_-]")
    org_id = reader.get("org_id", int, None)
    if org_id is not None and org_id < 1:
        reader.fail("org_id", "must be a positive whole number")
    timeout = float(reader.get("timeout", (int, float), defaults.timeout))
    if not 0 < timeout <= MAX_SECONDS:
        reader.fail("timeout", f"must be a positive number of seconds, at most {MAX_SECONDS:g}")
    project = reader.get("project", str, "")
    if project and not is_valid_project_id(project):
        reader.fail("project", f"{project!r}: use 1-120 characters of letters, digits and . _ : / @ + -, "
                               "starting with a letter or digit")
    api = reader.get("api", str, defaults.api)
    if api not in API_CHOICES:
        reader.fail("api", f"must be one of {', '.join(API_CHOICES)}, got {api!r}")
    settings = GrafanaSettings(
        url=reader.get("url", str, ""),
        org_id=org_id,
        verify_tls=reader.get("verify_tls", bool, True),
        ca_bundle=reader.get("ca_bundle", str, ""),
        timeout=timeout,
        folder=folder,
        parents=tuple(parents),
        project=project,
        api=api,
    )
    for key in ("token", "password", "user", "api_key"):
        if key in reader.table:
            reader.fail(key, "credentials do not belong in the settings file: set GRAFANA_TOKEN "
                             "(or GRAFANA_USER and GRAFANA_PASSWORD) in the environment")
    reader.finish()
    return settings


def _must_be_zero(reader: _Reader, default: tuple[str, ...]) -> tuple[str, ...]:
    values = reader.strings("must_be_zero", default)
    for value in values:
        if value not in ZERO_CONDITIONS:
            reader.fail("must_be_zero", f"unknown condition {value!r} (known: {', '.join(ZERO_CONDITIONS)})")
    return tuple(dict.fromkeys(values))


def _queue_fields(reader: _Reader, defaults: Queue) -> dict:
    """The keys a queue and [defaults] share, falling back to `defaults`."""
    fields = {
        "must_be_zero": _must_be_zero(reader, defaults.must_be_zero),
        "tags": reader.strings("tags", defaults.tags),
        "links": _links(reader, defaults.links),
        "runbook_template": reader.get("runbook_template", str, defaults.runbook_template),
        "expected_workers": reader.get("expected_workers", int, defaults.expected_workers),
        "queue_length_warning": reader.get("queue_length_warning", int, defaults.queue_length_warning),
        "failure_ratio_warning": float(reader.get("failure_ratio_warning", (int, float), defaults.failure_ratio_warning)),
        "failure_ratio_alert": float(reader.get("failure_ratio_alert", (int, float), defaults.failure_ratio_alert)),
        "alert": _alert_options(reader, defaults.alert),
    }
    if fields["expected_workers"] < 0:
        reader.fail("expected_workers", "must not be negative")
    if fields["queue_length_warning"] < 1:
        reader.fail("queue_length_warning", "must be at least 1")
    if not 0 < fields["failure_ratio_warning"] <= fields["failure_ratio_alert"] <= 100:
        reader.fail("failure_ratio_warning", "need 0 < failure_ratio_warning <= failure_ratio_alert <= 100 (percent)")
    for tag in fields["tags"]:
        if len(tag) > 50:
            reader.fail("tags", f"tag {tag[:20]!r}... is longer than Grafana's 50 characters")
    return fields


def _seconds(reader: _Reader, key: str, default: int, minimum: int = 0) -> int:
    text = reader.get(key, str, None)
    if text is None:
        return default
    try:
        seconds = parse_duration(text)
    except DurationError as exc:
        reader.fail(key, str(exc))
    if seconds < minimum:
        reader.fail(key, f"must be at least {minimum} s, got {text!r}")
    return seconds


def _alert_options(reader: _Reader, defaults: AlertOptions) -> AlertOptions:
    """The alert_* keys a queue and [defaults] share (README, "Alert rules")."""
    interval = _seconds(reader, "alert_interval", defaults.interval, BASE_INTERVAL_SECONDS)
    if interval % BASE_INTERVAL_SECONDS:
        reader.fail("alert_interval", f"must be a multiple of {BASE_INTERVAL_SECONDS} s (Grafana's scheduler "
                                      f"interval), got {interval} s")
    no_data = reader.get("alert_no_data", str, defaults.no_data)
    if no_data not in NO_DATA_STATES:
        reader.fail("alert_no_data", f"must be one of {', '.join(NO_DATA_STATES)}, got {no_data!r}")
    group = reader.get("alert_group", str, defaults.group)
    if group not in ALERT_GROUPS:
        reader.fail("alert_group", f"must be one of {', '.join(ALERT_GROUPS)}, got {group!r}")
    severity = reader.get("alert_severity", str, defaults.severity)
    if not severity.strip():
        reader.fail("alert_severity", "must not be empty")
    labels = defaults.labels
    table = reader.get("alert_labels", dict, None)
    if table is not None:
        for name, value in table.items():
            if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or \
                    name.startswith("__"):
                reader.fail("alert_labels", f"label {name!r}: names are [A-Za-z_][A-Za-z0-9_]* (not __...), "
                                            "values strings")
        labels = tuple(sorted(dict(defaults.labels, **table).items()))
    return AlertOptions(
        pending=_seconds(reader, "alert_for", defaults.pending),
        window=_seconds(reader, "alert_window", defaults.window, 1),
        interval=interval,
        no_data=no_data,
        severity=severity,
        labels=labels,
        group=group,
        backlog_growing_for=_seconds(reader, "backlog_growing_for", defaults.backlog_growing_for),
        enabled=reader.get("alerts", bool, defaults.enabled),
    )


def _alerting(reader: _Reader) -> AlertingSettings:
    version = reader.get("grafana_version", str, AlertingSettings.grafana_version)
    if not re.fullmatch(r"\d+\.\d+(\.\d+)?", version):
        reader.fail("grafana_version", f"expected a version such as \"11.6\", got {version!r}")
    reader.finish()
    return AlertingSettings(grafana_version=version)


def _links(reader: _Reader, default: tuple[Link, ...]) -> tuple[Link, ...]:
    entries = reader.get("links", list, None)
    if entries is None:
        return default
    links = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            reader.fail("links", f"entry {index} must be a table {{title = ..., url = ...}}")
        link = _Reader(entry, reader.where, f"{reader.name('links')}[{index}]")
        title, url = link.get("title", str, ""), link.get("url", str, "")
        if not title.strip() or not url.strip():
            link.fail("url", "each link needs a title and a url")
        link.finish()
        links.append(Link(title=title, url=url))
    return tuple(links)


def _queues(top: _Reader, defaults: dict) -> tuple[Queue, ...]:
    names = top.strings("queues")
    seen: dict[str, str] = {}
    for name in names:
        if not name.strip():
            top.fail("queues", f"queue name {name!r} is blank")
        if name != name.strip():
            top.fail("queues", f"queue name {name!r} has blanks at its ends (Celery's name would not)")
        if any(ord(char) < 0x20 or ord(char) == 0x7F for char in name):
            top.fail("queues", f"queue name {name!r} holds a control character")
        if name in seen.values():
            top.fail("queues", f"queue {name!r} is listed twice")
        node = escape(name)
        if node in seen:
            # Two names that escape to the same Graphite node would share metrics.
            top.fail("queues", f"queues {seen[node]!r} and {name!r} both become the metric node {node!r}")
        seen[node] = name

    overrides = top.table_of("queue")
    queues = []
    for name in names:
        entry = overrides.get(name, dict, {})
        reader = _Reader(entry, top.where, f"queue.{toml_key(name)}")
        queue = Queue(
            name=name,
            title=_not_blank(reader, "title"),
            team=_not_blank(reader, "team"),
            runbook_url=_not_blank(reader, "runbook_url"),
            **_queue_fields(reader, Queue(name=name, **defaults)),
        )
        reader.finish()
        if queue.alert.enabled and queue.alert.group == "team" and not queue.team:
            reader.fail("alert_group", '"team" needs the queue\'s `team`')
        queues.append(queue)
    for name in overrides.table:
        if name not in names:
            close = difflib.get_close_matches(name, names, n=1)
            overrides.fail(name, "overrides a queue that is not in `queues`"
                           + (f" (did you mean {close[0]!r}?)" if close else ""))
    return tuple(queues)


def _not_blank(reader: _Reader, key: str) -> str | None:
    """An optional string that, when given, says something (a blank title would show as blank)."""
    value = reader.get(key, str, None)
    if value is not None and not value.strip():
        reader.fail(key, "is blank: leave it out instead")
    return value


def _zero_metrics(top: _Reader) -> tuple[ZeroMetric, ...]:
    entries = top.get("zero_metrics", list, [])
    metrics = []
    for index, entry in enumerate(entries):
        path = f"zero_metrics[{index}]"
        if not isinstance(entry, dict):
            raise SettingsError(f"{top.where}: {path}: expected a table ([[zero_metrics]])")
        reader = _Reader(entry, top.where, path)
        title = reader.get("title", str, "")
        target = reader.get("target", str, "")
        if not title.strip():
            reader.fail("title", "must not be empty")
        if not target.strip():
            reader.fail("target", "must not be empty")
        # Which dashboards exist is the definitions' business: the build checks the name.
        dashboard = reader.get("dashboard", str, "tasks")
        if not dashboard.strip():
            reader.fail("dashboard", "must not be empty")
        reduce = reader.get("reduce", str, "sum")
        if reduce not in REDUCERS:
            reader.fail("reduce", f"must be one of {', '.join(REDUCERS)}, got {reduce!r}")
        reader.finish()
        metrics.append(ZeroMetric(title=title, target=target, dashboard=dashboard, reduce=reduce))
    return tuple(metrics)


# -- CLI and environment overrides -------------------------------------------------

_OVERRIDES = {
    "datasource.uid": ("datasource", "uid"),
    "datasource.name": ("datasource", "name"),
    "grafana.url": ("grafana", "url"),
    "grafana.org_id": ("grafana", "org_id"),
    "grafana.verify_tls": ("grafana", "verify_tls"),
    "grafana.ca_bundle": ("grafana", "ca_bundle"),
    "grafana.timeout": ("grafana", "timeout"),
    "grafana.project": ("grafana", "project"),
    "grafana.api": ("grafana", "api"),
    "naming.namespace": ("naming", "namespace"),
    "naming.prefix": ("naming", "prefix"),
    "naming.root": ("naming", "root"),
    "naming.per_host": ("naming", "per_host"),
}


def apply_overrides(settings: Settings, overrides: dict) -> Settings:
    """`settings` with dotted overrides (``grafana.url``, ``naming.prefix``...) applied; None is "not given"."""
    overrides = {k: v for k, v in overrides.items() if v is not None}
    for key, value in sorted(overrides.items()):
        if key == "output":
            settings = replace(settings, output=Path(value))
            continue
        if key == "definitions":
            settings = replace(settings, definitions=Path(value))
            continue
        if key == "definition_timeout":
            settings = replace(settings, definition_timeout=float(value))
            continue
        if key not in _OVERRIDES:
            raise SettingsError(f"unknown setting override {key!r}")
        section, attr = _OVERRIDES[key]
        if key == "datasource.uid" and not is_valid_uid(value):
            raise SettingsError(f"--datasource-uid (QUEUEDASH_DATASOURCE_UID): {_uid_problem(value)}")
        try:
            part = replace(getattr(settings, section), **{attr: value})
        except NamingError as exc:
            raise SettingsError(f"{key}: {exc}") from None
        settings = replace(settings, **{section: part})
    return settings
