"""Alert rules out of the build: rule groups as Grafana's provisioning API takes them.

`rule_groups` collects the alerts the definitions attached to panels
(`Built.alerts`), gives each rule its query (the panel's visible target, fully
expanded: alerting runs every query alone), its stable uid (from the rule's
name, like a dashboard's from its name), the link to its panel
(``__dashboardUid__`` and ``__panelId__``, always both) and the threshold
evaluators the target Grafana version knows; then groups them: one group per
name (the folder's, or a team's), all in the dashboards' folder. A group has one
evaluation interval, so rules that want different ones in the same group are a
definition error, as are two rules with one uid or one title.

`build` writes each group to a file of its own in `rules_folder`: `rules`
beside the dashboards folder (build/rules), not inside it, so that folder holds
dashboards only, as a dashboard file provider or a schema check reads it.

`problems` lints a group body as Grafana would refuse it, or worse, accept it
and fail at every evaluation (an evaluator the version does not know): for
`validate`, and for `deploy --from` against the server's version.

Imports `alerts` (the rule model), `durations`, `errors`, `identity`, `settings`,
`build` (the collector pause), `encode` and `validate` (Graphite target syntax).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from queuedash.authoring.alerts import (DASHBOARD_UID, EXPRESSION_UID, PANEL_ID, REDUCERS, evaluators_of, rule_json,
                                        version_tuple)
from queuedash.compile import build
from queuedash.compile.encode import encode_plain, plain
from queuedash.compile.validate import target_problems
from queuedash.durations import DurationError, format_duration, parse_duration
from queuedash.errors import DefinitionError
from queuedash.graphite.targets import references_in
from queuedash.identity import is_valid_uid, make_uid
from queuedash.settings import BASE_INTERVAL_SECONDS, Settings

#: Grafana's limits on a rule's title and a group's name (models.AlertRuleMaxTitleLength...).
MAX_TITLE = 190
NO_DATA_STATES = ("NoData", "Alerting", "OK")
EXEC_ERROR_STATES = ("Error", "Alerting", "OK")
#: Labels Grafana sets itself and refuses from a rule (models.LabelsUserCannotSpecify).
RESERVED_LABELS = ("alertname", "grafana_folder", "__alert_rule_uid__", "__alert_rule_namespace_uid__")
REQUIRED = ("uid", "title", "condition", "data", "noDataState", "execErrState", "for")
RULES_FOLDER = "rules"
_VARIABLE = re.compile(r"\$\{?\w+|\[\[\w+")


@dataclass(frozen=True)
class RuleGroup:
    """One rule group: the body of ``PUT /api/v1/provisioning/folder/<uid>/rule-groups/<title>``."""

    folder_uid: str
    title: str
    interval: int
    rules: tuple[dict, ...]
    #: rule uid -> where it was defined (file, dashboard, panel), for messages.
    origins: dict = field(default_factory=dict, compare=False, repr=False)

    def body(self) -> dict:
        return {"folderUid": self.folder_uid, "interval": self.interval, "rules": list(self.rules),
                "title": self.title}

    def text(self) -> str:
        """The group's file: `body` as `encode` writes it, byte for byte. A rule's floats are in
        its expressions (a threshold's params), so only their models go through `plain` (floats
        written as Python writes them): walking every rule whole, its Graphite targets and
        texts included, was most of the time a large build spent on its rules."""
        body = self.body()
        body["rules"] = [{**rule, "data": [_plain_expression(query) for query in rule["data"]]}
                         for rule in body["rules"]]
        return encode_plain(body)

    @property
    def filename(self) -> str:
        """The group's file in the rules folder: stable, safe, unique per folder and group."""
        return f"{make_uid(f'{self.folder_uid}-{self.title}')}.json"


def _plain_expression(query: dict) -> dict:
    if query.get("datasourceUid") != EXPRESSION_UID:
        return query  # a Graphite query: strings and whole numbers only (alerts.rule_json)
    return {**query, "model": plain(query["model"])}


def rules_folder(dashboards_folder: Path) -> Path:
    """Where `build` writes the rule groups of the dashboards it writes to `dashboards_folder`,
    and `deploy --from` that folder reads them: `rules` beside it (build/rules)."""
    return Path(dashboards_folder).parent / RULES_FOLDER


def is_rule_group_file(path: Path) -> bool:
    """A rule group file `build` wrote: how the rules' folder from before `build` kept a
    record of its output (`files.owned_files`) is recognised as queuedash's."""
    if path.suffix != ".json" or not path.is_file() or path.is_symlink():
        return False
    try:
        return is_rule_group(json.loads(path.read_text("utf-8")))
    except (OSError, UnicodeDecodeError, ValueError):
        return False


