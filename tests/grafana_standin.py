"""A Grafana HTTP API stand-in: a real HTTP/1.1 server on a loopback port, for tests.

Grafana cannot be installed where the tests run, so the deploy client is tested against this
server. It follows /work/shared/grafana/contract.md (cited below as "§n"): authentication (§2),
``POST /api/dashboards/db`` step by step (§3.2-3.5), dashboard GET/DELETE (§4), folders (§5),
search (§6), health, org and data sources (§7), version differences (§11), checklist (§12), and
what Grafana 12 and 13 changed (§11a): dynamic dashboards (schema v2) that the legacy GET
answers with 406, 409 for stale saves, versions that are generations, a search index that lags
writes. The Kubernetes-style /apis API (discovery, dashboards and folders) is
``standin_apis.py``; both share the state kept here.

What lives here, top to bottom:
  * JSON encoding like Go's ``encoding/json`` and the four error-body families of §1.2
  * ``VersionRules``: which behaviour the configured Grafana version has (§11, §11a)
  * ``slugify`` (§3.5), Go/Grafana duration parsing (§3.2 step 5), uid generation (§3.6)
  * state records: dashboards, folders, data sources, orgs, identities
  * ``_GrafanaApi``: routing, authentication and the route handlers (pure logic, no sockets)
  * HTTP plumbing: fault injection plan, request handler, threaded server
  * ``GrafanaStandin``: the public object tests use (start/stop, seeding, inspection, faults)
  * the alerting provisioning API (§11b) is in tests/standin_alerting.py, registered through
    ``register_routes``; ``GrafanaStandin.alerting`` gives its state and helpers

Standard library only. All state is guarded by one lock; handlers run under it (an added
``latency`` is waited outside it, as a network round trip would be).
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import re
import secrets
import socket
import string
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterable
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["GrafanaStandin", "VersionRules", "slugify", "parse_grafana_duration"]

JSON_CONTENT_TYPE = "application/json; charset=UTF-8"
ROLE_RANK = {"Viewer": 1, "Editor": 2, "Admin": 3}
WRITE_METHODS = frozenset({"POST", "PUT", "DELETE", "PATCH"})
SEARCH_LIMIT_MAX = 5000  # §6.1
DEFAULT_PAGE_SIZE = 1000  # §5.1, §6.1
MAX_NESTED_FOLDER_DEPTH = 4  # §5.4
UID_PATTERN = re.compile(r"^[a-zA-Z0-9\-_]*$")  # §3.2 step 6e


# ---------------------------------------------------------------------------------------------
# JSON like Go, and the error-body families (§1.2)
# ---------------------------------------------------------------------------------------------

# Go's json.Marshal escapes these inside strings ("HTML-safe" output); they only ever occur
# inside JSON strings, so a plain text replacement is exact.
_GO_ESCAPES = (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"),
               ("\u2028", "\\u2028"), ("\u2029", "\\u2029"))


def go_json(value: Any, pretty: bool = False, trailing_newline: bool = False) -> bytes:
    """Encode like Go: compact (or simplejson's 2-space pretty form), UTF-8, HTML-escaped.

    Key order is the caller's: Go maps (util.DynMap, simplejson) marshal with sorted keys, Go
    structs in field order, so callers build dicts in the order the real server would emit.
    ``trailing_newline`` mimics json.Encoder.Encode, used by web.Context.JSON (errutil bodies:
    the observed unauthenticated 401 has Content-Length 102 = 101 bytes of JSON + "\\n", §1.2 C).
    """
    if pretty:
        text = json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True, allow_nan=False)
    else:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for raw, escaped in _GO_ESCAPES:
        text = text.replace(raw, escaped)
    return (text + ("\n" if trailing_newline else "")).encode("utf-8")


def _sorted_json(value: Any) -> Any:
    """Sort dict keys at every level: simplejson (the stored dashboard model) is a Go map."""
    if isinstance(value, dict):
        return {key: _sorted_json(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_sorted_json(item) for item in value]
    return value


def _go_map(**items: Any) -> dict:
    """A util.DynMap response body: Go marshals map keys sorted."""
    return dict(sorted(items.items()))


@dataclass
class _Response:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": JSON_CONTENT_TYPE})


def json_response(status: int, body: Any, trailing_newline: bool = False) -> _Response:
    return _Response(status, go_json(body, trailing_newline=trailing_newline))


class ApiError(Exception):
    """Raised by handlers to answer with an error body; the dispatcher turns it into a response."""

    def __init__(self, status: int, body: dict, trailing_newline: bool = False):
        super().__init__(f"{status} {body}")
        self.status = status
        self.body = body
        self.trailing_newline = trailing_newline

    def response(self) -> _Response:
        return json_response(self.status, self.body, self.trailing_newline)


def legacy_error(status: int, message: str, with_trace: bool = False) -> ApiError:
    """Family A, response.Error: traceID only when an internal error value was passed (§1.2 A)."""
    body = {"message": message}
    if with_trace:
        body["traceID"] = ""
    return ApiError(status, body)


def typed_error(status: int, status_text: str, message: str) -> ApiError:
    """Family B: exactly {"message","status"} (a DynMap, so sorted), no traceID (§1.2 B)."""
    return ApiError(status, {"message": message, "status": status_text})


def errutil_error(status: int, message_id: str, message: str) -> ApiError:
    """Family C, structured errutil error as observed verbatim (§1.2 C)."""
    body = {"extra": None, "message": message, "messageId": message_id,
            "statusCode": status, "traceID": ""}
    return ApiError(status, body, trailing_newline=True)


def rbac_denied(permission: str) -> ApiError:
    """Family D, RBAC middleware access denied (§1.2 D, body verbatim in G#88924)."""
    body = {
        "accessErrorId": f"ACE{secrets.randbelow(10 ** 10):010d}",
        "message": "You'll need additional permissions to perform this action. "
                   f"Permissions needed: {permission}",
        "title": "Access denied",
    }
    return ApiError(403, body, trailing_newline=True)


def _bad_request_data() -> ApiError:
    # §1.1 / §3.2 step 2: binding failed; an internal error is passed, hence traceID.
    return legacy_error(400, "bad request data", with_trace=True)


# ---------------------------------------------------------------------------------------------
# Version-dependent behaviour (§11)
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class VersionRules:
    """What the configured Grafana version does differently (§11 table)."""

    version: str
    major: int
    minor: int

    @classmethod
    def parse(cls, version: str) -> "VersionRules":
        match = re.search(r"(\d+)\.(\d+)", version)
        if not match:
            raise ValueError(f"not a Grafana version: {version!r}")
        return cls(version, int(match.group(1)), int(match.group(2)))

    @property
    def _minor_version(self) -> tuple[int, int]:
        return (self.major, self.minor)

    @property
    def unique_titles(self) -> bool:
        # §3.2 step 8 / §5.4: name uniqueness removed in 11.3 (G#90687).
        return self._minor_version <= (11, 2)

    @property
    def post_returns_folder_uid(self) -> bool:
        return self.major >= 11  # §3.3: folderUid added in 11.x

    @property
    def delete_id_key(self) -> str:
        return "uid" if self.major >= 11 else "id"  # §4.2

    @property
    def limits_message_length(self) -> bool:
        return self._minor_version >= (11, 6)  # §3.2 step 6c, G#99229

    @property
    def limits_title_length(self) -> bool:
        return self.major >= 12  # §3.2 step 6b, G#101554

    @property
    def limits_tag_length(self) -> bool:
        return self.major >= 12  # §3.2 step 6d

    @property
    def errutil_unauthorized(self) -> bool:
        return self.major >= 10  # §2.3: 9.x answered {"message":"Unauthorized"}

    @property
    def lower_case_folder_errors(self) -> bool:
        return self.major >= 10  # §3.2 step 6g, §5.4: 9.x capitalised these messages

    @property
    def search_hits_have_is_deleted(self) -> bool:
        return self.major >= 11  # §6.2: isDeleted is "newer" (soft delete, 11.x)

    # ----- Grafana 12 and 13 (§11a) -----

    @property
    def apis_groups(self) -> dict[str, tuple[str, ...]] | None:
        """What GET /apis lists (group -> versions, preferred first); None: no /apis at all.
        The 11.x entry (experimental v0alpha1 only) is UNVERIFIED; 12 and 13 per §11a."""
        if self.major < 11:
            return None
        if self.major == 11:
            return {"dashboard.grafana.app": ("v0alpha1",), "folder.grafana.app": ("v0alpha1",)}
        if self.major == 12:
            return {"dashboard.grafana.app": ("v1beta1", "v0alpha1", "v2alpha1", "v2beta1"),
                    "folder.grafana.app": ("v1beta1",)}
        return {"dashboard.grafana.app": ("v1", "v0alpha1", "v1beta1", "v2", "v2alpha1", "v2beta1"),
                "folder.grafana.app": ("v1", "v1beta1")}

    @property
    def generation_versions(self) -> bool:
        """13.x stores every save through k8s storage: `version` is metadata.generation, which
        moves only when the spec (or the folder) changes (§11a; unified apistore prepare.go)."""
        return self.major >= 13

    @property
    def legacy_conflict_status(self) -> int:
        """A stale `version` on POST /api/dashboards/db: 412 version-mismatch, or, from the
        newer k8s save handler (G#122027, release UNVERIFIED; modelled from 13.0), 409."""
        return 409 if self.major >= 13 else 412

    @property
    def meta_has_api_version(self) -> bool:
        return self.major >= 12  # §11a: meta.apiVersion in 12.x/13.x GET responses

    @property
    def ui_saves_v2(self) -> bool:
        return self.major >= 13  # §11a: dynamic dashboards are the default from 13.0

    @property
    def v2_version(self) -> str:
        return "v2" if self.major >= 13 else "v2beta1"  # v2 is GA in 13.0 (G#120748)

    @property
    def has_size_limit(self) -> bool:
        return self.major >= 12  # §3.2: 413 "Dashboard is too large" in the k8s storage era


# ---------------------------------------------------------------------------------------------
# Slugs (§3.5), durations (§3.2 step 5), uids (§3.6), time
# ---------------------------------------------------------------------------------------------

def _replacement_table() -> dict[str, str]:
    """Grafana's slug replacement map (pkg/infra/slugify), grouped by replacement text.

    Only lower-case keys matter because the input is lower-cased first; the quirks of the Go
    table are kept on purpose (ä -> a but ü -> ue, ſ -> z, final tsadi -> upper-case C).
    """
    groups = {
        "-": " ъь", "and": "&", "at": "@", "c": "©çćĉċčцצ", "r": "®ŕŗřрר", "tm": "™",
        "a": "àáâäåãāăąǎǻảạắằẳẵặấầẩẫậаא", "ae": "æǽ", "b": "бב", "ch": "ч", "d": "ďđдד",
        "e": "èéêëēĕėęěəẻẽẹếềểễệеєע", "f": "ƒф", "g": "ĝğġģгґג", "h": "ĥħхהח",
        "i": "ìíîïĩīĭįıиіїיỉị", "ij": "ĳ", "j": "ĵй", "ja": "я", "je": "э", "jo": "ё",
        "ju": "ю", "k": "ķĸкךכ", "l": "ĺļľŀłлל", "m": "мםמ", "n": "ńņňŉŋнןנ",
        "o": "òóôõöøōŏőǒǿơоỏọốồổỗộớờởỡợ", "oe": "œ", "p": "þпףפ", "q": "ק",
        "s": "śŝşšсס", "sch": "щ", "sh": "ш", "ss": "ß", "t": "ţťŧтטת",
        "u": "ùúûũūŭůűųưǔǖǘǚǜуủụứừửữự", "ue": "ü", "v": "вו", "w": "ŵש",
        "y": "ýÿŷыỳỷỹỵ", "z": "źżžſзז", "zh": "ж", "C": "ץ",
    }
    return {char: replacement for replacement, chars in groups.items() for char in chars}


_SLUG_REPLACEMENTS = _replacement_table()
_SLUG_KEEP = frozenset(string.ascii_lowercase + string.digits + "_-")
_SLUG_DROP = frozenset(",\"'\n\r\0?.()")


def _go_lower(char: str) -> str:
    """Go's per-rune simple case mapping (Python's full mapping turns İ into two runes)."""
    lowered = char.lower()
    if len(lowered) == 1:
        return lowered
    return "i" if char == "\u0130" else char


def slugify(value: str) -> str:
    """Grafana's slugify.Slugify (§3.5)."""
    pieces = []
    for char in value.strip():
        char = _go_lower(char)
        if char in _SLUG_REPLACEMENTS:
            pieces.append(_SLUG_REPLACEMENTS[char])
        elif char in _SLUG_KEEP:
            pieces.append(char)
        elif char in _SLUG_DROP:
            continue
        else:
            # Go writes each UTF-8 byte with %x, i.e. without zero padding.
            pieces.append("".join(format(byte, "x") for byte in char.encode("utf-8")))
    slug = "".join(pieces)
    if slug == "" or len(slug.encode("utf-8")) > 50:
        return str(uuid.uuid5(uuid.NAMESPACE_OID, value))
    return slug


_NANOS = {"ns": 1, "us": 10 ** 3, "\u00b5s": 10 ** 3, "\u03bcs": 10 ** 3, "ms": 10 ** 6,
          "s": 10 ** 9, "m": 60 * 10 ** 9, "h": 3600 * 10 ** 9}
_DAY_NANOS = 24 * 3600 * 10 ** 9
_YEAR_NANOS = int(_DAY_NANOS * 365.25)
_GRAFANA_UNIT_NANOS = {"d": _DAY_NANOS, "w": 7 * _DAY_NANOS, "M": _YEAR_NANOS // 12, "y": _YEAR_NANOS}
_GO_DURATION_PART = re.compile(r"(\d*(?:\.\d*)?)([^\d.]+)")


def _parse_go_duration(text: str) -> float | None:
    """time.ParseDuration: "[-+]?([0-9]*(\\.[0-9]*)?[a-z]+)+" or "0"; nanoseconds or None."""
    sign = -1 if text.startswith("-") else 1
    body = text[1:] if text[:1] in "+-" else text
    if body == "0":
        return 0.0
    if not body or not re.fullmatch(r"(?:\d*(?:\.\d*)?[^\d.]+)+", body):
        return None
    total = 0.0
    for number, unit in _GO_DURATION_PART.findall(body):
        if unit not in _NANOS or not any(ch.isdigit() for ch in number):
            return None
        total += float(number) * _NANOS[unit]
    return sign * total


def parse_grafana_duration(text: str) -> float | None:
    """gtime.ParseDuration: "<n>d|w|M|y" on top of Go durations; nanoseconds or None if invalid."""
    match = re.fullmatch(r"(\d+)([dwMy])", text)
    if match:
        return float(int(match.group(1)) * _GRAFANA_UNIT_NANOS[match.group(2)])
    return _parse_go_duration(text)


def _generate_uid(rules: VersionRules) -> str:
    """Opaque uid in the era's style (§3.6): short mixed-case before 11, letter+base36+letter after."""
    if rules.major < 11:
        return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(9))
    middle = "".join(secrets.choice(string.digits + string.ascii_lowercase) for _ in range(12))
    return secrets.choice(string.ascii_lowercase) + middle + secrets.choice(string.ascii_lowercase)


def _timestamp() -> str:
    """RFC 3339 at second precision (the DB stores seconds), as Go marshals a UTC time.Time."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _byte_len(text: str) -> int:
    return len(text.encode("utf-8"))  # Go's len() on strings counts bytes


def _is_json_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# ---------------------------------------------------------------------------------------------
# State records (§12)
# ---------------------------------------------------------------------------------------------

@dataclass
class _Dashboard:
    id: int
    uid: str
    title: str
    folder_uid: str
    version: int
    data: dict
    tags: list[str]
    created: str
    updated: str
    created_by: str
    updated_by: str
    plugin_id: str = ""
    provisioned: bool = False
    provisioned_external_id: str = ""
    #: The API version it is stored in (§11a): "v0alpha1" through /api, the /apis version it
    #: was saved at, "v2..." for a dynamic dashboard a person saved.
    stored_version: str = "v0alpha1"
    #: The k8s view (§11a): resourceVersion (moves on every write), metadata.uid, annotations
    #: kept as sent (grafana.app/message and anything else); who wrote it, as k8s names them.
    resource_version: int = 0
    k8s_uid: str = field(default_factory=lambda: str(uuid.uuid4()))
    annotations: dict = field(default_factory=dict)
    created_by_id: str = ""
    updated_by_id: str = ""

    @property
    def slug(self) -> str:
        return slugify(self.title)

    def snapshot(self, org_id: int) -> dict:
        return {
            "org_id": org_id, "id": self.id, "uid": self.uid, "title": self.title,
            "slug": self.slug, "folder_uid": self.folder_uid, "version": self.version,
            "data": copy.deepcopy(self.data), "tags": list(self.tags), "plugin_id": self.plugin_id,
            "provisioned": self.provisioned, "created": self.created, "updated": self.updated,
            "created_by": self.created_by, "updated_by": self.updated_by,
            "stored_version": self.stored_version, "resource_version": self.resource_version,
            "annotations": dict(self.annotations),
        }


@dataclass
class _Folder:
    id: int
    uid: str
    title: str
    parent_uid: str
    version: int
    created: str
    updated: str
    created_by: str
    updated_by: str
    description: str = ""
    resource_version: int = 0
    k8s_uid: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def slug(self) -> str:
        return slugify(self.title)

    def snapshot(self, org_id: int) -> dict:
        return {"org_id": org_id, "id": self.id, "uid": self.uid, "title": self.title,
                "parent_uid": self.parent_uid, "version": self.version,
                "description": self.description}


@dataclass
class _Datasource:
    id: int
    org_id: int
    uid: str
    name: str
    type: str
    url: str
    json_data: dict
    is_default: bool

    def dto(self) -> dict:
        # §7.3 DataSource DTO (struct: field order kept).
        return {
            "id": self.id, "uid": self.uid, "orgId": self.org_id, "name": self.name,
            "type": self.type, "typeLogoUrl": "", "access": "proxy", "url": self.url,
            "password": "", "user": "", "database": "", "basicAuth": False, "basicAuthUser": "",
            "basicAuthPassword": "", "withCredentials": False, "isDefault": self.is_default,
            "jsonData": copy.deepcopy(self.json_data), "secureJsonFields": {}, "version": 1,
            "readOnly": False,
        }


@dataclass
class _Org:
    id: int
    name: str
    dashboards: dict[int, _Dashboard] = field(default_factory=dict)
    folders: dict[str, _Folder] = field(default_factory=dict)
    datasources: dict[str, _Datasource] = field(default_factory=dict)

    def dashboard_by_uid(self, uid: str) -> _Dashboard | None:
        return next((d for d in self.dashboards.values() if d.uid == uid), None)

    def folder_by_id(self, folder_id: int) -> _Folder | None:
        return next((f for f in self.folders.values() if f.id == folder_id), None)

    def rows(self) -> list[_Dashboard | _Folder]:
        """Dashboards and folders share one table in Grafana (ids and uids), in id order."""
        return sorted([*self.dashboards.values(), *self.folders.values()], key=lambda r: r.id)

    def row_by_id(self, row_id: int) -> _Dashboard | _Folder | None:
        return self.dashboards.get(row_id) or self.folder_by_id(row_id)

    def row_by_uid(self, uid: str) -> _Dashboard | _Folder | None:
        return self.dashboard_by_uid(uid) or self.folders.get(uid)

    def ancestors(self, folder: _Folder) -> list[_Folder]:
        """Parents of a folder, root first (cycle-safe)."""
        chain: list[_Folder] = []
        parent = self.folders.get(folder.parent_uid)
        while parent is not None and parent not in chain:
            chain.append(parent)
            parent = self.folders.get(parent.parent_uid)
        return list(reversed(chain))

    def subtree_uids(self, folder_uid: str) -> set[str]:
        found = {folder_uid}
        grew = True
        while grew:
            children = {f.uid for f in self.folders.values() if f.parent_uid in found}
            grew = not children <= found
            found |= children
        return found


@dataclass
class _Identity:
    """Who is calling. ``role`` None = basic-auth user outside the requested org (§1.3)."""

    login: str
    org_id: int
    role: str | None
    kind: str  # "token", "user" or "anonymous"
    #: RBAC actions taken away from what the role grants (a custom setup of licensed
    #: Enterprise or Cloud, where an admin can remove a basic role's fixed roles).
    without: frozenset = frozenset()

    def has_role(self, role: str) -> bool:
        return self.role is not None and ROLE_RANK[self.role] >= ROLE_RANK[role]

    @property
    def typed_uid(self) -> str:
        """How k8s annotations name the caller (grafana.app/updatedBy, §11a)."""
        return {"token": "service-account", "user": "user"}.get(self.kind, "anonymous") + ":" + self.login


def typed_user(login: str) -> str:
    return f"user:{login}"


@dataclass
class _DashboardModel:
    """The parts of the posted dashboard JSON the save algorithm reads (§3.1, §3.2 step 4)."""

    id: int
    uid: str
    version: int
    title: str
    tags: list[str]

    @classmethod
    def parse(cls, data: dict) -> "_DashboardModel":
        """NewDashboardFromJson; mutates ``data`` the way Grafana does (title, version)."""
        raw_id, raw_uid = data.get("id"), data.get("uid")
        has_id, has_uid = _is_json_number(raw_id), isinstance(raw_uid, str)
        if has_id or has_uid:
            # An update candidate: the request's version counts (absent = 0).
            raw_version = data.get("version")
            version = int(raw_version) if _is_json_number(raw_version) else 0
        else:
            data["version"] = 0
            version = 0
        raw_title = data.get("title")
        title = raw_title.strip() if isinstance(raw_title, str) else ""
        data["title"] = title
        return cls(
            id=max(int(raw_id), 0) if has_id else 0,
            uid=raw_uid.strip() if has_uid else "",
            version=version,
            title=title,
            tags=_string_tags(data.get("tags")),
        )


def _content(data: dict) -> dict:
    """A dashboard's JSON without what the server writes into it (id, uid, version)."""
    return {key: value for key, value in data.items() if key not in ("id", "uid", "version")}


def _string_tags(raw: Any) -> list[str]:
    """simplejson MustStringArray: the list if every item is a string, else empty."""
    if isinstance(raw, list) and all(isinstance(tag, str) for tag in raw):
        return list(raw)
    return []


# ---------------------------------------------------------------------------------------------
# Request model and binding (§1.1)
# ---------------------------------------------------------------------------------------------

@dataclass
class _ApiRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Any  # http.client.HTTPMessage: case-insensitive .get()
    body: bytes
    params: dict[str, str] = field(default_factory=dict)
    identity: _Identity | None = None

    def query_value(self, name: str) -> str:
        values = self.query.get(name)
        return values[0] if values else ""

    def query_values(self, name: str) -> list[str]:
        return [value for value in self.query.get(name, []) if value != ""]

    def query_int(self, name: str) -> int:
        """Grafana's c.QueryInt64: anything unparseable is 0."""
        try:
            return int(self.query_value(name))
        except ValueError:
            return 0


# Go field types of the bound commands; "any" accepts every JSON value.
_SAVE_DASHBOARD_FIELDS = {"dashboard": "any", "folderUid": "string", "folderId": "int",
                          "overwrite": "bool", "message": "string", "isFolder": "bool",
                          "userId": "int"}
_CREATE_FOLDER_FIELDS = {"uid": "string", "title": "string", "description": "string",
                         "parentUid": "string"}
_UPDATE_FOLDER_FIELDS = {"uid": "string", "title": "string", "description": "string",
                         "version": "int", "overwrite": "bool"}


def _matches_go_type(value: Any, go_type: str) -> bool:
    if go_type == "any":
        return True
    if go_type == "bool":
        return isinstance(value, bool)
    if go_type == "string":
        return isinstance(value, str)
    return isinstance(value, int) and not isinstance(value, bool)  # Go int64 rejects 1.5 and 1.0


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")  # Go rejects NaN/Infinity; Python would accept them


def bind_json(request: _ApiRequest, field_types: dict[str, str]) -> dict:
    """web.Bind: Content-Type must be application/json, body must decode into the command (§1.1)."""
    media_type = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise _bad_request_data()
    try:
        payload = json.loads(request.body.decode("utf-8", "replace"), parse_constant=_reject_constant)
    except ValueError:
        raise _bad_request_data() from None
    if not isinstance(payload, dict):
        raise _bad_request_data()
    command = {}
    for name, go_type in field_types.items():
        value = _field_case_insensitive(payload, name)
        if value is None:
            continue  # JSON null (or absent) leaves the Go zero value
        if not _matches_go_type(value, go_type):
            raise _bad_request_data()
        command[name] = value
    return command


def _field_case_insensitive(payload: dict, name: str) -> Any:
    """encoding/json matches object keys to struct fields case-insensitively, exact match first."""
    if name in payload:
        return payload[name]
    lowered = name.lower()
    return next((value for key, value in payload.items() if key.lower() == lowered), None)


# ---------------------------------------------------------------------------------------------
# The API: routing, authentication, handlers
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Route:
    method: str
    pattern: re.Pattern
    handler: Callable[["_GrafanaApi", _ApiRequest], _Response]
    # RBAC permission the middleware demands; a caller with no role in the org gets family D.
    permission: str | None
    needs_auth: bool = True


class _GrafanaApi:
    """Grafana's behaviour as functions of (request, state). Callers hold the state lock."""

    def __init__(self, rules: VersionRules, min_refresh_interval: str, quota: int | None,
                 sub_path: str, anonymous_role: str | None, datasource_min_role: str, *,
                 search_lag: float = 0.0, clock: Callable[[], float] = time.monotonic,
                 save_conflict_status: int | None = None, reject_updates_409: bool = False,
                 legacy_get_converts_v2: bool = False, max_dashboard_bytes: int | None = None):
        self.rules = rules
        # §11a switches: seconds the search index lags writes (0: search reads the rows), the
        # status of a stale legacy save (409 or 412), G#130334 (every legacy write to an existing
        # dashboard answers 409), a newer legacy GET that converts v2 instead of answering 406
        # (UNVERIFIED), and the size above which a save is 413.
        self.search_lag = search_lag
        self.clock = clock
        self.save_conflict_status = save_conflict_status or rules.legacy_conflict_status
        self.reject_updates_409 = reject_updates_409
        self.legacy_get_converts_v2 = legacy_get_converts_v2
        self.max_dashboard_bytes = max_dashboard_bytes
        self._resource_version = 0
        # Search index events per org: (time, uid, a copy of the row or None for "gone").
        self._index_events: dict[int, list[tuple[float, str, "_Dashboard | _Folder | None"]]] = {}
        from standin_apis import KubernetesApi  # the /apis half; imported here, as it imports us
        self.k8s = KubernetesApi(self)
        self.min_refresh_interval = min_refresh_interval
        self.quota = quota
        self.sub_path = sub_path
        self.anonymous_role = anonymous_role
        self.datasource_min_role = datasource_min_role
        self.orgs: dict[int, _Org] = {1: _Org(1, "Main Org.")}
        self.tokens: dict[str, dict] = {}
        self.users: dict[str, dict] = {}
        self.health_status = 200
        self.commit = "standin0"
        self._next_row_id = 1
        self._next_datasource_id = 1

    # ----- state helpers ---------------------------------------------------------------------

    def org(self, org_id: int) -> _Org:
        if org_id not in self.orgs:
            self.orgs[org_id] = _Org(org_id, f"Org {org_id}")
        return self.orgs[org_id]

    def next_resource_version(self) -> int:
        """k8s resourceVersion: one counter for every write (§11a), like a storage revision."""
        self._resource_version += 1
        return self._resource_version

    # ----- the search index (§11a: search lags writes) ---------------------------------------

    def index(self, org: _Org, row: "_Dashboard | _Folder") -> None:
        """Record a row as it is now; search sees it `search_lag` seconds later."""
        if not self.search_lag:
            return  # search reads the rows themselves
        entry = copy.copy(row)  # search reads ids, uids, titles, tags and parents only
        if isinstance(entry, _Dashboard):
            entry.tags = list(row.tags)
        self._index_events.setdefault(org.id, []).append((self.clock(), row.uid, entry))

    def unindex(self, org: _Org, uid: str) -> None:
        if self.search_lag:
            self._index_events.setdefault(org.id, []).append((self.clock(), uid, None))

    def search_rows(self, org: _Org) -> list:
        """What search sees: the rows themselves, or the index as it was `search_lag` ago."""
        if not self.search_lag:
            return org.rows()
        cutoff = self.clock() - self.search_lag
        seen: dict[str, _Dashboard | _Folder | None] = {}
        for when, uid, entry in self._index_events.get(org.id, []):
            if when <= cutoff:
                seen[uid] = entry
        return sorted((entry for entry in seen.values() if entry is not None), key=lambda e: e.id)

    def allocate_row_id(self) -> int:
        row_id, self._next_row_id = self._next_row_id, self._next_row_id + 1
        return row_id

    def allocate_datasource_id(self) -> int:
        ds_id, self._next_datasource_id = self._next_datasource_id, self._next_datasource_id + 1
        return ds_id

    def unused_uid(self, org: _Org) -> str:
        while True:
            candidate = _generate_uid(self.rules)
            if org.row_by_uid(candidate) is None:
                return candidate

    def dashboard_url(self, dashboard: _Dashboard) -> str:
        return f"{self.sub_path}/d/{dashboard.uid}/{dashboard.slug}"  # §3.3

    def folder_url(self, folder: _Folder) -> str:
        return f"{self.sub_path}/dashboards/f/{folder.uid}/{folder.slug}"  # §5.2

    def folder_not_found_message(self) -> str:
        return "folder not found" if self.rules.lower_case_folder_errors else "Folder not found"

    # ----- dispatch --------------------------------------------------------------------------

    def handle(self, method: str, route_path: str | None, query: str, headers: Any,
               body: bytes) -> _Response:
        if route_path == "/healthz":
            return _Response(200, b"Ok", {"Content-Type": "text/plain; charset=utf-8"})
        if route_path is not None and (route_path == "/apis" or route_path.startswith("/apis/")):
            if self.rules.apis_groups is not None:
                return self.k8s.handle(method, route_path, query, headers, body)
        route, params = self._match_route(method, route_path)
        if route is None:
            return self._not_found(route_path)
        request = _ApiRequest(method, route_path or "", parse_qs(query, keep_blank_values=True),
                              headers, body, params)
        try:
            if route.needs_auth:
                request.identity = self.authenticate(request)
                if request.identity.role is None and route.permission is not None:
                    raise rbac_denied(route.permission)  # §1.3: "Org missing" identity
            return route.handler(self, request)
        except ApiError as error:
            return error.response()

    def _match_route(self, method: str, route_path: str | None):
        if route_path is None:
            return None, {}
        lookup_method = "GET" if method == "HEAD" else method
        for route in _ROUTES + tuple(_EXTRA_ROUTES):
            match = route.pattern.fullmatch(route_path)
            if match and route.method == lookup_method:
                return route, {key: unquote(value) for key, value in match.groupdict().items()}
        return None, {}

    @staticmethod
    def _not_found(route_path: str | None) -> _Response:
        # §12.8: NotFoundHandler answers API paths with c.JsonApiErr(404, "Not found", nil).
        if route_path is not None and (route_path == "/api" or route_path.startswith("/api/")):
            return json_response(404, {"message": "Not found"}, trailing_newline=True)
        return _Response(404, b"404 page not found\n", {"Content-Type": "text/plain; charset=utf-8"})

    # ----- authentication (§1.3, §2) ---------------------------------------------------------

    def authenticate(self, request: _ApiRequest) -> _Identity:
        header = request.headers.get("Authorization", "") or ""
        requested_org = self._requested_org_id(request)
        if header.startswith("Bearer "):
            return self._token_identity(header[len("Bearer "):].strip(), requested_org)
        if header.startswith("Basic "):
            login, password = self._decode_basic(header[len("Basic "):].strip())
            if login == "api_key":  # §2.1: token sent through basic auth
                return self._token_identity(password, requested_org)
            return self._user_identity(login, password, requested_org)
        if self.anonymous_role is not None:
            return _Identity("Anonymous", 1, self.anonymous_role, "anonymous")
        raise self._unauthorized()

    def _unauthorized(self) -> ApiError:
        if self.rules.errutil_unauthorized:
            return errutil_error(401, "auth.unauthorized", "Unauthorized")
        return legacy_error(401, "Unauthorized")

    @staticmethod
    def _requested_org_id(request: _ApiRequest) -> int:
        """§1.3: targetOrgId query parameter, else X-Grafana-Org-Id; 0 = the identity's own."""
        for raw in (request.query_value("targetOrgId"), request.headers.get("X-Grafana-Org-Id", "")):
            try:
                return int(str(raw).strip())
            except ValueError:
                continue
        return 0

    @staticmethod
    def _decode_basic(encoded: str) -> tuple[str, str]:
        try:
            decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            decoded = ""
        if ":" not in decoded:
            raise errutil_error(400, "basic-auth.invalid-header", "Invalid Basic Auth Header")
        login, _, password = decoded.partition(":")
        return login, password

    def _token_identity(self, token: str, requested_org: int) -> _Identity:
        spec = self.tokens.get(token)
        if spec is None:
            raise errutil_error(401, "api-key.invalid", "Invalid API key")
        if spec["expired"]:
            raise errutil_error(401, "api-key.expired", "Expired API key")
        if spec["revoked"]:
            raise errutil_error(401, "api-key.revoked", "Revoked API key")
        if requested_org not in (0, spec["org_id"]):
            raise errutil_error(401, "api-key.organization-mismatch",
                                "API key does not belong to the requested organization")
        return _Identity(spec["login"], spec["org_id"], spec["role"], "token", frozenset(spec["without_actions"]))

    def _user_identity(self, login: str, password: str, requested_org: int) -> _Identity:
        user = self.users.get(login)
        # Bytes: Go compares bytes, and compare_digest refuses str beyond ASCII.
        if user is None or not secrets.compare_digest(user["password"].encode("utf-8"), password.encode("utf-8")):
            raise errutil_error(401, "password-auth.failed", "Invalid username or password")
        memberships: dict[int, str] = user["orgs"]
        org_id = requested_org or next(iter(memberships), 1)
        if org_id not in memberships:
            # §1.3: the user store marks the identity "Org missing" (OrgID -1, no role).
            return _Identity(login, -1, None, "user")
        return _Identity(login, org_id, memberships[org_id], "user")

    def _org_of(self, request: _ApiRequest) -> _Org:
        return self.org(request.identity.org_id)

    # ----- POST /api/dashboards/db (§3.2, one method per step group) ------------------------

    def save_dashboard(self, request: _ApiRequest) -> _Response:
        command = bind_json(request, _SAVE_DASHBOARD_FIELDS)  # step 2
        if command.get("dashboard") is None:
            raise _bad_request_data()  # binding "Required"
        if command.get("isFolder") is True:  # step 3
            raise legacy_error(400, "Use folders endpoint for saving folders.")
        org = self._org_of(request)
        overwrite = command.get("overwrite") is True
        posted = command["dashboard"]
        # A non-object dashboard reads as having no keys (simplejson Get on a non-map).
        data = copy.deepcopy(posted) if isinstance(posted, dict) else {}
        model = _DashboardModel.parse(data)  # step 4
        if model.id == 0:
            self._check_dashboard_quota(org)
        self._apply_min_refresh_interval(data)  # step 5
        self._validate_basic_properties(model, command.get("message", ""))  # step 6a-f
        self.check_size(request.body, legacy=True)
        folder_uid = self._target_folder_uid(org, command)  # step 6g
        existing = self._resolve_existing(org, model, overwrite, self.save_conflict_status)  # step 7
        if existing is not None and self.reject_updates_409:
            # G#130334 (13.x, dashboards migrated from 12.x): every write to an existing one.
            raise legacy_error(409, "requested RV does not match current RV", with_trace=True)
        if self.rules.unique_titles:  # step 8
            existing = self._claim_unique_title(org, model, folder_uid, overwrite, existing)
        if existing is not None and existing.provisioned:  # step 9
            raise legacy_error(400, "Cannot save provisioned dashboard")
        if not request.identity.has_role("Editor"):  # step 10
            raise legacy_error(403, "Access denied to save dashboard", with_trace=True)
        dashboard = self.store_dashboard(org, model, data, folder_uid, existing,
                                         request.identity.login, request.identity.typed_uid,
                                         message=command.get("message", ""))  # step 11
        return json_response(200, self._save_response_body(dashboard))  # step 12

    def check_size(self, body: bytes, legacy: bool) -> None:
        """§3.2 / §11a: 413 "Dashboard is too large, max is N MB" (k8s storage era)."""
        if self.max_dashboard_bytes is None or not self.rules.has_size_limit:
            return
        if len(body) > self.max_dashboard_bytes:
            message = f"Dashboard is too large, max is {self.max_dashboard_bytes / 2 ** 20:g} MB"
            if legacy:
                raise legacy_error(413, message, with_trace=True)
            from standin_apis import k8s_status
            raise k8s_status(413, "RequestEntityTooLarge", message)

    def _check_dashboard_quota(self, org: _Org) -> None:
        # §3.2 step 4: only for id == 0 (even if the uid then matches an existing dashboard).
        if self.quota is not None and len(org.dashboards) >= self.quota:
            raise legacy_error(403, "Quota reached")

    def _apply_min_refresh_interval(self, data: dict) -> None:
        """§3.2 step 5: a too-short or unparseable refresh is silently replaced, never an error."""
        refresh = data.get("refresh")
        if not isinstance(refresh, str) or refresh in ("", "auto"):
            return
        minimum = parse_grafana_duration(self.min_refresh_interval)
        if minimum is None:
            return
        requested = parse_grafana_duration(refresh)
        if requested is None or requested < minimum:
            data["refresh"] = self.min_refresh_interval

    def _validate_basic_properties(self, model: _DashboardModel, message: str) -> None:
        if model.title == "":  # step 6a
            raise typed_error(400, "empty-name", "Dashboard title cannot be empty")
        if self.rules.limits_title_length and _byte_len(model.title) > 5000:  # step 6b
            raise typed_error(400, "title-too-long",
                              "Dashboard title cannot contain more than 5 000 characters")
        if self.rules.limits_message_length and _byte_len(message) > 500:  # step 6c
            raise legacy_error(400, "message too long, max 500 characters")
        if self.rules.limits_tag_length and any(_byte_len(tag) > 50 for tag in model.tags):
            raise typed_error(400, "tag-too-long", "dashboard tag too long, max 50 characters")  # 6d
        self._check_uid(model.uid, with_trace=False)  # steps 6e, 6f

    @staticmethod
    def _check_uid(uid: str, with_trace: bool) -> None:
        if not UID_PATTERN.match(uid):
            raise legacy_error(400, "uid contains illegal characters", with_trace)
        if len(uid) > 40:
            raise legacy_error(400, "uid too long, max 40 characters", with_trace)

    def _target_folder_uid(self, org: _Org, command: dict) -> str:
        """§3.2 step 6g; the deprecated folderId only counts when folderUid is absent (§3.1)."""
        folder_uid = command.get("folderUid", "")
        if folder_uid:
            if folder_uid not in org.folders:
                raise legacy_error(400, self.folder_not_found_message())
            return folder_uid
        folder_id = command.get("folderId", 0)
        if folder_id:
            folder = org.folder_by_id(folder_id)
            if folder is None:
                raise legacy_error(400, self.folder_not_found_message())
            return folder.uid
        return ""

    @staticmethod
    def _resolve_existing(org: _Org, model: _DashboardModel, overwrite: bool,
                          conflict_status: int = 412) -> _Dashboard | None:
        """§3.2 step 7 (ValidateDashboardBeforeSave); mutates model.id/uid/version like Grafana."""
        by_id = None
        if model.id > 0:
            by_id = org.row_by_id(model.id)
            if by_id is None:  # 7a
                raise typed_error(404, "not-found", "Dashboard not found")
            if model.uid == "":
                model.uid = by_id.uid
        by_uid = org.row_by_uid(model.uid) if model.uid else None  # 7b
        if by_id is None and by_uid is None:
            return None  # 7c: create
        if by_id is not None and by_uid is not None and by_id is not by_uid:  # 7d
            raise legacy_error(400, "A dashboard with the same uid already exists")
        existing = by_id or by_uid  # 7e
        model.id = existing.id
        if by_id is None:
            model.uid = existing.uid
        # (found by id with a new, unused uid: the uid in the request wins, i.e. a rename.)
        if isinstance(existing, _Folder):  # 7f
            raise legacy_error(400, "Dashboard cannot be changed to a folder")
        if model.version != existing.version:  # 7g
            if not overwrite:
                if conflict_status == 409:  # §11a: the k8s save handler, no `status` key
                    raise ApiError(409, {"message": "Dashboard already exists. Use overwrite flag to update."})
                raise typed_error(412, "version-mismatch",
                                  "The dashboard has been changed by someone else")
            model.version = existing.version
        if existing.plugin_id and not overwrite:  # 7h
            raise typed_error(412, "plugin-dashboard",
                              f"The dashboard belongs to plugin {existing.plugin_id}.")
        return existing

    @staticmethod
    def _claim_unique_title(org: _Org, model: _DashboardModel, folder_uid: str, overwrite: bool,
                            existing: _Dashboard | None) -> _Dashboard | None:
        """§3.2 step 8 (<= 11.2): any folder of the org, or a dashboard in the target folder."""
        slug = slugify(model.title)
        clash = next((row for row in org.rows()
                      if row.slug == slug and row.id != model.id
                      and (isinstance(row, _Folder) or row.folder_uid == folder_uid)), None)
        if clash is None:
            return existing
        if isinstance(clash, _Folder):
            raise legacy_error(400, "Dashboard name cannot be the same as folder")
        if not overwrite:
            raise typed_error(412, "name-exists",
                              "A dashboard with the same name in the folder already exists")
        # Take it over: id, uid AND version become the found dashboard's.
        model.id, model.uid, model.version = clash.id, clash.uid, clash.version
        return clash

    def store_dashboard(self, org: _Org, model: _DashboardModel, data: dict, folder_uid: str,
                        existing: _Dashboard | None, login: str, actor: str | None = None, *,
                        stored_version: str = "v0alpha1", message: str | None = None,
                        annotations: dict | None = None) -> _Dashboard:
        """§3.2 step 11: create (new uid if empty, version 1) or update (version + 1; on 13.x
        the version is the generation, which moves only when the content or folder changes)."""
        now = _timestamp()
        actor = actor or typed_user(login)
        if existing is None:
            dashboard = _Dashboard(
                id=self.allocate_row_id(), uid=model.uid or self.unused_uid(org),
                title=model.title, folder_uid=folder_uid, version=1, data=data, tags=[],
                created=now, updated=now, created_by=login, updated_by=login, created_by_id=actor)
            org.dashboards[dashboard.id] = dashboard
        else:
            dashboard = existing
            changed = (_content(existing.data) != _content(data) or existing.folder_uid != folder_uid
                       or existing.stored_version != stored_version)
            dashboard.uid = model.uid or existing.uid
            if changed or not self.rules.generation_versions:
                dashboard.version = model.version + 1
                dashboard.updated, dashboard.updated_by, dashboard.updated_by_id = now, login, actor
        dashboard.title = model.title
        dashboard.folder_uid = folder_uid  # the request's folder always wins: update = move
        dashboard.tags = list(model.tags)
        dashboard.stored_version = stored_version
        dashboard.resource_version = self.next_resource_version()
        if annotations is not None:
            dashboard.annotations = dict(annotations)
        if message is not None:
            dashboard.annotations["grafana.app/message"] = message
        data["id"], data["uid"], data["version"] = dashboard.id, dashboard.uid, dashboard.version
        dashboard.data = data
        self.index(org, dashboard)
        return dashboard

    def _save_response_body(self, dashboard: _Dashboard) -> dict:
        # §3.3: a util.DynMap, so keys come out sorted.
        body = {"id": dashboard.id, "slug": dashboard.slug, "status": "success",
                "uid": dashboard.uid, "url": self.dashboard_url(dashboard),
                "version": dashboard.version}
        if self.rules.post_returns_folder_uid:
            body["folderUid"] = dashboard.folder_uid
        return dict(sorted(body.items()))

    # ----- GET / DELETE /api/dashboards/uid/:uid (§4) ---------------------------------------

    def get_dashboard(self, request: _ApiRequest) -> _Response:
        org = self._org_of(request)
        dashboard = org.dashboard_by_uid(request.params["uid"])
        if dashboard is None:
            raise legacy_error(404, "Dashboard not found", with_trace=True)
        if dashboard.stored_version.startswith("v2") and not self.legacy_get_converts_v2:
            # §11a: family A, no status (G:pkg/api/dashboard.go 12.x/13.0).
            from standin_apis import namespace_of
            raise legacy_error(406, "dashboard api version not supported, use /apis/dashboard.grafana.app/"
                                    f"{dashboard.stored_version}/namespaces/{namespace_of(org.id)}/dashboards/"
                                    f"{dashboard.uid} instead")
        data = copy.deepcopy(dashboard.data)
        # §4.1: "make sure db version is in sync with json model version"; id/uid from the row.
        data["id"], data["uid"], data["version"] = dashboard.id, dashboard.uid, dashboard.version
        body = {"dashboard": _sorted_json(data),
                "meta": self._dashboard_meta(org, dashboard, request.identity)}
        return json_response(200, body)

    def _dashboard_meta(self, org: _Org, dashboard: _Dashboard, identity: _Identity) -> dict:
        can_write = identity.has_role("Editor")
        can_admin = identity.has_role("Admin")
        annotation_rights = {"canAdd": can_write, "canEdit": can_write, "canDelete": can_write}
        meta = {
            "type": "db", "canSave": can_write, "canEdit": can_write, "canAdmin": can_admin,
            "canStar": identity.kind != "anonymous", "canDelete": can_write,
            "slug": dashboard.slug, "url": self.dashboard_url(dashboard),
            "expires": "0001-01-01T00:00:00Z", "created": dashboard.created,
            "updated": dashboard.updated, "updatedBy": dashboard.updated_by or "Anonymous",
            "createdBy": dashboard.created_by or "Anonymous", "version": dashboard.version,
            "hasAcl": False, "isFolder": False,
        }
        if self.rules.meta_has_api_version:
            meta["apiVersion"] = dashboard.stored_version  # §11a, omitempty, newest DTO
        meta.update(self._parent_folder_fields(org, dashboard.folder_uid, root_title="General"))
        meta.update({
            "provisioned": dashboard.provisioned,
            "provisionedExternalId": dashboard.provisioned_external_id,
            "annotationsPermissions": {"dashboard": dict(annotation_rights),
                                       "organization": dict(annotation_rights)},
        })
        return meta

    def _parent_folder_fields(self, org: _Org, folder_uid: str, root_title: str) -> dict:
        folder = org.folders.get(folder_uid) if folder_uid else None
        if folder is None:
            return {"folderId": 0, "folderUid": "", "folderTitle": root_title, "folderUrl": ""}
        return {"folderId": folder.id, "folderUid": folder.uid, "folderTitle": folder.title,
                "folderUrl": self.folder_url(folder)}

    def delete_dashboard(self, request: _ApiRequest) -> _Response:
        org = self._org_of(request)
        uid = request.params["uid"]
        dashboard = org.dashboard_by_uid(uid)
        if dashboard is None:
            if uid in org.folders:
                raise legacy_error(400, "Use folders endpoint for deleting folders.")
            raise legacy_error(404, "Dashboard not found", with_trace=True)
        if not request.identity.has_role("Editor"):
            raise legacy_error(403, "Access denied to this dashboard")
        if dashboard.provisioned:
            raise legacy_error(400, "provisioned dashboard cannot be deleted", with_trace=True)
        del org.dashboards[dashboard.id]
        self.unindex(org, dashboard.uid)
        key = self.rules.delete_id_key  # §4.2: "id" on 10.x, "uid" from 11
        body = {"title": dashboard.title, "message": f"Dashboard {dashboard.title} deleted",
                key: dashboard.id if key == "id" else dashboard.uid}
        return json_response(200, dict(sorted(body.items())))

    # ----- folders (§5) ----------------------------------------------------------------------

    def _folder_dto(self, org: _Org, folder: _Folder, identity: _Identity,
                    with_parents: bool = True) -> dict:
        can_write = identity.has_role("Editor")
        dto = {
            "id": folder.id, "uid": folder.uid, "title": folder.title,
            "url": self.folder_url(folder), "hasAcl": False, "canSave": can_write,
            "canEdit": can_write, "canAdmin": identity.has_role("Admin"), "canDelete": can_write,
            "createdBy": folder.created_by or "Anonymous", "created": folder.created,
            "updatedBy": folder.updated_by or "Anonymous", "updated": folder.updated,
            "version": folder.version,
        }
        if folder.parent_uid:
            dto["parentUid"] = folder.parent_uid
            if with_parents:
                dto["parents"] = [self._folder_dto(org, parent, identity, with_parents=False)
                                  for parent in org.ancestors(folder)]
        return dto

    def _find_folder(self, org: _Org, uid: str) -> _Folder:
        folder = org.folders.get(uid)
        if folder is None:
            raise typed_error(404, "not-found", self.folder_not_found_message())
        return folder

    @staticmethod
    def _folder_access_denied() -> ApiError:
        return legacy_error(403, "Access denied", with_trace=True)  # §5.4

    def _uid_taken(self) -> ApiError:
        message = "a folder/dashboard with the same uid already exists"
        if not self.rules.lower_case_folder_errors:
            message = "A" + message[1:]
        return legacy_error(409, message)

    def _folder_title_clash(self, org: _Org, title: str, parent_uid: str,
                            exclude_uid: str | None) -> bool:
        """<= 11.2 only (§5.4): same slug among siblings, or a dashboard in that same folder."""
        slug = slugify(title)
        siblings = (f for f in org.folders.values()
                    if f.parent_uid == parent_uid and f.uid != exclude_uid and f.slug == slug)
        dashboards = (d for d in org.dashboards.values()
                      if d.folder_uid == parent_uid and d.slug == slug)
        return any(siblings) or any(dashboards)

    def list_folders(self, request: _ApiRequest) -> _Response:
        org = self._org_of(request)
        if request.query_value("permission") == "Edit" and not request.identity.has_role("Editor"):
            return json_response(200, [])
        parent_uid = request.query_value("parentUid")
        limit = request.query_int("limit")
        limit = limit if limit > 0 else DEFAULT_PAGE_SIZE
        page = max(request.query_int("page"), 1)
        siblings = sorted((f for f in org.folders.values() if f.parent_uid == parent_uid),
                          key=lambda f: (f.title.lower(), f.id))
        items = []
        for folder in siblings[(page - 1) * limit: page * limit]:
            item = {"id": folder.id, "uid": folder.uid, "title": folder.title}
            if folder.parent_uid:
                item["parentUid"] = folder.parent_uid
            items.append(item)
        return json_response(200, items)

    def get_folder(self, request: _ApiRequest) -> _Response:
        org = self._org_of(request)
        folder = self._find_folder(org, request.params["uid"])
        return json_response(200, self._folder_dto(org, folder, request.identity))

    def create_folder(self, request: _ApiRequest) -> _Response:
        command = bind_json(request, _CREATE_FOLDER_FIELDS)
        org = self._org_of(request)
        title = command.get("title", "").strip()
        uid = command.get("uid", "")
        parent_uid = command.get("parentUid", "")
        if not title:
            raise legacy_error(400, "folder title cannot be empty")
        self._check_uid(uid, with_trace=True)
        if uid == "general":  # §5.2: reserved uid of the root
            raise legacy_error(400, "invalid uid for folder provided")
        if parent_uid:
            self._check_parent_folder(org, parent_uid)
        if not request.identity.has_role("Editor"):
            raise self._folder_access_denied()
        if uid and org.row_by_uid(uid) is not None:  # §5.4: 409 = uid taken by folder OR dashboard
            raise self._uid_taken()
        if self.rules.unique_titles and self._folder_title_clash(org, title, parent_uid, None):
            raise legacy_error(409, "a folder or dashboard in the general folder with the same "
                                    "name already exists")
        folder = self.store_folder(org, uid, title, parent_uid, request.identity.login,
                                   command.get("description", ""))
        return json_response(200, self._folder_dto(org, folder, request.identity))

    def _check_parent_folder(self, org: _Org, parent_uid: str) -> None:
        parent = org.folders.get(parent_uid)
        if parent is None:
            raise legacy_error(400, "parent folder does not exist")
        # validateParent: the parent's own ancestors must number fewer than the max depth.
        if len(org.ancestors(parent)) >= MAX_NESTED_FOLDER_DEPTH:
            raise errutil_error(400, "folder.maximum-depth-reached",
                                "Maximum nested folder depth reached")

    def store_folder(self, org: _Org, uid: str, title: str, parent_uid: str, login: str,
                     description: str = "") -> _Folder:
        now = _timestamp()
        folder = _Folder(id=self.allocate_row_id(), uid=uid or self.unused_uid(org), title=title,
                         parent_uid=parent_uid, version=1, created=now, updated=now,
                         created_by=login, updated_by=login, description=description,
                         resource_version=self.next_resource_version())
        org.folders[folder.uid] = folder
        self.index(org, folder)
        return folder

    def update_folder(self, request: _ApiRequest) -> _Response:
        command = bind_json(request, _UPDATE_FOLDER_FIELDS)
        org = self._org_of(request)
        folder = self._find_folder(org, request.params["uid"])
        if not request.identity.has_role("Editor"):
            raise self._folder_access_denied()
        new_title = command.get("title")
        if new_title is not None:
            new_title = new_title.strip()
            if not new_title:
                raise legacy_error(400, "folder title cannot be empty")
        if command.get("overwrite") is not True and command.get("version", 0) != folder.version:
            raise typed_error(412, "version-mismatch", "the folder has been changed by someone else")
        if (self.rules.unique_titles and new_title
                and self._folder_title_clash(org, new_title, folder.parent_uid, folder.uid)):
            raise legacy_error(409, "a folder or dashboard in the general folder with the same "
                                    "name already exists")
        if new_title:
            folder.title = new_title
        if "description" in command:
            folder.description = command["description"]
        folder.version += 1
        folder.updated, folder.updated_by = _timestamp(), request.identity.login
        folder.resource_version = self.next_resource_version()
        self.index(org, folder)
        return json_response(200, self._folder_dto(org, folder, request.identity))

    def delete_folder(self, request: _ApiRequest) -> _Response:
        org = self._org_of(request)
        folder = self._find_folder(org, request.params["uid"])
        if not request.identity.has_role("Editor"):
            raise self._folder_access_denied()
        # §5.4: deleting a folder deletes the dashboards (and subfolders) inside it.
        doomed = org.subtree_uids(folder.uid)
        for uid in doomed:
            org.folders.pop(uid, None)
            self.unindex(org, uid)
        for dashboard in [d for d in org.dashboards.values() if d.folder_uid in doomed]:
            del org.dashboards[dashboard.id]
            self.unindex(org, dashboard.uid)
        return json_response(200, _go_map(id=folder.id, message="Folder deleted", title=folder.title))

    # ----- search (§6) -----------------------------------------------------------------------

    def search(self, request: _ApiRequest) -> _Response:
        limit = request.query_int("limit")
        if limit > SEARCH_LIMIT_MAX:
            raise legacy_error(422, "Limit is above maximum allowed (5000), use page parameter "
                                    "to access hits beyond limit")
        dashboard_uids = (request.query_values("dashboardUIDs")
                          or request.query_values("dashboardUID"))
        dashboard_ids = request.query_values("dashboardIds")
        folder_uids = request.query_values("folderUIDs")
        folder_ids = request.query_values("folderIds")
        if (dashboard_uids and dashboard_ids) or (folder_uids and folder_ids):
            raise legacy_error(400, "search supports UIDs or IDs, not both")
        identity = request.identity
        if self._search_sees_nothing(request, identity):
            return json_response(200, [])
        org = self._org_of(request)
        rows = [row for row in self.search_rows(org)
                if self._search_matches(request, org, row, dashboard_uids, dashboard_ids,
                                        folder_uids, folder_ids)]
        page_rows = self._search_page(request, rows, limit if limit > 0 else DEFAULT_PAGE_SIZE)
        return json_response(200, [self._search_hit(org, row) for row in page_rows])

    @staticmethod
    def _search_sees_nothing(request: _ApiRequest, identity: _Identity) -> bool:
        if identity.role is None:
            return True  # search has no RBAC middleware: an org-less caller simply sees nothing
        if request.query_value("permission") == "Edit" and not identity.has_role("Editor"):
            return True
        # Stars and soft-deleted dashboards are not modelled: those filters match nothing.
        return request.query_value("starred") == "true" or request.query_value("deleted") == "true"

    @staticmethod
    def _search_matches(request: _ApiRequest, org: _Org, row: _Dashboard | _Folder,
                        dashboard_uids: list[str], dashboard_ids: list[str],
                        folder_uids: list[str], folder_ids: list[str]) -> bool:
        is_folder = isinstance(row, _Folder)
        wanted_type = request.query_value("type")
        if (wanted_type == "dash-db" and is_folder) or (wanted_type == "dash-folder" and not is_folder):
            return False
        query = request.query_value("query")
        if query and query.lower() not in row.title.lower():
            return False
        tags = request.query_values("tag")
        if tags and (is_folder or not set(tags) <= set(row.tags)):
            return False  # tag filter: ALL given tags; folders have none
        if dashboard_uids and row.uid not in dashboard_uids:
            return False
        if dashboard_ids and str(row.id) not in dashboard_ids:
            return False
        parent_uid = row.parent_uid if is_folder else row.folder_uid
        if folder_uids and parent_uid not in {"" if u == "general" else u for u in folder_uids}:
            return False
        if folder_ids:
            parent = org.folders.get(parent_uid)
            if str(parent.id if parent else 0) not in folder_ids:
                return False
        return True

    @staticmethod
    def _search_page(request: _ApiRequest, rows: list, limit: int) -> list:
        """SQL orders by title and pages; the default sort then puts folders first in the page."""
        descending = request.query_value("sort") == "alpha-desc"
        rows = sorted(rows, key=lambda r: (r.title.lower(), r.id), reverse=descending)
        page = max(request.query_int("page"), 1)
        window = rows[(page - 1) * limit: page * limit]
        if not descending:  # HitList.Less: folders first, then lower-cased title
            window.sort(key=lambda r: (not isinstance(r, _Folder), r.title.lower()))
        return window

    def _search_hit(self, org: _Org, row: _Dashboard | _Folder) -> dict:
        is_folder = isinstance(row, _Folder)
        hit = {
            "id": row.id, "uid": row.uid, "orgId": org.id, "title": row.title,
            "uri": f"db/{row.slug}",
            "url": self.folder_url(row) if is_folder else self.dashboard_url(row),
            "slug": "",  # §6.2: the SQL search path never fills it
            "type": "dash-folder" if is_folder else "dash-db",
            "tags": [] if is_folder else sorted(row.tags), "isStarred": False,
        }
        parent_uid = row.parent_uid if is_folder else row.folder_uid
        if parent_uid in org.folders:  # omitempty: absent for root-level items
            hit.update(self._parent_folder_fields(org, parent_uid, root_title=""))
        hit["sortMeta"] = 0
        if self.rules.search_hits_have_is_deleted:
            hit["isDeleted"] = False
        return hit

    # ----- health, org, data sources (§7) ---------------------------------------------------

    def health(self, request: _ApiRequest) -> _Response:
        healthy = self.health_status < 500
        body = {"commit": self.commit, "database": "ok" if healthy else "failing",
                "version": self.rules.version}
        return _Response(self.health_status, go_json(body, pretty=True),
                         {"Content-Type": JSON_CONTENT_TYPE, "Cache-Control": "no-store"})

    def get_org(self, request: _ApiRequest) -> _Response:
        org = self._org_of(request)
        address = {"address1": "", "address2": "", "city": "", "zipCode": "", "state": "",
                   "country": ""}
        return json_response(200, {"id": org.id, "name": org.name, "address": address})

    def _datasource_response(self, request: _ApiRequest, found: _Datasource | None) -> _Response:
        if not request.identity.has_role(self.datasource_min_role):
            raise rbac_denied("datasources:read")  # §7.3: licensed Enterprise/Cloud restriction
        if found is None:
            raise legacy_error(404, "Data source not found")
        return json_response(200, found.dto())

    def datasource_by_uid(self, request: _ApiRequest) -> _Response:
        org = self._org_of(request)
        return self._datasource_response(request, org.datasources.get(request.params["uid"]))

    def datasource_by_name(self, request: _ApiRequest) -> _Response:
        org = self._org_of(request)
        name = request.params["name"]
        found = next((ds for ds in org.datasources.values() if ds.name == name), None)
        return self._datasource_response(request, found)


def _route(method: str, path: str, handler, permission: str | None, needs_auth: bool = True):
    pattern = re.compile(re.sub(r":(\w+)", r"(?P<\1>[^/]+)", path))
    return _Route(method, pattern, handler, permission, needs_auth)


_ROUTES = (
    _route("GET", "/api/health", _GrafanaApi.health, None, needs_auth=False),  # §7.1
    _route("POST", "/api/dashboards/db", _GrafanaApi.save_dashboard, "dashboards:create"),
    _route("GET", "/api/dashboards/uid/:uid", _GrafanaApi.get_dashboard, "dashboards:read"),
    _route("DELETE", "/api/dashboards/uid/:uid", _GrafanaApi.delete_dashboard, "dashboards:delete"),
    _route("GET", "/api/folders", _GrafanaApi.list_folders, "folders:read"),
    _route("POST", "/api/folders", _GrafanaApi.create_folder, "folders:create"),
    _route("GET", "/api/folders/:uid", _GrafanaApi.get_folder, "folders:read"),
    _route("PUT", "/api/folders/:uid", _GrafanaApi.update_folder, "folders:write"),
    _route("DELETE", "/api/folders/:uid", _GrafanaApi.delete_folder, "folders:delete"),
    _route("GET", "/api/search", _GrafanaApi.search, None),
    _route("GET", "/api/org", _GrafanaApi.get_org, "orgs:read"),
    _route("GET", "/api/datasources/uid/:uid", _GrafanaApi.datasource_by_uid, "datasources:read"),
    _route("GET", "/api/datasources/name/:name", _GrafanaApi.datasource_by_name, "datasources:read"),
)
#: Routes of API areas kept in modules of their own (standin_alerting.py), registered on import.
_EXTRA_ROUTES: list[_Route] = []


def register_routes(*routes: _Route) -> None:
    _EXTRA_ROUTES.extend(routes)


# ---------------------------------------------------------------------------------------------
# Fault injection
# ---------------------------------------------------------------------------------------------

@dataclass
class _FaultRule:
    kind: str  # "drop", "slow", "fail", "drip" or "echo"
    remaining: int
    methods: frozenset[str] | None = None
    path_prefix: str | None = None
    status: int = 503
    body: Any = None
    headers: dict[str, str] | None = None
    seconds: float = 0.0
    after_processing: bool = False
    offset: int = 0
    #: For "echo": answer as a Kubernetes `Status` with this reason (the /apis API, §11a).
    reason: str = ""

    def matches(self, method: str, paths: Iterable[str]) -> bool:
        if self.remaining <= 0:
            return False
        if self.methods is not None and method not in self.methods:
            return False
        return self.path_prefix is None or any(p.startswith(self.path_prefix) for p in paths)

    def response(self, request_headers: Any = None) -> _Response:
        headers = {"Content-Type": JSON_CONTENT_TYPE}
        if self.kind == "echo":
            # A proxy that quotes the request's Authorization header in its error message,
            # after `offset` characters of its own.
            said = "x" * self.offset + (request_headers.get("Authorization", "") if request_headers else "")
            if self.reason:
                # k8s messages span lines (a validation error lists each field on its own).
                return _Response(self.status, go_json(
                    {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                     "message": said + "\n* spec: invalid", "reason": self.reason, "code": self.status}), headers)
            return _Response(self.status, go_json({"message": said}), headers)
        if self.body is None:
            try:
                phrase = HTTPStatus(self.status).phrase
            except ValueError:
                phrase = "Error"
            payload = go_json({"message": phrase})
        elif isinstance(self.body, (dict, list)):
            payload = go_json(self.body)
        else:  # raw text, e.g. a proxy's HTML error page
            payload = self.body if isinstance(self.body, bytes) else str(self.body).encode("utf-8")
            headers["Content-Type"] = "text/html; charset=utf-8"
        headers.update(self.headers or {})
        return _Response(self.status, payload, headers)


class _FaultPlan:
    """Armed faults; each matching request consumes at most one rule of each kind."""

    def __init__(self) -> None:
        self._rules: list[_FaultRule] = []
        self._lock = threading.Lock()

    def add(self, rule: _FaultRule) -> None:
        with self._lock:
            self._rules.append(rule)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def take(self, method: str, paths: Iterable[str]) -> dict[str, _FaultRule]:
        paths = [p for p in paths if p]
        taken: dict[str, _FaultRule] = {}
        with self._lock:
            for rule in self._rules:
                if rule.kind not in taken and rule.matches(method, paths):
                    rule.remaining -= 1
                    taken[rule.kind] = rule
            self._rules = [rule for rule in self._rules if rule.remaining > 0]
        return taken


# ---------------------------------------------------------------------------------------------
# HTTP plumbing
# ---------------------------------------------------------------------------------------------

class _StandinRequestHandler(BaseHTTPRequestHandler):
    # HTTP/1.1 so the client's keep-alive session reuses connections; every response carries
    # Content-Length, which keep-alive requires.
    protocol_version = "HTTP/1.1"
    server_version = "GrafanaStandin/1.0"
    sys_version = ""
    # Headers and body go out in separate writes; without TCP_NODELAY, Nagle plus delayed ACKs
    # stall every keep-alive response by ~40 ms (Go's net/http sets TCP_NODELAY as well).
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self.server.standin._serve(self)

    do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass  # tests read request_log instead of stderr noise

    def read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self) -> bytes:
        chunks = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    def send(self, response: _Response) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def drip(self, response: _Response, seconds: float) -> None:
        """Send the whole response (status line, headers, body) one byte every `seconds`."""
        try:
            phrase = HTTPStatus(response.status).phrase
        except ValueError:
            phrase = "Error"
        head = [f"HTTP/1.1 {response.status} {phrase}"]
        head += [f"{name}: {value}" for name, value in response.headers.items()]
        head += [f"Content-Length: {len(response.body)}", "", ""]
        raw = "\r\n".join(head).encode("latin-1") + response.body
        for index in range(len(raw)):
            self.wfile.write(raw[index:index + 1])
            self.wfile.flush()
            time.sleep(seconds)

    def drop(self) -> None:
        """Close the TCP connection without writing a single byte of response."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class _StandinHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, standin: "GrafanaStandin"):
        self.standin = standin
        self.accepted_connections = 0
        self._open_connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _StandinRequestHandler)

    def process_request(self, request, client_address) -> None:
        with self._connections_lock:
            self._open_connections.add(request)
            self.accepted_connections += 1
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:
        with self._connections_lock:
            self._open_connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request, client_address) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError)):
            return  # the client went away (its timeout, a drop, stop()): not a stand-in bug
        self.standin.errors.append(traceback.format_exc())

    def close_open_connections(self) -> None:
        """On stop, kept-alive connections must die too, or a stopped server keeps answering."""
        with self._connections_lock:
            connections = list(self._open_connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


# ---------------------------------------------------------------------------------------------
# The public object
# ---------------------------------------------------------------------------------------------

class GrafanaStandin:
    """A Grafana HTTP API stand-in on 127.0.0.1:<random port>.

    ``tokens``: {token: {"org_id", "role", "expired", "revoked", "login", "without_actions"}} (all
    optional but the key).
    ``users``: {login: {"password", "orgs": {org_id: role}}}; the first org is the default one.
    ``anonymous``: False, True (anonymous Viewer) or a role name.
    ``quota``: max dashboards per org (None = unlimited).
    ``datasource_min_role``: role needed to look data sources up; "Viewer" as on OSS, "Admin"
    mimics licensed Enterprise/Cloud where Editors/Viewers get a 403 (§7.3).

    Grafana 12-13 switches (§11a), on top of what ``version`` decides (``VersionRules``):
    ``latency``: seconds every request waits before it is handled (a network round trip);
    ``search_lag``: seconds /api/search lags writes, on ``clock`` (a test can pass its own);
    ``save_conflict_status``: 409 or 412 for a stale legacy save (default: by version);
    ``reject_updates_409``: G#130334, every legacy write to an existing dashboard is 409;
    ``legacy_get_converts_v2``: the legacy GET converts a v2 dashboard instead of a 406;
    ``max_dashboard_bytes``: a larger save is 413 (12.x and later).
    """

    def __init__(self, version: str = "11.6.0", tokens: dict | None = None,
                 users: dict | None = None, anonymous: bool | str = False,
                 min_refresh_interval: str = "5s", quota: int | None = None, sub_path: str = "",
                 datasource_min_role: str = "Viewer", *, latency: float = 0.0, search_lag: float = 0.0,
                 clock: Callable[[], float] | None = None, save_conflict_status: int | None = None,
                 reject_updates_409: bool = False, legacy_get_converts_v2: bool = False,
                 max_dashboard_bytes: int | None = None):
        self.version = version
        self.rules = VersionRules.parse(version)
        self.sub_path = "/" + sub_path.strip("/") if sub_path.strip("/") else ""
        self.latency = latency
        anonymous_role = "Viewer" if anonymous is True else (anonymous or None)
        self._lock = threading.RLock()
        self._api = _GrafanaApi(self.rules, min_refresh_interval, quota, self.sub_path,
                                anonymous_role, datasource_min_role, search_lag=search_lag,
                                clock=clock or time.monotonic, save_conflict_status=save_conflict_status,
                                reject_updates_409=reject_updates_409,
                                legacy_get_converts_v2=legacy_get_converts_v2,
                                max_dashboard_bytes=max_dashboard_bytes)
        self._faults = _FaultPlan()
        self._request_log: list[dict] = []
        self.errors: list[str] = []  # tracebacks of unexpected exceptions (answered with 500)
        self._server: _StandinHTTPServer | None = None
        self._thread: threading.Thread | None = None
        for token, spec in (tokens or {}).items():
            self.add_token(token, **spec)
        for login, spec in (users or {}).items():
            self.add_user(login, **spec)

    # ----- lifecycle -------------------------------------------------------------------------

    def start(self) -> "GrafanaStandin":
        if self._server is not None:
            return self
        self._server = _StandinHTTPServer(self)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.01},
                                        name=f"grafana-standin-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.close_open_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "GrafanaStandin":
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("GrafanaStandin is not started")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        """Base URL including the sub-path, e.g. http://127.0.0.1:PORT/grafana."""
        return f"http://127.0.0.1:{self.port}{self.sub_path}"

    @property
    def connections_accepted(self) -> int:
        """TCP connections accepted so far (keep-alive reuse keeps this low)."""
        return self._server.accepted_connections if self._server else 0

    # ----- seeding ---------------------------------------------------------------------------

    def add_org(self, org_id: int, name: str | None = None) -> None:
        with self._lock:
            org = self._api.org(org_id)
            if name:
                org.name = name

    def add_token(self, token: str, org_id: int = 1, role: str = "Admin", expired: bool = False,
                  revoked: bool = False, login: str = "sa-queuedash", without_actions: Iterable[str] = ()) -> None:
        """``without_actions``: RBAC actions the service account lacks although its role grants
        them (an Enterprise or Cloud admin's custom setup; see standin_alerting.permissions_of)."""
        if role not in ROLE_RANK:
            raise ValueError(f"unknown role {role!r}")
        with self._lock:
            self._api.org(org_id)
            self._api.tokens[token] = {"org_id": org_id, "role": role, "expired": expired,
                                       "revoked": revoked, "login": login,
                                       "without_actions": tuple(without_actions)}

    def add_user(self, login: str, password: str, orgs: dict[int, str] | None = None) -> None:
        memberships = dict(orgs) if orgs else {1: "Admin"}
        with self._lock:
            for org_id in memberships:
                self._api.org(org_id)
            self._api.users[login] = {"password": password, "orgs": memberships}

    def add_datasource(self, org_id: int, uid: str, name: str, type: str = "graphite",
                       url: str = "http://graphite.invalid", json_data: dict | None = None,
                       is_default: bool = False) -> dict:
        with self._lock:
            org = self._api.org(org_id)
            datasource = _Datasource(self._api.allocate_datasource_id(), org_id, uid, name, type,
                                     url, json_data or {}, is_default)
            org.datasources[uid] = datasource
            return datasource.dto()

    def add_folder(self, uid: str, title: str, org_id: int = 1, parent_uid: str = "",
                   login: str = "admin") -> dict:
        with self._lock:
            org = self._api.org(org_id)
            folder = self._api.store_folder(org, uid, title, parent_uid, login)
            return folder.snapshot(org_id)

    def add_dashboard(self, dashboard: dict, folder_uid: str = "", org_id: int = 1,
                      login: str = "admin", stored_version: str = "v0alpha1") -> dict:
        """Store a dashboard directly (no HTTP, no validation); an existing uid is updated."""
        with self._lock:
            org = self._api.org(org_id)
            data = copy.deepcopy(dashboard)
            model = _DashboardModel.parse(data)
            existing = org.dashboard_by_uid(model.uid) if model.uid else None
            if existing is not None:
                model.version = existing.version
            stored = self._api.store_dashboard(org, model, data, folder_uid, existing, login,
                                               stored_version=stored_version)
            return stored.snapshot(org_id)

    # ----- inspection ------------------------------------------------------------------------

    def dashboards(self, org_id: int = 1) -> list[dict]:
        with self._lock:
            org = self._api.org(org_id)
            return [d.snapshot(org_id) for d in sorted(org.dashboards.values(), key=lambda d: d.id)]

    def get_dashboard(self, uid: str, org_id: int = 1) -> dict | None:
        with self._lock:
            dashboard = self._api.org(org_id).dashboard_by_uid(uid)
            return dashboard.snapshot(org_id) if dashboard else None

    def folders(self, org_id: int = 1) -> list[dict]:
        with self._lock:
            org = self._api.org(org_id)
            return [f.snapshot(org_id) for f in sorted(org.folders.values(), key=lambda f: f.id)]

    def get_folder(self, uid: str, org_id: int = 1) -> dict | None:
        with self._lock:
            folder = self._api.org(org_id).folders.get(uid)
            return folder.snapshot(org_id) if folder else None

    # ----- simulating other actors -----------------------------------------------------------

    def _stored_dashboard(self, uid: str, org_id: int) -> _Dashboard:
        dashboard = self._api.org(org_id).dashboard_by_uid(uid)
        if dashboard is None:
            raise KeyError(f"no dashboard {uid!r} in org {org_id}")
        return dashboard

    def human_edit(self, uid: str, change: Callable[[dict], Any] | dict | None = None,
                   org_id: int = 1, login: str = "alice", as_v2: bool | None = None) -> int:
        """Save the dashboard as a person in the UI would: apply ``change``, bump the version.

        ``change`` is a dict merged into the dashboard JSON, or a callable that edits the JSON
        in place (or returns a replacement). On 13.x the UI saves dynamic dashboards (§11a): the
        dashboard is then stored as schema v2 (the legacy GET answers 406) unless ``as_v2`` is
        False; the stand-in keeps the classic JSON as what a v1 read converts it back to. On 13.x
        the version (a generation) only moves when something changed. Returns the new version.
        """
        as_v2 = self.rules.ui_saves_v2 if as_v2 is None else as_v2
        with self._lock:
            org = self._api.org(org_id)
            dashboard = self._stored_dashboard(uid, org_id)
            data = copy.deepcopy(dashboard.data)
            if callable(change):
                data = change(data) or data
            elif change:
                data.update(copy.deepcopy(change))
            if isinstance(data.get("title"), str) and data["title"].strip():
                dashboard.title = data["title"].strip()
            dashboard.tags = _string_tags(data.get("tags"))
            stored_version = self.rules.v2_version if as_v2 else dashboard.stored_version
            changed = _content(data) != _content(dashboard.data) or stored_version != dashboard.stored_version
            if changed or not self.rules.generation_versions:
                dashboard.version += 1
                dashboard.updated, dashboard.updated_by = _timestamp(), login
                dashboard.updated_by_id = typed_user(login)
            dashboard.stored_version = stored_version
            dashboard.resource_version = self._api.next_resource_version()
            data["id"], data["uid"], data["version"] = dashboard.id, dashboard.uid, dashboard.version
            dashboard.data = data
            self._api.index(org, dashboard)
            return dashboard.version

    def remove_dashboard(self, uid: str, org_id: int = 1) -> None:
        """Delete the dashboard as a person in the UI would (search may still list it, §11a)."""
        with self._lock:
            org = self._api.org(org_id)
            dashboard = self._stored_dashboard(uid, org_id)
            del org.dashboards[dashboard.id]
            self._api.unindex(org, uid)

    def move_dashboard(self, uid: str, folder_uid: str, org_id: int = 1, login: str = "alice") -> None:
        """Move the dashboard to another folder as a person would (a change: a new version)."""
        with self._lock:
            org = self._api.org(org_id)
            dashboard = self._stored_dashboard(uid, org_id)
            dashboard.folder_uid = folder_uid
            dashboard.version += 1
            dashboard.updated, dashboard.updated_by = _timestamp(), login
            dashboard.updated_by_id = typed_user(login)
            dashboard.resource_version = self._api.next_resource_version()
            dashboard.data["version"] = dashboard.version
            self._api.index(org, dashboard)

    def mark_provisioned(self, uid: str, org_id: int = 1, external_id: str | None = None) -> None:
        """File-provisioned with allowUiUpdates=false: API saves/deletes answer 400 (§3.2 step 9)."""
        with self._lock:
            dashboard = self._stored_dashboard(uid, org_id)
            dashboard.provisioned = True
            dashboard.provisioned_external_id = external_id or f"{uid}.json"

    def set_plugin(self, uid: str, plugin_id: str, org_id: int = 1) -> None:
        """Make it a plugin dashboard: saves without overwrite answer 412 plugin-dashboard."""
        with self._lock:
            self._stored_dashboard(uid, org_id).plugin_id = plugin_id

    def health_status(self, status: int) -> None:
        """Make /api/health answer ``status``; >= 500 reports "database": "failing" (§7.1)."""
        with self._lock:
            self._api.health_status = status

    @property
    def alerting(self):
        """The alerting provisioning API's rules and helpers (tests/standin_alerting.py)."""
        return standin_alerting.AlertingHelpers(self)

    # ----- request log -----------------------------------------------------------------------

    @property
    def request_log(self) -> list[dict]:
        """Every received request, oldest first: dicts with method, path (as sent, with the
        sub-path), route_path, query (name -> list), headers (all, incl. Authorization),
        body (parsed JSON, else text, else None), raw_body, client_port, fault, status."""
        with self._lock:
            return list(self._request_log)

    requests = request_log

    def clear_request_log(self) -> None:
        with self._lock:
            self._request_log.clear()

    def write_count(self) -> int:
        """Received POST/PUT/DELETE/PATCH requests, including ones answered by a fault; not
        dry runs (`?dryRun=All` on /apis: every step of a write, nothing stored)."""
        with self._lock:
            return sum(1 for entry in self._request_log
                       if entry["method"] in WRITE_METHODS and "dryRun" not in entry["query"])

    # ----- fault injection -------------------------------------------------------------------

    @staticmethod
    def _method_set(methods: Iterable[str] | str | None) -> frozenset[str] | None:
        if methods is None:
            return None
        if isinstance(methods, str):
            methods = [methods]
        return frozenset(method.upper() for method in methods)

    def fail_next(self, n: int, status: int = 503, body: Any = None,
                  methods: Iterable[str] | None = None, path_prefix: str | None = None,
                  headers: dict[str, str] | None = None) -> None:
        """Answer the next n matching requests with ``status`` without processing them.

        ``body``: dict/list (JSON), str/bytes (sent as text/html), None ({"message": phrase}).
        ``path_prefix`` matches the path without the sub-path (e.g. "/api/dashboards").
        """
        self._faults.add(_FaultRule("fail", n, self._method_set(methods), path_prefix,
                                    status=status, body=body, headers=headers))

    def slow_next(self, n: int, seconds: float, methods: Iterable[str] | None = None,
                  path_prefix: str | None = None) -> None:
        """Delay the next n matching requests by ``seconds`` before handling them."""
        self._faults.add(_FaultRule("slow", n, self._method_set(methods), path_prefix,
                                    seconds=seconds))

    def drip_next(self, n: int, seconds: float, methods: Iterable[str] | None = None,
                  path_prefix: str | None = None) -> None:
        """Answer the next n matching requests one byte every ``seconds`` (a slow-drip server:
        every byte comes well within a socket timeout, the whole answer takes long)."""
        self._faults.add(_FaultRule("drip", n, self._method_set(methods), path_prefix, seconds=seconds))

    def echo_next(self, n: int, status: int = 400, offset: int = 0, methods: Iterable[str] | None = None,
                  path_prefix: str | None = None, reason: str = "") -> None:
        """Answer the next n matching requests with ``status`` and a JSON message quoting the
        request's Authorization header after ``offset`` characters (a proxy that echoes it).
        With ``reason``, the answer is a Kubernetes ``Status`` of that reason, its message over
        two lines (a server behind /apis that echoes it)."""
        self._faults.add(_FaultRule("echo", n, self._method_set(methods), path_prefix, status=status,
                                    offset=offset, reason=reason))

    def clear_faults(self) -> None:
        """Forget every armed fault not consumed yet."""
        self._faults.clear()

    def drop_next(self, n: int, path_prefix: str | None = None,
                  methods: Iterable[str] | None = None, after_processing: bool = False) -> None:
        """Close the connection of the next n matching requests without any response.

        By default the request is read but not processed; ``after_processing=True`` applies it
        first (the write happened, only the answer is lost).
        """
        self._faults.add(_FaultRule("drop", n, self._method_set(methods), path_prefix,
                                    after_processing=after_processing))

    # ----- serving (called from handler threads) ---------------------------------------------

    def _route_path(self, path: str) -> str | None:
        if not self.sub_path:
            return path
        if path == self.sub_path:
            return "/"
        if path.startswith(self.sub_path + "/"):
            return path[len(self.sub_path):]
        return None  # outside the sub-path: nothing is served there

    def _log(self, handler: _StandinRequestHandler, path: str, route_path: str | None,
             query: str, body: bytes) -> dict:
        try:
            parsed: Any = json.loads(body) if body else None
        except ValueError:
            parsed = body.decode("utf-8", "replace")
        entry = {"method": handler.command, "path": path, "route_path": route_path,
                 "query": parse_qs(query, keep_blank_values=True),
                 "headers": dict(handler.headers.items()), "body": parsed, "raw_body": body,
                 "client_port": handler.client_address[1], "fault": None, "status": None}
        with self._lock:
            self._request_log.append(entry)
        return entry

    def _serve(self, handler: _StandinRequestHandler) -> None:
        body = handler.read_body()
        split = urlsplit(handler.path)
        route_path = self._route_path(split.path)
        entry = self._log(handler, split.path, route_path, split.query, body)
        faults = self._faults.take(handler.command, [route_path or "", split.path])
        drop = faults.get("drop")
        if drop is not None and not drop.after_processing:
            entry["fault"] = "drop"
            return handler.drop()
        if self.latency:
            time.sleep(self.latency)  # outside the lock: requests wait side by side
        if "slow" in faults:
            time.sleep(faults["slow"].seconds)
        if "fail" in faults or "echo" in faults:
            entry["fault"] = "fail" if "fail" in faults else "echo"
            response = faults[entry["fault"]].response(handler.headers)
        else:
            response = self._answer(handler.command, route_path, split.query, handler.headers, body)
        if drop is not None:
            entry["fault"] = "drop"
            return handler.drop()
        entry["status"] = response.status
        if "drip" in faults:
            entry["fault"] = entry["fault"] or "drip"
            return handler.drip(response, faults["drip"].seconds)
        handler.send(response)

    def _answer(self, method: str, route_path: str | None, query: str, headers: Any,
                body: bytes) -> _Response:
        with self._lock:
            try:
                return self._api.handle(method, route_path, query, headers, body)
            except Exception:  # a stand-in bug must not hang the client: answer 500, keep trace
                self.errors.append(traceback.format_exc())
                return json_response(500, {"message": "Internal Server Error", "traceID": ""})


# The alerting provisioning API (contract §11b) lives in its own module; importing it registers
# its routes. At the bottom: it imports this module's helpers.
import standin_alerting  # noqa: E402
