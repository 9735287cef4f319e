"""`queuedash deploy` and `diff` with alert rules, against the Grafana stand-in.

The project compiles the repository's standard definitions for two queues, so
the rules are the real ones (should-be-zero conditions, backlog growing, queue
length, workers offline). Every request is real HTTP to tests/grafana_standin.py
and its alerting API (tests/standin_alerting.py); the autouse `no_secret_leaks`
fixture checks that no credential shows anywhere.
"""

from __future__ import annotations

import json

import pytest

from queuedash.grafana.alerting import may_write_rules
from standin_alerting import UIEditRefused
from test_deploy_support import (EDITOR_TOKEN, LOCKED_EDITOR_TOKEN, PROJECT, REPO_DEFINITIONS, VIEWER_TOKEN,
                                 point_at, writes)
# Fixtures (pytest finds them by name in this module's namespace):
from test_deploy_support import make_grafana, no_secret_leaks, queuedash  # noqa: F401

GROUP = "Celery queues"
#: The rule permissions Grafana's Editor role holds, on every folder.
EDITOR_RULES = {action: ["folders:*"] for action in ("alert.rules:read", "folders:read", "alert.rules:create",
                                                  "alert.rules:write", "alert.rules:delete")}
FAILED = "queuedash-queue-emails-failed"
BACKLOG = "queuedash-queue-emails-backlog"
WORKERS = "queuedash-workers-offline"
RULE_COUNT = 4 + 4 + 2 + 1   # default: 4 conditions + growing + length; emails: failed, backlog + 2; workers

SETTINGS = f"""\
queues = ["default", "emails"]
definitions = "{REPO_DEFINITIONS}"

[grafana]
folder_uid = "celery"
folder_title = "Celery queues"
project = "{PROJECT}"

[queue.emails]
team = "growth"
must_be_zero = ["failed", "backlog"]
"""


@pytest.fixture
def project(in_tmp):
    (in_tmp / "queuedash.toml").write_text(SETTINGS, encoding="utf-8")
    return in_tmp


@pytest.fixture
def grafana(make_grafana, monkeypatch):
    standin = make_grafana("11.6.0")
    point_at(monkeypatch, standin)
    return standin


def settings(project, extra: str) -> None:
    (project / "queuedash.toml").write_text(SETTINGS + extra, encoding="utf-8")


def rule_writes(standin) -> list[dict]:
    return [entry for entry in writes(standin) if entry["route_path"].startswith("/api/v1/provisioning")]


def evaluator(rule: dict) -> dict:
    return rule["data"][2]["model"]["conditions"][0]["evaluator"]


# ----- the happy path -----------------------------------------------------------------------

@pytest.mark.parametrize("version, api", [("11.6.0", "auto"), ("13.0.0", "legacy"), ("13.0.0", "apis")])
def test_first_deploy_creates_the_group_a_second_writes_nothing(project, make_grafana, monkeypatch, queuedash,
                                                                 version, api):
    """The same on either path the dashboards take: the provisioning API is one."""
    grafana = make_grafana(version)
    point_at(monkeypatch, grafana)
    monkeypatch.setenv("GRAFANA_API", api)
    run = queuedash("deploy")
    assert run.exit_code == 0, run
    assert run.lines[-1] == f"rules: {RULE_COUNT} added, 0 updated, 0 unchanged, 0 conflict, 0 failed"
    assert run.status_of(FAILED) == "added"
    # The rules are written after the folder and the dashboards their panel links name.
    paths = [entry["route_path"] for entry in writes(grafana)]
    first_rule = next(i for i, path in enumerate(paths) if path.startswith("/api/v1/provisioning"))
    assert first_rule > 0 and all(path.startswith("/api/v1/provisioning") for path in paths[first_rule:])
    [put] = rule_writes(grafana)   # the whole group in one request
    assert put["method"] == "PUT"
    assert put["route_path"] == "/api/v1/provisioning/folder/celery/rule-groups/Celery%20queues"
    assert "X-Disable-Provenance" not in put["headers"]
    stored = {r["uid"]: r for r in grafana.alerting.rules()}
    assert len(stored) == RULE_COUNT
    rule = stored[FAILED]
    assert (rule["folderUID"], rule["ruleGroup"], rule["provenance"]) == ("celery", GROUP, "api")
    assert rule["annotations"]["__queuedash__"].startswith("sha256:")
    assert rule["annotations"]["__dashboardUid__"] == "queuedash-queue-emails"
    assert evaluator(rule) == {"type": "ne", "params": [0]}   # the server's version decides

    before = grafana.write_count()
    again = queuedash("deploy")
    assert again.exit_code == 0, again
    assert grafana.write_count() == before
    assert again.lines[-1] == f"rules: 0 added, 0 updated, {RULE_COUNT} unchanged, 0 conflict, 0 failed"


