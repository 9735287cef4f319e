"""Tests of the stand-in's Grafana 12-13 behaviour (contract §11a), over real HTTP.

The legacy API as 12 and 13 changed it (406 for dynamic dashboards, 409 for stale saves,
versions that are generations, a lagging search, 413), and the /apis API of
tests/standin_apis.py: discovery, dashboards and folders, list paging, migration to
schemaVersion 42 on save and on read, dry runs, Kubernetes Status errors.
"""

from __future__ import annotations

import time

import pytest

from standin_apis import migrate_spec
from test_grafana_standin import ADMIN_TOKEN, VIEWER_TOKEN
# Fixtures (pytest finds them by name in this module's namespace):
from test_grafana_standin import make_standin, sessions  # noqa: F401

DASHBOARDS = "/apis/dashboard.grafana.app/{v}/namespaces/{ns}/dashboards"
FOLDERS = "/apis/folder.grafana.app/{v}/namespaces/{ns}/folders"
OLD = {"uid": "tasks", "title": "Tasks", "schemaVersion": 39, "refresh": "1m", "panels": [],
       "timepicker": {"time_options": ["5m"]}}


def dashboards(version: str = "v1", namespace: str = "default") -> str:
    return DASHBOARDS.format(v=version, ns=namespace)


def folders(version: str = "v1", namespace: str = "default") -> str:
    return FOLDERS.format(v=version, ns=namespace)


def k8s(spec: dict, name: str | None = None, version: str = "v1", folder: str = "", rv: str | None = None) -> dict:
    metadata = {"name": name or spec["uid"], "annotations": {"grafana.app/folder": folder} if folder else {}}
    if rv is not None:
        metadata["resourceVersion"] = rv
    return {"apiVersion": f"dashboard.grafana.app/{version}", "kind": "Dashboard", "metadata": metadata, "spec": spec}


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def g13(make_standin):
    return make_standin(version="13.0.0")


@pytest.fixture
def api13(g13, sessions):
    return sessions(g13)


# ----- discovery --------------------------------------------------------------------------

@pytest.mark.parametrize("version, dashboard_versions, folder_versions", [
    ("11.6.0", ["v0alpha1"], ["v0alpha1"]),
    ("12.0.0", ["v1beta1", "v0alpha1", "v2alpha1", "v2beta1"], ["v1beta1"]),
    ("13.0.0", ["v1", "v0alpha1", "v1beta1", "v2", "v2alpha1", "v2beta1"], ["v1", "v1beta1"]),
])
def test_discovery_lists_the_groups_each_version_serves(make_standin, sessions, version, dashboard_versions,
                                                          folder_versions):
    answer = sessions(make_standin(version=version)).get("/apis")
    assert answer.status_code == 200
    body = answer.json()
    assert (body["kind"], body["apiVersion"]) == ("APIGroupList", "v1")
    groups = {g["name"]: g for g in body["groups"]}
    assert [v["version"] for v in groups["dashboard.grafana.app"]["versions"]] == dashboard_versions
    assert [v["version"] for v in groups["folder.grafana.app"]["versions"]] == folder_versions
    assert groups["dashboard.grafana.app"]["preferredVersion"]["version"] == dashboard_versions[0]


def test_grafana_10_4_has_no_apis(make_standin, sessions):
    answer = sessions(make_standin(version="10.4.0")).get("/apis")
    assert answer.status_code == 404 and answer.text == "404 page not found\n"


def test_apis_needs_credentials_and_answers_with_a_status(g13, sessions):
    answer = sessions(g13, authorization=None).get("/apis")
    assert answer.status_code == 401
    assert answer.json() == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                             "message": "Unauthorized", "reason": "Unauthorized", "code": 401}


# ----- the legacy API on 12 and 13 ----------------------------------------------------------

def test_a_persons_save_on_13_is_a_dynamic_dashboard_the_legacy_get_refuses(g13, api13):
    assert api13.save(dict(OLD)).status_code == 200
    assert api13.get("/api/dashboards/uid/tasks").json()["meta"]["apiVersion"] == "v0alpha1"
    g13.human_edit("tasks", {"description": "alice"})
    answer = api13.get("/api/dashboards/uid/tasks")
    assert answer.status_code == 406
    assert answer.json() == {"message": "dashboard api version not supported, use /apis/dashboard.grafana.app/v2/"
                                        "namespaces/default/dashboards/tasks instead"}


