"""The Grafana stand-in's alerting provisioning API (contract §11b), for tests.

Plugged into tests/grafana_standin.py (`register_routes`, `GrafanaStandin.alerting`):
the routes below answer as Grafana's handlers do, read from Grafana's source
(G: = github.com/grafana/grafana):

* G:pkg/services/ngalert/api/api_provisioning.go: the handlers, their status codes
  (PUT group 200 echoing the bound body, POST 201, DELETE 204, a missing rule 404
  with no body), ``X-Disable-Provenance`` (present: provenance none, else ``api``);
* G:pkg/services/ngalert/provisioning/alert_rules.go ``ReplaceRuleGroup``: the
  interval must be a positive multiple of the base interval (10 s), uids must be
  valid, then a delta: unknown uids are created, known ones updated (moved into
  the group when they lived elsewhere), rules of the group left out deleted;
  an empty delta writes nothing; a body without rules (``[]`` included:
  ``AlertRuleGroupFromApiAlertRuleGroup`` leaves them nil) changes only the
  interval;
* provenance: a rule stored with provenance ``api`` cannot be updated or deleted
  without it (409 ``alerting.provenanceMismatch``); newer Grafana also lets a
  request without provenance take ``api`` rules back, which queuedash never does
  and this stand-in does not model;
* G:pkg/services/ngalert/models/alert_rule.go ``ValidateAlertRule`` and
  ``SetDashboardAndPanelFromAnnotations``: 400 ``invalid alert rule: ...`` (from
  11; on 10.x a lone dashboard/panel annotation is a 500, contract §11b);
* ``PreSave``: a query's model gets ``intervalMs`` 1000 and ``maxDataPoints``
  43200 when it has none; a datasource query needs ``from`` > ``to``;
* who may call the routes (G:pkg/services/ngalert/api/authorization.go), by
  version: up to 10.x only the blanket ``alert.provisioning:read|write``, which
  only Admin has; from 11.0 (G#77007, G#85022, G#87149; 11.0's What's new: "For
  Grafana OSS, users with the Editor role can now use the API") also
  ``alert.rules.provisioning:*``, or the regular rule permissions on the folder
  (``alert.rules:read`` and ``folders:read`` to read; to write, with them
  ``alert.provisioning.provenance:write``, which Editor and Admin have, and one of
  ``alert.rules:create|write|delete``). Others get the RBAC 403. The per-rule checks
  the write handlers make after the route's (``authorizeRuleChanges``) are not
  modelled: every basic role has create, write and delete together;
* ``GET /api/access-control/user/permissions`` (G:pkg/services/accesscontrol/api/
  api.go ``getUserPermissions``, any signed-in caller): the caller's actions and
  their scopes. Only the actions of dashboards, folders and alerting are modelled:
  what the basic roles grant (the fixed roles of G:pkg/services/ngalert/
  accesscontrol.go and G:pkg/services/dashboards/accesscontrol.go), minus what a
  token's ``without_actions`` takes away.

The provisioning API does not check expressions: a threshold evaluator the
version does not know is stored, and fails only when Grafana evaluates the rule.

Helpers (`AlertingHelpers`, from ``standin.alerting``): seed a rule as another
tool would, edit a rule through the API, try a UI edit (refused for provisioned
rules, as Grafana's UI refuses), inspect rules and intervals.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable

import grafana_standin as standin
from grafana_standin import (ApiError, _ApiRequest, _Response, _bad_request_data, _route, _timestamp, bind_json,
                             errutil_error, json_response, legacy_error, rbac_denied, register_routes)

BASE_INTERVAL = 10  # [unified_alerting] min_interval
DEFAULT_INTERVAL = 60
MAX_TITLE = 190
NO_DATA_STATES = ("NoData", "Alerting", "OK")
EXEC_ERROR_STATES = ("Alerting", "Error", "OK")
RESERVED_LABELS = ("alertname", "grafana_folder", "__alert_rule_uid__", "__alert_rule_namespace_uid__")
EXPRESSION_UIDS = ("__expr__", "-100")
DASHBOARD_UID, PANEL_ID = "__dashboardUid__", "__panelId__"
_DURATION = re.compile(r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$")
_UNITS = (365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001)
_PROM_UNITS = (("y", 365 * 86400, True), ("w", 7 * 86400, True), ("d", 86400, False), ("h", 3600, False),
               ("m", 60, False), ("s", 1, False))


def parse_prometheus_duration(text: str) -> float:
    """prometheus/common model.ParseDuration, in seconds; ValueError when it would fail."""
    if text == "0":
        return 0.0
    match = _DURATION.match(text)
    if not text or match is None or not any(match.groups()):
        raise ValueError(f"not a valid duration string: {text!r}")
    return sum(int(v) * unit for v, unit in zip(match.groups(), _UNITS) if v)


def prometheus_duration(seconds: float) -> str:
    """prometheus/common model.Duration.String() (whole seconds)."""
    rest = int(seconds)
    if rest == 0:
        return "0s"
    out = ""
    for unit, size, exact in _PROM_UNITS:
        if exact and rest % size:
            continue
        if rest >= size:
            out += f"{rest // size}{unit}"
            rest %= size
    return out


def go_duration(seconds: int) -> str:
    """Go's time.Duration.String() for whole seconds: 0s, 5s, 1m5s, 1h0m0s."""
    if seconds == 0:
        return "0s"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


