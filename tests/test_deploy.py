"""`queuedash deploy` and `queuedash diff` through CliRunner, against the Grafana stand-in.

Every test talks real HTTP to tests/grafana_standin.py; after every test the
autouse `no_secret_leaks` fixture asserts that no token or password appears in
any output, exception or log line.
"""

from __future__ import annotations

import json

import pytest

from functools import partial

from queuedash.deploy.apply import apply_plan
from queuedash.deploy.legacy import LegacyStore
from queuedash.grafana.client import GrafanaClient, RetryPolicy
from queuedash.grafana.credentials import Credentials
from queuedash.deploy.plan import CONFLICT, make_plan, plan_dashboard
from test_deploy_support import (ADMIN_TOKEN, EDITOR_TOKEN, PASSWORD, PROJECT, USER, VIEWER_TOKEN, closed_port,
                                 define, marker_value, point_at, saves, writes)
# Fixtures (pytest finds them by name in this module's namespace):
from test_deploy_support import grafana, make_grafana, no_secret_leaks, project, queuedash  # noqa: F401

ANSWER, SECOND = "queuedash-answer", "queuedash-second"


# ----- the happy path -----------------------------------------------------------------------

def test_first_deploy_creates_the_folder_and_every_dashboard(project, grafana, queuedash):
    run = queuedash("deploy")
    assert run.exit_code == 0, run
    assert run.lines[-1] == "deploy: 2 added, 0 updated, 0 unchanged, 0 conflict, 0 failed"
    assert run.status_of(ANSWER) == "added" and run.status_of(SECOND) == "added"
    assert grafana.get_folder("celery")["title"] == "Celery queues"
    stored = grafana.get_dashboard(ANSWER)
    assert stored["folder_uid"] == "celery" and stored["version"] == 1
    assert marker_value(stored["data"]).startswith("sha256:")
    # The marker is hidden and constant (a person never sees or changes it by accident).
    marker = [v for v in stored["data"]["templating"]["list"] if v["name"] == "queuedash"][0]
    assert (marker["type"], marker["hide"]) == ("constant", 2)


def test_first_deploy_creates_nested_parent_folders(project, grafana, queuedash):
    (project / "queuedash.toml").write_text(
        f'queues = ["default"]\n[grafana]\nproject = "{PROJECT}"\nfolder_uid = "celery"\nfolder_title = "Celery queues"\n'
        'parent_folders = [{ uid = "ops", title = "Operations" }, { uid = "ops-queues", title = "Queues" }]\n')
    run = queuedash("deploy")
    assert run.exit_code == 0, run
    assert grafana.get_folder("ops")["parent_uid"] == ""
    assert grafana.get_folder("ops-queues")["parent_uid"] == "ops"
    assert grafana.get_folder("celery")["parent_uid"] == "ops-queues"
    assert grafana.get_dashboard(ANSWER)["folder_uid"] == "celery"
    # Once they exist, they are only read.
    before = len(writes(grafana))
    assert queuedash("deploy").exit_code == 0
    assert len(writes(grafana)) == before


def test_a_second_deploy_writes_nothing(project, grafana, queuedash):
    assert queuedash("deploy").exit_code == 0
    before = grafana.write_count()
    run = queuedash("deploy")
    assert run.exit_code == 0, run
    assert grafana.write_count() == before
    assert run.lines[-1] == "deploy: 0 added, 0 updated, 2 unchanged, 0 conflict, 0 failed"


def test_a_changed_definition_updates_exactly_that_dashboard(project, grafana, queuedash):
    assert queuedash("deploy").exit_code == 0
    grafana.clear_request_log()
    define(project, "answer", "Answer", panel="The answer", value=43)
    run = queuedash("deploy")
    assert run.exit_code == 0, run
    assert run.status_of(ANSWER) == "updated" and run.status_of(SECOND) == "unchanged"
    [save] = saves(grafana)
    # The live version is sent back, never a blind overwrite (§3.4).
    assert save["body"]["dashboard"]["uid"] == ANSWER
    assert save["body"]["dashboard"]["version"] == 1
    assert save["body"]["overwrite"] is False
    assert save["body"]["folderUid"] == "celery"
    assert grafana.get_dashboard(ANSWER)["version"] == 2
    assert "constantLine(43)" in json.dumps(grafana.get_dashboard(ANSWER)["data"])
    assert "version 1 -> 2" in run.stdout