def test_a_newer_legacy_get_converts_v2_instead(make_standin, sessions):
    standin = make_standin(version="13.0.0", legacy_get_converts_v2=True)
    api = sessions(standin)
    api.save(dict(OLD))
    standin.human_edit("tasks", {"description": "alice"})
    answer = api.get("/api/dashboards/uid/tasks").json()
    assert answer["meta"]["apiVersion"] == "v2" and answer["dashboard"]["description"] == "alice"


def test_a_persons_save_on_12_stays_classic(make_standin, sessions):
    standin = make_standin(version="12.0.0")
    api = sessions(standin)
    api.save(dict(OLD))
    standin.human_edit("tasks", {"description": "bob"})
    assert api.get("/api/dashboards/uid/tasks").json()["dashboard"]["description"] == "bob"


def test_a_stale_save_is_409_on_13_412_on_12_and_412_on_13_by_switch(make_standin, sessions):
    expected = {"13.0.0": (409, {"message": "Dashboard already exists. Use overwrite flag to update."}),
                "12.0.0": (412, {"message": "The dashboard has been changed by someone else",
                                 "status": "version-mismatch"})}
    for version, (status, body) in expected.items():
        api = sessions(make_standin(version=version))
        api.save(dict(OLD))
        answer = api.save({**OLD, "version": 7})
        assert (answer.status_code, answer.json()) == (status, body), version
    switched = sessions(make_standin(version="13.0.0", save_conflict_status=412))
    switched.save(dict(OLD))
    assert switched.save({**OLD, "version": 7}).status_code == 412


def test_on_13_the_version_is_a_generation(g13, api13):
    assert api13.save(dict(OLD)).json()["version"] == 1
    assert api13.save({**OLD, "version": 1}).json()["version"] == 1  # identical: no new generation
    assert api13.save({**OLD, "version": 1, "title": "Renamed"}).json()["version"] == 2
    g13.human_edit("tasks", as_v2=False)  # a save without change
    assert g13.get_dashboard("tasks")["version"] == 2


def test_on_12_every_save_is_a_new_version(make_standin, sessions):
    api = sessions(make_standin(version="12.0.0"))
    api.save(dict(OLD))
    assert api.save({**OLD, "version": 1}).json()["version"] == 2


def test_the_13_bug_answers_409_to_every_write_of_an_existing_dashboard(make_standin, sessions):
    api = sessions(make_standin(version="13.0.0", reject_updates_409=True))
    assert api.save(dict(OLD)).status_code == 200  # a create is fine
    answer = api.save({**OLD, "version": 1}, overwrite=True)
    assert answer.status_code == 409
    assert answer.json() == {"message": "requested RV does not match current RV", "traceID": ""}


def test_a_too_large_dashboard_is_413_on_both_apis(make_standin, sessions):
    api = sessions(make_standin(version="13.0.0", max_dashboard_bytes=2048))
    big = {**OLD, "description": "x" * 4096}
    answer = api.save(big)
    assert answer.status_code == 413
    assert answer.json() == {"message": "Dashboard is too large, max is 0.00195312 MB", "traceID": ""}
    answer = api.post(dashboards(), json=k8s(big))
    assert answer.status_code == 413 and answer.json()["reason"] == "RequestEntityTooLarge"
    assert sessions(make_standin(version="11.6.0", max_dashboard_bytes=2048)).save(big).status_code == 200


def test_search_lags_writes_by_the_configured_seconds(make_standin, sessions):
    clock = Clock()
    standin = make_standin(version="13.0.0", search_lag=3.0, clock=clock)
    api = sessions(standin)
    api.save(dict(OLD))
    listed = lambda: [hit["uid"] for hit in api.get("/api/search", params={"type": "dash-db"}).json()]  # noqa: E731
    assert listed() == []  # just written: not in the index yet
    clock.now += 3.0
    assert listed() == ["tasks"]
    standin.remove_dashboard("tasks")
    assert listed() == ["tasks"]  # just deleted: still in the index
    assert api.get("/api/dashboards/uid/tasks").status_code == 404  # a read by uid is current
    clock.now += 3.0
    assert listed() == []


# ----- /apis dashboards ---------------------------------------------------------------------