def _invalid(message: str) -> ApiError:
    # ErrResp(400, err, ""): response.Error with the error text and the error (hence traceID).
    return legacy_error(400, f"invalid alert rule: {message}", with_trace=True)


def _provenance_mismatch(operation: str, provided: str, stored: str) -> ApiError:
    text = f"cannot {operation} with provided provenance '{provided}', needs '{stored}'"
    return errutil_error(409, "alerting.provenanceMismatch", text)


# ---------------------------------------------------------------------------------------------
# State
# ---------------------------------------------------------------------------------------------

@dataclass
class Rule:
    id: int
    uid: str
    org_id: int
    folder_uid: str
    group: str
    title: str
    condition: str
    data: list
    no_data_state: str
    exec_err_state: str
    for_seconds: float
    annotations: dict
    labels: dict
    is_paused: bool
    provenance: str
    updated: str
    updated_by: str
    version: int = 1
    group_index: int = 0

    def content(self) -> tuple:
        """What CalculateChanges compares (ids, versions and times aside)."""
        return (self.folder_uid, self.group, self.group_index, self.title, self.condition, _canonical(self.data),
                self.no_data_state, self.exec_err_state, self.for_seconds, self.annotations or {},
                self.labels or {}, self.is_paused)

    def provisioned(self, with_provenance: bool = True) -> dict:
        """ProvisionedAlertRule (struct: field order kept, omitempty where Grafana has it)."""
        body = {"id": self.id, "uid": self.uid, "orgID": self.org_id, "folderUID": self.folder_uid,
                "ruleGroup": self.group, "title": self.title, "condition": self.condition,
                "data": copy.deepcopy(self.data), "updated": self.updated, "noDataState": self.no_data_state,
                "execErrState": self.exec_err_state, "for": prometheus_duration(self.for_seconds)}
        if self.annotations:
            body["annotations"] = dict(sorted(self.annotations.items()))
        if self.labels:
            body["labels"] = dict(sorted(self.labels.items()))
        if with_provenance and self.provenance:
            body["provenance"] = self.provenance
        body["isPaused"] = self.is_paused
        return body


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


@dataclass
class AlertingState:
    rules: dict[tuple[int, str], Rule] = field(default_factory=dict)  # (org, uid) -> rule
    intervals: dict[tuple[int, str, str], int] = field(default_factory=dict)  # (org, folder, group)
    next_id: int = 1

    def of_org(self, org_id: int) -> list[Rule]:
        return [r for (org, _), r in self.rules.items() if org == org_id]

    def group(self, org_id: int, folder_uid: str, group: str) -> list[Rule]:
        found = [r for r in self.of_org(org_id) if r.folder_uid == folder_uid and r.group == group]
        return sorted(found, key=lambda r: (r.group_index, r.id))


def state_of(api) -> AlertingState:
    """The alerting state of one stand-in (kept on its API object; callers hold its lock)."""
    if not hasattr(api, "_alerting_state"):
        api._alerting_state = AlertingState()
    return api._alerting_state


# ---------------------------------------------------------------------------------------------
# Binding and validation
# ---------------------------------------------------------------------------------------------

_RULE_FIELDS = {"id": "int", "uid": "string", "orgID": "int", "folderUID": "string", "ruleGroup": "string",
                "title": "string", "condition": "string", "data": "any", "updated": "string",
                "noDataState": "string", "execErrState": "string", "for": "string", "annotations": "any",
                "labels": "any", "provenance": "string", "isPaused": "bool"}