def test_rules_are_written_for_the_servers_version(project, make_grafana, monkeypatch, queuedash):
    grafana = make_grafana("10.4.1")
    point_at(monkeypatch, grafana)
    assert queuedash("deploy").exit_code == 0
    assert evaluator(grafana.alerting.rule(FAILED)) == {"type": "outside_range", "params": [0, 0]}


def test_a_changed_rule_is_updated_in_one_group_write(project, grafana, queuedash):
    assert queuedash("deploy").exit_code == 0
    grafana.clear_request_log()
    settings(project, 'alert_for = "10m"\n')   # [queue.emails]
    run = queuedash("deploy")
    assert run.exit_code == 0, run
    assert run.status_of(FAILED) == "updated" and run.status_of(WORKERS) == "unchanged"
    assert "definition changed" in run.stdout
    assert len(rule_writes(grafana)) == 1
    assert grafana.alerting.rule(FAILED)["for"] == "10m"
    assert grafana.alerting.version(WORKERS) == 1


def test_a_changed_interval_is_written(project, grafana, queuedash):
    assert queuedash("deploy").exit_code == 0
    settings(project, '[defaults]\nalert_interval = "30s"\n')
    run = queuedash("deploy")
    assert run.exit_code == 0, run
    assert f"group     {GROUP}  (interval: 60 s -> 30 s)" in run.stdout
    assert grafana.alerting.interval("celery", GROUP) == 30


def test_dry_run_writes_nothing(project, grafana, queuedash):
    run = queuedash("deploy", "--dry-run")
    assert run.exit_code == 0, run
    assert grafana.write_count() == 0
    assert run.lines[-1] == f"rules (dry run, nothing written): {RULE_COUNT} added, 0 updated, 0 unchanged, " \
                            "0 conflict, 0 failed"


def test_no_rules_leaves_the_alerting_api_alone(project, grafana, queuedash):
    run = queuedash("deploy", "--no-rules")
    assert run.exit_code == 0, run
    assert not [e for e in grafana.request_log if e["route_path"].startswith("/api/v1/provisioning")]
    assert run.lines[-1].startswith("deploy: ")
    assert grafana.alerting.rules() == []


# ----- removed rules and --prune ---------------------------------------------------------------

def test_a_rule_no_longer_generated_is_stale_then_deleted_with_prune(project, grafana, queuedash):
    assert queuedash("deploy").exit_code == 0
    settings(project, "")
    (project / "queuedash.toml").write_text(SETTINGS.replace('"failed", "backlog"', '"failed"'), encoding="utf-8")
    listed = queuedash("deploy")
    assert listed.exit_code == 0, listed
    assert listed.status_of(BACKLOG) == "stale"
    assert grafana.alerting.rule(BACKLOG) is not None
    assert listed.lines[-1].endswith("0 failed, 1 stale")
    assert listed.status_of(FAILED) == "unchanged"
    # The panels after the removed one moved up: the rules linked to them follow their panel ids.
    assert listed.status_of("queuedash-queue-emails-queue-length") == "updated"

    pruned = queuedash("deploy", "--prune")
    assert pruned.exit_code == 0, pruned
    assert pruned.status_of(BACKLOG) == "deleted"
    assert grafana.alerting.rule(BACKLOG) is None
    assert grafana.alerting.rule(FAILED) is not None
    assert pruned.lines[-1] == f"rules: 0 added, 0 updated, {RULE_COUNT - 1} unchanged, 0 conflict, 0 failed, " \
                               "1 deleted"