def rule_groups(settings: Settings, built, version: str) -> list[RuleGroup]:
    """Every alert attached to a panel of `built` (`build.Built`), as rule groups for the
    Grafana `version`, sorted by title; rules in a group sorted by uid.

    With the garbage collector paused, as for the build itself (`build.collector_paused`):
    the rules are made next to the build's millions of objects, which it would walk again."""
    with build.collector_paused():
        return _rule_groups(settings, built, version)


def _rule_groups(settings: Settings, built, version: str) -> list[RuleGroup]:
    folder_uid = settings.grafana.folder.uid
    prefix = settings.dashboards.uid_prefix
    grouped: dict[str, list[tuple[dict, int, str]]] = defaultdict(list)
    for item in built:
        if not item.alerts:
            continue
        panels = {panel.get("id"): panel for panel in _panels(item.data.get("panels", []))}
        # A rule's fields are the definition's objects (its own Condition, say): what they compute
        # is the definition's code, stopped and reported as its build() is.
        with build.definition_code(item.definition, f"dashboard {item.name!r}", settings.definition_timeout) \
                as doing:
            for found in item.alerts:
                alert = found.alert
                doing.stage = f"dashboard {item.name!r}: panel {found.panel_title!r}: alert {alert.name!r}"
                where = f"{item.source}: {doing.stage}"
                target = alert.target or _panel_target(panels.get(found.panel_id, {}), alert.ref, where)
                _check_query(target, where)
                rule = rule_json(alert, uid=make_uid(f"{prefix}-{alert.name}"), target=target,
                                 datasource_uid=settings.datasource.uid, dashboard_uid=item.uid,
                                 panel_id=found.panel_id, version=version, org_id=settings.grafana.org_id or 1)
                grouped[alert.group or settings.grafana.folder.title].append((rule, alert.options.interval, where))
    groups = [_group(folder_uid, title, members) for title, members in grouped.items()]
    _check_unique(groups)
    return sorted(groups, key=lambda group: group.title)


def _panels(panels):
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels") or [])


def _panel_target(panel: dict, ref: str | None, where: str) -> str:
    """The panel's visible target (or the one `ref` names), references expanded."""
    targets = [t for t in panel.get("targets") or [] if not t.get("hide")]
    if ref is not None:
        targets = [t for t in panel.get("targets") or [] if t.get("refId") == ref]
    if len(targets) != 1:
        which = f"no target {ref!r}" if ref is not None else f"{len(targets)} visible targets"
        raise DefinitionError(f"{where}: the panel has {which}: the rule needs one (say which with ref=)")
    return targets[0].get("targetFull") or targets[0].get("target") or ""


def _check_query(target: str, where: str) -> None:
    if not target.strip():
        raise DefinitionError(f"{where}: the query is empty")
    if _VARIABLE.search(target):
        raise DefinitionError(f"{where}: the query {target!r} uses a template variable; an alert rule runs "
                              "without the dashboard's variables: use a concrete queue, task or host")
    if references_in(target):
        raise DefinitionError(f"{where}: the query {target!r} has #X references; alerting runs each query alone")


def _group(folder_uid: str, title: str, members: list[tuple[dict, int, str]]) -> RuleGroup:
    if not 1 <= len(title) <= MAX_TITLE:
        raise DefinitionError(f"{members[0][2]}: rule group name {title[:40]!r}... must be 1-{MAX_TITLE} characters")
    intervals = {}
    for rule, interval, where in members:
        intervals.setdefault(interval, where)
    if len(intervals) > 1:
        (first, first_where), (second, second_where) = sorted(intervals.items())[:2]
        raise DefinitionError(
            f"rule group {title!r}: {first_where} is evaluated every {format_duration(first)}, {second_where} every "
            f"{format_duration(second)}; a group has one interval: give them the same alert_interval, or another "
            "alert_group")
    rules = sorted((rule for rule, _, _ in members), key=lambda rule: rule["uid"])
    origins = {rule["uid"]: where for rule, _, where in members}
    return RuleGroup(folder_uid, title, next(iter(intervals)), tuple(rules), origins)


def _check_unique(groups: list[RuleGroup]) -> None:
    by_uid: dict[str, str] = {}
    by_title: dict[str, str] = {}
    for group in groups:
        for rule in group.rules:
            where = group.origins.get(rule["uid"], rule["uid"])
            if rule["uid"] in by_uid:
                raise DefinitionError(f"{where}: its uid {rule['uid']!r} is also the uid of {by_uid[rule['uid']]}")
            if rule["title"] in by_title:
                raise DefinitionError(f"{where}: its title {rule['title']!r} is also the title of "
                                      f"{by_title[rule['title']]} (titles are unique in a folder)")
            by_uid[rule["uid"]] = where
            by_title[rule["title"]] = where


