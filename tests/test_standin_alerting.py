"""Tests of the stand-in's alerting provisioning API (tests/standin_alerting.py), over real HTTP.

Each test talks to its own stand-in with `requests`; the expected answers are the
ones Grafana's handlers give (contract §11b and the Grafana sources the module cites).
"""

from __future__ import annotations

import pytest
import requests

from grafana_standin import GrafanaStandin
from standin_alerting import UIEditRefused, go_duration, prometheus_duration

ADMIN = "glsa_alerting_admin_000000000000000000_0badc0de"
EDITOR = "glsa_alerting_editor_00000000000000000_0badc0de"
VIEWER = "glsa_alerting_viewer_00000000000000000_0badc0de"
#: An Editor whose organisation took the provenance action away (licensed Enterprise or Cloud).
LOCKED_EDITOR = "glsa_alerting_locked_00000000000000000_0badc0de"
PERMISSIONS = "/api/access-control/user/permissions"
GROUP = "/api/v1/provisioning/folder/celery/rule-groups/Celery%20queues"
RULES = "/api/v1/provisioning/alert-rules"


@pytest.fixture
def make():
    started = []

    def start(version: str = "11.6.0") -> GrafanaStandin:
        standin = GrafanaStandin(version=version)
        standin.add_token(ADMIN, role="Admin")
        standin.add_token(EDITOR, role="Editor")
        standin.add_token(VIEWER, role="Viewer")
        standin.add_token(LOCKED_EDITOR, role="Editor", without_actions=["alert.provisioning.provenance:write"])
        standin.add_folder("celery", "Celery queues")
        started.append(standin.start())
        return standin

    yield start
    for standin in started:
        standin.stop()
        assert not standin.errors, standin.errors[0]


def call(standin, method, path, token=ADMIN, **kwargs):
    headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
    return requests.request(method, standin.url + path, headers=headers, timeout=5, **kwargs)


def rule(uid: str, title: str | None = None, target: str = "sumSeries(a.b)", **extra) -> dict:
    return {
        "uid": uid, "title": uid if title is None else title, "condition": "C", "noDataState": "OK", "execErrState": "Error",
        "for": "1m", "annotations": {"summary": "s"}, "labels": {"team": "t"},
        "data": [
            {"refId": "A", "relativeTimeRange": {"from": 600, "to": 0}, "datasourceUid": "graphite",
             "model": {"refId": "A", "target": target}},
            {"refId": "C", "relativeTimeRange": {"from": 0, "to": 0}, "datasourceUid": "__expr__",
             "model": {"refId": "C", "type": "threshold", "expression": "A",
                       "conditions": [{"evaluator": {"type": "gt", "params": [0]}}]}},
        ],
        **extra,
    }


def group(*rules_, interval: int = 60) -> dict:
    return {"title": "Celery queues", "folderUid": "celery", "interval": interval, "rules": list(rules_)}


def test_a_whole_group_put_creates_then_writes_nothing_when_nothing_changed(make):
    grafana = make()
    first = call(grafana, "PUT", GROUP, json=group(rule("r1"), rule("r2")))
    assert first.status_code == 200
    assert first.json()["rules"][0]["for"] == "1m" and first.json()["title"] == "Celery queues"
    stored = call(grafana, "GET", GROUP).json()
    assert stored["interval"] == 60 and [r["uid"] for r in stored["rules"]] == ["r1", "r2"]
    assert "provenance" not in stored["rules"][0]            # the group answer leaves it out
    # PreSave writes the defaults into the model.
    assert stored["rules"][0]["data"][0]["model"]["maxDataPoints"] == 43200
    assert stored["rules"][0]["data"][0]["model"]["intervalMs"] == 1000
    versions = [grafana.alerting.version(uid) for uid in ("r1", "r2")]
    assert call(grafana, "PUT", GROUP, json=group(rule("r1"), rule("r2"))).status_code == 200
    assert [grafana.alerting.version(uid) for uid in ("r1", "r2")] == versions


def test_rules_left_out_are_deleted_and_changed_ones_updated(make):
    grafana = make()
    call(grafana, "PUT", GROUP, json=group(rule("r1"), rule("r2")))
    answer = call(grafana, "PUT", GROUP, json=group(rule("r1", target="sumSeries(c.d)"), interval=120))
    assert answer.status_code == 200
    assert grafana.alerting.rule("r2") is None
    assert grafana.alerting.rule("r1")["data"][0]["model"]["target"] == "sumSeries(c.d)"
    assert grafana.alerting.version("r1") == 2 and grafana.alerting.interval("celery", "Celery queues") == 120


