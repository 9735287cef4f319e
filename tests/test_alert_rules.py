"""Alert rules from the definitions: what the build makes, writes and lints.

The fixed inventory (tests/fixtures/inventory.toml) gives three queues with
different `must_be_zero`; each rule must run the query of the panel it links to,
and link to it by dashboard uid and panel id.
"""

from __future__ import annotations

import json
import textwrap

import pytest
import yaml

from queuedash.authoring.alerts import NOT_ZERO, at_least
from queuedash.cli.main import cli
from queuedash.compile import rules
from queuedash.compile.build import build_all
from queuedash.durations import DurationError, format_duration, parse_duration
from queuedash.errors import DefinitionError, SettingsError
from queuedash.files import OUTPUT_RECORD
from queuedash.graphite.targets import expand_references
from queuedash.settings import load

CONDITION_TITLES = {"failed": "Failed tasks", "rejected": "Rejected tasks", "retried": "Retried tasks",
                    "revoked": "Revoked tasks", "unknown": "Unknown tasks (NotRegistered)",
                    "no_consumers": "Waiting with no consumer", "backlog": "Backlog"}


@pytest.fixture
def groups(inventory_settings, built):
    return rules.rule_groups(inventory_settings, list(built.values()), "11.6")


def all_rules(groups) -> dict[str, dict]:
    return {rule["title"]: rule for group in groups for rule in group.rules}


def panel_of(built, rule) -> dict:
    annotations = rule["annotations"]
    [dashboard] = [b for b in built.values() if b.uid == annotations["__dashboardUid__"]]
    [panel] = [p for p in dashboard.data["panels"] if p["id"] == int(annotations["__panelId__"])]
    return panel


def visible_target(panel) -> str:
    expanded = expand_references([(t["refId"], t["target"]) for t in panel["targets"]])
    [visible] = [expanded[t["refId"]] for t in panel["targets"] if not t.get("hide")]
    return visible


def query(rule) -> dict:
    return rule["data"][0]["model"]


# -- which rules ---------------------------------------------------------------------------


def test_every_should_be_zero_condition_of_every_queue_has_a_rule(inventory_settings, groups):
    titles = set(all_rules(groups))
    for queue in inventory_settings.queues:
        for condition, title in CONDITION_TITLES.items():
            assert (f"{title} on {queue.name}" in titles) == (condition in queue.must_be_zero), (queue, condition)
        assert f"Backlog growing on {queue.name}" in titles
        assert f"Queue length on {queue.name}" in titles
    assert "Workers offline" in titles
    # default: failed, rejected, unknown, no_consumers; emails: failed, backlog; billing: all seven
    assert len(titles) == 4 + 2 + 7 + 3 * 2 + 1


def test_each_rule_runs_its_panels_query_and_links_to_that_panel(built, groups):
    for title, rule in all_rules(groups).items():
        panel = panel_of(built, rule)
        target = query(rule)["target"]
        assert query(rule)["targetFull"] == target
        assert target == visible_target(panel), title
        assert "#" not in target and "$" not in target, title


def test_the_link_is_always_a_pair_and_names_the_right_panel(built, groups):
    rule = all_rules(groups)["Failed tasks on emails"]
    assert panel_of(built, rule)["title"] == "Failed tasks"
    assert rule["annotations"]["__dashboardUid__"] == "queuedash-queue-emails"
    assert rule["annotations"]["__panelId__"].isdigit()
    assert panel_of(built, all_rules(groups)["Workers offline"])["title"] == "Workers offline"
    assert panel_of(built, all_rules(groups)["Queue length on emails"])["title"] == "Queue length now"
    assert panel_of(built, all_rules(groups)["Backlog growing on emails"])["title"] == "Backlog: received - processed"