# -- lint ----------------------------------------------------------------------------------


def problems(body: object, version: str, dashboards: dict[str, dict] | None = None) -> list[str]:
    """Every problem of one rule group body, one line each. `dashboards` (uid -> JSON), when
    given, are the dashboards the rules may link to: a missing dashboard or panel is a problem."""
    if not isinstance(body, dict):
        return ["not a rule group (expected a JSON object with title, folderUid, interval, rules)"]
    found: list[str] = []
    title = body.get("title")
    if not isinstance(title, str) or not 1 <= len(title) <= MAX_TITLE:
        found.append(f"the group's title must be 1-{MAX_TITLE} characters, got {title!r}")
    folder = body.get("folderUid")
    if not isinstance(folder, str) or not is_valid_uid(folder):
        found.append(f"folderUid {folder!r} is not 1-40 characters of [A-Za-z0-9_-]")
    interval = body.get("interval")
    if not _is_int(interval) or interval <= 0 or interval % BASE_INTERVAL_SECONDS:
        found.append(f"interval {interval!r} must be a positive multiple of {BASE_INTERVAL_SECONDS} seconds "
                     "(Grafana's scheduler interval)")
    rules = body.get("rules")
    if not isinstance(rules, list) or not rules:
        found.append("rules must be a non-empty list")
        return found
    for index, rule in enumerate(rules):
        label = f"rule {rule.get('uid')!r}" if isinstance(rule, dict) else f"rule {index}"
        found.extend(f"{label}: {problem}" for problem in rule_problems(rule, version, dashboards))
    return found


def rule_problems(rule: object, version: str, dashboards: dict[str, dict] | None = None) -> list[str]:
    if not isinstance(rule, dict):
        return ["not a rule (expected a JSON object)"]
    found = [f"{key} is required" for key in REQUIRED if key not in rule]
    uid = rule.get("uid")
    if "uid" in rule and not (isinstance(uid, str) and is_valid_uid(uid)):
        found.append(f"uid {uid!r} is not 1-40 characters of [A-Za-z0-9_-]")
    title = rule.get("title")
    if "title" in rule and not (isinstance(title, str) and 1 <= len(title) <= MAX_TITLE):
        found.append(f"the title must be 1-{MAX_TITLE} characters")
    if rule.get("noDataState", "OK") not in NO_DATA_STATES:
        found.append(f"noDataState {rule.get('noDataState')!r} is not one of {', '.join(NO_DATA_STATES)}")
    if rule.get("execErrState", "Error") not in EXEC_ERROR_STATES:
        found.append(f"execErrState {rule.get('execErrState')!r} is not one of {', '.join(EXEC_ERROR_STATES)}")
    if "for" in rule:
        try:
            parse_duration(str(rule["for"]))
        except DurationError as exc:
            found.append(f"for: {exc}")
    data = rule.get("data")
    if isinstance(data, list) and data:
        found.extend(_data_problems(data, rule.get("condition"), version))
    elif "data" in rule:
        found.append("data must be a non-empty list of queries and expressions")
    found.extend(_link_problems(rule.get("annotations") or {}, dashboards))
    for name in (rule.get("labels") or {}):
        if name in RESERVED_LABELS or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(name)):
            found.append(f"label {name!r} is reserved or not a valid label name")
    return found


def _data_problems(data: list, condition, version: str) -> list[str]:
    found = []
    refs = [item.get("refId") for item in data if isinstance(item, dict)]
    if condition not in refs:
        found.append(f"condition {condition!r} is not the refId of a query or expression ({', '.join(map(str, refs))})")
    for item in data:
        if not isinstance(item, dict) or not isinstance(item.get("model"), dict):
            found.append("every query needs a refId, a datasourceUid and a model")
            continue
        ref, model = item.get("refId"), item["model"]
        if item.get("datasourceUid") == EXPRESSION_UID:
            found.extend(f"{ref}: {p}" for p in _expression_problems(model, refs, version))
            continue
        span = item.get("relativeTimeRange") or {}
        if not (_is_int(span.get("from")) and _is_int(span.get("to")) and span["from"] > span["to"] >= 0):
            found.append(f"{ref}: relativeTimeRange must read back from `from` seconds to `to` (from > to), "
                         f"got {span!r}")
        target = model.get("targetFull") or model.get("target")
        if not isinstance(target, str) or not target.strip():
            found.append(f"{ref}: the Graphite query has no target")
            continue
        if references_in(target):
            found.append(f"{ref}: the target has #X references; alerting runs each query alone (expand them)")
        if _VARIABLE.search(target):
            found.append(f"{ref}: the target uses a template variable, which alert rules do not have")
        found.extend(f"{ref}: {p}" for p in target_problems(target))
    return found