def test_an_empty_rules_list_changes_only_the_interval(make):
    grafana = make()
    call(grafana, "PUT", GROUP, json=group(rule("r1")))
    assert call(grafana, "PUT", GROUP, json=group(interval=30)).status_code == 200
    assert grafana.alerting.rule("r1") is not None
    assert grafana.alerting.interval("celery", "Celery queues") == 30


def test_a_rule_with_a_known_uid_moves_into_the_group(make):
    grafana = make()
    grafana.alerting.add_rule(rule("r1"), "celery", "other", provenance="api")
    call(grafana, "PUT", GROUP, json=group(rule("r1")))
    assert grafana.alerting.rule("r1")["ruleGroup"] == "Celery queues"
    assert call(grafana, "GET", "/api/v1/provisioning/folder/celery/rule-groups/other").status_code == 404


@pytest.mark.parametrize("body, message", [
    (group(rule("r1"), interval=45), "invalid alert rule: interval (45s) should be non-zero and divided exactly "
                                     "by scheduler interval: 10"),
    (group(rule("r1"), interval=65), "interval (1m5s)"),
    (group(rule("bad uid")), "cannot create rule with UID 'bad uid': uid contains illegal characters"),
    (group(rule("r" * 41)), "uid too long, max 40 characters"),
    (group(rule("r1", title="")), "invalid alert rule: title is empty"),
    (group(rule("r1", noDataState="Sometimes")), "invalid alert rule: unknown NoData state option Sometimes"),
    (group(rule("r1", labels={"grafana_folder": "x"})), "system reserved label grafana_folder cannot be defined"),
    (group(rule("r1", annotations={"__dashboardUid__": "d"})),
     "invalid alert rule: both annotations __dashboardUid__ and __panelId__ must be specified"),
])
def test_validation_errors_are_400_with_grafanas_words(make, body, message):
    grafana = make()
    answer = call(grafana, "PUT", GROUP, json=body)
    assert answer.status_code == 400
    assert message in answer.json()["message"] and answer.json()["traceID"] == ""
    assert grafana.alerting.rules() == []


def test_a_query_must_read_back_in_time(make):
    grafana = make()
    broken = rule("r1")
    broken["data"][0]["relativeTimeRange"] = {"from": 0, "to": 0}
    answer = call(grafana, "PUT", GROUP, json=group(broken))
    assert answer.status_code == 400
    assert "invalid relative time range [From: 0s, To: 0s]" in answer.json()["message"]


def test_a_lone_dashboard_link_is_a_500_on_10(make):
    grafana = make("10.4.1")
    answer = call(grafana, "PUT", GROUP, json=group(rule("r1", annotations={"__panelId__": "3"})))
    assert answer.status_code == 500


def test_bodies_that_do_not_bind_are_bad_request_data(make):
    grafana = make()
    for body in ({"interval": "1m", "rules": []}, group(rule("r1", **{"for": "soon"})), {"rules": "x"}):
        answer = call(grafana, "PUT", GROUP, json=body)
        assert (answer.status_code, answer.json()["message"]) == (400, "bad request data")
    answer = call(grafana, "PUT", GROUP, data="{}", headers={"Content-Type": "text/plain"})
    assert answer.status_code == 400


def test_provenance_api_rules_cannot_be_changed_without_it(make):
    grafana = make()
    call(grafana, "PUT", GROUP, json=group(rule("r1")))
    assert grafana.alerting.rule("r1")["provenance"] == "api"
    disabled = {"X-Disable-Provenance": "true"}
    answer = call(grafana, "PUT", GROUP, json=group(rule("r1", target="x.y")), headers=disabled)
    assert answer.status_code == 409
    assert answer.json()["messageId"] == "alerting.provenanceMismatch"
    assert answer.json()["message"] == "cannot update with provided provenance '', needs 'api'"
    assert call(grafana, "DELETE", f"{RULES}/r1", headers=disabled).status_code == 409
    assert call(grafana, "DELETE", f"{RULES}/r1").status_code == 204
    assert call(grafana, "DELETE", f"{RULES}/r1").status_code == 204   # idempotent


