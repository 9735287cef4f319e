"""Tests of the Grafana stand-in itself (tests/grafana_standin.py), over real HTTP.

Each test starts its own server on a random loopback port (fixture ``make_standin``) and talks
to it with ``requests``; nothing is mocked. Section numbers refer to
/work/shared/grafana/contract.md.
"""

from __future__ import annotations

import base64
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from grafana_standin import GrafanaStandin, parse_grafana_duration, slugify

ADMIN_TOKEN = "glsa_admin0000000000000000000000000000_0badc0de"
VIEWER_TOKEN = "glsa_viewer000000000000000000000000000_0badc0de"


class Api:
    """A thin requests.Session bound to one stand-in and one Authorization header."""

    def __init__(self, base_url: str, authorization: str | None):
        self.base_url = base_url
        self.session = requests.Session()
        if authorization:
            self.session.headers["Authorization"] = authorization

    def get(self, path, **kwargs):
        return self.session.get(self.base_url + path, timeout=5, **kwargs)

    def post(self, path, **kwargs):
        return self.session.post(self.base_url + path, timeout=5, **kwargs)

    def put(self, path, **kwargs):
        return self.session.put(self.base_url + path, timeout=5, **kwargs)

    def delete(self, path, **kwargs):
        return self.session.delete(self.base_url + path, timeout=5, **kwargs)

    def save(self, dashboard, **fields):
        return self.post("/api/dashboards/db", json={"dashboard": dashboard, **fields})


@pytest.fixture
def make_standin():
    """Start stand-ins with an Admin and a Viewer token; stop them all after the test."""
    started: list[GrafanaStandin] = []

    def make(**kwargs) -> GrafanaStandin:
        standin = GrafanaStandin(**kwargs)
        standin.add_token(ADMIN_TOKEN, role="Admin", login="sa-queuedash")
        standin.add_token(VIEWER_TOKEN, role="Viewer", login="sa-viewer")
        started.append(standin.start())
        return standin

    yield make
    for standin in started:
        standin.stop()


@pytest.fixture
def sessions():
    opened: list[Api] = []

    def open_api(standin: GrafanaStandin, authorization: str | None = f"Bearer {ADMIN_TOKEN}"):
        api = Api(standin.url, authorization)
        opened.append(api)
        return api

    yield open_api
    for api in opened:
        api.session.close()


@pytest.fixture
def grafana(make_standin):
    return make_standin()


@pytest.fixture
def api(grafana, sessions):
    return sessions(grafana)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# ------------------------------------------------------------------------------------------
# slugify and durations (§3.5, §3.2 step 5)
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("title, slug", [
    ("Production Overview", "production-overview"),
    ("Celery (prod)", "celery-prod"),
    ("A  B", "a--b"),
    ("Celery: tasks", "celery3a-tasks"),
    ("Tasks/Queues", "tasks2fqueues"),
    ("Grüße & €", "gruesse-and-e282ac"),
    ("  Trimmed  ", "trimmed"),
])
def test_slugify_examples_of_the_contract(title, slug):
    assert slugify(title) == slug


def test_slugify_falls_back_to_uuid5_of_the_untrimmed_title():
    # §3.5 step 3: uuid.NewSHA1(uuid.NameSpaceOID, original title) when empty or > 50 bytes.
    assert slugify(" ... ") == str(uuid.uuid5(uuid.NAMESPACE_OID, " ... "))
    assert uuid.UUID(slugify("x" * 51)).version == 5
    assert slugify("x" * 50) == "x" * 50


def test_grafana_durations():
    assert parse_grafana_duration("5s") == 5e9
    assert parse_grafana_duration("1m30s") == 90e9
    assert parse_grafana_duration("1d") == 86400e9
    assert parse_grafana_duration("soon") is None
    assert parse_grafana_duration("5") is None


# ------------------------------------------------------------------------------------------
# POST /api/dashboards/db: create / update table 3.4
# ------------------------------------------------------------------------------------------