_GROUP_FIELDS = {"title": "string", "folderUid": "string", "interval": "int", "rules": "any"}


def _string_map(value: Any) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise _bad_request_data()
    return dict(value)


def _bind_rule(raw: Any) -> dict:
    """json.Unmarshal into ProvisionedAlertRule: a wrong type or duration is 400 bad request data."""
    if not isinstance(raw, dict):
        raise _bad_request_data()
    rule = {}
    for name, go_type in _RULE_FIELDS.items():
        value = raw.get(name)
        if value is None:
            continue
        if not standin._matches_go_type(value, go_type):
            raise _bad_request_data()
        rule[name] = value
    try:
        rule["for"] = parse_prometheus_duration(rule.get("for", "0"))
    except ValueError:
        raise _bad_request_data() from None
    rule["annotations"] = _string_map(rule.get("annotations"))
    rule["labels"] = _string_map(rule.get("labels"))
    data = rule.get("data") or []
    if not isinstance(data, list) or not all(isinstance(q, dict) for q in data):
        raise _bad_request_data()
    rule["data"] = [_bind_query(q) for q in data]
    return rule


def _bind_query(raw: dict) -> dict:
    span = raw.get("relativeTimeRange") or {}
    if not isinstance(span, dict) or not all(isinstance(span.get(k, 0), int) for k in ("from", "to")):
        raise _bad_request_data()
    model = raw.get("model")
    if model is not None and not isinstance(model, dict):
        raise _bad_request_data()
    return {"refId": str(raw.get("refId") or ""), "queryType": str(raw.get("queryType") or ""),
            "relativeTimeRange": {"from": span.get("from", 0), "to": span.get("to", 0)},
            "datasourceUid": str(raw.get("datasourceUid") or ""), "model": copy.deepcopy(model or {})}


def _pre_save(query: dict) -> dict:
    """models.AlertQuery.PreSave: defaults written into the model; a query reads back in time."""
    model = dict(query["model"])
    model.setdefault("intervalMs", 1000)
    model.setdefault("maxDataPoints", 43200)
    model = dict(sorted(model.items()))  # re-marshalled from a Go map
    query = {**query, "model": model, "queryType": model.get("queryType") or query["queryType"]}
    span = query["relativeTimeRange"]
    if query["datasourceUid"] not in EXPRESSION_UIDS and not span["from"] > span["to"]:
        raise _invalid(f"invalid alert query {query['refId']}: invalid relative time range "
                       f"[From: {go_duration(span['from'])}, To: {go_duration(span['to'])}]")
    return query


def _check_uid(uid: str) -> None:
    if len(uid) > 40:
        raise _invalid(f"cannot create rule with UID {uid!r}: uid too long, max 40 characters")
    if not standin.UID_PATTERN.match(uid):
        raise _invalid(f"cannot create rule with UID {uid!r}: uid contains illegal characters")


def _check_links(rule: dict, rules: standin.VersionRules) -> None:
    dashboard, panel = rule["annotations"].get(DASHBOARD_UID, ""), rule["annotations"].get(PANEL_ID, "")
    if bool(dashboard) != bool(panel):
        text = f"both annotations {DASHBOARD_UID} and {PANEL_ID} must be specified"
        if rules.major < 11:  # a plain error there: the handler's fallback 500 (contract §11b)
            raise legacy_error(500, text, with_trace=True)
        raise _invalid(text)
    if dashboard and not panel.isdigit():
        raise _invalid(f"annotation {PANEL_ID} must be a valid integer Panel ID")


def _validate(rule: dict, group: str) -> None:
    """models.AlertRule.ValidateAlertRule (and the store's length limits)."""
    if not rule["data"]:
        raise _invalid("no queries or expressions are found")
    if not rule.get("title"):
        raise _invalid("title is empty")
    if len(rule["title"]) > MAX_TITLE:
        raise _invalid(f"name length should not be greater than {MAX_TITLE}")
    if len(group) > MAX_TITLE:
        raise _invalid(f"rule group name length should not be greater than {MAX_TITLE}")
    if rule.get("execErrState", "") not in EXEC_ERROR_STATES:
        raise _invalid(f"unknown Error state option {rule.get('execErrState', '')}")
    if rule.get("noDataState", "") not in NO_DATA_STATES:
        raise _invalid(f"unknown NoData state option {rule.get('noDataState', '')}")
    if rule["for"] < 0:
        raise _invalid("field `for` cannot be negative")
    for label in rule["labels"]:
        if label in RESERVED_LABELS:
            raise _invalid(f"system reserved label {label} cannot be defined")