def test_rules_reduce_as_their_panels_do(groups):
    by_title = all_rules(groups)

    def reduce_of(title):
        return by_title[title]["data"][1]["model"]

    assert reduce_of("Failed tasks on emails")["reducer"] == "sum"         # the stat sums counts
    assert reduce_of("Waiting with no consumer on default")["reducer"] == "last"   # lastNotNull
    assert reduce_of("Workers offline")["reducer"] == "last"
    assert all(r["data"][1]["model"]["settings"] == {"mode": "dropNN"} for r in by_title.values())


def test_uids_are_stable_and_follow_the_rules_identity(inventory_settings, groups):
    again = rules.rule_groups(inventory_settings, build_all(inventory_settings), "11.6")
    assert [r["uid"] for g in again for r in g.rules] == [r["uid"] for g in groups for r in g.rules]
    by_title = all_rules(groups)
    assert by_title["Failed tasks on emails"]["uid"] == "queuedash-queue-emails-failed"
    # A queue name a uid cannot hold: cleaned, plus a hash of the identity (never colliding).
    uid = by_title["Failed tasks on billing.invoices"]["uid"]
    assert uid.startswith("queuedash-queue-billing-invoice-") and len(uid) <= 40
    assert len({r["uid"] for r in by_title.values()}) == len(by_title)


def test_labels_and_annotations_come_from_the_inventory(groups):
    rule = all_rules(groups)["Failed tasks on emails"]
    assert rule["labels"] == {"queue": "emails", "severity": "critical", "team": "growth"}
    assert rule["annotations"]["runbook_url"] == "https://runbooks.example.invalid/emails"
    assert rule["annotations"]["summary"] == "Tasks failed on emails in the last 10m."
    assert "E-mail (queue emails, team growth)" in rule["annotations"]["description"]
    assert all_rules(groups)["Queue length on emails"]["labels"]["severity"] == "warning"
    workers = all_rules(groups)["Workers offline"]
    assert workers["labels"] == {"severity": "critical"} and "runbook_url" not in workers["annotations"]


def test_a_counter_that_never_fired_does_not_page_by_default(groups):
    assert {r["noDataState"] for r in all_rules(groups).values()} == {"OK"}
    assert {r["execErrState"] for r in all_rules(groups).values()} == {"Error"}


# -- evaluators per Grafana version ----------------------------------------------------------


@pytest.mark.parametrize("version, not_zero, at_least_50", [
    ("10.4", {"type": "outside_range", "params": [0, 0]}, {"type": "gt", "params": [50 - 1e-9]}),
    ("11.5.2", {"type": "outside_range", "params": [0, 0]}, {"type": "gt", "params": [50 - 1e-9]}),
    ("11.6.0", {"type": "ne", "params": [0]}, {"type": "gte", "params": [50]}),
    ("13.0.1", {"type": "ne", "params": [0]}, {"type": "gte", "params": [50]}),
])
def test_evaluators_follow_the_target_version(inventory_settings, built, version, not_zero, at_least_50):
    by_title = all_rules(rules.rule_groups(inventory_settings, list(built.values()), version))

    def evaluator(title):
        return by_title[title]["data"][2]["model"]["conditions"][0]["evaluator"]

    assert evaluator("Failed tasks on default") == not_zero
    assert evaluator("Queue length on default") == at_least_50   # queue_length_warning = 50
    assert evaluator("Backlog growing on default") == {"type": "gt", "params": [0]}
    assert NOT_ZERO.describe() == "not zero" and at_least(50).describe() == "at least 50"


def test_lint_refuses_an_evaluator_the_version_does_not_know(inventory_settings, built):
    dashboards = {b.uid: b.data for b in built.values()}
    [group] = rules.rule_groups(inventory_settings, list(built.values()), "11.6")
    assert rules.problems(group.body(), "11.6", dashboards) == []
    found = rules.problems(group.body(), "10.4", dashboards)
    assert found and all("evaluator 'ne' is not known to Grafana 10.4" in p or "'gte'" in p for p in found)


# -- settings ----------------------------------------------------------------------------------


def _repo_definitions():
    from conftest import REPO
    return REPO / "dashboards"