def test_prune_removes_a_whole_group_no_longer_generated(project, grafana, queuedash):
    settings(project, 'alert_group = "team"\n')   # emails' rules in their own group "growth"
    assert queuedash("deploy").exit_code == 0
    assert grafana.alerting.rule(FAILED)["ruleGroup"] == "growth"
    grafana.clear_request_log()
    settings(project, 'alerts = false\n')
    pruned = queuedash("deploy", "--prune")
    assert pruned.exit_code == 0, pruned
    assert pruned.status_of(FAILED) == "deleted"
    assert not [r for r in grafana.alerting.rules() if r["ruleGroup"] == "growth"]
    # Grafana reads an empty group body as "interval only": the rules go one DELETE each.
    assert sorted(e["route_path"] for e in rule_writes(grafana)) == sorted(
        f"/api/v1/provisioning/alert-rules/queuedash-queue-emails-{name}"
        for name in ("failed", "backlog", "backlog-growing", "queue-length"))


def test_a_rule_moved_to_another_group_is_moved_not_recreated(project, grafana, queuedash):
    assert queuedash("deploy").exit_code == 0
    before = grafana.alerting.rule(FAILED)["id"]
    settings(project, 'alert_group = "team"\n')
    run = queuedash("deploy")
    assert run.exit_code == 0, run
    assert run.status_of(FAILED) == "updated" and "moved from group 'Celery queues'" in run.stdout
    moved = grafana.alerting.rule(FAILED)
    assert (moved["ruleGroup"], moved["id"]) == ("growth", before)


# ----- other people's changes -----------------------------------------------------------------

def test_the_ui_cannot_edit_queuedashs_rules(project, grafana, queuedash):
    """Provenance api: Grafana's UI shows the rules as provisioned and does not save them."""
    assert queuedash("deploy").exit_code == 0
    with pytest.raises(UIEditRefused):
        grafana.alerting.ui_edit(FAILED, {"for": "1h"})


def test_a_change_through_the_api_is_a_conflict_until_forced(project, grafana, queuedash):
    assert queuedash("deploy").exit_code == 0
    grafana.alerting.api_edit(FAILED, {"for": "1h"})
    before = grafana.write_count()
    run = queuedash("deploy", "--show-diff")
    assert run.exit_code == 1, run
    assert run.status_of(FAILED) == "conflict"
    assert "changed through Grafana's API since queuedash deployed it: not written; --force overwrites it" \
        in run.stdout
    assert '-  "for": 3600,' in run.stdout and '+  "for": 60,' in run.stdout
    assert grafana.write_count() == before
    assert grafana.alerting.rule(FAILED)["for"] == "1h"

    forced = queuedash("deploy", "--force")
    assert forced.exit_code == 0, forced
    assert forced.status_of(FAILED) == "updated" and "forced:" in forced.stdout
    assert grafana.alerting.rule(FAILED)["for"] == "1m"


def test_a_group_holding_someone_elses_rule_is_never_written(project, grafana, queuedash):
    rule = json.loads(json.dumps(_some_rule()))
    grafana.alerting.add_rule(rule, "celery", GROUP, provenance="")
    for args in ((), ("--force",)):
        run = queuedash("deploy", *args)
        assert run.exit_code == 1, run
        assert run.status_of(FAILED) == "conflict"
        assert f"rule group '{GROUP}' also holds rules queuedash did not deploy (hand-made)" in run.stdout
    assert [r["uid"] for r in grafana.alerting.rules()] == ["hand-made"]
    assert rule_writes(grafana) == []


# ----- whose rules are these: projects ------------------------------------------------------------

OTHER = "github.com/other/repo"
WITHOUT_BACKLOG = SETTINGS.replace('"failed", "backlog"', '"failed"')


