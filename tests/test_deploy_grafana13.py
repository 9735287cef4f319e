"""`queuedash deploy` on Grafana 12 and 13, through the legacy /api and through /apis
(contract §11a), against the stand-in in 12.0 and 13.0 modes.

Each scenario of the cycle runs on the four combinations, and both paths must give the same
outcomes: first deploy adds everything, a second writes nothing, a person's save is a conflict
that keeps the edit until --force, a 409 in the middle of a deploy is re-read and re-planned,
prune with a lagging search deletes exactly the stale dashboard, a missing data source stops
everything before a write, another project's dashboards are never touched.
"""

from __future__ import annotations

import json
import os
from functools import partial

import pytest

from queuedash.deploy import run
from queuedash.deploy.apply import apply_plan
from queuedash.deploy.plan import CONFLICT, UNCHANGED, UPDATED, make_plan, plan_dashboard
from queuedash.grafana.client import GrafanaClient, RetryPolicy
from queuedash.grafana.credentials import Credentials
from test_deploy_support import (ADMIN_TOKEN, EDITOR_TOKEN, PROJECT, VIEWER_TOKEN, define, marker_value,
                                 point_at, writes)
# Fixtures (pytest finds them by name in this module's namespace):
from test_deploy_support import grafana, make_grafana, no_secret_leaks, project, queuedash  # noqa: F401

ANSWER, SECOND = "queuedash-answer", "queuedash-second"
PATHS = [("12.0.0", "legacy"), ("12.0.0", "apis"), ("13.0.0", "legacy"), ("13.0.0", "apis")]