def test_create_without_id_or_uid_generates_uid_and_version_1(api, grafana):
    response = api.save({"title": "Celery overview", "version": 7})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; charset=UTF-8"
    body = response.json()
    assert list(body) == ["folderUid", "id", "slug", "status", "uid", "url", "version"]
    assert body["version"] == 1 and body["status"] == "success" and body["folderUid"] == ""
    assert body["url"] == f"/d/{body['uid']}/celery-overview"
    stored = grafana.get_dashboard(body["uid"])
    assert stored["data"]["id"] == body["id"] and stored["data"]["version"] == 1
    assert stored["created_by"] == "sa-queuedash"


def test_every_push_without_uid_creates_a_new_dashboard_on_11_6(api, grafana):
    first = api.save({"title": "Same"}, overwrite=True).json()
    second = api.save({"title": "Same"}, overwrite=True).json()
    assert first["uid"] != second["uid"]
    assert len(grafana.dashboards()) == 2


def test_update_by_uid_with_matching_version_bumps_it(api, grafana):
    api.save({"uid": "celery", "title": "Celery"})
    response = api.save({"uid": "celery", "title": "Celery v2", "version": 1})
    assert response.status_code == 200 and response.json()["version"] == 2
    got = api.get("/api/dashboards/uid/celery").json()
    assert got["dashboard"]["version"] == got["meta"]["version"] == 2
    assert got["dashboard"]["title"] == "Celery v2"


def test_stale_or_absent_version_is_412_version_mismatch_unless_overwrite(api):
    api.save({"uid": "celery", "title": "Celery"})
    for dashboard in ({"uid": "celery", "title": "C", "version": 5}, {"uid": "celery", "title": "C"}):
        response = api.save(dashboard)
        assert response.status_code == 412
        assert response.text == ('{"message":"The dashboard has been changed by someone else",'
                                 '"status":"version-mismatch"}')
    forced = api.save({"uid": "celery", "title": "C", "version": 5}, overwrite=True)
    assert forced.status_code == 200 and forced.json()["version"] == 2


def test_human_edit_makes_the_generators_version_stale(api, grafana):
    api.save({"uid": "celery", "title": "Celery"})
    assert grafana.human_edit("celery", {"description": "tweaked"}) == 2
    assert grafana.get_dashboard("celery")["updated_by"] == "alice"
    assert api.save({"uid": "celery", "title": "Celery", "version": 1}).status_code == 412


def test_unknown_id_is_404_and_id_plus_foreign_uid_is_400(api):
    first = api.save({"uid": "one", "title": "One"}).json()
    api.save({"uid": "two", "title": "Two"})
    missing = api.save({"id": 999, "title": "X"}, overwrite=True)
    assert missing.status_code == 404
    assert missing.json() == {"message": "Dashboard not found", "status": "not-found"}
    clash = api.save({"id": first["id"], "uid": "two", "title": "X"}, overwrite=True)
    assert clash.status_code == 400
    assert clash.json() == {"message": "A dashboard with the same uid already exists"}


def test_plugin_dashboard_needs_overwrite(api, grafana):
    api.save({"uid": "plug", "title": "Plugin"})
    grafana.set_plugin("plug", "redis-app")
    refused = api.save({"uid": "plug", "title": "Plugin", "version": 1})
    assert refused.status_code == 412
    assert refused.json() == {"message": "The dashboard belongs to plugin redis-app.",
                              "status": "plugin-dashboard"}
    assert api.save({"uid": "plug", "title": "Plugin"}, overwrite=True).status_code == 200


def test_uid_of_a_folder_cannot_become_a_dashboard(api, grafana):
    grafana.add_folder("celery", "Celery")
    response = api.save({"uid": "celery", "title": "Dash"}, overwrite=True)
    assert (response.status_code, response.json()) == (
        400, {"message": "Dashboard cannot be changed to a folder"})


def test_update_with_another_folder_moves_the_dashboard(api, grafana):
    grafana.add_folder("celery", "Celery")
    api.save({"uid": "d", "title": "D"}, folderUid="celery")
    moved = api.save({"uid": "d", "title": "D", "version": 1})  # folderUid omitted = root
    assert moved.json()["folderUid"] == ""
    assert grafana.get_dashboard("d")["folder_uid"] == ""


