"""The client's Grafana 12-13 side (contract §11a) over real HTTP against the stand-in:
discovery, the /apis client, and Kubernetes Status, 406, 409 and 413 answers as one line
and the right exception class (keyed on status and reason, never on the message).
"""

from __future__ import annotations

import pytest

from queuedash.grafana import errors
from queuedash.grafana.apis import ApisClient, Served, namespace_for
from test_grafana_client import connect, failure, sleeps  # noqa: F401 (fixtures)
from test_deploy_support import grafana, make_grafana, no_secret_leaks  # noqa: F401 (fixtures)

OLD = {"uid": "tasks", "title": "Tasks", "schemaVersion": 39}


@pytest.mark.parametrize("version, dashboards, folders", [
    ("10.4.0", None, None), ("11.6.0", None, None), ("12.0.0", "v1beta1", "v1beta1"), ("13.0.0", "v1", "v1"),
])
def test_discovery_picks_the_versions_deploy_can_use(make_grafana, connect, version, dashboards, folders):
    served = Served.from_discovery(connect(make_grafana(version)).discover())
    assert (served.dashboard_version, served.folder_version) == (dashboards, folders)
    assert served.usable == (dashboards is not None)


def test_namespaces_follow_the_organisation():
    assert [namespace_for(org) for org in (1, 2, 17)] == ["default", "org-2", "org-17"]


def test_a_dynamic_dashboard_on_the_legacy_get_is_its_own_error(make_grafana, connect, no_secret_leaks):
    standin = make_grafana("13.0.0")
    client = connect(standin)
    client.save_dashboard(dict(OLD), "", "m")
    standin.human_edit("tasks")
    error = failure(no_secret_leaks, lambda: client.get_dashboard("tasks"), errors.UnsupportedApiVersion)
    assert str(error) == ("stored as a dynamic dashboard (schema v2), which the legacy API does not serve (GET "
                          "/api/dashboards/uid/tasks answered 406: dashboard api version not supported, use "
                          "/apis/dashboard.grafana.app/v2/namespaces/default/dashboards/tasks instead)")


def test_a_stale_save_on_13_is_a_conflict(make_grafana, connect, no_secret_leaks):
    client = connect(make_grafana("13.0.0"))
    client.save_dashboard(dict(OLD), "", "m")
    error = failure(no_secret_leaks, lambda: client.save_dashboard({**OLD, "version": 9}, "", "m"), errors.Conflict)
    assert error.status == 409 and error.reason == ""
    assert str(error) == ("POST /api/dashboards/db answered 409: Dashboard already exists. Use overwrite flag to "
                          "update.")


def test_kubernetes_status_bodies_key_on_reason_and_read_as_one_line(make_grafana, connect, no_secret_leaks):
    standin = make_grafana("13.0.0")
    client = connect(standin)
    apis = ApisClient(client, "default", "v1", "v1")
    created = apis.create_dashboard(apis.dashboard_object("tasks", dict(OLD), folder_uid="", message="m"))
    taken = failure(no_secret_leaks, lambda: apis.create_dashboard(
        apis.dashboard_object("tasks", dict(OLD), folder_uid="", message="m")), errors.AlreadyExists)
    assert (taken.status, taken.reason, taken.status_text) == (409, "AlreadyExists", "")
    assert str(taken) == ('POST /apis/dashboard.grafana.app/v1/namespaces/default/dashboards answered 409 '
                          'AlreadyExists: dashboards.dashboard.grafana.app "tasks" already exists')
    stale = apis.dashboard_object("tasks", {**OLD, "title": "B"}, folder_uid="", message="m", resource_version="999")
    conflict = failure(no_secret_leaks, lambda: apis.update_dashboard("tasks", stale), errors.Conflict)
    assert conflict.reason == "Conflict" and not isinstance(conflict, errors.AlreadyExists)
    multi_line = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                  "message": "Dashboard.dashboard.grafana.app \"tasks\" is invalid:\n  spec.title: Required value\n",
                  "reason": "Invalid", "code": 422}
    standin.fail_next(1, 422, body=multi_line)
    invalid = failure(no_secret_leaks, lambda: apis.get_dashboard("tasks"), errors.Rejected)
    assert "\n" not in str(invalid)
    assert str(invalid).endswith('answered 422 Invalid: Dashboard.dashboard.grafana.app "tasks" is invalid: '
                                 'spec.title: Required value')
    assert created["metadata"]["name"] == "tasks"


def test_413_is_too_large_on_both_apis(make_grafana, connect, no_secret_leaks):
    client = connect(make_grafana("13.0.0", max_dashboard_bytes=100))
    big = {**OLD, "description": "x" * 200}
    legacy = failure(no_secret_leaks, lambda: client.save_dashboard(big, "", "m"), errors.TooLarge)
    assert str(legacy).startswith("Grafana refused it as too large (POST /api/dashboards/db answered 413: ")
    apis = ApisClient(client, "default", "v1", "v1")
    failure(no_secret_leaks, lambda: apis.create_dashboard(apis.dashboard_object("tasks", big, folder_uid="",
                                                                                  message="m")), errors.TooLarge)


def test_the_list_follows_continue_tokens(make_grafana, connect):
    standin = make_grafana("13.0.0")
    for index in range(7):
        standin.add_dashboard({"uid": f"d{index}", "title": f"D{index}"})
    standin.clear_request_log()
    items = ApisClient(connect(standin), "default", "v1", "v1").list_dashboards(page_size=3)
    assert [item["metadata"]["name"] for item in items] == [f"d{index}" for index in range(7)]
    assert [e["query"].get("continue") is not None for e in standin.request_log] == [False, True, True]