def _expression_problems(model: dict, refs: list, version: str) -> list[str]:
    kind = model.get("type")
    found = []
    if model.get("expression") not in refs:
        found.append(f"expression {model.get('expression')!r} refers to no query or expression of the rule")
    if kind == "reduce":
        if model.get("reducer") not in REDUCERS:
            found.append(f"reducer {model.get('reducer')!r} is not one of {', '.join(REDUCERS)}")
    elif kind == "threshold":
        conditions = model.get("conditions")
        if not isinstance(conditions, list) or len(conditions) != 1:
            return found + ["a threshold expression needs exactly one condition"]
        evaluator = (conditions[0] or {}).get("evaluator") or {}
        known = evaluators_of(version)
        if evaluator.get("type") not in known:
            major, minor = version_tuple(version)
            found.append(f"evaluator {evaluator.get('type')!r} is not known to Grafana {major}.{minor} "
                         f"(it knows {', '.join(known)}): every evaluation would fail")
        params = evaluator.get("params")
        wanted = 2 if str(evaluator.get("type", "")).endswith(("range", "range_included")) else 1
        if not isinstance(params, list) or len(params) < wanted or not all(_is_number(p) for p in params):
            found.append(f"evaluator {evaluator.get('type')!r} needs {wanted} number(s), got {params!r}")
    elif kind not in ("math", "resample", "classic_conditions"):
        found.append(f"unknown expression type {kind!r}")
    return found


def _link_problems(annotations: dict, dashboards: dict[str, dict] | None) -> list[str]:
    dashboard_uid, panel_id = annotations.get(DASHBOARD_UID), annotations.get(PANEL_ID)
    if bool(dashboard_uid) != bool(panel_id):
        return [f"annotations {DASHBOARD_UID} and {PANEL_ID} go together: both or neither"]
    if not dashboard_uid:
        return []
    if not str(panel_id).isdigit():
        return [f"{PANEL_ID} must hold a panel id (a whole number), got {panel_id!r}"]
    if dashboards is None:
        return []
    dashboard = dashboards.get(dashboard_uid)
    if dashboard is None:
        return [f"links to dashboard {dashboard_uid!r}, which is not among the dashboards"]
    if int(panel_id) not in {panel.get("id") for panel in _panels(dashboard.get("panels", []))}:
        return [f"links to panel {panel_id} of dashboard {dashboard_uid!r}, which has no such panel"]
    return []


def duplicate_problems(bodies: list[dict]) -> list[str]:
    """Uids repeated across groups, titles repeated in a folder."""
    found, uids, titles = [], {}, {}
    for body in bodies:
        for rule in body.get("rules") or []:
            if not isinstance(rule, dict):
                continue
            uid, title = rule.get("uid"), (body.get("folderUid"), rule.get("title"))
            if uid in uids:
                found.append(f"rule uid {uid!r} is in groups {uids[uid]!r} and {body.get('title')!r}")
            if title in titles:
                found.append(f"rule title {title[1]!r} is used twice in folder {title[0]!r}")
            uids[uid], titles[title] = body.get("title"), True
    return found


def is_rule_group(data: object) -> bool:
    """A JSON object shaped like a rule group body (not a dashboard)."""
    return isinstance(data, dict) and "rules" in data and "interval" in data and "panels" not in data


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def provisioning_document(groups: list[RuleGroup], folder_title: str, org_id: int = 1) -> dict:
    """Grafana's alerting provisioning file (apiVersion 1, ``groups``), the same rules as the API's.

    The file names the folder by title (pkg/services/provisioning/alerting: AlertRuleGroupV1
    `folder`); the dashboard link is also given as `dashboardUid` and `panelId`, the
    file's own fields for it."""
    def file_rule(rule: dict) -> dict:
        annotations = rule.get("annotations") or {}
        out = {key: rule[key] for key in ("uid", "title", "condition", "data", "noDataState", "execErrState", "for",
                                          "annotations", "labels", "isPaused") if key in rule}
        if annotations.get(DASHBOARD_UID):
            out["dashboardUid"] = annotations[DASHBOARD_UID]
            out["panelId"] = int(annotations[PANEL_ID])
        return out

    return {
        "apiVersion": 1,
        "groups": [{"folder": folder_title, "interval": format_duration(group.interval), "name": group.title,
                    "orgId": org_id, "rules": [file_rule(rule) for rule in group.rules]} for group in groups],
    }