def test_name_exists_on_10_4_and_overwrite_takes_the_other_dashboard_over(make_standin, sessions):
    grafana = make_standin(version="10.4.1")
    api = sessions(grafana)
    original = api.save({"uid": "orig", "title": "Celery"}).json()
    assert "folderUid" not in original  # §3.3: 10.x responses lack it
    refused = api.save({"uid": "other", "title": "Celery"})
    assert refused.status_code == 412
    assert refused.text == ('{"message":"A dashboard with the same name in the folder already '
                            'exists","status":"name-exists"}')
    taken = api.save({"uid": "other", "title": "Celery"}, overwrite=True).json()
    assert (taken["uid"], taken["id"], taken["version"]) == ("orig", original["id"], 2)
    assert [d["uid"] for d in grafana.dashboards()] == ["orig"]


def test_name_of_a_folder_is_refused_on_10_4_but_duplicates_are_fine_on_11_6(make_standin, sessions):
    old = make_standin(version="10.4.1")
    old.add_folder("f", "Celery")
    response = sessions(old).save({"title": "Celery"})
    assert response.json() == {"message": "Dashboard name cannot be the same as folder"}
    new = make_standin(version="11.6.0")
    new.add_folder("f", "Celery")
    api = sessions(new)
    assert api.save({"uid": "a", "title": "Celery"}).status_code == 200
    assert api.save({"uid": "b", "title": "Celery"}).status_code == 200


# ------------------------------------------------------------------------------------------
# POST /api/dashboards/db: validation in order (§3.2 steps 2-6, 9, 10)
# ------------------------------------------------------------------------------------------

def test_binding_errors(api):
    as_text = api.post("/api/dashboards/db", data='{"dashboard":{"title":"x"}}',
                       headers={"Content-Type": "text/plain"})
    assert as_text.json() == {"message": "bad request data", "traceID": ""}
    assert api.post("/api/dashboards/db", json={"dashboard": None}).status_code == 400
    assert api.post("/api/dashboards/db", json={"dashboard": {}, "overwrite": "yes"}).status_code == 400
    folder = api.post("/api/dashboards/db", json={"dashboard": {"title": "x"}, "isFolder": True})
    assert folder.json() == {"message": "Use folders endpoint for saving folders."}


@pytest.mark.parametrize("dashboard, fields, expected", [
    ({"title": "   "}, {}, {"message": "Dashboard title cannot be empty", "status": "empty-name"}),
    ({"title": "t", "uid": "bad uid!"}, {}, {"message": "uid contains illegal characters"}),
    ({"title": "t", "uid": "u" * 41}, {}, {"message": "uid too long, max 40 characters"}),
    ({"title": "t"}, {"folderUid": "nope"}, {"message": "folder not found"}),
    ({"title": "t"}, {"message": "m" * 501}, {"message": "message too long, max 500 characters"}),
])
def test_basic_validation_errors_are_400(api, dashboard, fields, expected):
    response = api.save(dashboard, **fields)
    assert (response.status_code, response.json()) == (400, expected)


def test_length_checks_depend_on_version(make_standin, sessions):
    long_message = {"message": "m" * 501}
    assert sessions(make_standin(version="11.5.2")).save({"title": "t"}, **long_message).status_code == 200
    v11 = sessions(make_standin(version="11.6.0"))
    assert v11.save({"title": "t" * 5001}).status_code == 200
    assert v11.save({"title": "t", "tags": ["x" * 51]}).status_code == 200
    v12 = sessions(make_standin(version="12.0.0"))
    assert v12.save({"title": "t" * 5001}).json()["status"] == "title-too-long"
    assert v12.save({"title": "t", "tags": ["x" * 51]}).json() == {
        "message": "dashboard tag too long, max 50 characters", "status": "tag-too-long"}


@pytest.mark.parametrize("refresh, stored", [
    ("1s", "5s"), ("soon", "5s"), ("1m", "1m"), ("auto", "auto"), ("", ""),
])
def test_refresh_below_minimum_is_silently_raised(api, grafana, refresh, stored):
    assert api.save({"uid": "r", "title": "R", "refresh": refresh}).status_code == 200
    assert grafana.get_dashboard("r")["data"]["refresh"] == stored