def test_dry_run_writes_nothing(project, grafana, queuedash):
    run = queuedash("deploy", "--dry-run")
    assert run.exit_code == 0, run
    assert grafana.write_count() == 0
    assert "folder    celery  Celery queues  (missing; would be created)" in run.stdout
    assert run.lines[-1] == "deploy (dry run, nothing written): 2 added, 0 updated, 0 unchanged, 0 conflict, 0 failed"
    assert queuedash("deploy").exit_code == 0
    define(project, "answer", "Answer", value=7)
    grafana.human_edit(SECOND, {"description": "a person was here"})
    before = grafana.write_count()
    run = queuedash("deploy", "--dry-run", "--force")
    assert grafana.write_count() == before
    assert run.status_of(ANSWER) == "updated" and run.status_of(SECOND) == "updated"


def test_jobs_1_and_the_default_give_the_same_result(project, make_grafana, monkeypatch, queuedash):
    for name in ("third", "fourth", "fifth"):
        define(project, name, name.title())
    results = []
    for jobs in ("1", "4"):
        standin = make_grafana()
        point_at(monkeypatch, standin)
        first = queuedash("deploy", "--jobs", jobs)
        define(project, "third", "Third", value=3)
        second = queuedash("deploy", "--jobs", jobs)
        define(project, "third", "Third")
        results.append(([first.lines[1:], second.lines[1:]], sorted(d["uid"] for d in standin.dashboards())))
    assert results[0] == results[1]


def test_deploy_from_built_json_files(project, grafana, queuedash):
    assert queuedash("build").exit_code == 0
    run = queuedash("deploy", "--from", "build/dashboards", "--only", SECOND)
    assert run.exit_code == 0, run
    assert [d["uid"] for d in grafana.dashboards()] == [SECOND]


def test_a_dashboard_with_the_marker_name_as_a_variable_fails_alone(project, grafana, queuedash):
    assert queuedash("build").exit_code == 0
    path = project / "build" / "dashboards" / f"{ANSWER}.json"
    data = json.loads(path.read_text())
    data["templating"]["list"].append({"name": "queuedash", "type": "textbox", "query": ""})
    path.write_text(json.dumps(data))
    run = queuedash("deploy", "--from", "build/dashboards")
    assert run.exit_code == 1
    assert run.status_of(ANSWER) == "failed" and run.status_of(SECOND) == "added"


# ----- overwrite protection -----------------------------------------------------------------

def test_a_ui_edit_is_a_conflict_and_survives_until_forced(project, grafana, queuedash):
    assert queuedash("deploy").exit_code == 0
    grafana.human_edit(ANSWER, {"description": "alice's note"}, login="alice")
    define(project, "answer", "Answer", value=44)  # the definition moved on as well
    before = grafana.write_count()

    run = queuedash("deploy")
    assert run.exit_code == 1, run
    assert run.status_of(ANSWER) == "conflict" and run.status_of(SECOND) == "unchanged"
    assert "changed in Grafana by alice" in run.stdout and "--force overwrites it" in run.stdout
    assert run.lines[-1] == "deploy: 0 added, 0 updated, 1 unchanged, 1 conflict, 0 failed"
    assert grafana.write_count() == before
    assert grafana.get_dashboard(ANSWER)["data"]["description"] == "alice's note"
    assert "Error" not in run.output  # the summary says it all; no second message

    shown = queuedash("deploy", "--show-diff")
    assert '-  "description": "alice\'s note",' in shown.stdout
    assert "--- grafana/queuedash-answer.json" in shown.stdout
    assert "+++ generated/queuedash-answer.json" in shown.stdout

    forced = queuedash("deploy", "--force")
    assert forced.exit_code == 0, forced
    assert forced.status_of(ANSWER) == "updated"
    stored = grafana.get_dashboard(ANSWER)
    assert "alice's note" not in json.dumps(stored["data"])
    assert queuedash("deploy").lines[-1] == "deploy: 0 added, 0 updated, 2 unchanged, 0 conflict, 0 failed"


def test_a_dashboard_queuedash_did_not_deploy_is_never_overwritten(project, grafana, queuedash):
    grafana.add_folder("celery", "Celery queues")
    grafana.add_dashboard({"uid": ANSWER, "title": "Somebody else's", "panels": []}, folder_uid="celery")
    run = queuedash("deploy")
    assert run.exit_code == 1
    assert run.status_of(ANSWER) == "conflict"
    assert "no queuedash marker" in run.stdout
    assert grafana.get_dashboard(ANSWER)["title"] == "Somebody else's"