def _provenance(request: _ApiRequest) -> str:
    """determineProvenance: the header's presence (any value) means none."""
    return "" if "X-Disable-Provenance" in request.headers else "api"


# ----- who may do what ---------------------------------------------------------------------

_ALL_FOLDERS = ["folders:*"]
_VIEWER = {"alert.rules:read": _ALL_FOLDERS, "folders:read": _ALL_FOLDERS,
           "dashboards:read": ["dashboards:*", "folders:*"]}
_EDITOR = {**_VIEWER, "alert.rules:create": _ALL_FOLDERS, "alert.rules:write": _ALL_FOLDERS,
           "alert.rules:delete": _ALL_FOLDERS, "folders:create": [""], "folders:write": _ALL_FOLDERS,
           "folders:delete": _ALL_FOLDERS, "dashboards:create": _ALL_FOLDERS,
           "dashboards:write": ["dashboards:*", "folders:*"], "dashboards:delete": ["dashboards:*", "folders:*"]}
_ADMIN = {**_EDITOR, "alert.provisioning:read": [""], "alert.provisioning:write": [""],
          "alert.provisioning.secrets:read": [""]}
#: From 11.0: the action that lets a caller mark what it writes as provisioned (Editor and
#: Admin, G#85022), and the rules-only provisioning actions (Admin, G#87149).
_EDITOR_11 = {"alert.provisioning.provenance:write": [""]}
_ADMIN_11 = {**_EDITOR_11, "alert.rules.provisioning:read": [""], "alert.rules.provisioning:write": [""],
             "alert.notifications.provisioning:read": [""], "alert.notifications.provisioning:write": [""]}


def permissions_of(api, identity) -> dict[str, list[str]]:
    """What GET /api/access-control/user/permissions answers for `identity`: action -> scopes
    ("" for an organisation-wide action), sorted as Go marshals a map."""
    if identity.role is None:
        return {}
    granted = dict({"Viewer": _VIEWER, "Editor": _EDITOR, "Admin": _ADMIN}[identity.role])
    if api.rules.major >= 11 and identity.role in ("Editor", "Admin"):
        granted.update(_ADMIN_11 if identity.role == "Admin" else _EDITOR_11)
    return {action: list(scopes) for action, scopes in sorted(granted.items()) if action not in identity.without}


def _covers(scopes: list[str] | None, scope: str | None) -> bool:
    """ac.EvalPermission: the action with any scope (`scope` None), or one that covers `scope`."""
    if scopes is None:
        return False
    if scope is None:
        return True
    kind = scope.split(":", 1)[0]
    return any(s in ("*", f"{kind}:*", scope) or (s.endswith(":*") and scope.startswith(s[:-1])) for s in scopes)


def _require_provisioning(api, request: _ApiRequest, access: str, folder_uid: str | None = None) -> None:
    """The route's evaluator (authorization.go) for `access` "read" or "write" (`folder_uid`:
    the folder a group route names; None for the organisation-wide routes)."""
    perms = permissions_of(api, request.identity)
    blanket = [f"alert.provisioning:{access}"] + (["alert.provisioning.secrets:read"] if access == "read" else [])
    if api.rules.major >= 11:
        blanket.append(f"alert.rules.provisioning:{access}")
    if any(action in perms for action in blanket):
        return
    if api.rules.major >= 11:
        scope = f"folders:uid:{folder_uid}" if folder_uid else None
        readable = _covers(perms.get("alert.rules:read"), scope) and _covers(perms.get("folders:read"), scope)
        if access == "read" and readable:
            return
        changes = any(_covers(perms.get(f"alert.rules:{verb}"), scope) for verb in ("create", "write", "delete"))
        if access == "write" and "alert.provisioning.provenance:write" in perms and changes and \
                (readable or folder_uid is None):
            return
    raise rbac_denied(f"alert.provisioning:{access}")


def _readable(api, request: _ApiRequest, rules: list) -> list:
    """A caller without the blanket read actions lists the rules of the folders it may read."""
    perms = permissions_of(api, request.identity)
    if any(action in perms for action in ("alert.provisioning:read", "alert.provisioning.secrets:read",
                                          "alert.rules.provisioning:read")):
        return rules
    return [r for r in rules if _covers(perms.get("alert.rules:read"), f"folders:uid:{r.folder_uid}")]