def test_per_queue_alert_settings(write_settings):
    path = write_settings(f'''
        queues = ["a", "b"]
        definitions = "{_repo_definitions()}"
        [defaults]
        alert_for = "5m"
        alert_labels = {{ env = "prod" }}
        [queue.a]
        team = "alpha"
        alert_group = "team"
        alert_interval = "30s"
        alert_window = "1h"
        alert_no_data = "NoData"
        alert_severity = "page"
        backlog_growing_for = "2h"
        alert_labels = {{ service = "billing" }}
        [queue.b]
        alerts = false
    ''')
    settings = load(path)
    by_title = {r["title"]: (g, r) for g in rules.rule_groups(settings, build_all(settings), "11.6") for r in g.rules}
    group, failed = by_title["Failed tasks on a"]
    assert group.title == "alpha" and group.interval == 30
    assert failed["for"] == "5m" and failed["noDataState"] == "NoData"
    assert failed["data"][0]["relativeTimeRange"] == {"from": 3600, "to": 0}
    assert failed["labels"] == {"env": "prod", "queue": "a", "service": "billing", "severity": "page",
                                "team": "alpha"}
    assert by_title["Backlog growing on a"][1]["for"] == "2h"
    assert not [t for t in by_title if t.endswith(" on b")]        # alerts = false
    workers_group, workers = by_title["Workers offline"]
    assert workers_group.title == "Celery queues" and workers["for"] == "5m"


@pytest.mark.parametrize("body, message", [
    ('[defaults]\nalert_interval = "15s"', "defaults.alert_interval: must be a multiple of 10 s"),
    ('[defaults]\nalert_interval = "5s"', "defaults.alert_interval: must be at least 10 s"),
    ('[defaults]\nalert_for = "soon"', "defaults.alert_for: 'soon' is not a duration"),
    ('[defaults]\nalert_no_data = "Maybe"', "defaults.alert_no_data: must be one of OK, NoData, Alerting"),
    ('queues = ["a"]\n[queue.a]\nalert_group = "team"', "queue.a.alert_group: \"team\" needs the queue's `team`"),
    ('[defaults]\nalert_labels = { __x = "y" }', "defaults.alert_labels: label '__x'"),
    ('[alerting]\ngrafana_version = "latest"', "alerting.grafana_version: expected a version"),
])
def test_bad_alert_settings_are_one_line_naming_the_key(write_settings, body, message):
    with pytest.raises(SettingsError) as error:
        load(write_settings(body))
    assert message in str(error.value)


def test_a_group_has_one_interval(write_settings):
    path = write_settings(f'''
        queues = ["a", "b"]
        definitions = "{_repo_definitions()}"
        [queue.b]
        alert_interval = "2m"
    ''')
    settings = load(path)
    with pytest.raises(DefinitionError) as error:
        rules.rule_groups(settings, build_all(settings), "11.6")
    assert "rule group 'Celery queues'" in str(error.value)
    assert "every 1m" in str(error.value) and "every 2m" in str(error.value)


@pytest.mark.parametrize("text, seconds, canonical", [
    ("0", 0, "0s"), ("90s", 90, "1m30s"), ("1m", 60, "1m"), ("1h30m", 5400, "1h30m"), ("2d", 172800, "2d"),
    ("1w", 604800, "1w"), ("8d", 691200, "8d"),
])
def test_durations_read_and_write_as_prometheus_does(text, seconds, canonical):
    assert parse_duration(text) == seconds
    assert format_duration(seconds) == canonical


@pytest.mark.parametrize("text", ["", "5", "1m1h", "1.5m", "-1m", "5 m"])
def test_durations_prometheus_refuses(text):
    with pytest.raises(DurationError):
        parse_duration(text)


# -- a definition's own rules ------------------------------------------------------------------