def test_provisioned_dashboard_cannot_be_saved_or_deleted(api, grafana):
    api.save({"uid": "prov", "title": "Prov"})
    grafana.mark_provisioned("prov")
    assert api.save({"uid": "prov", "title": "Prov"}, overwrite=True).json() == {
        "message": "Cannot save provisioned dashboard"}
    deleted = api.delete("/api/dashboards/uid/prov")
    assert deleted.status_code == 400
    assert api.get("/api/dashboards/uid/prov").json()["meta"]["provisioned"] is True


def test_quota_counts_only_new_dashboards(make_standin, sessions):
    api = sessions(make_standin(quota=1))
    assert api.save({"uid": "one", "title": "One"}).status_code == 200
    assert api.save({"title": "Two"}).json() == {"message": "Quota reached"}


def test_viewer_gets_the_routes_own_403_after_validation(grafana, sessions, api):
    viewer = sessions(grafana, f"Bearer {VIEWER_TOKEN}")
    assert viewer.save({"title": ""}).status_code == 400  # validation (step 6) before step 10
    denied = viewer.save({"title": "x"})
    assert denied.status_code == 403
    assert denied.json() == {"message": "Access denied to save dashboard", "traceID": ""}
    api.save({"uid": "d", "title": "D"})
    assert viewer.delete("/api/dashboards/uid/d").json() == {
        "message": "Access denied to this dashboard"}
    assert viewer.get("/api/dashboards/uid/d").json()["meta"]["canSave"] is False


# ------------------------------------------------------------------------------------------
# GET / DELETE dashboards (§4)
# ------------------------------------------------------------------------------------------

def test_get_dashboard_body_and_meta(api, grafana):
    grafana.add_folder("celery", "Celery")
    api.save({"uid": "d", "title": "D", "panels": [], "tags": ["b", "a"]}, folderUid="celery")
    body = api.get("/api/dashboards/uid/d").json()
    assert body["dashboard"]["uid"] == "d" and body["dashboard"]["panels"] == []
    meta = body["meta"]
    assert meta["folderUid"] == "celery" and meta["folderTitle"] == "Celery"
    assert meta["folderUrl"] == "/dashboards/f/celery/celery"
    assert meta["url"] == "/d/d/d" and meta["slug"] == "d" and meta["canSave"] is True


def test_missing_dashboard_is_404_family_a(api):
    response = api.get("/api/dashboards/uid/nope")
    assert response.status_code == 404
    assert response.json() == {"message": "Dashboard not found", "traceID": ""}
    assert api.delete("/api/dashboards/uid/nope").status_code == 404


@pytest.mark.parametrize("version, key", [("10.4.1", "id"), ("11.6.0", "uid"), ("12.1.0", "uid")])
def test_delete_response_key_depends_on_version(make_standin, sessions, version, key):
    api = sessions(make_standin(version=version))
    saved = api.save({"uid": "gone", "title": "Gone"}).json()
    body = api.delete("/api/dashboards/uid/gone").json()
    assert body == {"title": "Gone", "message": "Dashboard Gone deleted", key: saved[key]}
    assert api.get("/api/dashboards/uid/gone").status_code == 404


# ------------------------------------------------------------------------------------------
# Folders (§5)
# ------------------------------------------------------------------------------------------

def test_folder_create_get_and_list(api):
    created = api.post("/api/folders", json={"uid": "celery", "title": "Celery"})
    assert created.status_code == 200
    assert created.json()["version"] == 1 and created.json()["url"] == "/dashboards/f/celery/celery"
    api.post("/api/folders", json={"uid": "child", "title": "Child", "parentUid": "celery"})
    child = api.get("/api/folders/child").json()
    assert child["parentUid"] == "celery" and [p["uid"] for p in child["parents"]] == ["celery"]
    assert api.get("/api/folders").json() == [{"id": created.json()["id"], "uid": "celery",
                                               "title": "Celery"}]
    assert [f["uid"] for f in api.get("/api/folders", params={"parentUid": "celery"}).json()] == ["child"]