def test_without_provenance_a_rule_stays_editable_and_api_takes_it_over(make):
    grafana = make()
    created = call(grafana, "POST", RULES, json={**rule("r1"), "folderUID": "celery", "ruleGroup": "hand"},
                   headers={"X-Disable-Provenance": "1"})
    assert created.status_code == 201 and "provenance" not in created.json()
    grafana.alerting.ui_edit("r1", {"title": "renamed by alice"})
    assert grafana.alerting.rule("r1")["title"] == "renamed by alice"
    call(grafana, "PUT", "/api/v1/provisioning/folder/celery/rule-groups/hand", json=group(rule("r1")) | {
        "title": "hand"})
    assert grafana.alerting.rule("r1")["provenance"] == "api"
    with pytest.raises(UIEditRefused):
        grafana.alerting.ui_edit("r1", {"title": "again"})


def test_reads(make):
    grafana = make()
    assert call(grafana, "GET", RULES).json() == []
    call(grafana, "PUT", GROUP, json=group(rule("r1")))
    [listed] = call(grafana, "GET", RULES).json()
    assert (listed["uid"], listed["folderUID"], listed["ruleGroup"], listed["provenance"]) == \
        ("r1", "celery", "Celery queues", "api")
    assert list(listed)[:5] == ["id", "uid", "orgID", "folderUID", "ruleGroup"]
    assert call(grafana, "GET", f"{RULES}/r1").json()["title"] == "r1"
    missing = call(grafana, "GET", f"{RULES}/nope")
    assert missing.status_code == 404 and missing.content == b""


@pytest.mark.parametrize("version, body", [
    ("10.4.1", {"message": "rulegroup not found", "traceID": ""}),
    ("11.6.0", {"extra": None, "message": "Not found", "messageId": "alerting.alert-rule.notFound",
                "statusCode": 404, "traceID": ""}),
])
def test_a_group_without_rules_is_404(make, version, body):
    answer = call(make(version), "GET", GROUP)
    assert answer.status_code == 404 and answer.json() == body


READS = (("GET", RULES), ("GET", GROUP))
WRITES = (("PUT", GROUP), ("DELETE", f"{RULES}/r1"))


def _statuses(grafana, token, calls) -> list[int]:
    return [call(grafana, method, path, token=token, json=group(rule("r1"))).status_code for method, path in calls]


def test_up_to_10_only_admins_may_use_the_provisioning_api(make):
    grafana = make("10.4.1")
    for token in (EDITOR, VIEWER):
        for method, path in READS + WRITES:
            answer = call(grafana, method, path, token=token, json=group(rule("r1")))
            assert answer.status_code == 403, (token, method, path)
            assert "alert.provisioning:" in answer.json()["message"]
    assert _statuses(grafana, ADMIN, WRITES) == [200, 204]


@pytest.mark.parametrize("version", ["11.6.0", "13.0.0"])
def test_from_11_editors_may_use_it_viewers_may_read(make, version):
    grafana = make(version)
    assert _statuses(grafana, EDITOR, WRITES + READS) == [200, 204, 200, 404]
    assert _statuses(grafana, VIEWER, READS) == [200, 404]
    assert _statuses(grafana, VIEWER, WRITES) == [403, 403]
    # Without the provenance action (taken from Editors in some Enterprise setups) no write passes.
    assert _statuses(grafana, LOCKED_EDITOR, READS) == [200, 404]
    denied = call(grafana, "PUT", GROUP, token=LOCKED_EDITOR, json=group(rule("r1")))
    assert denied.status_code == 403 and "alert.provisioning:write" in denied.json()["message"]


@pytest.mark.parametrize("version, editor_may_provision", [("10.4.1", False), ("13.0.0", True)])
def test_the_callers_permissions_are_listed(make, version, editor_may_provision):
    grafana = make(version)
    admin = call(grafana, "GET", PERMISSIONS).json()
    assert admin["alert.provisioning:write"] == [""] and admin["alert.rules:create"] == ["folders:*"]
    editor = call(grafana, "GET", PERMISSIONS, token=EDITOR).json()
    assert "alert.provisioning:write" not in editor and editor["alert.rules:write"] == ["folders:*"]
    assert ("alert.provisioning.provenance:write" in editor) is editor_may_provision
    assert list(editor) == sorted(editor)
    viewer = call(grafana, "GET", PERMISSIONS, token=VIEWER).json()
    assert viewer["alert.rules:read"] == ["folders:*"] and "alert.rules:create" not in viewer


def test_durations_print_as_grafana_prints_them():
    assert [prometheus_duration(s) for s in (0, 60, 90, 3600, 5400, 604800)] == \
        ["0s", "1m", "1m30s", "1h", "1h30m", "1w"]
    assert [go_duration(s) for s in (0, 5, 65, 3600)] == ["0s", "5s", "1m5s", "1h0m0s"]