OWN_RULE = '''
from queuedash.authoring.alerts import Alert, above, attach
from queuedash.authoring.dashboard import dashboard
from queuedash.authoring.layout import Row
from queuedash.authoring.panels import Presets


def build(settings):
    presets = Presets(settings)
    panel = attach(presets.stat("Payments stuck", ["{target}"]),
                   Alert(name="payments-stuck", title="Payments stuck", condition=above(3), reducer="max"))
    return dashboard(settings, name="payments", title="Payments", rows=[Row("Health", [panel])])
'''


def own_project(tmp_path, target: str):
    (tmp_path / "dashboards").mkdir()
    (tmp_path / "dashboards" / "payments.py").write_text(textwrap.dedent(OWN_RULE.format(target=target)))
    (tmp_path / "queuedash.toml").write_text('queues = ["default"]\n')
    return load(tmp_path / "queuedash.toml")


def test_a_definition_can_add_rules_of_its_own(tmp_path):
    settings = own_project(tmp_path, "sumSeries(stats.gauges.payments.stuck)")
    [group] = rules.rule_groups(settings, build_all(settings), "11.6")
    [rule] = group.rules
    assert rule["uid"] == "queuedash-payments-stuck" and rule["title"] == "Payments stuck"
    assert query(rule)["target"] == "sumSeries(stats.gauges.payments.stuck)"
    assert rule["data"][1]["model"]["reducer"] == "max"
    assert rule["data"][2]["model"]["conditions"][0]["evaluator"] == {"type": "gt", "params": [3]}
    assert rule["annotations"]["__dashboardUid__"] == "queuedash-payments"


def test_a_rule_on_a_query_with_variables_is_a_definition_error(tmp_path):
    settings = own_project(tmp_path, "sumSeries(stats.gauges.$queue.stuck)")
    with pytest.raises(DefinitionError) as error:
        rules.rule_groups(settings, build_all(settings), "11.6")
    assert "dashboards/payments.py: dashboard 'payments': panel 'Payments stuck': alert 'payments-stuck'" in \
        str(error.value).replace(str(tmp_path) + "/", "")
    assert "template variable" in str(error.value)


# -- the outputs -------------------------------------------------------------------------------


def test_build_writes_the_rule_groups_next_to_the_dashboards(runner, repo, tmp_path, monkeypatch):
    monkeypatch.chdir(repo)
    out = tmp_path / "out"
    result = runner.invoke(cli, ["-c", "tests/fixtures/inventory.toml", "build", "--out", str(out)])
    assert result.exit_code == 0, result.output
    # Beside the dashboards' folder, not in it: that folder holds dashboards only (and the record
    # of what queuedash wrote there).
    assert all(path.is_file() and path.suffix == ".json" for path in out.iterdir() if path.name != OUTPUT_RECORD)
    [path] = (tmp_path / "rules").glob("*.json")
    body = json.loads(path.read_text())
    assert body["title"] == "Celery queues" and body["folderUid"] == "queuedash" and body["interval"] == 60
    assert len(body["rules"]) == 20
    assert f"{path}  rule group 'Celery queues' (20 rules)" in result.output
    # The default target version is the oldest queuedash supports: "not zero" every version evaluates.
    assert {r["data"][2]["model"]["conditions"][0]["evaluator"]["type"] for r in body["rules"]} <= \
        {"outside_range", "gt"}
    validated = runner.invoke(cli, ["-c", "tests/fixtures/inventory.toml", "validate", str(out),
                                    str(tmp_path / "rules")])
    assert validated.exit_code == 0, validated.output
    assert validated.output.strip() == "7 dashboards and 1 rule group OK"