def test_folder_409_when_uid_is_taken_by_folder_or_dashboard(api):
    api.post("/api/folders", json={"uid": "celery", "title": "Celery"})
    api.save({"uid": "dash", "title": "Dash"})
    for uid in ("celery", "dash"):
        response = api.post("/api/folders", json={"uid": uid, "title": "Other"})
        assert (response.status_code, response.json()) == (
            409, {"message": "a folder/dashboard with the same uid already exists"})


def test_folder_title_clash_only_up_to_11_2(make_standin, sessions):
    old = sessions(make_standin(version="11.2.0"))
    old.post("/api/folders", json={"uid": "a", "title": "Celery"})
    assert old.post("/api/folders", json={"uid": "b", "title": "Celery"}).status_code == 409
    new = sessions(make_standin(version="11.3.0"))
    new.post("/api/folders", json={"uid": "a", "title": "Celery"})
    assert new.post("/api/folders", json={"uid": "b", "title": "Celery"}).status_code == 200


def test_folder_errors(api):
    missing = api.get("/api/folders/nope")
    assert (missing.status_code, missing.json()) == (
        404, {"message": "folder not found", "status": "not-found"})
    assert api.post("/api/folders", json={"title": " "}).json() == {
        "message": "folder title cannot be empty"}
    api.post("/api/folders", json={"uid": "f", "title": "F"})
    stale = api.put("/api/folders/f", json={"title": "G", "version": 7})
    assert (stale.status_code, stale.json()["status"]) == (412, "version-mismatch")
    renamed = api.put("/api/folders/f", json={"title": "G", "version": 1})
    assert renamed.json()["title"] == "G" and renamed.json()["version"] == 2


def test_deleting_a_folder_deletes_its_dashboards(api, grafana):
    api.post("/api/folders", json={"uid": "f", "title": "F"})
    api.save({"uid": "inside", "title": "Inside"}, folderUid="f")
    api.save({"uid": "outside", "title": "Outside"})
    body = api.delete("/api/folders/f").json()
    assert body["message"] == "Folder deleted"
    assert [d["uid"] for d in grafana.dashboards()] == ["outside"]


# ------------------------------------------------------------------------------------------
# Search (§6)
# ------------------------------------------------------------------------------------------

@pytest.fixture
def populated(api, grafana):
    grafana.add_folder("zfolder", "Zeta folder")
    grafana.add_folder("afolder", "alpha folder")
    api.save({"uid": "b", "title": "beta", "tags": ["prod", "celery"]}, folderUid="zfolder")
    api.save({"uid": "a", "title": "Alpha", "tags": ["prod"]})
    api.save({"uid": "c", "title": "Gamma"})
    return api


def test_search_sorts_folders_first_then_lower_cased_title(populated):
    hits = populated.get("/api/search").json()
    assert [h["uid"] for h in hits] == ["afolder", "zfolder", "a", "b", "c"]
    root = next(h for h in hits if h["uid"] == "a")
    assert root["slug"] == "" and root["uri"] == "db/alpha" and "folderUid" not in root
    nested = next(h for h in hits if h["uid"] == "b")
    assert nested["folderUid"] == "zfolder" and nested["tags"] == ["celery", "prod"]


@pytest.mark.parametrize("params, uids", [
    ({"query": "ALPH"}, ["afolder", "a"]),
    ({"tag": ["prod", "celery"]}, ["b"]),
    ({"tag": "prod", "type": "dash-db"}, ["a", "b"]),
    ({"type": "dash-folder"}, ["afolder", "zfolder"]),
    ({"folderUIDs": "general", "type": "dash-db"}, ["a", "c"]),
    ({"folderUIDs": "zfolder"}, ["b"]),
    ({"dashboardUIDs": ["c", "a"]}, ["a", "c"]),
    ({"type": "dash-db", "limit": 2, "page": 2}, ["c"]),
])
def test_search_filters(populated, params, uids):
    assert [h["uid"] for h in populated.get("/api/search", params=params).json()] == uids


def test_search_limit_above_5000_is_422(api):
    response = api.get("/api/search", params={"limit": 5001})
    assert response.status_code == 422
    assert response.json()["message"].startswith("Limit is above maximum allowed (5000)")


# ------------------------------------------------------------------------------------------
# Auth (§1.3, §2)
# ------------------------------------------------------------------------------------------