def test_a_version_bump_without_change_is_not_a_conflict(project, grafana, queuedash):
    assert queuedash("deploy").exit_code == 0
    grafana.human_edit(ANSWER)  # saved in the UI without changing anything
    assert queuedash("deploy").status_of(ANSWER) == "unchanged"


def test_a_save_between_read_and_write_is_caught_by_grafana_412(project, grafana, queuedash):
    assert queuedash("deploy").exit_code == 0
    define(project, "answer", "Answer", value=45)
    from queuedash.compile.build import build_all
    from queuedash.settings import load

    generated = [b.data for b in build_all(load(project / "queuedash.toml"))]
    with GrafanaClient(grafana.url, Credentials(token=ADMIN_TOKEN), retry=RetryPolicy(retries=0)) as client:
        store = LegacyStore(client)
        live = {r.uid: r.live for r in store.read([ANSWER, SECOND], jobs=1)}
        steps = make_plan(generated, live, "celery", project=PROJECT)
        grafana.human_edit(ANSWER, {"description": "saved meanwhile"}, login="bob")  # after we read it
        replan = partial(plan_dashboard, folder_uid="celery", project=PROJECT)
        outcomes = {o.uid: o for o in apply_plan(store, steps, "celery", replan=replan)}
    assert outcomes[ANSWER].status == CONFLICT
    assert "412 version-mismatch" in outcomes[ANSWER].detail
    assert grafana.get_dashboard(ANSWER)["data"]["description"] == "saved meanwhile"


def test_a_moved_dashboard_goes_back_to_its_folder(project, grafana, queuedash):
    assert queuedash("deploy").exit_code == 0
    grafana.add_folder("elsewhere", "Elsewhere")
    stored = grafana.get_dashboard(ANSWER)
    grafana.add_dashboard(stored["data"], folder_uid="elsewhere")  # same JSON, other folder
    run = queuedash("deploy")
    assert run.status_of(ANSWER) == "updated" and "moved back" in run.stdout
    assert grafana.get_dashboard(ANSWER)["folder_uid"] == "celery"


# ----- prune --------------------------------------------------------------------------------

def test_prune_deletes_only_marked_dashboards_no_longer_generated(project, grafana, queuedash):
    assert queuedash("deploy").exit_code == 0
    grafana.add_dashboard({"uid": "hand-made", "title": "Hand made", "panels": []}, folder_uid="celery")
    (project / "dashboards" / "second.py").unlink()

    listed = queuedash("deploy")
    assert listed.exit_code == 0, listed
    assert listed.status_of(SECOND) == "stale"
    assert "hand-made" not in listed.stdout
    assert grafana.get_dashboard(SECOND) is not None
    assert listed.lines[-1] == "deploy: 0 added, 0 updated, 1 unchanged, 0 conflict, 0 failed, 1 stale"

    pruned = queuedash("deploy", "--prune")
    assert pruned.exit_code == 0, pruned
    assert pruned.status_of(SECOND) == "deleted"
    assert pruned.lines[-1] == "deploy: 0 added, 0 updated, 1 unchanged, 0 conflict, 0 failed, 1 deleted"
    assert grafana.get_dashboard(SECOND) is None
    assert grafana.get_dashboard("hand-made") is not None  # not queuedash's: never deleted
    assert [e["route_path"] for e in grafana.request_log if e["method"] == "DELETE"] == [
        f"/api/dashboards/uid/{SECOND}"]


def test_prune_keeps_a_stale_dashboard_a_person_edited_unless_forced(project, grafana, queuedash):
    assert queuedash("deploy").exit_code == 0
    grafana.human_edit(SECOND, {"description": "still in use"})
    (project / "dashboards" / "second.py").unlink()
    run = queuedash("deploy", "--prune")
    assert run.exit_code == 1
    assert run.status_of(SECOND) == "conflict"
    assert grafana.get_dashboard(SECOND) is not None
    forced = queuedash("deploy", "--prune", "--force")
    assert forced.status_of(SECOND) == "deleted"
    assert grafana.get_dashboard(SECOND) is None


def test_prune_with_only_is_a_usage_error(project, grafana, queuedash):
    run = queuedash("deploy", "--prune", "--only", "answer")
    assert run.exit_code == 2
    assert grafana.write_count() == 0


# ----- retries and failures -----------------------------------------------------------------

