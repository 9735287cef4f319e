"""The data sources the dashboards reference, checked before anything is written.

A dashboard whose Graphite data source does not exist in Grafana deploys
"successfully" and shows nothing but errors; an alert rule's is an error at
every evaluation. Before deploy writes anything it collects every Graphite data
source reference in the dashboards (`{"type": "graphite", "uid": ...}`) and the
alert rules' queries (`datasourceUid`, expressions aside) and:

* refuses a placeholder uid (`${DS_GRAPHITE}`, what `queuedash build --for-import`
  writes for Grafana's Import screen): only the importer replaces it; a
  `${name}` naming a data source variable of the dashboard itself is fine;
* looks every other uid up (`GET /api/datasources/uid/:uid`, §7.3, on both
  paths): missing, or not of type graphite, stops the deploy. A 403 (licensed
  Enterprise or Cloud may hide data sources from an Editor, §7.3) cannot verify:
  a warning, not a stop.

Imports `queuedash.grafana` and `queuedash.errors`; pure JSON traversal otherwise.
"""

from __future__ import annotations

import re
from typing import Iterator

from queuedash.errors import InputError
from queuedash.grafana import errors
from queuedash.grafana.client import GrafanaClient

_VARIABLE = re.compile(r"^\$(?:\{(\w+)(?::\w+)?\}|(\w+))$")
#: What alert rules put in `datasourceUid` for a server-side expression (contract §11b).
EXPRESSION_UIDS = ("__expr__", "-100")


def graphite_refs(dashboard: dict) -> Iterator[dict]:
    """Every Graphite data source reference (a dict) where the dashboard JSON model puts
    one (§8.4, §8.9, §8.10, §8.12): panels (inside rows too) and their targets, template
    variables, annotations. Walking these few places instead of every value keeps the
    check cheap for a thousand dashboards."""
    for owner in _ref_owners(dashboard):
        ref = owner.get("datasource") if isinstance(owner, dict) else None
        if isinstance(ref, dict) and ref.get("type") == "graphite":
            yield ref


def _ref_owners(dashboard: dict) -> Iterator[object]:
    panels = list(_items(dashboard.get("panels")))
    while panels:
        panel = panels.pop()
        if isinstance(panel, dict):
            yield panel
            yield from _items(panel.get("targets"))
            panels.extend(_items(panel.get("panels")))  # a collapsed row holds its panels
    for section in ("templating", "annotations"):
        holder = dashboard.get(section)
        yield from _items(holder.get("list") if isinstance(holder, dict) else None)


def _items(value: object) -> list:
    return value if isinstance(value, list) else []


def _datasource_variables(dashboard: dict) -> set[str]:
    templating = dashboard.get("templating") if isinstance(dashboard.get("templating"), dict) else {}
    return {v["name"] for v in templating.get("list") or []
            if isinstance(v, dict) and v.get("type") == "datasource" and isinstance(v.get("name"), str)}


def rule_datasource_uids(groups: list[dict]) -> dict[str, str]:
    """Data source uid -> the first rule (uid) whose queries read it; expressions are not
    data sources (`__expr__`, and `-100` in older rules)."""
    found: dict[str, str] = {}
    for group in groups:
        for rule in _items(group.get("rules")):
            for query in _items(rule.get("data") if isinstance(rule, dict) else None):
                uid = query.get("datasourceUid") if isinstance(query, dict) else None
                if isinstance(uid, str) and uid and uid not in EXPRESSION_UIDS:
                    found.setdefault(uid, f"rule {rule.get('uid')}")
    return found


def referenced_uids(dashboards: list[dict], rule_groups: list[dict] = ()) -> dict[str, str]:
    """Data source uid -> the first dashboard (uid), else rule, that references it. A
    placeholder is an `InputError` naming the dashboard or rule."""
    found: dict[str, str] = {}
    for dashboard in dashboards:
        variables = _datasource_variables(dashboard)
        for ref in graphite_refs(dashboard):
            uid = ref.get("uid")
            if not isinstance(uid, str) or not uid:
                continue
            variable = _VARIABLE.match(uid)
            if variable:
                if (variable.group(1) or variable.group(2)) in variables:
                    continue  # resolved by the dashboard's own data source variable
                raise InputError(
                    f"dashboard {dashboard.get('uid')!r}: its Graphite data source uid is {uid!r}, a placeholder "
                    "for Grafana's Import screen (queuedash build --for-import); deploy the API-ready build "
                    "(build/dashboards), whose panels name the data source's real uid")
            found.setdefault(uid, str(dashboard.get("uid")))
    for uid, where in rule_datasource_uids(list(rule_groups)).items():
        if _VARIABLE.match(uid):
            raise InputError(f"{where}: its data source uid is {uid!r}, a placeholder: alert rules name the "
                             "data source's real uid; deploy the API-ready build (build/dashboards)")
        found.setdefault(uid, where)
    return found


def check_datasources(client: GrafanaClient, dashboards: list[dict], rule_groups: list[dict] = ()) -> list[str]:
    """Raise unless every Graphite data source the dashboards and rules reference exists with
    type graphite; returns warnings (for what could not be verified)."""
    warnings: list[str] = []
    for uid, where in sorted(referenced_uids(dashboards, rule_groups).items()):
        try:
            found = client.get_datasource(uid)
        except errors.PermissionDenied:
            warnings.append(f"cannot verify the data source {uid!r}: the credentials may not read data sources "
                            "(403); deploying without checking it")
            continue
        if found is None:
            raise errors.DatasourceError(
                f"Grafana has no data source with uid {uid!r} (used by {where!r}): nothing was written; create "
                "the Graphite data source with that uid, or set [datasource] uid to the uid of yours")
        kind = found.get("type")
        if kind != "graphite":
            raise errors.DatasourceError(
                f"the data source {uid!r} ({found.get('name', '')}) is of type {kind!r}, not graphite (used by "
                f"{where!r}): nothing was written; set [datasource] uid to your Graphite data source's uid")
    return warnings