def test_build_replaces_no_folder_of_someone_elses_for_the_rules(runner, repo, tmp_path, monkeypatch):
    monkeypatch.chdir(repo)
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "notes.txt").write_text("mine")
    args = ["-c", "tests/fixtures/inventory.toml", "build", "--out", str(tmp_path / "out")]
    refused = runner.invoke(cli, args)
    assert refused.exit_code == 1
    assert refused.output.strip() == (f"Error: {tmp_path / 'rules'}: holds files queuedash did not write "
                                      "(notes.txt); queuedash replaces only a folder it wrote whole: move them, "
                                      "or choose the rules' folder with --rules-out")
    assert (tmp_path / "rules" / "notes.txt").read_text() == "mine" and not (tmp_path / "out").exists()
    chosen = runner.invoke(cli, args + ["--rules-out", str(tmp_path / "alerting")])
    assert chosen.exit_code == 0, chosen.output
    assert len(list((tmp_path / "alerting").glob("*.json"))) == 1
    # A folder the user names is no more queuedash's to empty than the default one.
    named = runner.invoke(cli, args + ["--rules-out", str(tmp_path / "rules")])
    assert named.exit_code == 1 and "notes.txt" in named.output
    assert sorted(path.name for path in (tmp_path / "rules").iterdir()) == ["notes.txt"]


def test_build_refuses_the_rules_folder_before_writing_the_dashboards(runner, repo, tmp_path, monkeypatch):
    monkeypatch.chdir(repo)
    args = ["-c", "tests/fixtures/inventory.toml", "build", "--out", str(tmp_path / "out")]
    assert runner.invoke(cli, args).exit_code == 0
    before = {path.name: path.read_bytes() for path in (tmp_path / "out").iterdir()}
    (tmp_path / "rules" / "notes.txt").write_text("mine")
    refused = runner.invoke(cli, ["-c", "tests/fixtures/inventory.toml", "build", "--out", str(tmp_path / "out"),
                                  "--rules-out", str(tmp_path / "rules")])
    assert refused.exit_code == 1
    assert {path.name: path.read_bytes() for path in (tmp_path / "out").iterdir()} == before


def test_build_replaces_a_rules_folder_it_wrote_before_it_kept_a_record(runner, repo, tmp_path, monkeypatch):
    """Rule group files with no record beside them: what an earlier build wrote."""
    monkeypatch.chdir(repo)
    args = ["-c", "tests/fixtures/inventory.toml", "build", "--out", str(tmp_path / "out")]
    assert runner.invoke(cli, args).exit_code == 0
    (tmp_path / "rules" / OUTPUT_RECORD).unlink()
    [group] = (tmp_path / "rules").glob("*.json")
    group.rename(tmp_path / "rules" / "old-name.json")
    rebuilt = runner.invoke(cli, args)
    assert rebuilt.exit_code == 0, rebuilt.output
    assert sorted(path.name for path in (tmp_path / "rules").iterdir()) == sorted([group.name, OUTPUT_RECORD])


def test_validate_lints_rule_files(runner, repo, tmp_path, monkeypatch):
    monkeypatch.chdir(repo)
    out = tmp_path / "out"
    assert runner.invoke(cli, ["-c", "tests/fixtures/inventory.toml", "build", "--out", str(out)]).exit_code == 0
    [path] = (tmp_path / "rules").glob("*.json")
    body = json.loads(path.read_text())
    body["interval"] = 45
    body["rules"][0]["annotations"].pop("__panelId__")
    body["rules"][1]["data"][0]["model"]["target"] = "sumSeries(#A)"
    body["rules"][1]["data"][0]["model"].pop("targetFull")
    body["rules"][2]["annotations"]["__panelId__"] = "999"
    path.write_text(json.dumps(body))
    result = runner.invoke(cli, ["-c", "tests/fixtures/inventory.toml", "validate", "--grafana-version", "11.6",
                                 str(out), str(tmp_path / "rules")])
    assert result.exit_code == 1
    uid0, uid1, uid2 = (r["uid"] for r in body["rules"][:3])
    assert f"{path}: interval 45 must be a positive multiple of 10 seconds" in result.output
    assert f"{path}: rule '{uid0}': annotations __dashboardUid__ and __panelId__ go together" in result.output
    assert f"{path}: rule '{uid1}': A: the target has #X references" in result.output
    assert f"rule '{uid2}': links to panel 999 of dashboard" in result.output
    assert "Error: 4 problems in 7 dashboards and 1 rule group" in result.output