def test_a_save_through_apis_is_migrated_to_42_and_loses_uid_version_and_id(g13, api13):
    spec = {**OLD, "id": 12, "version": 3, "panels": [{"id": 1, "type": "timeseries", "fieldConfig": {
        "defaults": {}, "overrides": [{"matcher": {"id": "byName", "options": "x"},
                                       "properties": [{"id": "custom.hideFrom", "value": {"viz": True}}]}]}}]}
    created = api13.post(dashboards(), json=k8s(spec, folder=""))
    assert created.status_code == 201
    stored = created.json()
    assert stored["spec"]["schemaVersion"] == 42
    assert "uid" not in stored["spec"] and "version" not in stored["spec"] and "id" not in stored["spec"]
    assert "time_options" not in stored["spec"]["timepicker"]
    override = stored["spec"]["panels"][0]["fieldConfig"]["overrides"][0]["properties"][0]
    assert override["value"] == {"viz": True, "tooltip": True}
    assert stored["metadata"]["generation"] == 1
    assert stored["metadata"]["annotations"]["grafana.app/createdBy"] == "service-account:sa-queuedash"
    assert api13.get(f"{dashboards()}/tasks").json()["spec"] == stored["spec"]
    legacy = api13.get("/api/dashboards/uid/tasks").json()
    assert legacy["meta"]["apiVersion"] == "v1" and legacy["dashboard"]["schemaVersion"] == 42


def test_a_legacy_dashboard_is_migrated_when_read_at_v1(g13, api13):
    api13.save(dict(OLD))
    item = api13.get(f"{dashboards()}/tasks").json()
    assert item["spec"]["schemaVersion"] == 42
    assert item["status"] == {"conversion": {"failed": False, "storedVersion": "v0alpha1"}}
    assert api13.get("/api/dashboards/uid/tasks").json()["dashboard"]["schemaVersion"] == 39  # as sent


def test_migration_leaves_42_alone_and_makes_refresh_a_string():
    assert migrate_spec({"schemaVersion": 42, "refresh": False}) == {"schemaVersion": 42, "refresh": False}
    assert migrate_spec({"schemaVersion": 39, "refresh": False})["refresh"] == ""


def test_create_taken_update_stale_and_fresh(g13, api13):
    first = api13.post(dashboards(), json=k8s(dict(OLD))).json()
    taken = api13.post(dashboards(), json=k8s(dict(OLD)))
    assert taken.status_code == 409
    assert taken.json() == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                            "message": 'dashboards.dashboard.grafana.app "tasks" already exists',
                            "reason": "AlreadyExists",
                            "details": {"name": "tasks", "group": "dashboard.grafana.app", "kind": "dashboards"},
                            "code": 409}
    rv = first["metadata"]["resourceVersion"]
    same = api13.put(f"{dashboards()}/tasks", json=k8s(dict(OLD), rv=rv))
    assert same.status_code == 200
    assert same.json()["metadata"]["generation"] == 1  # nothing changed: same generation
    assert same.json()["metadata"]["resourceVersion"] != rv  # but a new resourceVersion
    stale = api13.put(f"{dashboards()}/tasks", json=k8s({**OLD, "title": "New"}, rv=rv))
    assert stale.status_code == 409 and stale.json()["reason"] == "Conflict"
    assert "the object has been modified" in stale.json()["message"]
    fresh = api13.put(f"{dashboards()}/tasks", json=k8s({**OLD, "title": "New"},
                                                        rv=same.json()["metadata"]["resourceVersion"]))
    assert fresh.status_code == 200 and fresh.json()["metadata"]["generation"] == 2
    assert fresh.json()["metadata"]["annotations"]["grafana.app/updatedBy"] == "service-account:sa-queuedash"
    assert api13.put(f"{dashboards()}/tasks", json=k8s(dict(OLD))).status_code == 422  # no resourceVersion


def test_a_dry_run_answers_what_would_be_stored_and_stores_nothing(g13, api13):
    rehearsed = api13.post(dashboards(), params={"dryRun": "All"}, json=k8s(dict(OLD)))
    assert rehearsed.status_code == 201 and rehearsed.json()["spec"]["schemaVersion"] == 42
    assert g13.get_dashboard("tasks") is None and g13.write_count() == 0
    real = api13.post(dashboards(), json=k8s(dict(OLD))).json()
    assert real["spec"] == rehearsed.json()["spec"]
    rv = real["metadata"]["resourceVersion"]
    update = api13.put(f"{dashboards()}/tasks", params={"dryRun": "All"}, json=k8s({**OLD, "title": "B"}, rv=rv))
    assert update.json()["metadata"]["generation"] == 2
    assert g13.get_dashboard("tasks")["title"] == "Tasks" and g13.write_count() == 1