def get_user_permissions(api, request: _ApiRequest) -> _Response:
    return json_response(200, permissions_of(api, request.identity))


def _made(api, rule: dict, org_id: int, folder_uid: str, group: str, index: int, provenance: str,
          login: str) -> Rule:
    """The rule a bound body describes, as the store would keep it (id 0 until inserted)."""
    return Rule(id=0, uid=rule.get("uid") or standin._generate_uid(api.rules), org_id=org_id, folder_uid=folder_uid,
                group=group, title=rule.get("title", ""), condition=rule.get("condition", ""),
                data=[_pre_save(q) for q in rule["data"]], no_data_state=rule.get("noDataState", ""),
                exec_err_state=rule.get("execErrState", ""), for_seconds=rule["for"],
                annotations=rule["annotations"], labels=rule["labels"], is_paused=bool(rule.get("isPaused")),
                provenance=provenance, updated=_timestamp(), updated_by=login, group_index=index)


def _insert(state: AlertingState, rule: Rule) -> Rule:
    rule.id, state.next_id = state.next_id, state.next_id + 1
    state.rules[(rule.org_id, rule.uid)] = rule
    return rule


# ---------------------------------------------------------------------------------------------
# Handlers
# ---------------------------------------------------------------------------------------------

def get_rules(api, request: _ApiRequest) -> _Response:
    _require_provisioning(api, request, "read")
    state = state_of(api)
    rules = _readable(api, request, sorted(state.of_org(request.identity.org_id), key=lambda r: r.id))
    return json_response(200, [r.provisioned() for r in rules])


def get_rule(api, request: _ApiRequest) -> _Response:
    _require_provisioning(api, request, "read")
    rule = state_of(api).rules.get((request.identity.org_id, request.params["uid"]))
    if rule is None:
        return _Response(404, b"", {})  # response.Empty(http.StatusNotFound)
    return json_response(200, rule.provisioned())


def get_group(api, request: _ApiRequest) -> _Response:
    _require_provisioning(api, request, "read", request.params["folder"])
    org_id, folder_uid, title = request.identity.org_id, request.params["folder"], request.params["group"]
    state = state_of(api)
    members = state.group(org_id, folder_uid, title)
    if not members:
        if api.rules.major < 11:  # store.ErrAlertRuleGroupNotFound, a plain error
            raise legacy_error(404, "rulegroup not found", with_trace=True)
        raise errutil_error(404, "alerting.alert-rule.notFound", "Not found")
    # GetRuleGroup leaves the group's provenance unset: its rules show none.
    interval = state.intervals.get((org_id, folder_uid, title), DEFAULT_INTERVAL)
    return json_response(200, {"title": title, "folderUid": folder_uid, "interval": interval,
                               "rules": [r.provisioned(with_provenance=False) for r in members]})