def test_unauthenticated_401_is_the_exact_errutil_body(grafana):
    response = requests.get(grafana.url + "/api/org", timeout=5)
    assert response.status_code == 401
    assert response.content == (b'{"extra":null,"message":"Unauthorized","messageId":'
                                b'"auth.unauthorized","statusCode":401,"traceID":""}\n')
    assert response.headers["Content-Length"] == "102"


@pytest.mark.parametrize("authorization, status, message_id", [
    ("Bearer glsa_unknown", 401, "api-key.invalid"),
    ("Bearer expired", 401, "api-key.expired"),
    ("Bearer revoked", 401, "api-key.revoked"),
    (basic("alice", "wrong"), 401, "password-auth.failed"),
    ("Basic %%%", 400, "basic-auth.invalid-header"),
])
def test_auth_failures_by_message_id(grafana, sessions, authorization, status, message_id):
    grafana.add_token("expired", expired=True)
    grafana.add_token("revoked", revoked=True)
    grafana.add_user("alice", "secret")
    response = sessions(grafana, authorization).get("/api/org")
    assert response.status_code == status
    assert response.json()["messageId"] == message_id


def test_token_accepted_as_bearer_and_as_basic_api_key(grafana, sessions):
    assert sessions(grafana).get("/api/org").json()["name"] == "Main Org."
    assert sessions(grafana, basic("api_key", ADMIN_TOKEN)).get("/api/org").status_code == 200


def test_org_header_mismatch_and_users_outside_the_org(grafana, sessions):
    api = sessions(grafana)
    mismatch = api.get("/api/org", headers={"X-Grafana-Org-Id": "2"})
    assert mismatch.json()["messageId"] == "api-key.organization-mismatch"
    assert api.get("/api/org", headers={"X-Grafana-Org-Id": "1"}).status_code == 200
    grafana.add_user("bob", "pw", orgs={1: "Editor", 2: "Viewer"})
    bob = sessions(grafana, basic("bob", "pw"))
    assert bob.get("/api/org", headers={"X-Grafana-Org-Id": "2"}).json()["id"] == 2
    outsider = bob.get("/api/org", headers={"X-Grafana-Org-Id": "3"})
    assert outsider.status_code == 403 and outsider.json()["title"] == "Access denied"


def test_health_needs_no_auth_and_can_fail(grafana):
    response = requests.get(grafana.url + "/api/health",
                            headers={"Authorization": "Bearer bogus"}, timeout=5)
    assert response.status_code == 200
    assert response.text == '{\n  "commit": "standin0",\n  "database": "ok",\n  "version": "11.6.0"\n}'
    grafana.health_status(503)
    failing = requests.get(grafana.url + "/api/health", timeout=5)
    assert (failing.status_code, failing.json()["database"]) == (503, "failing")


def test_anonymous_viewer_reads_but_cannot_write(make_standin, sessions):
    anonymous = sessions(make_standin(anonymous=True), authorization=None)
    assert anonymous.get("/api/search").status_code == 200
    assert anonymous.save({"title": "x"}).status_code == 403


# ------------------------------------------------------------------------------------------
# Other routes, sub-path
# ------------------------------------------------------------------------------------------

def test_unknown_api_route_is_404_not_found(api):
    response = api.get("/api/nothing/here")
    assert (response.status_code, response.json()) == (404, {"message": "Not found"})


def test_datasource_lookup(grafana, api):
    grafana.add_datasource(1, "graphite-uid", "Graphite prod")
    assert api.get("/api/datasources/uid/graphite-uid").json()["type"] == "graphite"
    assert api.get("/api/datasources/name/Graphite%20prod").json()["uid"] == "graphite-uid"
    missing = api.get("/api/datasources/uid/nope")
    assert (missing.status_code, missing.json()) == (404, {"message": "Data source not found"})


