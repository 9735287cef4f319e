"""Grafana's Kubernetes-style API under /apis (contract §11a): the URLs and bodies.

Grafana 12 serves dashboards as `dashboard.grafana.app/v1beta1`, Grafana 13 as
`dashboard.grafana.app/v1` too, and folders as `folder.grafana.app`; `GET /apis`
(Kubernetes discovery) says which. Objects live in a namespace per organisation:
`default` for org 1, `org-<id>` for the others. A dashboard is
`{"apiVersion", "kind": "Dashboard", "metadata": {"name": <uid>, "annotations":
{"grafana.app/folder": <folder uid>, "grafana.app/message": <message>}}, "spec":
<the classic dashboard JSON>}`; create is a POST (201; 409 when the name is taken),
update a PUT carrying `metadata.resourceVersion` (409 when it is stale), list a
GET with `?limit=&continue=` (full specs, one request per page).

Every request goes through `GrafanaClient.call`, so credentials, retries, redaction
and error mapping (a k8s `Status` body's `reason`) are the client's.

Imports `client` and `errors` of this package; never the dashboard model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from queuedash.grafana import errors
from queuedash.grafana.client import GrafanaClient

DASHBOARD_GROUP = "dashboard.grafana.app"
FOLDER_GROUP = "folder.grafana.app"
#: The versions deploy can use, best first: v1 is GA in 13.0, v1beta1 is 12.x's (§11a).
#: Both carry the classic dashboard JSON as `spec`; v0alpha1 (11.x) is experimental, v2 a new schema.
DASHBOARD_VERSIONS = ("v1", "v1beta1")
FOLDER_VERSIONS = ("v1", "v1beta1")

FOLDER_ANNOTATION = "grafana.app/folder"
MESSAGE_ANNOTATION = "grafana.app/message"
UPDATED_BY_ANNOTATION = "grafana.app/updatedBy"
UPDATED_AT_ANNOTATION = "grafana.app/updatedTimestamp"
CREATED_BY_ANNOTATION = "grafana.app/createdBy"

#: Dashboards per list page. Each page is one request carrying full specs.
LIST_PAGE_SIZE = 500


@dataclass(frozen=True)
class Served:
    """What `GET /apis` says the server serves: group name -> its versions."""

    groups: dict[str, tuple[str, ...]]

    @classmethod
    def from_discovery(cls, body: dict | None) -> "Served":
        groups: dict[str, tuple[str, ...]] = {}
        for group in (body or {}).get("groups") or []:
            if not isinstance(group, dict) or not isinstance(group.get("name"), str):
                continue
            versions = tuple(v["version"] for v in group.get("versions") or []
                             if isinstance(v, dict) and isinstance(v.get("version"), str))
            groups[group["name"]] = versions
        return cls(groups)

    def best(self, group: str, wanted: tuple[str, ...]) -> str | None:
        served = self.groups.get(group, ())
        return next((version for version in wanted if version in served), None)

    @property
    def dashboard_version(self) -> str | None:
        return self.best(DASHBOARD_GROUP, DASHBOARD_VERSIONS)

    @property
    def folder_version(self) -> str | None:
        return self.best(FOLDER_GROUP, FOLDER_VERSIONS)

    @property
    def usable(self) -> bool:
        """Deploy can go through /apis: dashboards and folders at versions it knows."""
        return self.dashboard_version is not None and self.folder_version is not None

    def describe(self) -> str:
        """The served versions of the two groups, for messages."""
        parts = [f"{group} {', '.join(self.groups[group]) or 'no version'}"
                 for group in (DASHBOARD_GROUP, FOLDER_GROUP) if group in self.groups]
        return "; ".join(parts) if parts else "neither dashboard.grafana.app nor folder.grafana.app"


def namespace_for(org_id: int) -> str:
    """The namespace of an organisation (§11a): `default` for org 1, `org-<id>` otherwise."""
    return "default" if org_id == 1 else f"org-{org_id}"


def annotations_of(item: dict) -> dict:
    metadata = item.get("metadata") if isinstance(item.get("metadata"), dict) else {}
    annotations = metadata.get("annotations")
    return annotations if isinstance(annotations, dict) else {}


class ApisClient:
    """Dashboards and folders of one namespace through /apis, at the versions discovery chose."""

    def __init__(self, client: GrafanaClient, namespace: str, dashboard_version: str, folder_version: str):
        self.client = client
        self.namespace = namespace
        self.dashboard_version = dashboard_version
        self.folder_version = folder_version
        self.dashboards_path = f"/apis/{DASHBOARD_GROUP}/{dashboard_version}/namespaces/{_segment(namespace)}/dashboards"
        self.folders_path = f"/apis/{FOLDER_GROUP}/{folder_version}/namespaces/{_segment(namespace)}/folders"

    def __repr__(self) -> str:
        return f"ApisClient({self.client.base_url!r}, {self.namespace!r}, {self.dashboard_version!r})"

    # ----- dashboards ------------------------------------------------------------------------

    def dashboard_object(self, uid: str, spec: dict, *, folder_uid: str, message: str,
                         resource_version: str | None = None) -> dict:
        metadata: dict[str, Any] = {"name": uid,
                                    "annotations": {FOLDER_ANNOTATION: folder_uid, MESSAGE_ANNOTATION: message}}
        if resource_version:
            metadata["resourceVersion"] = resource_version  # the optimistic lock of an update
        return {"apiVersion": f"{DASHBOARD_GROUP}/{self.dashboard_version}", "kind": "Dashboard",
                "metadata": metadata, "spec": spec}

    def list_dashboards(self, page_size: int = LIST_PAGE_SIZE) -> list[dict]:
        """Every dashboard of the namespace, full specs included, following `continue` tokens."""
        items: list[dict] = []
        token = ""
        while True:
            params = {"limit": page_size}
            if token:
                params["continue"] = token
            page = self._object(self.client.call("GET", self.dashboards_path, params=params), "list dashboards")
            found = page.get("items")
            if not isinstance(found, list):
                raise errors.NotGrafana(f"GET {self.dashboards_path}: the answer has no items list")
            items.extend(item for item in found if isinstance(item, dict))
            metadata = page.get("metadata") if isinstance(page.get("metadata"), dict) else {}
            token = metadata.get("continue") if isinstance(metadata.get("continue"), str) else ""
            if not token:
                return items

    def get_dashboard(self, uid: str) -> dict | None:
        try:
            return self._object(self.client.call("GET", f"{self.dashboards_path}/{_segment(uid)}"), "GET dashboard")
        except errors.NotFound:
            return None

    def create_dashboard(self, body: dict, *, dry_run: bool = False) -> dict:
        """POST: 201 with the stored object; `AlreadyExists` (409) when the name is taken.
        `dry_run` runs every step of a save (the schema migration included) but stores nothing."""
        return self._object(self.client.call("POST", self.dashboards_path, params=_dry(dry_run), body=body),
                            "create dashboard")

    def update_dashboard(self, uid: str, body: dict, *, dry_run: bool = False) -> dict:
        """PUT with `metadata.resourceVersion`: `Conflict` (409) when someone saved since."""
        return self._object(self.client.call("PUT", f"{self.dashboards_path}/{_segment(uid)}",
                                             params=_dry(dry_run), body=body), "update dashboard")

    def delete_dashboard(self, uid: str) -> None:
        self.client.call("DELETE", f"{self.dashboards_path}/{_segment(uid)}")

    # ----- folders ---------------------------------------------------------------------------

    def get_folder(self, uid: str) -> dict | None:
        try:
            return self._object(self.client.call("GET", f"{self.folders_path}/{_segment(uid)}"), "GET folder")
        except errors.NotFound:
            return None

    def create_folder(self, uid: str, title: str, parent_uid: str = "") -> dict:
        """POST: 201; `AlreadyExists` (409) when the uid is taken. The parent is an annotation."""
        metadata: dict[str, Any] = {"name": uid}
        if parent_uid:
            metadata["annotations"] = {FOLDER_ANNOTATION: parent_uid}
        body = {"apiVersion": f"{FOLDER_GROUP}/{self.folder_version}", "kind": "Folder",
                "metadata": metadata, "spec": {"title": title}}
        return self._object(self.client.call("POST", self.folders_path, body=body), "create folder")

    def folder_access(self, uid: str) -> dict:
        """GET .../folders/<uid>/access: what the caller may do there (canSave, canEdit...)."""
        return self._object(self.client.call("GET", f"{self.folders_path}/{_segment(uid)}/access"),
                            "GET folder access")

    @staticmethod
    def _object(reply, what: str) -> dict:
        if not isinstance(reply.body, dict):
            raise errors.NotGrafana(f"{what}: Grafana's answer is not a JSON object", status=reply.status)
        return reply.body


def _segment(name: str) -> str:
    """A name as one path segment (names are uids, but never trust input in a URL)."""
    return quote(name, safe="")


def _dry(dry_run: bool) -> dict | None:
    return {"dryRun": "All"} if dry_run else None