def put_group(api, request: _ApiRequest) -> _Response:
    _require_provisioning(api, request, "write", request.params["folder"])
    command = bind_json(request, _GROUP_FIELDS)
    folder_uid, title = request.params["folder"], request.params["group"]
    interval = command.get("interval", 0)
    raw_rules = command.get("rules")
    if raw_rules is not None and not isinstance(raw_rules, list):
        raise _bad_request_data()
    bound = [_bind_rule(rule) for rule in raw_rules or []]
    echo = {"title": title, "folderUid": folder_uid, "interval": interval,
            "rules": [_echo(raw, rule) for raw, rule in zip(raw_rules or [], bound)]}
    if interval <= 0 or interval % BASE_INTERVAL:
        raise _invalid(f"interval ({go_duration(interval)}) should be non-zero and divided exactly by scheduler "
                       f"interval: {BASE_INTERVAL}")
    for rule in bound:
        if rule.get("uid"):
            _check_uid(rule["uid"])
    state, org_id = state_of(api), request.identity.org_id
    key = (org_id, folder_uid, title)
    existing = state.group(org_id, folder_uid, title)
    interval_changes = bool(existing) and state.intervals.get(key) != interval
    if not bound:  # nil rules: only the interval changes (calcDelta reads the stored rules)
        if interval_changes:
            state.intervals[key] = interval
            for rule in existing:
                rule.version += 1
        return json_response(200, echo)
    provenance, login = _provenance(request), request.identity.login
    for rule in bound:
        _check_links(rule, api.rules)
        _validate(rule, title)
    candidates = [_made(api, rule, org_id, folder_uid, title, index, provenance, login)
                  for index, rule in enumerate(bound)]
    new = [c for c in candidates if (org_id, c.uid) not in state.rules]
    updates = [(state.rules[(org_id, c.uid)], c) for c in candidates
               if (org_id, c.uid) in state.rules and state.rules[(org_id, c.uid)].content() != c.content()]
    deletes = [rule for rule in existing if rule.uid not in {c.uid for c in candidates}]
    if not (new or updates or deletes or interval_changes):
        return json_response(200, echo)  # delta.IsEmpty(): nothing written
    for rule in deletes:
        if rule.provenance not in (provenance, ""):
            raise _provenance_mismatch("delete", provenance, rule.provenance)
    for stored, _ in updates:
        if stored.provenance not in (provenance, ""):
            raise _provenance_mismatch("update", provenance, stored.provenance)
    # Everything is checked: the transaction writes.
    for rule in deletes:
        del state.rules[(org_id, rule.uid)]
    for stored, candidate in updates:
        candidate.id, candidate.version = stored.id, stored.version + 1
        state.rules[(org_id, stored.uid)] = candidate
    for rule in new:
        _insert(state, rule)
    if interval_changes:
        for stored in existing:
            if state.rules.get((org_id, stored.uid)) is stored:
                stored.version += 1
    state.intervals[key] = interval
    _forget_empty_groups(state, org_id)
    return json_response(200, echo)


def _echo(raw: dict, rule: dict) -> dict:
    """The bound ProvisionedAlertRule marshalled back (the handler answers its input)."""
    body = {"id": raw.get("id") or 0, "uid": rule.get("uid", ""), "orgID": raw.get("orgID") or 0,
            "folderUID": raw.get("folderUID") or "", "ruleGroup": raw.get("ruleGroup") or "",
            "title": rule.get("title", ""), "condition": rule.get("condition", ""), "data": rule["data"],
            "updated": raw.get("updated") or "0001-01-01T00:00:00Z", "noDataState": rule.get("noDataState", ""),
            "execErrState": rule.get("execErrState", ""), "for": prometheus_duration(rule["for"])}
    if rule["annotations"]:
        body["annotations"] = rule["annotations"]
    if rule["labels"]:
        body["labels"] = rule["labels"]
    if raw.get("provenance"):
        body["provenance"] = raw["provenance"]
    body["isPaused"] = bool(rule.get("isPaused"))
    return body


def _forget_empty_groups(state: AlertingState, org_id: int) -> None:
    live = {(r.folder_uid, r.group) for r in state.of_org(org_id)}
    for key in [k for k in state.intervals if k[0] == org_id and (k[1], k[2]) not in live]:
        del state.intervals[key]


def post_rule(api, request: _ApiRequest) -> _Response:
    """RoutePostAlertRule: one rule into a group (the group's interval, else the default)."""
    _require_provisioning(api, request, "write")
    rule = _bind_rule(bind_json(request, {name: "any" for name in _RULE_FIELDS}))
    state, org_id = state_of(api), request.identity.org_id
    if rule.get("uid"):
        _check_uid(rule["uid"])
        if (org_id, rule["uid"]) in state.rules:
            raise errutil_error(409, "alerting.alert-rule.conflict",
                                f"conflicting alert rule found [rule_uid: '{rule['uid']}']")
    folder_uid, group = rule.get("folderUID", ""), rule.get("ruleGroup", "")
    _check_links(rule, api.rules)
    _validate(rule, group)
    index = len(state.group(org_id, folder_uid, group))
    made = _insert(state, _made(api, rule, org_id, folder_uid, group, index, _provenance(request),
                                request.identity.login))
    state.intervals.setdefault((org_id, folder_uid, group), DEFAULT_INTERVAL)
    return json_response(201, made.provisioned())


def delete_rule(api, request: _ApiRequest) -> _Response:
    _require_provisioning(api, request, "write")
    state, org_id, uid = state_of(api), request.identity.org_id, request.params["uid"]
    rule = state.rules.get((org_id, uid))
    provenance = _provenance(request)
    if rule is not None:
        if rule.provenance != provenance and rule.provenance != "":
            raise _provenance_mismatch("delete", provenance, rule.provenance)
        del state.rules[(org_id, uid)]
        _forget_empty_groups(state, org_id)
    return _Response(204, b"", {})  # idempotent: a missing rule is no error