class Clock:
    """The stand-in's clock for its search index: tests move time instead of sleeping."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=PATHS, ids=[f"{v}-{a}" for v, a in PATHS])
def target(request, make_grafana, project, monkeypatch):
    """A stand-in of that version, the project pointed at it, deploy forced onto that path."""
    version, api = request.param
    standin = make_grafana(version)
    point_at(monkeypatch, standin)
    monkeypatch.setenv("GRAFANA_API", api)
    return standin


def generated(project_dir) -> list[dict]:
    from queuedash.compile.build import build_all
    from queuedash.settings import load

    return [b.data for b in build_all(load(project_dir / "queuedash.toml"))]


def client_for(standin) -> GrafanaClient:
    return GrafanaClient(standin.url, Credentials(token=ADMIN_TOKEN), retry=RetryPolicy(retries=0))


# ----- the cycle, on each version and path ------------------------------------------------

def test_first_deploy_adds_everything_and_a_second_writes_nothing(target, queuedash):
    first = queuedash("deploy")
    assert first.exit_code == 0, first
    assert first.lines[-1] == "deploy: 2 added, 0 updated, 0 unchanged, 0 conflict, 0 failed"
    before = target.write_count()
    second = queuedash("deploy")
    assert second.exit_code == 0, second
    assert second.lines[-1] == "deploy: 0 added, 0 updated, 2 unchanged, 0 conflict, 0 failed"
    assert target.write_count() == before
    assert queuedash("diff").exit_code == 0


def test_the_path_is_the_one_asked_for_and_auto_takes_apis(make_grafana, project, monkeypatch, queuedash):
    for version, expected in (("10.4.0", "through the legacy /api"), ("11.6.0", "through the legacy /api"),
                              ("12.0.0", "through /apis (dashboard.grafana.app/v1beta1, folder.grafana.app/v1beta1"),
                              ("13.0.0", "through /apis (dashboard.grafana.app/v1, folder.grafana.app/v1")):
        standin = make_grafana(version)
        point_at(monkeypatch, standin)
        run_ = queuedash("deploy", "--dry-run")
        assert run_.exit_code == 0, run_
        assert expected in run_.lines[0], (version, run_.lines[0])


def test_forcing_apis_on_a_grafana_without_it_is_one_line(make_grafana, project, monkeypatch, queuedash):
    point_at(monkeypatch, make_grafana("11.6.0"))
    run_ = queuedash("deploy", "--api", "apis")
    assert run_.exit_code == 1
    [line] = run_.stderr.strip().splitlines()
    assert line.startswith("Error: --api apis: http://127.0.0.1:") and "dashboard.grafana.app v0alpha1" in line


def test_a_persons_save_is_a_conflict_that_keeps_the_edit_until_forced(target, queuedash):
    assert queuedash("deploy").exit_code == 0
    target.human_edit(ANSWER, {"description": "alice's note"}, login="alice")
    before = target.write_count()
    run_ = queuedash("deploy")
    assert run_.exit_code == 1, run_
    assert run_.status_of(ANSWER) == "conflict" and run_.status_of(SECOND) == "unchanged"
    assert "alice" in run_.stdout
    assert target.write_count() == before
    assert target.get_dashboard(ANSWER)["data"]["description"] == "alice's note"
    forced = queuedash("deploy", "--force")
    assert forced.exit_code == 0, forced
    assert forced.status_of(ANSWER) == "updated"
    assert "alice's note" not in json.dumps(target.get_dashboard(ANSWER)["data"])
    assert target.get_dashboard(ANSWER)["stored_version"] in ("v0alpha1", "v1", "v1beta1")
    assert queuedash("deploy").lines[-1] == "deploy: 0 added, 0 updated, 2 unchanged, 0 conflict, 0 failed"


def test_on_13_a_persons_save_is_a_dynamic_dashboard_and_force_warns_its_layout_is_lost(
        make_grafana, project, monkeypatch, queuedash):
    for api in ("legacy", "apis"):
        standin = make_grafana("13.0.0")
        point_at(monkeypatch, standin)
        monkeypatch.setenv("GRAFANA_API", api)
        assert queuedash("deploy").exit_code == 0
        standin.human_edit(ANSWER, {"description": "moved things around"}, login="alice")  # stored as v2
        run_ = queuedash("deploy")
        assert run_.status_of(ANSWER) == "conflict", api
        assert "saved in Grafana as a dynamic dashboard (schema v2) by user:alice at " in run_.stdout
        assert "--force replaces it with the generated dashboard (its v2 layout is lost)" in run_.stdout
        forced = queuedash("deploy", "--force")
        assert forced.exit_code == 0, forced
        assert (f"warning: {ANSWER}: replaces a dynamic dashboard (schema v2) with the generated one; "
                "its v2 layout is lost") in forced.stderr
        assert not standin.get_dashboard(ANSWER)["stored_version"].startswith("v2")


def test_a_409_in_the_middle_of_a_deploy_is_read_again_and_ends_as_a_conflict(target, project, queuedash,
                                                                               monkeypatch):
    assert queuedash("deploy").exit_code == 0
    define(project, "answer", "Answer", value=45)
    with client_for(target) as client:
        store = run.open_store(client, 1, os.environ["GRAFANA_API"])
        live = {r.uid: r.live for r in store.read([ANSWER, SECOND], jobs=1)}
        steps = make_plan(generated(project), live, "celery", project=PROJECT)
        assert [s.action for s in steps] == [UPDATED, UNCHANGED]
        target.human_edit(ANSWER, {"description": "saved meanwhile"}, login="bob", as_v2=False)
        target.clear_request_log()
        replan = partial(plan_dashboard, folder_uid="celery", project=PROJECT)
        [outcome, _] = apply_plan(store, steps, "celery", replan=replan)
    assert outcome.status == CONFLICT
    assert outcome.detail.startswith("changed in Grafana during this deploy (")
    refused = [e["status"] for e in target.request_log if e["method"] in ("POST", "PUT")]
    assert refused[-1] in (409, 412)
    assert target.version.startswith("12") or refused[-1] == 409  # 13 answers a stale save with 409
    assert target.get_dashboard(ANSWER)["data"]["description"] == "saved meanwhile"


def test_a_409_nobody_caused_is_saved_again(make_grafana, project, monkeypatch, queuedash):
    standin = make_grafana("13.0.0")
    point_at(monkeypatch, standin)
    monkeypatch.setenv("GRAFANA_API", "legacy")
    assert queuedash("deploy").exit_code == 0
    define(project, "answer", "Answer", value=46)
    standin.fail_next(1, 409, body={"message": "Dashboard already exists. Use overwrite flag to update."},
                      path_prefix="/api/dashboards/db")
    run_ = queuedash("deploy")
    assert run_.exit_code == 0, run_
    assert run_.status_of(ANSWER) == "updated"
    assert "constantLine(46)" in json.dumps(standin.get_dashboard(ANSWER)["data"])


def test_grafana_13s_409_on_every_write_fails_once_per_dashboard_in_one_line(make_grafana, project, monkeypatch,
                                                                              queuedash):
    standin = make_grafana("13.0.0", reject_updates_409=True)  # G#130334
    point_at(monkeypatch, standin)
    monkeypatch.setenv("GRAFANA_API", "legacy")
    assert queuedash("deploy").exit_code == 0  # creates work
    define(project, "answer", "Answer", value=47)
    standin.clear_request_log()
    run_ = queuedash("deploy")
    assert run_.exit_code == 1
    assert run_.status_of(ANSWER) == "failed"
    line = [l for l in run_.lines if ANSWER in l][0]
    assert "Grafana refused the save twice as stale although nobody changed the dashboard" in line
    assert "requested RV does not match current RV" in line
    assert len([e for e in standin.request_log if e["method"] == "POST"]) == 2  # tried twice, not forever


def test_a_too_large_dashboard_is_one_line(make_grafana, project, monkeypatch, queuedash):
    for api in ("legacy", "apis"):
        standin = make_grafana("13.0.0", max_dashboard_bytes=1024)
        point_at(monkeypatch, standin)
        monkeypatch.setenv("GRAFANA_API", api)
        run_ = queuedash("deploy")
        assert run_.exit_code == 1
        line = [l for l in run_.lines if ANSWER in l][0]
        assert line.startswith(f"failed    {ANSWER}  Answer  (Grafana refused it as too large (")
        assert "answered 413" in line and "Dashboard is too large, max is" in line


def test_prune_with_a_lagging_search_deletes_exactly_the_stale_dashboard(make_grafana, project, monkeypatch,
                                                                          queuedash):
    for api in ("legacy", "apis"):
        clock = Clock()
        standin = make_grafana("13.0.0", search_lag=3.0, clock=clock)
        point_at(monkeypatch, standin)
        monkeypatch.setenv("GRAFANA_API", api)
        define(project, "third", "Third")
        define(project, "gone", "Gone")
        define(project, "moved", "Moved")
        assert queuedash("deploy").exit_code == 0  # at t = 0
        clock.now += 10  # the index has them all now
        standin.add_folder("elsewhere", "Elsewhere")
        standin.remove_dashboard("queuedash-gone")  # by hand: search still lists it for 3 s
        standin.move_dashboard("queuedash-moved", "elsewhere")  # search still shows it in our folder
        for name in ("third", "gone", "moved"):
            (project / "dashboards" / f"{name}.py").unlink()
        define(project, "fresh", "Fresh")
        assert queuedash("deploy").exit_code == 0  # writes queuedash-fresh: not in the index for 3 s
        (project / "dashboards" / "fresh.py").unlink()
        standin.clear_request_log()
        run_ = queuedash("deploy", "--prune")
        assert run_.exit_code == 0, run_
        deleted = sorted(e["route_path"].rsplit("/", 1)[-1] for e in standin.request_log if e["method"] == "DELETE")
        assert deleted == ["queuedash-fresh", "queuedash-third"], api
        assert run_.lines[-1] == "deploy: 0 added, 0 updated, 2 unchanged, 0 conflict, 0 failed, 2 deleted", api
        assert standin.get_dashboard("queuedash-moved")["folder_uid"] == "elsewhere"
        define(project, "third", "Third")
        define(project, "gone", "Gone")
        define(project, "moved", "Moved")


def test_diff_after_prune_does_not_list_what_search_still_shows(make_grafana, project, monkeypatch, queuedash):
    clock = Clock()
    standin = make_grafana("13.0.0", search_lag=3.0, clock=clock)
    point_at(monkeypatch, standin)
    monkeypatch.setenv("GRAFANA_API", "legacy")
    assert queuedash("deploy").exit_code == 0
    clock.now += 10
    (project / "dashboards" / "second.py").unlink()
    assert queuedash("deploy", "--prune").exit_code == 0
    run_ = queuedash("diff")  # search still lists SECOND for 3 s; a read by uid says it is gone
    assert run_.exit_code == 0, run_
    assert "only in Grafana" not in run_.output


# ----- the data source is checked before anything is written ------------------------------

def test_a_missing_datasource_stops_deploy_before_any_write(make_grafana, project, monkeypatch, queuedash):
    for version, api in PATHS:
        standin = make_grafana(version)
        point_at(monkeypatch, standin)
        monkeypatch.setenv("GRAFANA_API", api)
        (project / "queuedash.toml").write_text((project / "queuedash.toml").read_text()
                                                + '\n[datasource]\nuid = "no-such-graphite"\n')
        run_ = queuedash("deploy")
        assert run_.exit_code == 1
        assert run_.stderr.strip().splitlines()[-1] == (
            "Error: Grafana has no data source with uid 'no-such-graphite' (used by 'queuedash-answer'): nothing "
            "was written; create the Graphite data source with that uid, or set [datasource] uid to the uid of "
            "yours")
        assert standin.write_count() == 0 and standin.folders() == []
        (project / "queuedash.toml").write_text((project / "queuedash.toml").read_text()
                                                .replace('\n[datasource]\nuid = "no-such-graphite"\n', ""))


def test_a_datasource_of_another_type_stops_deploy(make_grafana, project, monkeypatch, queuedash):
    standin = make_grafana("13.0.0")
    standin.add_datasource(1, "prom", "Prometheus", type="prometheus")
    point_at(monkeypatch, standin)
    (project / "queuedash.toml").write_text((project / "queuedash.toml").read_text() + '\n[datasource]\nuid = "prom"\n')
    run_ = queuedash("deploy")
    assert run_.exit_code == 1
    assert "the data source 'prom' (Prometheus) is of type 'prometheus', not graphite" in run_.stderr
    assert standin.write_count() == 0


def test_import_placeholders_are_refused_in_one_line(target, queuedash):
    assert queuedash("build", "--for-import").exit_code == 0
    run_ = queuedash("deploy", "--from", "build/import")
    assert run_.exit_code == 1
    [line] = run_.stderr.strip().splitlines()
    assert line == ("Error: dashboard 'queuedash-answer': its Graphite data source uid is '${DS_GRAPHITE}', a "
                    "placeholder for Grafana's Import screen (queuedash build --for-import); deploy the API-ready "
                    "build (build/dashboards), whose panels name the data source's real uid")
    assert target.write_count() == 0


def test_a_datasource_the_credentials_may_not_read_is_a_warning(make_grafana, project, monkeypatch, queuedash):
    standin = make_grafana("13.0.0", datasource_min_role="Admin")
    point_at(monkeypatch, standin)
    monkeypatch.setenv("GRAFANA_TOKEN", EDITOR_TOKEN)
    run_ = queuedash("deploy")
    assert run_.exit_code == 0, run_
    assert "warning: cannot verify the data source 'graphite': the credentials may not read data sources" in run_.stderr


# ----- whose dashboards are these ---------------------------------------------------------

def test_another_projects_dashboards_are_never_touched(target, project, queuedash, monkeypatch):
    assert queuedash("deploy").exit_code == 0
    assert f"project={PROJECT}" in marker_value(target.get_dashboard(ANSWER)["data"])
    define(project, "old", "Old")  # ours, soon stale
    assert queuedash("deploy", "--only", "old").exit_code == 0
    (project / "dashboards" / "old.py").unlink()
    define(project, "answer", "Answer", value=99)  # the other repository generates other content
    before = target.write_count()
    for args in (("deploy",), ("deploy", "--force"), ("deploy", "--prune", "--force")):
        run_ = queuedash(*args, "--project", "github.com/other/repo")
        assert run_.exit_code == 1, run_
        assert run_.status_of(ANSWER) == "conflict"
        assert ("deployed by another project (github.com/acme/celery-ops), not this one (github.com/other/repo): "
                "not written, even with --force") in run_.stdout
        assert "queuedash-old" not in run_.stdout  # not its to list, nor to prune
    assert target.write_count() == before
    assert target.get_dashboard("queuedash-old") is not None


def test_the_losing_side_of_two_identical_concurrent_deploys_reports_unchanged(target, project, monkeypatch):
    dashboards = generated(project)
    api = os.environ["GRAFANA_API"]
    replan = partial(plan_dashboard, folder_uid="celery", project=PROJECT)
    with client_for(target) as one, client_for(target) as two:
        first, second = run.open_store(one, 1, api), run.open_store(two, 1, api)
        for store in (first, second):
            store.ensure_folders([("celery", "Celery queues")])
        plans = []
        for store in (first, second):  # both read before either writes
            live = {r.uid: r.live for r in store.read([ANSWER, SECOND], jobs=1)}
            plans.append(make_plan(dashboards, live, "celery", project=PROJECT))
        won = apply_plan(first, plans[0], "celery", replan=replan)
        lost = apply_plan(second, plans[1], "celery", replan=replan)
    assert [o.status for o in won] == ["added", "added"]
    assert [(o.status, o.detail) for o in lost] == [
        (UNCHANGED, "saved with the same content by another deploy meanwhile")] * 2


def test_the_project_defaults_to_the_git_remote(make_grafana, project, monkeypatch, queuedash):
    import subprocess

    standin = make_grafana("13.0.0")
    point_at(monkeypatch, standin)
    settings = project / "queuedash.toml"
    settings.write_text(settings.read_text().replace(f'project = "{PROJECT}"\n', ""))
    assert "cannot tell which project" in queuedash("deploy").stderr
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    subprocess.run(["git", "-C", str(project), "remote", "add", "origin", "git@github.com:acme/queues.git"],
                   check=True)
    run_ = queuedash("deploy")
    assert run_.exit_code == 0, run_
    assert "project=github.com/acme/queues" in marker_value(standin.get_dashboard(ANSWER)["data"])


# ----- other organisations ----------------------------------------------------------------

def test_an_org_2_token_deploys_into_namespace_org_2(make_grafana, project, monkeypatch, queuedash):
    standin = make_grafana("13.0.0")
    standin.add_token("glsa_OrgTwoToken000000000000000000000_0badc0de", org_id=2, role="Editor", login="sa-two")
    standin.add_datasource(2, "graphite", "Graphite")
    point_at(monkeypatch, standin, token="glsa_OrgTwoToken000000000000000000000_0badc0de")
    run_ = queuedash("deploy")
    assert run_.exit_code == 0, run_
    assert "namespace org-2" in run_.lines[0]
    assert sorted(d["uid"] for d in standin.dashboards(org_id=2)) == [ANSWER, SECOND]
    assert standin.dashboards(org_id=1) == []


def test_a_viewer_is_stopped_before_any_write_on_both_paths(make_grafana, project, monkeypatch, queuedash):
    for api in ("legacy", "apis"):
        standin = make_grafana("13.0.0")
        standin.add_folder("celery", "Celery queues")
        point_at(monkeypatch, standin, token=VIEWER_TOKEN)
        monkeypatch.setenv("GRAFANA_API", api)
        run_ = queuedash("deploy")
        assert run_.exit_code == 1
        assert "may not save dashboards in folder 'celery'" in run_.stderr, api
        assert not writes(standin)


def test_a_failing_discovery_falls_back_to_the_legacy_api_unless_apis_is_forced(make_grafana, project, monkeypatch,
                                                                                 queuedash):
    standin = make_grafana("13.0.0")
    point_at(monkeypatch, standin)
    standin.fail_next(2, 503, path_prefix="/apis")
    run_ = queuedash("deploy", "--retries", "1")
    assert run_.exit_code == 0, run_
    assert "through the legacy /api" in run_.lines[0]
    assert "warning: GET /apis failed (" in run_.stderr and "deploying through the legacy /api" in run_.stderr
    standin.fail_next(2, 503, path_prefix="/apis")
    forced = queuedash("deploy", "--retries", "1", "--api", "apis")
    assert forced.exit_code == 1
    assert "GET /apis answered 503" in forced.stderr