def test_503_twice_then_success(project, grafana, queuedash):
    grafana.fail_next(2, 503, path_prefix="/api/dashboards/db")
    run = queuedash("deploy", "--jobs", "1")
    assert run.exit_code == 0, run
    assert run.lines[-1] == "deploy: 2 added, 0 updated, 0 unchanged, 0 conflict, 0 failed"
    assert [e["status"] for e in saves(grafana)] == [503, 503, 200, 200]


def test_429_waits_as_long_as_retry_after_says(project, grafana, queuedash):
    assert queuedash("deploy").exit_code == 0
    define(project, "answer", "Answer", value=1)
    grafana.fail_next(1, 429, body={"message": "Too Many Requests"}, path_prefix="/api/dashboards/db",
                      headers={"Retry-After": "1"})
    run = queuedash("deploy")  # --max-backoff 0.01: only Retry-After can make it wait a second
    assert run.exit_code == 0, run
    assert run.seconds >= 1.0
    assert run.status_of(ANSWER) == "updated"


def test_other_4xx_are_not_retried(project, grafana, queuedash):
    grafana.fail_next(1, 400, body={"message": "folder not found"}, path_prefix="/api/dashboards/db")
    run = queuedash("deploy", "--jobs", "1")
    assert run.exit_code == 1
    assert run.status_of(ANSWER) == "failed"
    assert "POST /api/dashboards/db answered 400: folder not found" in run.stdout
    assert run.status_of(SECOND) == "added"  # one failure does not stop the others
    assert len(saves(grafana)) == 2


def test_a_dropped_connection_is_retried(project, grafana, queuedash):
    grafana.drop_next(1, path_prefix="/api/dashboards/db")
    run = queuedash("deploy")
    assert run.exit_code == 0, run
    assert len(grafana.dashboards()) == 2


def test_a_save_whose_answer_was_lost_is_confirmed_not_reported_as_conflict(project, grafana, queuedash):
    grafana.drop_next(1, path_prefix="/api/dashboards/db", after_processing=True)
    run = queuedash("deploy", "--jobs", "1")
    assert run.exit_code == 0, run
    assert "confirmed after a retry" in run.stdout
    assert run.lines[-1] == "deploy: 2 added, 0 updated, 0 unchanged, 0 conflict, 0 failed"


def test_a_connection_that_keeps_dropping_fails_that_dashboard_only(project, grafana, queuedash):
    grafana.drop_next(10, path_prefix=f"/api/dashboards/uid/{ANSWER}")
    run = queuedash("deploy", "--retries", "2")
    assert run.exit_code == 1
    assert run.status_of(ANSWER) == "failed" and "(3 attempts)" in run.stdout
    assert run.status_of(SECOND) == "added"
    assert run.lines[-1] == "deploy: 1 added, 0 updated, 0 unchanged, 0 conflict, 1 failed"


def test_a_title_taken_in_the_folder_on_grafana_11_2_fails_that_dashboard(make_grafana, project, monkeypatch,
                                                                           queuedash):
    old = make_grafana("11.2.0")  # unique titles per folder, up to 11.2 (§3.2 step 8)
    point_at(monkeypatch, old)
    old.add_folder("celery", "Celery queues")
    old.add_dashboard({"uid": "someone-else", "title": "Answer"}, folder_uid="celery")
    run = queuedash("deploy")
    assert run.exit_code == 1
    assert run.status_of(ANSWER) == "failed" and "412 name-exists" in run.stdout
    assert run.status_of(SECOND) == "added"


# ----- start checks: nothing is written when they fail --------------------------------------

def test_a_bad_token_is_one_line_before_any_write(project, grafana, monkeypatch, queuedash):
    monkeypatch.setenv("GRAFANA_TOKEN", "glsa_NotATokenGrafanaKnows0000000000_12345678")
    run = queuedash("deploy")
    assert run.exit_code == 1
    assert run.stderr.strip().splitlines() == [
        "Error: Grafana does not know the token in GRAFANA_TOKEN "
        "(GET /api/org answered 401 api-key.invalid: Invalid API key)"]
    assert grafana.write_count() == 0
    assert "NotATokenGrafanaKnows" not in run.output


def test_no_credentials_at_all(project, grafana, monkeypatch, queuedash):
    monkeypatch.delenv("GRAFANA_TOKEN")
    run = queuedash("deploy")
    assert run.exit_code == 1
    assert "set GRAFANA_TOKEN" in run.stderr and "401 auth.unauthorized" in run.stderr