def test_rules_record_the_project_and_another_projects_are_never_touched(project, grafana, queuedash):
    assert queuedash("deploy").exit_code == 0
    assert grafana.alerting.rule(FAILED)["annotations"]["__queuedash__"].endswith(f" project={PROJECT}")
    # The other repository generates the same rules but one (its emails queue has no backlog condition).
    (project / "queuedash.toml").write_text(WITHOUT_BACKLOG, encoding="utf-8")
    before = grafana.write_count()
    for args in ((), ("--force",), ("--prune", "--force")):
        run = queuedash("deploy", "--project", OTHER, *args)
        assert run.exit_code == 1, run
        assert run.status_of(FAILED) == "conflict"
        assert (f"group '{GROUP}'; deployed by another project ({PROJECT}), not this one ({OTHER}): not written, "
                "even with --force") in run.stdout
        assert f" {BACKLOG}  " not in run.stdout   # not its to list, nor to prune
    assert grafana.write_count() == before
    assert grafana.alerting.rule(BACKLOG) is not None


def test_a_group_holding_another_projects_rules_is_never_written(project, grafana, queuedash):
    assert queuedash("deploy").exit_code == 0
    # Another repository, other uids, the same folder and group.
    settings(project, '[dashboards]\nuid_prefix = "other"\n')
    before = grafana.write_count()
    for args in ((), ("--force",)):
        run = queuedash("deploy", "--project", OTHER, *args)
        assert run.exit_code == 1, run
        assert run.status_of("other-queue-emails-failed") == "conflict"
        assert (f"rule group '{GROUP}' also holds rules another project deployed (queuedash-queue-default-backlog-"
                f"growing, queuedash-queue-default-failed, queuedash-queue-default-no_consumers and 8 more: "
                f"{PROJECT}): a whole-group write would delete them; not written; move them to another group, or "
                "give each project a folder or rule group of its own") in run.stdout
    assert not [e for e in writes(grafana)[before:] if e["route_path"].startswith("/api/v1/provisioning")]
    assert len(grafana.alerting.rules()) == RULE_COUNT


def test_rules_deployed_before_projects_were_recorded_are_claimed(project, grafana, queuedash):
    assert queuedash("deploy").exit_code == 0
    for rule in grafana.alerting.rules():   # as a queuedash that did not record projects wrote them
        grafana.alerting.api_edit(rule["uid"], lambda body: body["annotations"].update(
            __queuedash__=body["annotations"]["__queuedash__"].split(" ")[0]))
    (project / "queuedash.toml").write_text(WITHOUT_BACKLOG, encoding="utf-8")
    run = queuedash("deploy", "--prune")
    assert run.exit_code == 0, run
    assert run.status_of(FAILED) == "updated"
    assert f"same content; recording the project '{PROJECT}'" in run.stdout
    assert grafana.alerting.rule(FAILED)["annotations"]["__queuedash__"].endswith(f" project={PROJECT}")
    # Left over and not recorded as ours: --prune alone does not delete it.
    assert run.status_of(BACKLOG) == "stale"
    assert "deployed by a queuedash that did not record its project: not deleted (--force deletes it)" in run.stdout
    assert queuedash("deploy", "--prune", "--force").status_of(BACKLOG) == "deleted"
    assert grafana.alerting.rule(BACKLOG) is None


def _some_rule() -> dict:
    return {"uid": "hand-made", "title": "Hand made", "condition": "A", "noDataState": "OK", "execErrState": "Error",
            "for": "5m", "data": [{"refId": "A", "relativeTimeRange": {"from": 60, "to": 0},
                                   "datasourceUid": "graphite", "model": {"target": "a.b"}}]}


# ----- diff --------------------------------------------------------------------------------------