def test_the_list_pages_with_continue_tokens_and_carries_full_specs(g13, api13):
    for index in range(5):
        g13.add_dashboard({"uid": f"d{index}", "title": f"D{index}", "schemaVersion": 39})
    names, token, pages = [], "", 0
    while True:
        params = {"limit": 2, **({"continue": token} if token else {})}
        page = api13.get(dashboards(), params=params).json()
        pages += 1
        assert page["kind"] == "DashboardList"
        names += [item["metadata"]["name"] for item in page["items"]]
        assert all(item["spec"]["schemaVersion"] == 42 for item in page["items"])
        token = page["metadata"].get("continue", "")
        if not token:
            break
    assert (names, pages) == (["d0", "d1", "d2", "d3", "d4"], 3)
    assert api13.get(dashboards(), params={"continue": "not-a-token"}).status_code == 400


def test_a_v2_dashboard_read_at_v1_is_converted_and_says_so(g13, api13):
    api13.save(dict(OLD))
    g13.human_edit("tasks", {"description": "alice"}, login="alice")
    item = api13.get(f"{dashboards()}/tasks").json()
    assert item["status"]["conversion"]["storedVersion"] == "v2"
    assert item["spec"]["description"] == "alice"
    assert item["metadata"]["annotations"]["grafana.app/updatedBy"] == "user:alice"
    assert item["metadata"]["generation"] == 2


def test_delete_answers_a_status(g13, api13):
    api13.post(dashboards(), json=k8s(dict(OLD)))
    gone = api13.delete(f"{dashboards()}/tasks")
    assert gone.status_code == 200 and gone.json()["status"] == "Success"
    assert api13.get(f"{dashboards()}/tasks").status_code == 404


def test_the_namespace_is_the_callers_organisation(g13, sessions):
    g13.add_token("glsa_org2", org_id=2, role="Admin", login="sa-two")
    two = sessions(g13, authorization="Bearer glsa_org2")
    assert two.get(dashboards(namespace="org-2")).status_code == 200
    refused = two.get(dashboards())
    assert refused.status_code == 403 and refused.json()["reason"] == "Forbidden"


def test_a_version_that_is_not_served_is_not_found(make_standin, sessions):
    api = sessions(make_standin(version="12.0.0"))
    assert api.get(dashboards("v1")).status_code == 404
    assert api.get(dashboards("v1beta1")).status_code == 200


# ----- /apis folders ------------------------------------------------------------------------

def test_folders_create_taken_parent_and_access(g13, sessions):
    admin, viewer = sessions(g13), sessions(g13, authorization=f"Bearer {VIEWER_TOKEN}")
    body = {"apiVersion": "folder.grafana.app/v1", "kind": "Folder", "metadata": {"name": "ops"},
            "spec": {"title": "Operations"}}
    assert admin.post(folders(), json=body).status_code == 201
    assert admin.post(folders(), json=body).json()["reason"] == "AlreadyExists"
    child = {**body, "metadata": {"name": "queues", "annotations": {"grafana.app/folder": "ops"}},
             "spec": {"title": "Queues"}}
    created = admin.post(folders(), json=child).json()
    assert created["metadata"]["annotations"]["grafana.app/folder"] == "ops"
    assert g13.get_folder("queues")["parent_uid"] == "ops"
    orphan = {**child, "metadata": {"name": "x", "annotations": {"grafana.app/folder": "missing"}}}
    assert admin.post(folders(), json=orphan).status_code == 400
    assert admin.get(f"{folders()}/ops/access").json()["canSave"] is True
    assert viewer.get(f"{folders()}/ops/access").json()["canSave"] is False
    assert viewer.post(folders(), json={**body, "metadata": {"name": "v"}}).status_code == 403


def test_latency_delays_every_answer(make_standin, sessions):
    api = sessions(make_standin(version="13.0.0", latency=0.05))
    started = time.monotonic()
    api.get("/api/health")
    assert time.monotonic() - started >= 0.05


def test_a_list_page_is_the_json_of_its_items_and_follows_every_write(g13, api13):
    g13.add_dashboard({"uid": "a", "title": "A"})
    first = api13.get(dashboards()).json()
    assert [item["spec"]["title"] for item in first["items"]] == ["A"]
    assert first["items"][0] == api13.get(f"{dashboards()}/a").json()
    g13.human_edit("a", {"title": "A2"}, as_v2=False)
    assert api13.get(dashboards()).json()["items"][0]["spec"]["title"] == "A2"
