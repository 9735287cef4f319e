"""Grafana's alerting provisioning API: the only module that knows its URLs (contract §11b).

Calls go through `GrafanaClient.call` (its session, credentials, retries, error
classes and redaction); nothing here opens a connection of its own.

Provenance, decided once: queuedash never sends ``X-Disable-Provenance``, so the
rules it writes have provenance ``api``: Grafana shows them as provisioned and
its UI does not edit them (a person duplicates or exports one to experiment).
Provenance cannot be moved back and forth (``cannot change provenance``), so
this stays fixed; README, "Alert rules", says why.

Routes (pkg/services/ngalert/api/tooling/definitions/provisioning_alert_rules.go):

* ``GET /api/v1/provisioning/alert-rules``: every rule of the organisation;
* ``GET /api/v1/provisioning/folder/<folderUid>/rule-groups/<group>``: one group,
  404 when it has no rule;
* ``PUT`` on the same path: a whole-group replace (``ReplaceRuleGroup``): rules
  with unknown uids are created, known ones updated (or moved into the group),
  rules left out deleted, nothing written when nothing changed; the body's
  ``rules`` must not be empty (Grafana then only changes the interval);
* ``DELETE /api/v1/provisioning/alert-rules/<uid>``: one rule (204).

Who may call them (pkg/services/ngalert/api/authorization.go): up to Grafana
10.x only holders of ``alert.provisioning:read|write``, which Grafana gives the
Admin role; from 11.0 (grafana#77007, #85022, #87149) also holders of
``alert.rules.provisioning:*``, or of the regular rule permissions on the folder
together with ``alert.provisioning.provenance:write`` (the Editor role has both,
unless a licensed Enterprise or Cloud admin took the latter away). Reading the
rules is therefore no proof of being allowed to write them: `permissions` asks
Grafana what the credentials may do (``GET /api/access-control/user/permissions``,
action -> scopes, any signed-in caller, 9.x to 13) and `may_write_rules`
decides. A 403 from a route says so in one line.

Imports `errors` and `client` of this package.
"""

from __future__ import annotations

from urllib.parse import quote

from queuedash.grafana import errors
from queuedash.grafana.client import GrafanaClient

RULES_PATH = "/api/v1/provisioning/alert-rules"
PERMISSIONS_PATH = "/api/access-control/user/permissions"

#: Either lets the caller write every rule group (the second from Grafana 11.0).
BLANKET_WRITE = ("alert.provisioning:write", "alert.rules.provisioning:write")
#: From 11.0, these on the folder (what a whole-group PUT may create, update and delete)...
FOLDER_ACTIONS = ("alert.rules:read", "folders:read", "alert.rules:create", "alert.rules:write", "alert.rules:delete")
#: ... together with this one, which marks what is written as provisioned.
PROVENANCE_WRITE = "alert.provisioning.provenance:write"


def may_write_rules(permissions: dict[str, list[str]], folder_uids: list[str]) -> bool:
    """Whether credentials with `permissions` (action -> scopes) may write the rule groups
    of the last folder of `folder_uids` (outermost first: a permission on a parent folder
    covers its children)."""
    if any(action in permissions for action in BLANKET_WRITE):
        return True
    if PROVENANCE_WRITE not in permissions:
        return False
    covering = {"*", "folders:*", "folders:uid:*"} | {f"folders:uid:{uid}" for uid in folder_uids}
    return all(covering.intersection(permissions.get(action) or ()) for action in FOLDER_ACTIONS)


def group_path(folder_uid: str, title: str) -> str:
    return f"/api/v1/provisioning/folder/{quote(folder_uid, safe='')}/rule-groups/{quote(title, safe='')}"


class AlertingApi:
    """The alert rule calls deploy and diff make, on a connected `GrafanaClient`."""

    def __init__(self, client: GrafanaClient):
        self.client = client

    def permissions(self) -> dict[str, list[str]] | None:
        """What the credentials may do: action -> scopes; None when Grafana does not say (a 404)."""
        try:
            reply = self.client.call("GET", PERMISSIONS_PATH)
        except errors.NotFound:
            return None
        if not isinstance(reply.body, dict):
            raise errors.NotGrafana(f"GET {PERMISSIONS_PATH}: the answer is not a JSON object", status=reply.status)
        return {action: [scope for scope in scopes if isinstance(scope, str)]
                for action, scopes in reply.body.items() if isinstance(scopes, list)}

    def rules(self) -> list[dict]:
        """Every alert rule of the organisation (ProvisionedAlertRule objects)."""
        reply = self._call("GET", RULES_PATH)
        if not isinstance(reply.body, list):
            raise errors.NotGrafana(f"GET {RULES_PATH}: expected a JSON array", status=reply.status)
        return [rule for rule in reply.body if isinstance(rule, dict)]

    def group(self, folder_uid: str, title: str) -> dict | None:
        """One rule group ({title, folderUid, interval, rules}); None when it has no rule."""
        path = group_path(folder_uid, title)
        try:
            reply = self._call("GET", path)
        except errors.NotFound:
            return None
        if not isinstance(reply.body, dict):
            raise errors.NotGrafana(f"GET {path}: the answer is not a JSON object", status=reply.status)
        return reply.body

    def replace_group(self, body: dict) -> dict:
        """PUT the whole group: Grafana creates, updates and deletes to match `body`."""
        if not body.get("rules"):
            raise ValueError("a group replace needs rules: Grafana reads an empty list as 'interval only'")
        path = group_path(body["folderUid"], body["title"])
        reply = self._call("PUT", path, body=body)
        return reply.body if isinstance(reply.body, dict) else {}

    def delete_rule(self, uid: str) -> bool:
        """Delete one rule; False when it was already gone."""
        try:
            self._call("DELETE", f"{RULES_PATH}/{quote(uid, safe='')}")
        except errors.NotFound:
            return False
        return True

    def _call(self, method: str, path: str, body: dict | None = None):
        try:
            return self.client.call(method, path, body=body)
        except errors.PermissionDenied as exc:
            raise errors.PermissionDenied(
                f"the credentials ({self.client.credentials.source}) may not use Grafana's alerting provisioning "
                f"API ({method} {path} answered 403): alert rules need a service account with the Admin role "
                "(or, from Grafana 11, the Editor role); --no-rules leaves the rules out",
                status=exc.status, attempts=exc.attempts) from None