def test_diff_covers_rules(project, grafana, queuedash):
    assert queuedash("deploy").exit_code == 0
    same = queuedash("diff")
    assert same.exit_code == 0, same
    assert same.stderr.strip().endswith(f"diff: no differences in 6 dashboards and {RULE_COUNT} rules")

    settings(project, 'alert_severity = "page"\n')
    changed = queuedash("diff")
    assert changed.exit_code == 1
    assert f"--- grafana/rules/{FAILED}.json" in changed.stdout and f"+++ generated/rules/{FAILED}.json" in \
        changed.stdout
    assert '+    "severity": "page",' in changed.stdout
    assert grafana.write_count() == len(writes(grafana))   # diff wrote nothing

    (project / "queuedash.toml").write_text(SETTINGS.replace('"failed", "backlog"', '"failed"'), encoding="utf-8")
    stale = queuedash("diff")
    assert stale.exit_code == 1
    assert f"only in Grafana: {BACKLOG}  Backlog on emails  (deployed by queuedash, no longer generated)" in \
        stale.stdout


# ----- from files, permissions -------------------------------------------------------------------

def test_deploy_from_built_files_lints_the_rules_for_the_server(project, make_grafana, monkeypatch, queuedash):
    assert queuedash("build", "--grafana-version", "11.6").exit_code == 0
    old = make_grafana("10.4.1")
    point_at(monkeypatch, old)
    refused = queuedash("deploy", "--from", "build/dashboards")
    assert refused.exit_code == 1
    assert "evaluator 'ne' is not known to Grafana 10.4" in refused.output
    assert old.write_count() == 0

    assert queuedash("build").exit_code == 0   # the default: rules every version evaluates
    assert queuedash("deploy", "--from", "build/dashboards").exit_code == 0
    assert len(old.alerting.rules()) == RULE_COUNT


def test_rules_from_files_are_read_beside_the_dashboards_and_must_be_for_deploys_folder(project, grafana,
                                                                                       queuedash):
    assert queuedash("build", "--out", "ci/dashboards").exit_code == 0
    assert len(list((project / "ci" / "rules").glob("*.json"))) == 1
    deployed = queuedash("deploy", "--from", "ci/dashboards")
    assert deployed.exit_code == 0, deployed
    assert deployed.lines[-1] == f"rules: {RULE_COUNT} added, 0 updated, 0 unchanged, 0 conflict, 0 failed"
    (project / "queuedash.toml").write_text(SETTINGS.replace('folder_uid = "celery"', 'folder_uid = "ops"'),
                                            encoding="utf-8")
    before = grafana.write_count()
    elsewhere = queuedash("deploy", "--from", "ci/dashboards")
    assert elsewhere.exit_code == 1
    assert ("the rule group is for folder 'celery', deploy's folder is 'ops' ([grafana] folder_uid): build the "
            "rules with these settings") in elsewhere.stderr
    assert grafana.write_count() == before


def test_a_rules_missing_data_source_stops_deploy_before_any_write(project, grafana, queuedash):
    assert queuedash("build").exit_code == 0
    [path] = (project / "build" / "rules").glob("*.json")
    path.write_text(path.read_text().replace('"datasourceUid": "graphite"', '"datasourceUid": "graphite-2"', 1))
    run = queuedash("deploy", "--from", "build/dashboards")
    assert run.exit_code == 1
    assert "Grafana has no data source with uid 'graphite-2' (used by 'rule queuedash-" in run.stderr
    assert "nothing was written" in run.stderr
    assert grafana.write_count() == 0


NOT_ALLOWED = ("Error: the credentials (GRAFANA_TOKEN) may not provision alert rules in folder 'celery' (Celery "
               "queues): nothing was written; deploy with a service account with the Admin role, or with --no-rules "
               "for the dashboards alone")


@pytest.mark.parametrize("version, token", [("10.4.1", EDITOR_TOKEN), ("13.0.0", LOCKED_EDITOR_TOKEN)],
                         ids=["10.4-editor", "13.0-editor-without-provenance"])