def test_a_viewer_token_is_refused_before_any_write(project, grafana, monkeypatch, queuedash):
    grafana.add_folder("celery", "Celery queues")
    monkeypatch.setenv("GRAFANA_TOKEN", VIEWER_TOKEN)
    run = queuedash("deploy")
    assert run.exit_code == 1
    assert "may not save dashboards in folder 'celery'" in run.stderr
    assert "Editor role" in run.stderr
    assert grafana.write_count() == 0


def test_a_viewer_token_cannot_create_the_folder(project, grafana, monkeypatch, queuedash):
    monkeypatch.setenv("GRAFANA_TOKEN", VIEWER_TOKEN)
    run = queuedash("deploy")
    assert run.exit_code == 1
    assert "POST /api/folders answered 403" in run.stderr
    assert grafana.folders() == [] and grafana.dashboards() == []
    assert len(run.stderr.strip().splitlines()) == 1


def test_an_editor_token_and_basic_auth_both_deploy(project, grafana, monkeypatch, queuedash):
    monkeypatch.setenv("GRAFANA_TOKEN", EDITOR_TOKEN)
    assert queuedash("deploy", "--only", "answer").exit_code == 0
    monkeypatch.delenv("GRAFANA_TOKEN")
    monkeypatch.setenv("GRAFANA_USER", USER)
    monkeypatch.setenv("GRAFANA_PASSWORD", PASSWORD)
    run = queuedash("deploy")
    assert run.exit_code == 0, run
    assert run.status_of(SECOND) == "added"
    assert grafana.request_log[-1]["headers"]["Authorization"].startswith("Basic ")


def test_a_wrong_password_is_one_line(project, grafana, monkeypatch, queuedash):
    monkeypatch.delenv("GRAFANA_TOKEN")
    monkeypatch.setenv("GRAFANA_USER", USER)
    monkeypatch.setenv("GRAFANA_PASSWORD", PASSWORD + "-wrong")
    run = queuedash("deploy")
    assert run.exit_code == 1
    assert "refused the user name and password" in run.stderr
    assert "-wrong" not in run.output


def test_a_closed_port_is_one_line(project, monkeypatch, queuedash):
    monkeypatch.setenv("GRAFANA_URL", f"http://127.0.0.1:{closed_port()}")
    run = queuedash("deploy", "--retries", "1")
    assert run.exit_code == 1
    [line] = run.stderr.strip().splitlines()
    assert line.startswith("Error: cannot reach Grafana at http://127.0.0.1:")
    assert "Connection refused" in line and "(2 attempts)" in line
    assert "Traceback" not in run.output


def test_a_url_missing_its_sub_path_is_not_grafana(make_grafana, project, monkeypatch, queuedash):
    behind_proxy = make_grafana(sub_path="grafana")
    monkeypatch.setenv("GRAFANA_URL", f"http://127.0.0.1:{behind_proxy.port}")
    run = queuedash("deploy")
    assert run.exit_code == 1
    assert "does not look like Grafana" in run.stderr and "sub-path" in run.stderr
    assert behind_proxy.write_count() == 0


def test_an_unhealthy_grafana_is_retried_then_one_line(project, grafana, queuedash):
    grafana.health_status(503)
    run = queuedash("deploy", "--retries", "2")
    assert run.exit_code == 1
    assert "is not healthy" in run.stderr
    assert [e["route_path"] for e in grafana.request_log] == ["/api/health"] * 3


def test_a_url_with_credentials_in_it_is_refused(project, monkeypatch, queuedash):
    monkeypatch.setenv("GRAFANA_URL", f"http://admin:{PASSWORD}@127.0.0.1:3000")
    run = queuedash("deploy")
    assert run.exit_code == 1
    assert "carries credentials" in run.stderr


def test_the_org_id_header_is_sent_only_when_configured(project, grafana, monkeypatch, queuedash):
    assert queuedash("deploy", "--only", "answer").exit_code == 0
    assert all("X-Grafana-Org-Id" not in e["headers"] for e in grafana.request_log)
    monkeypatch.setenv("GRAFANA_ORG_ID", "1")
    assert queuedash("deploy").exit_code == 0
    assert grafana.request_log[-1]["headers"]["X-Grafana-Org-Id"] == "1"
    monkeypatch.setenv("GRAFANA_ORG_ID", "2")
    run = queuedash("deploy")
    assert run.exit_code == 1 and "belongs to another organisation" in run.stderr