def test_provisioning_writes_grafanas_alerting_file(runner, repo, tmp_path, monkeypatch):
    monkeypatch.chdir(repo)
    out = tmp_path / "prov"
    result = runner.invoke(cli, ["-c", "tests/fixtures/inventory.toml", "build", "--provisioning", str(out)])
    assert result.exit_code == 0, result.output
    path = out / "provisioning" / "alerting" / "queuedash.yaml"
    assert f"{path}  20 alert rules in 1 group" in result.output
    document = yaml.safe_load(path.read_text())
    assert document["apiVersion"] == 1
    [group] = document["groups"]
    assert (group["name"], group["folder"], group["interval"], group["orgId"]) == \
        ("Celery queues", "Celery queues", "1m", 1)
    rule = {r["title"]: r for r in group["rules"]}["Failed tasks on emails"]
    assert rule["dashboardUid"] == "queuedash-queue-emails"
    assert rule["panelId"] == int(rule["annotations"]["__panelId__"])
    assert rule["for"] == "1m" and rule["noDataState"] == "OK"
    assert rule["data"][0]["model"]["target"].startswith("aliasByNode(transformNull(groupByNode(")
    # No rule JSON among the provisioned dashboards: Grafana would try to load it as a dashboard.
    assert not list((out / "dashboards").rglob("rules"))


def test_only_and_for_import_write_no_rules(runner, repo, tmp_path, monkeypatch):
    monkeypatch.chdir(repo)
    for args in (["--only", "tasks"], ["--for-import"]):
        out = tmp_path / args[0].strip("-") / "dashboards"
        result = runner.invoke(cli, ["-c", "tests/fixtures/inventory.toml", "build", "--out", str(out), *args])
        assert result.exit_code == 0, result.output
        assert not (out.parent / "rules").exists() and not (out / "rules").exists()


# -- the per-host mode ---------------------------------------------------------------------------


def test_in_the_per_host_mode_every_rule_reads_every_host_as_its_panel_does(inventory_settings):
    """A fleet with a StatsD per host writes <queue>.<task>.<host>.<state>: a rule still reading
    <queue>.<task>.<state> would match nothing there, be NoData, and never page. Each rule runs
    its per-host panel's query, whose task paths have the host node, read as every host."""
    from dataclasses import replace

    from queuedash.check.evaluate import metric_paths

    naming = replace(inventory_settings.naming, per_host=True)
    per_host = replace(inventory_settings, naming=naming)
    built = {b.name: b for b in build_all(per_host)}
    by_title = all_rules(rules.rule_groups(per_host, list(built.values()), "11.6"))
    plain = all_rules(rules.rule_groups(inventory_settings, build_all(inventory_settings), "11.6"))
    assert {t: r["uid"] for t, r in by_title.items()} == {t: r["uid"] for t, r in plain.items()}

    counts_root = naming.task_count("q", "t", "failed").split(".")[0]
    count_path_nodes = len(naming.task_count("q", "t", "failed").split("."))
    on_task_counts = set()
    for title, rule in by_title.items():
        target = query(rule)["target"]
        assert target == visible_target(panel_of(built, rule)), title
        for path in metric_paths(target):
            nodes = path.split(".")
            if nodes[:3] == [counts_root, naming.prefix, "tasks"]:
                on_task_counts.add(title)
                assert len(nodes) == count_path_nodes and nodes[naming.task_host_node] == "*", (title, path)
        if title in on_task_counts:
            assert target != query(plain[title])["target"], title
    # failed, rejected, ...: every should-be-zero condition on tasks, the backlogs, the backlogs growing
    assert {"Failed tasks on emails", "Backlog on emails", "Backlog growing on emails",
            "Unknown tasks (NotRegistered) on default"} <= on_task_counts
    # Only the broker's and the workers' gauges, which have no host node, are read otherwise.
    gauges = ("Queue length on ", "Waiting with no consumer on ", "Workers offline")
    assert on_task_counts == {t for t in by_title if not t.startswith(gauges)}
