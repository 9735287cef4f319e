"""The stand-in's Kubernetes-style API under /apis (contract §11a), over the state of
``grafana_standin.py``: what Grafana 12 and 13 serve beside the legacy /api.

* ``GET /apis``: discovery, an ``APIGroupList`` of the groups and versions the configured
  version serves (``VersionRules.apis_groups``).
* ``/apis/dashboard.grafana.app/<v>/namespaces/<ns>/dashboards[/<name>]`` for the classic
  versions (v0alpha1, v1beta1, v1): list (``?limit=&continue=``, full specs), get, create
  (POST, 201; 409 AlreadyExists when the name is taken), update (PUT with
  ``metadata.resourceVersion``; 409 Conflict when stale), delete (a ``Status``). ``?dryRun=All``
  runs a create or update through every step and stores nothing.
* ``/apis/folder.grafana.app/<v>/namespaces/<ns>/folders[/<name>[/access]]``: get, list, create
  (201, 409 when taken; the parent in the ``grafana.app/folder`` annotation), and ``access``
  (``FolderAccessInfo``: canSave, canEdit, canAdmin, canDelete).

What the real server does and this one copies (sources: G:apps/dashboard/pkg/.../mutate.go,
G:pkg/storage/unified/apistore/prepare.go, G:apps/dashboard/pkg/migration/conversion):

* a save at v1/v1beta1 removes ``uid``, ``version`` and ``id`` from the spec and migrates it to
  schemaVersion 42 before storing it; a dashboard stored through the legacy API (v0alpha1) is
  migrated when read at v1; both carry ``status.conversion.storedVersion`` when converted;
* ``metadata.generation`` (the legacy ``version``) moves only when the spec or the folder
  changes (13.x, ``VersionRules.generation_versions``); ``grafana.app/updatedBy`` and
  ``grafana.app/updatedTimestamp`` with it; ``resourceVersion`` moves on every write;
* errors are Kubernetes ``Status`` bodies: ``{"kind":"Status","apiVersion":"v1","metadata":{},
  "status":"Failure","message","reason","details","code"}``.

Not modelled (deploy never uses them): v2 objects (a v2 version answers 404), watches, label
selectors, PATCH. Requiring ``metadata.resourceVersion`` on PUT (422 without it) is this
stand-in's choice: whether Grafana allows unconditional updates is UNVERIFIED.

Imports ``grafana_standin`` (which imports this module lazily, when it builds its API).
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import re
from typing import Any
from urllib.parse import parse_qs, unquote

from grafana_standin import (MAX_NESTED_FOLDER_DEPTH, UID_PATTERN, ApiError, _ApiRequest, _content,
                             _Dashboard, _DashboardModel, _Folder, _Identity, _Org, _Response, _timestamp,
                             go_json, json_response)

DASHBOARD_GROUP = "dashboard.grafana.app"
FOLDER_GROUP = "folder.grafana.app"
CLASSIC_VERSIONS = ("v0alpha1", "v1beta1", "v1")
MIGRATED_VERSIONS = ("v1beta1", "v1")  # saves at these versions are migrated (mutate.go)
LATEST_SCHEMA_VERSION = 42  # §8.1, §11a

FOLDER = "grafana.app/folder"
MESSAGE = "grafana.app/message"
CREATED_BY = "grafana.app/createdBy"
UPDATED_BY = "grafana.app/updatedBy"
UPDATED_AT = "grafana.app/updatedTimestamp"
SERVER_ANNOTATIONS = (CREATED_BY, UPDATED_BY, UPDATED_AT)

_PATH = re.compile(r"^/apis/(?P<group>[^/]+)/(?P<version>[^/]+)/namespaces/(?P<namespace>[^/]+)/"
                   r"(?P<resource>[^/]+)(?:/(?P<name>[^/]+)(?:/(?P<sub>[^/]+))?)?$")


def namespace_of(org_id: int) -> str:
    """§11a: `default` for org 1, `org-<id>` for the others."""
    return "default" if org_id == 1 else f"org-{org_id}"


def k8s_status(code: int, reason: str, message: str, details: dict | None = None) -> ApiError:
    """A Kubernetes Status failure (metav1.Status: struct field order kept)."""
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                            "message": message, "reason": reason}
    if details is not None:
        body["details"] = details
    body["code"] = code
    return ApiError(code, body)


def _details(name: str, group: str, resource: str) -> dict:
    return {"name": name, "group": group, "kind": resource}


def migrate_spec(spec: dict) -> dict:
    """The backend schema migrations a classic dashboard below schemaVersion 42 goes through
    (§11a: v40 makes `refresh` a string, v41 drops `timepicker.time_options`, v42 adds
    `tooltip: true` beside `custom.hideFrom` overrides with `viz: true`). Returns a new dict."""
    out = copy.deepcopy(spec)
    version = out.get("schemaVersion")
    version = version if isinstance(version, int) and not isinstance(version, bool) else 0
    if version >= LATEST_SCHEMA_VERSION:
        return out
    if version < 40 and not isinstance(out.get("refresh"), str):
        out["refresh"] = ""
    if version < 41 and isinstance(out.get("timepicker"), dict):
        out["timepicker"].pop("time_options", None)
    if version < 42:
        for panel in _all_panels(out.get("panels")):
            overrides = (panel.get("fieldConfig") or {}).get("overrides") if isinstance(panel, dict) else None
            for override in overrides or []:
                for prop in (override.get("properties") or []) if isinstance(override, dict) else []:
                    value = prop.get("value") if isinstance(prop, dict) else None
                    if prop.get("id") == "custom.hideFrom" and isinstance(value, dict) and value.get("viz") is True:
                        value["tooltip"] = True
    out["schemaVersion"] = LATEST_SCHEMA_VERSION
    return out


def _all_panels(panels: Any):
    for panel in panels if isinstance(panels, list) else []:
        if isinstance(panel, dict):
            yield panel
            yield from _all_panels(panel.get("panels"))


def _continue_token(name: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": name}).encode()).decode()


def _after(token: str) -> str:
    try:
        return json.loads(base64.urlsafe_b64decode(token.encode()))["after"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise k8s_status(400, "BadRequest", "continue key is not valid: illegal base64 data") from None


class KubernetesApi:
    """The /apis routes, as functions of (request, state). Callers hold the state lock."""

    def __init__(self, api):
        self.api = api  # grafana_standin._GrafanaApi: the state, the rules, authentication
        # Encoded list items by (org, uid, version): an item only changes with its
        # resourceVersion, and encoding thousands of specs per page would make the stand-in,
        # not the client, what a benchmark of a list-based deploy measures.
        self._encoded: dict[tuple[int, str, str], tuple[int, bytes]] = {}

    @property
    def rules(self):
        return self.api.rules

    # ----- dispatch --------------------------------------------------------------------------

    def handle(self, method: str, route_path: str, query: str, headers: Any, body: bytes) -> _Response:
        request = _ApiRequest(method, route_path, parse_qs(query, keep_blank_values=True), headers, body)
        try:
            request.identity = self._authenticate(request)
            if route_path.rstrip("/") == "/apis":
                if method not in ("GET", "HEAD"):
                    raise k8s_status(405, "MethodNotAllowed", f"the server does not allow this method on "
                                                              f"the requested resource")
                return json_response(200, self._discovery())
            match = _PATH.match(route_path)
            if match is None:
                raise k8s_status(404, "NotFound", "the server could not find the requested resource")
            return self._resource(request, {k: unquote(v) if v else v for k, v in match.groupdict().items()})
        except ApiError as error:
            return error.response()

    def _authenticate(self, request: _ApiRequest) -> _Identity:
        try:
            identity = self.api.authenticate(request)
        except ApiError as error:  # the k8s API answers auth failures with a Status
            message = error.body.get("message", "Unauthorized") if isinstance(error.body, dict) else "Unauthorized"
            reason = "Unauthorized" if error.status == 401 else "BadRequest"
            raise k8s_status(error.status, reason, message) from None
        if identity.role is None:
            raise k8s_status(403, "Forbidden", "forbidden: the user is not a member of the requested organization")
        return identity

    def _discovery(self) -> dict:
        groups = []
        for name, versions in sorted(self.rules.apis_groups.items()):
            entries = [{"groupVersion": f"{name}/{version}", "version": version} for version in versions]
            groups.append({"name": name, "versions": entries, "preferredVersion": entries[0]})
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def _resource(self, request: _ApiRequest, parts: dict) -> _Response:
        group, version, resource = parts["group"], parts["version"], parts["resource"]
        served = (self.rules.apis_groups or {}).get(group, ())
        kind = {DASHBOARD_GROUP: "dashboards", FOLDER_GROUP: "folders"}.get(group)
        if version not in served or resource != kind or (group == DASHBOARD_GROUP and version not in CLASSIC_VERSIONS):
            raise k8s_status(404, "NotFound", "the server could not find the requested resource")
        identity = request.identity
        if parts["namespace"] != namespace_of(identity.org_id):
            raise k8s_status(403, "Forbidden", f'{resource}.{group} is forbidden: User "{identity.login}" cannot '
                                               f'access namespace "{parts["namespace"]}"')
        org = self.api.org(identity.org_id)
        name, sub, method = parts["name"], parts["sub"], request.method
        if group == DASHBOARD_GROUP and sub is None:
            if name is None and method in ("GET", "HEAD"):
                return self._list_dashboards(request, org, version)
            if name is None and method == "POST":
                return self._save_dashboard(request, org, version, None)
            if name is not None and method in ("GET", "HEAD"):
                return json_response(200, self._dashboard_object(org, self._dashboard(org, name), version))
            if name is not None and method == "PUT":
                return self._save_dashboard(request, org, version, name)
            if name is not None and method == "DELETE":
                return self._delete_dashboard(request, org, name)
        if group == FOLDER_GROUP:
            if name is None and method in ("GET", "HEAD") and sub is None:
                items = [self._folder_object(org, f, version) for f in sorted(org.folders.values(), key=lambda f: f.uid)]
                return json_response(200, {"kind": "FolderList", "apiVersion": f"{group}/{version}",
                                           "metadata": {"resourceVersion": str(self.api._resource_version)},
                                           "items": items})
            if name is None and method == "POST" and sub is None:
                return self._create_folder(request, org, version)
            if name is not None and method in ("GET", "HEAD") and sub is None:
                return json_response(200, self._folder_object(org, self._folder(org, name), version))
            if name is not None and method in ("GET", "HEAD") and sub == "access":
                self._folder(org, name)
                return json_response(200, {"kind": "FolderAccessInfo", "apiVersion": f"{group}/{version}",
                                           "canSave": identity.has_role("Editor"),
                                           "canEdit": identity.has_role("Editor"),
                                           "canAdmin": identity.has_role("Admin"),
                                           "canDelete": identity.has_role("Editor")})
        raise k8s_status(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")

    # ----- dashboards ------------------------------------------------------------------------

    @staticmethod
    def _dashboard(org: _Org, name: str) -> _Dashboard:
        found = org.dashboard_by_uid(name)
        if found is None:
            raise k8s_status(404, "NotFound", f'dashboards.{DASHBOARD_GROUP} "{name}" not found',
                             _details(name, DASHBOARD_GROUP, "dashboards"))
        return found

    def _dashboard_object(self, org: _Org, dashboard: _Dashboard, version: str) -> dict:
        spec = _content(dashboard.data)
        stored = dashboard.stored_version
        status: dict[str, Any] = {}
        if stored != version:
            # Conversion on read: from the legacy JSON (and from v2) the backend migrates to 42.
            if version in MIGRATED_VERSIONS and (stored == "v0alpha1" or stored.startswith("v2")):
                spec = migrate_spec(spec)
            status = {"conversion": {"failed": False, "storedVersion": stored}}
        # No copy otherwise: the object is encoded right away, under the lock, and never kept.
        return self._object(org, dashboard, version, spec, status)

    def _object(self, org: _Org, dashboard: _Dashboard, version: str, spec: dict, status: dict) -> dict:
        annotations = dict(dashboard.annotations)
        if dashboard.created_by_id:
            annotations[CREATED_BY] = dashboard.created_by_id
        if dashboard.updated_by_id:
            annotations[UPDATED_BY] = dashboard.updated_by_id
            annotations[UPDATED_AT] = dashboard.updated
        if dashboard.folder_uid:
            annotations[FOLDER] = dashboard.folder_uid
        metadata = {
            "name": dashboard.uid, "namespace": namespace_of(org.id), "uid": dashboard.k8s_uid,
            "resourceVersion": str(dashboard.resource_version), "generation": dashboard.version,
            "creationTimestamp": dashboard.created,
            "labels": {"grafana.app/deprecatedInternalID": str(dashboard.id)},
            "annotations": dict(sorted(annotations.items())),
        }
        return {"kind": "Dashboard", "apiVersion": f"{DASHBOARD_GROUP}/{version}", "metadata": metadata,
                "spec": spec, "status": status}

    def _list_dashboards(self, request: _ApiRequest, org: _Org, version: str) -> _Response:
        limit = request.query_int("limit")
        token = request.query_value("continue")
        rows = sorted(org.dashboards.values(), key=lambda d: d.uid)
        if token:
            after = _after(token)
            rows = [d for d in rows if d.uid > after]
        page = rows[:limit] if limit > 0 else rows
        metadata: dict[str, Any] = {"resourceVersion": str(self.api._resource_version)}
        if limit > 0 and len(rows) > limit:
            metadata["continue"] = _continue_token(page[-1].uid)
            metadata["remainingItemCount"] = len(rows) - limit
        head = go_json({"kind": "DashboardList", "apiVersion": f"{DASHBOARD_GROUP}/{version}",
                        "metadata": metadata, "items": []})
        items = b",".join(self._encoded_item(org, d, version) for d in page)
        assert head.endswith(b'"items":[]}')
        return _Response(200, head[:-2] + items + b"]}")  # the same bytes as encoding it whole

    def _encoded_item(self, org: _Org, dashboard: _Dashboard, version: str) -> bytes:
        key = (org.id, dashboard.uid, version)
        cached = self._encoded.get(key)
        if cached is None or cached[0] != dashboard.resource_version:
            cached = (dashboard.resource_version, go_json(self._dashboard_object(org, dashboard, version)))
            self._encoded[key] = cached
        return cached[1]

    def _decode(self, request: _ApiRequest, group: str, version: str, kind: str) -> dict:
        try:
            body = json.loads(request.body.decode("utf-8", "replace")) if request.body else None
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise k8s_status(400, "BadRequest", "the body of the request was in an unknown format")
        expected = f"{group}/{version}"
        if body.get("apiVersion") not in (None, expected):
            raise k8s_status(400, "BadRequest", f"the API version in the data ({body.get('apiVersion')}) does not "
                                                f"match the expected API version ({expected})")
        if body.get("kind") not in (None, kind):
            raise k8s_status(400, "BadRequest", f"the kind in the data ({body.get('kind')}) does not match the "
                                                f"expected kind ({kind})")
        if not isinstance(body.get("metadata"), dict) or not isinstance(body["metadata"].get("name"), str) \
                or not body["metadata"]["name"]:
            raise k8s_status(400, "BadRequest", "name is required (generateName is not supported here)")
        return body

    def _need_editor(self, request: _ApiRequest, verb: str, resource: str, group: str) -> None:
        if not request.identity.has_role("Editor"):
            raise k8s_status(403, "Forbidden", f'{resource}.{group} is forbidden: User "{request.identity.login}" '
                                               f"cannot {verb} resource")

    def _save_dashboard(self, request: _ApiRequest, org: _Org, version: str, path_name: str | None) -> _Response:
        creating = path_name is None
        self._need_editor(request, "create" if creating else "update", "dashboards", DASHBOARD_GROUP)
        body = self._decode(request, DASHBOARD_GROUP, version, "Dashboard")
        metadata = body["metadata"]
        name = metadata["name"]
        if not UID_PATTERN.match(name) or len(name) > 40:
            raise k8s_status(422, "Invalid", f'Dashboard.{DASHBOARD_GROUP} "{name}" is invalid: metadata.name: '
                                             "Invalid value: must be 1-40 characters of [a-zA-Z0-9-_]")
        if path_name is not None and name != path_name:
            raise k8s_status(400, "BadRequest", f"the name of the object ({name}) does not match the name on the "
                                                f"URL ({path_name})")
        existing = org.dashboard_by_uid(name)
        sent_rv = metadata.get("resourceVersion")
        if creating:
            if sent_rv:
                raise k8s_status(400, "BadRequest", "resourceVersion should not be set on objects to be created")
            if existing is not None:
                raise k8s_status(409, "AlreadyExists", f'dashboards.{DASHBOARD_GROUP} "{name}" already exists',
                                 _details(name, DASHBOARD_GROUP, "dashboards"))
        else:
            existing = self._dashboard(org, name)
            if not sent_rv:
                raise k8s_status(422, "Invalid", f'Dashboard.{DASHBOARD_GROUP} "{name}" is invalid: '
                                                 "metadata.resourceVersion: Invalid value: 0x0: must be specified "
                                                 "for an update")
            if str(sent_rv) != str(existing.resource_version):
                raise k8s_status(409, "Conflict", f'Operation cannot be fulfilled on dashboards.{DASHBOARD_GROUP} '
                                                  f'"{name}": the object has been modified; please apply your '
                                                  "changes to the latest version and try again",
                                 _details(name, DASHBOARD_GROUP, "dashboards"))
        self.api.check_size(request.body, legacy=False)
        annotations = metadata.get("annotations") if isinstance(metadata.get("annotations"), dict) else {}
        folder_uid = annotations.get(FOLDER) or ""
        if folder_uid and folder_uid not in org.folders:
            raise k8s_status(400, "BadRequest", f"folder not found: {folder_uid}")
        spec = body.get("spec") if isinstance(body.get("spec"), dict) else {}
        spec = {k: v for k, v in copy.deepcopy(spec).items() if k not in ("uid", "version", "id")}  # mutate.go
        if version in MIGRATED_VERSIONS:
            spec = migrate_spec(spec)
        kept = {k: str(v) for k, v in annotations.items() if k not in SERVER_ANNOTATIONS and k != FOLDER}
        if request.query_value("dryRun") == "All":
            return json_response(201 if creating else 200,
                                 self._rehearsal(org, existing, name, version, spec, folder_uid, kept,
                                                 request.identity))
        data = {**spec, "uid": name}
        model = _DashboardModel.parse(data)
        if existing is not None:
            model.version = existing.version
        stored = self.api.store_dashboard(org, model, data, folder_uid, existing, request.identity.login,
                                          request.identity.typed_uid, stored_version=version, annotations=kept)
        return json_response(201 if creating else 200, self._dashboard_object(org, stored, version))

    def _rehearsal(self, org: _Org, existing: _Dashboard | None, name: str, version: str, spec: dict,
                   folder_uid: str, annotations: dict, identity: _Identity) -> dict:
        """What a save would store (dryRun=All): the same object, nothing written."""
        now = _timestamp()
        if existing is None:
            preview = _Dashboard(id=0, uid=name, title=str(spec.get("title") or ""), folder_uid=folder_uid,
                                 version=1, data={}, tags=[], created=now, updated=now, created_by=identity.login,
                                 updated_by=identity.login, created_by_id=identity.typed_uid)
        else:
            preview = copy.copy(existing)
            changed = (_content(existing.data) != spec or existing.folder_uid != folder_uid
                       or existing.stored_version != version)
            if changed or not self.rules.generation_versions:
                preview.version = existing.version + 1
                preview.updated, preview.updated_by_id = now, identity.typed_uid
            preview.folder_uid = folder_uid
        preview.annotations = dict(annotations)
        preview.resource_version = 0  # nothing was stored
        return self._object(org, preview, version, spec, {})

    def _delete_dashboard(self, request: _ApiRequest, org: _Org, name: str) -> _Response:
        self._need_editor(request, "delete", "dashboards", DASHBOARD_GROUP)
        dashboard = self._dashboard(org, name)
        del org.dashboards[dashboard.id]
        self.api.unindex(org, dashboard.uid)
        self.api.next_resource_version()
        details = {**_details(name, DASHBOARD_GROUP, "dashboards"), "uid": dashboard.k8s_uid}
        return json_response(200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                                    "details": details})

    # ----- folders ---------------------------------------------------------------------------

    @staticmethod
    def _folder(org: _Org, name: str) -> _Folder:
        found = org.folders.get(name)
        if found is None:
            raise k8s_status(404, "NotFound", f'folders.{FOLDER_GROUP} "{name}" not found',
                             _details(name, FOLDER_GROUP, "folders"))
        return found

    @staticmethod
    def _folder_object(org: _Org, folder: _Folder, version: str) -> dict:
        annotations = {CREATED_BY: f"user:{folder.created_by}"}
        if folder.parent_uid:
            annotations[FOLDER] = folder.parent_uid
        metadata = {"name": folder.uid, "namespace": namespace_of(org.id), "uid": folder.k8s_uid,
                    "resourceVersion": str(folder.resource_version), "generation": folder.version,
                    "creationTimestamp": folder.created, "annotations": dict(sorted(annotations.items()))}
        spec: dict[str, Any] = {"title": folder.title}
        if folder.description:
            spec["description"] = folder.description
        return {"kind": "Folder", "apiVersion": f"{FOLDER_GROUP}/{version}", "metadata": metadata, "spec": spec}

    def _create_folder(self, request: _ApiRequest, org: _Org, version: str) -> _Response:
        self._need_editor(request, "create", "folders", FOLDER_GROUP)
        body = self._decode(request, FOLDER_GROUP, version, "Folder")
        name = body["metadata"]["name"]
        if not UID_PATTERN.match(name) or len(name) > 40 or name == "general":
            raise k8s_status(422, "Invalid", f'Folder.{FOLDER_GROUP} "{name}" is invalid: metadata.name: '
                                             "Invalid value")
        spec = body.get("spec") if isinstance(body.get("spec"), dict) else {}
        title = str(spec.get("title") or "").strip()
        if not title:
            raise k8s_status(400, "BadRequest", "folder title cannot be empty")
        annotations = body["metadata"].get("annotations") or {}
        parent_uid = annotations.get(FOLDER) or "" if isinstance(annotations, dict) else ""
        if parent_uid:
            parent = org.folders.get(parent_uid)
            if parent is None:
                raise k8s_status(400, "BadRequest", "parent folder does not exist")
            if len(org.ancestors(parent)) >= MAX_NESTED_FOLDER_DEPTH:
                raise k8s_status(400, "BadRequest", "Maximum nested folder depth reached")
        if name in org.folders:
            raise k8s_status(409, "AlreadyExists", f'folders.{FOLDER_GROUP} "{name}" already exists',
                             _details(name, FOLDER_GROUP, "folders"))
        folder = self.api.store_folder(org, name, title, parent_uid, request.identity.login,
                                       str(spec.get("description") or ""))
        return json_response(201, self._folder_object(org, folder, version))


__all__ = ["KubernetesApi", "k8s_status", "migrate_spec", "namespace_of"]