def test_sub_path_prefixes_routes_and_urls(make_standin, sessions):
    grafana = make_standin(sub_path="/grafana")
    assert grafana.url.endswith("/grafana")
    api = sessions(grafana)
    grafana.add_folder("f", "F")
    saved = api.save({"uid": "d", "title": "D"}, folderUid="f").json()
    assert saved["url"] == "/grafana/d/d/d"
    meta = api.get("/api/dashboards/uid/d").json()["meta"]
    assert meta["url"] == "/grafana/d/d/d" and meta["folderUrl"] == "/grafana/dashboards/f/f/f"
    hit = api.get("/api/search", params={"type": "dash-db"}).json()[0]
    assert hit["url"] == "/grafana/d/d/d"
    outside = requests.get(grafana.url.removesuffix("/grafana") + "/api/health", timeout=5)
    assert outside.status_code == 404


# ------------------------------------------------------------------------------------------
# Request log, fault injection, keep-alive
# ------------------------------------------------------------------------------------------

def test_request_log_keeps_headers_and_counts_writes(api, grafana):
    api.save({"uid": "d", "title": "D"}, message="hi")
    api.get("/api/dashboards/uid/d")
    entry = grafana.request_log[0]
    assert entry["method"] == "POST" and entry["path"] == "/api/dashboards/db"
    assert entry["headers"]["Authorization"] == f"Bearer {ADMIN_TOKEN}"
    assert entry["body"]["message"] == "hi" and entry["status"] == 200
    assert grafana.write_count() == 1


def test_fail_next_answers_503_then_the_real_thing(api, grafana):
    grafana.fail_next(1, status=503, methods=["POST"], path_prefix="/api/dashboards")
    first = api.save({"uid": "d", "title": "D"})
    assert first.status_code == 503 and grafana.get_dashboard("d") is None
    assert api.save({"uid": "d", "title": "D"}).status_code == 200
    assert grafana.write_count() == 2


def test_fail_next_with_headers_and_body(api, grafana):
    grafana.fail_next(1, status=429, headers={"Retry-After": "1"})
    limited = api.get("/api/org")
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "1")
    grafana.fail_next(1, status=500, body={"message": "Failed to save dashboard", "traceID": ""})
    assert api.save({"title": "x"}).json() == {"message": "Failed to save dashboard", "traceID": ""}


def test_dropped_connection_raises_connection_error(api, grafana):
    grafana.drop_next(1, path_prefix="/api/dashboards/db")
    with pytest.raises(requests.ConnectionError):
        api.save({"uid": "d", "title": "D"})
    assert grafana.get_dashboard("d") is None
    assert api.save({"uid": "d", "title": "D"}).status_code == 200


def test_drop_after_processing_loses_only_the_answer(api, grafana):
    grafana.drop_next(1, after_processing=True)
    with pytest.raises(requests.ConnectionError):
        api.save({"uid": "d", "title": "D"})
    assert grafana.get_dashboard("d")["version"] == 1


def test_slow_next_triggers_client_timeouts(grafana, sessions):
    grafana.slow_next(1, 0.3)
    api = sessions(grafana)
    with pytest.raises(requests.Timeout):
        api.session.get(grafana.url + "/api/org", timeout=0.1)


def test_keep_alive_connections_are_reused_across_threads(grafana, sessions):
    api = sessions(grafana)
    adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=4)
    api.session.mount("http://", adapter)
    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = list(pool.map(lambda _: api.get("/api/org").status_code, range(40)))
    assert statuses == [200] * 40
    assert grafana.connections_accepted <= 4
    assert len({entry["client_port"] for entry in grafana.request_log}) <= 4


def test_stop_closes_kept_alive_connections(make_standin, sessions):
    grafana = make_standin()
    api = sessions(grafana)
    assert api.get("/api/org").status_code == 200
    grafana.stop()
    with pytest.raises(requests.ConnectionError):
        api.get("/api/org")


def test_concurrent_saves_are_consistent(grafana, sessions):
    api = sessions(grafana)
    api.save({"uid": "d", "title": "D"})
    barrier = threading.Barrier(4)

    def push(_):
        barrier.wait()
        return api.save({"uid": "d", "title": "D"}, overwrite=True).json()["version"]

    with ThreadPoolExecutor(max_workers=4) as pool:
        versions = sorted(pool.map(push, range(4)))
    assert versions == [2, 3, 4, 5]
    assert grafana.errors == []