def test_insecure_is_warned_about(project, grafana, queuedash):
    run = queuedash("deploy", "--insecure", "--dry-run")
    assert run.exit_code == 0
    assert "warning: TLS certificate verification is off" in run.stderr


def test_a_missing_ca_bundle_is_one_line(project, grafana, queuedash):
    run = queuedash("deploy", "--ca-bundle", "no-such.pem")
    assert run.exit_code == 1
    assert "CA bundle 'no-such.pem': no such file" in run.stderr


# ----- Grafana versions and sub-paths -------------------------------------------------------

@pytest.mark.parametrize("version", ["10.4.0", "11.6.0", "12.0.0", "13.0.0"])
def test_the_whole_cycle_on_each_grafana_version(version, make_grafana, project, monkeypatch, queuedash):
    standin = make_grafana(version)
    point_at(monkeypatch, standin)
    first = queuedash("deploy")
    assert first.exit_code == 0, first
    assert f"(Grafana {version}, org 1 Main Org.)" in first.lines[0]
    again = queuedash("deploy")
    assert again.lines[-1] == "deploy: 0 added, 0 updated, 2 unchanged, 0 conflict, 0 failed"
    define(project, "answer", "Answer", value=2)
    (project / "dashboards" / "second.py").unlink()
    changed = queuedash("deploy", "--prune")
    assert changed.exit_code == 0, changed
    assert changed.lines[-1] == "deploy: 0 added, 1 updated, 0 unchanged, 0 conflict, 0 failed, 1 deleted"
    assert queuedash("diff").exit_code == 0


def test_a_sub_path_url_works(make_grafana, project, monkeypatch, queuedash):
    behind_proxy = make_grafana(sub_path="grafana")
    monkeypatch.setenv("GRAFANA_URL", behind_proxy.url + "/")  # a trailing slash too
    run = queuedash("deploy")
    assert run.exit_code == 0, run
    assert {e["path"].split("/")[1] for e in behind_proxy.request_log} == {"grafana"}
    assert len(behind_proxy.dashboards()) == 2


# ----- diff ---------------------------------------------------------------------------------

def test_diff_exits_1_when_grafana_differs_and_0_when_not(project, grafana, queuedash):
    before = queuedash("diff")
    assert before.exit_code == 1
    assert "--- /dev/null" in before.stdout and "+++ generated/queuedash-answer.json" in before.stdout
    assert "diff: 2 of 2 dashboards differ" in before.stderr

    assert queuedash("deploy").exit_code == 0
    same = queuedash("diff")
    assert same.exit_code == 0, same
    assert same.stdout == ""
    assert "diff: no differences in 2 dashboards" in same.stderr

    grafana.human_edit(ANSWER, {"title": "Answer (renamed by hand)"})
    changed = queuedash("diff")
    assert changed.exit_code == 1
    assert '-  "title": "Answer (renamed by hand)",' in changed.stdout
    assert '+  "title": "Answer",' in changed.stdout
    assert grafana.write_count() == 3  # the folder and two dashboards: diff wrote nothing


def test_diff_lists_what_queuedash_deployed_and_no_longer_generates(project, grafana, queuedash):
    assert queuedash("deploy").exit_code == 0
    (project / "dashboards" / "second.py").unlink()
    run = queuedash("diff")
    assert run.exit_code == 1
    assert f"only in Grafana: {SECOND}  Second" in run.stdout
    assert "diff: no differences in 1 dashboard, 1 only in Grafana" in run.stderr


# ----- secrets ------------------------------------------------------------------------------

def test_the_most_verbose_run_shows_no_credential(project, grafana, queuedash):
    grafana.fail_next(1, 503)
    grafana.fail_next(1, 401, body={"message": f"token {ADMIN_TOKEN} is not valid"},
                      path_prefix="/api/dashboards/uid")  # a server that echoes the token
    run = queuedash("deploy", "-vv", "--jobs", "1")
    assert "debug: GET /api/org -> 200" in run.stderr
    assert "info: GET /api/health: answered 503; retry 1" in run.stderr
    assert "token *** is not valid" in run.stdout
    assert "Authorization" not in run.output
    # (no_secret_leaks checks every output of every test for the tokens themselves)


def test_help_never_shows_a_credential(project, queuedash):
    for command in ("deploy", "diff"):
        run = queuedash(command, "--help")
        assert run.exit_code == 0
        assert "GRAFANA_TOKEN" in run.stdout or command == "diff"