register_routes(
    _route("GET", "/api/v1/provisioning/alert-rules", get_rules, "alert.provisioning:read"),
    _route("POST", "/api/v1/provisioning/alert-rules", post_rule, "alert.provisioning:write"),
    _route("GET", "/api/v1/provisioning/alert-rules/:uid", get_rule, "alert.provisioning:read"),
    _route("DELETE", "/api/v1/provisioning/alert-rules/:uid", delete_rule, "alert.provisioning:write"),
    _route("GET", "/api/v1/provisioning/folder/:folder/rule-groups/:group", get_group, "alert.provisioning:read"),
    _route("PUT", "/api/v1/provisioning/folder/:folder/rule-groups/:group", put_group, "alert.provisioning:write"),
    _route("GET", "/api/access-control/user/permissions", get_user_permissions, None),
)


# ---------------------------------------------------------------------------------------------
# Helpers for tests (through GrafanaStandin.alerting)
# ---------------------------------------------------------------------------------------------

class UIEditRefused(Exception):
    """Grafana's UI does not edit a provisioned rule ("This rule has been provisioned")."""


class AlertingHelpers:
    def __init__(self, grafana: "standin.GrafanaStandin"):
        self._grafana = grafana

    def _state(self) -> AlertingState:
        return state_of(self._grafana._api)

    def rules(self, org_id: int = 1) -> list[dict]:
        """Every stored rule as GET /api/v1/provisioning/alert-rules answers it, by id."""
        with self._grafana._lock:
            return [r.provisioned() for r in sorted(self._state().of_org(org_id), key=lambda r: r.id)]

    def rule(self, uid: str, org_id: int = 1) -> dict | None:
        with self._grafana._lock:
            found = self._state().rules.get((org_id, uid))
            return found.provisioned() if found else None

    def version(self, uid: str, org_id: int = 1) -> int:
        with self._grafana._lock:
            return self._state().rules[(org_id, uid)].version

    def interval(self, folder_uid: str, group: str, org_id: int = 1) -> int | None:
        with self._grafana._lock:
            return self._state().intervals.get((org_id, folder_uid, group))

    def add_rule(self, rule: dict, folder_uid: str, group: str, *, interval: int = DEFAULT_INTERVAL,
                 provenance: str = "", org_id: int = 1, login: str = "alice") -> dict:
        """Store a rule directly, as another tool or a person would have made it."""
        with self._grafana._lock:
            state = self._state()
            bound = _bind_rule(rule)
            index = len(state.group(org_id, folder_uid, group))
            made = _insert(state, _made(self._grafana._api, bound, org_id, folder_uid, group, index, provenance,
                                        login))
            state.intervals.setdefault((org_id, folder_uid, group), interval)
            return made.provisioned()

    def remove_rules(self, org_id: int = 1) -> None:
        """Delete every rule and group of the organisation, as an admin cleaning up would."""
        with self._grafana._lock:
            state = self._state()
            for key in [key for key in state.rules if key[0] == org_id]:
                del state.rules[key]
            for key in [key for key in state.intervals if key[0] == org_id]:
                del state.intervals[key]

    def api_edit(self, uid: str, change: Callable[[dict], Any] | dict, org_id: int = 1, login: str = "bob") -> None:
        """Change a rule through the provisioning API (keeping its provenance), as another tool would."""
        with self._grafana._lock:
            state = self._state()
            stored = state.rules[(org_id, uid)]
            body = stored.provisioned()
            if callable(change):
                body = change(body) or body
            else:
                body.update(copy.deepcopy(change))
            bound = _bind_rule(body)
            edited = _made(self._grafana._api, bound, org_id, stored.folder_uid, stored.group, stored.group_index,
                           stored.provenance, login)
            edited.id, edited.version = stored.id, stored.version + 1
            state.rules[(org_id, uid)] = edited

    def ui_edit(self, uid: str, change: dict, org_id: int = 1, login: str = "alice") -> None:
        """A person's save in the alert rule editor: refused for provisioned rules."""
        with self._grafana._lock:
            stored = self._state().rules[(org_id, uid)]
            if stored.provenance:
                raise UIEditRefused(f"rule {uid!r} has provenance {stored.provenance!r}: the UI does not edit it")
        self.api_edit(uid, change, org_id=org_id, login=login)