def test_credentials_that_may_not_provision_rules_stop_before_any_write(project, make_grafana, monkeypatch,
                                                                        queuedash, version, token):
    """Up to Grafana 10 only Admins may; on any version, an Editor whose organisation took the
    provenance permission away may read the rules but not write them: deploy learns it first."""
    grafana = make_grafana(version)
    point_at(monkeypatch, grafana, token=token)
    run = queuedash("deploy")
    assert run.exit_code == 1
    [line] = run.stderr.strip().splitlines()
    assert line.startswith(NOT_ALLOWED)
    assert grafana.write_count() == 0
    without = queuedash("deploy", "--no-rules")
    assert without.exit_code == 0, without
    assert without.lines[-1].startswith("deploy: 6 added")


@pytest.mark.parametrize("permissions, allowed", [
    ({"alert.provisioning:write": [""]}, True),
    ({"alert.rules.provisioning:write": [""]}, True),
    ({**EDITOR_RULES, "alert.provisioning.provenance:write": [""]}, True),
    (EDITOR_RULES, False),   # without the provenance action (Grafana 10, or taken away)
    ({**EDITOR_RULES, "alert.provisioning.provenance:write": [""], "alert.rules:delete": []}, False),
    ({**{a: ["folders:uid:ops"] for a in EDITOR_RULES}, "alert.provisioning.provenance:write": [""]}, True),  # parent
    ({**{a: ["folders:uid:other"] for a in EDITOR_RULES}, "alert.provisioning.provenance:write": [""]}, False),
    ({}, False),
])
def test_what_lets_credentials_write_rule_groups(permissions, allowed):
    assert may_write_rules(permissions, ["ops", "celery"]) is allowed


@pytest.mark.parametrize("version", ["11.6.0", "13.0.0"])
def test_from_grafana_11_an_editor_deploys_the_rules(project, make_grafana, monkeypatch, queuedash, version):
    grafana = make_grafana(version)
    point_at(monkeypatch, grafana, token=EDITOR_TOKEN)
    run = queuedash("deploy")
    assert run.exit_code == 0, run
    assert run.lines[-1] == f"rules: {RULE_COUNT} added, 0 updated, 0 unchanged, 0 conflict, 0 failed"


def test_diff_that_cannot_read_the_rules_shows_the_dashboards_and_exits_2(project, grafana, queuedash):
    """A CI job tells "the rules could not be checked" from "they differ"."""
    assert queuedash("deploy").exit_code == 0
    settings(project, '[dashboards]\nrefresh = "5m"\n')   # the dashboards now differ
    grafana.fail_next(10, 500, methods="GET", path_prefix="/api/v1/provisioning/alert-rules")
    run = queuedash("diff")
    assert run.exit_code == 2, run
    assert '"refresh": "5m"' in run.stdout   # the dashboards' differences are still shown
    assert "alert rules: GET /api/v1/provisioning/alert-rules answered 500" in run.stderr
    assert run.stderr.strip().endswith(f"diff: 6 of 6 dashboards differ, {RULE_COUNT} alert rules could not be read")


def test_diff_of_rules_needs_only_read_access(project, make_grafana, monkeypatch, queuedash):
    grafana = make_grafana("13.0.0")
    point_at(monkeypatch, grafana)
    assert queuedash("deploy").exit_code == 0
    point_at(monkeypatch, grafana, token=VIEWER_TOKEN)
    same = queuedash("diff")
    assert same.exit_code == 0, same
    assert same.stderr.strip().endswith(f"diff: no differences in 6 dashboards and {RULE_COUNT} rules")
    old = make_grafana("10.4.1")
    point_at(monkeypatch, old, token=EDITOR_TOKEN)
    refused = queuedash("diff")
    # The rules could not be checked: 2, whatever the dashboards say (here, all of them differ).
    assert refused.exit_code == 2
    assert refused.stderr.strip().endswith(f"diff: 6 of 6 dashboards differ, {RULE_COUNT} alert rules could not "
                                           "be read")
    assert ("alert rules: the credentials (GRAFANA_TOKEN) may not use Grafana's alerting provisioning API "
            "(GET /api/v1/provisioning/alert-rules answered 403): alert rules need a service account with the Admin role (or, from Grafana 11, the Editor role); "
            "--no-rules leaves the rules out") in refused.stderr
