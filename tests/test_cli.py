"""The `queuedash` command through click's CliRunner: output, files, exit codes."""

import json
import textwrap

import pytest

from queuedash.cli.main import cli

GOOD_DEFINITION = '''
from queuedash.authoring.dashboard import dashboard
from queuedash.authoring.layout import Row
from queuedash.authoring.panels import Presets


def build(settings):
    presets = Presets(settings)
    return dashboard(settings, name="{name}", title="{title}", rows=[
        Row("Numbers", [presets.stat("Answer", ["constantLine(42)"])]),
    ])
'''


@pytest.fixture
def project(in_tmp):
    """A project folder with a settings file and one working definition."""
    (in_tmp / "dashboards").mkdir()
    (in_tmp / "queuedash.toml").write_text('queues = ["default"]\n', encoding="utf-8")
    define(in_tmp, "answer", "Answer")
    return in_tmp


def dashboard_files(folder):
    """The dashboards in an output folder (not queuedash's record of what it wrote)."""
    return sorted(p.name for p in folder.iterdir() if p.suffix == ".json")


def define(root, name, title, body=None):
    text = body if body is not None else GOOD_DEFINITION.format(name=name, title=title)
    (root / "dashboards" / f"{name}.py").write_text(textwrap.dedent(text), encoding="utf-8")


def test_build_writes_every_dashboard(runner, project):
    result = runner.invoke(cli, ["build"])
    assert result.exit_code == 0, result.output
    written = project / "build" / "dashboards" / "queuedash-answer.json"
    assert json.loads(written.read_text())["title"] == "Answer"
    assert "built 1 dashboard into" in result.output


def test_build_to_another_folder_and_only_one(runner, project):
    define(project, "second", "Second")
    result = runner.invoke(cli, ["build", "--out", "elsewhere", "--only", "second"])
    assert result.exit_code == 0, result.output
    assert dashboard_files(project / "elsewhere") == ["queuedash-second.json"]


def test_only_an_unknown_name_is_an_error(runner, project):
    result = runner.invoke(cli, ["build", "--only", "nope"])
    assert result.exit_code == 1
    assert "no dashboard named 'nope' (there are: answer)" in result.output


def test_the_repository_builds_with_make_dashboards_settings(runner, repo, tmp_path, monkeypatch):
    monkeypatch.chdir(repo)
    result = runner.invoke(cli, ["build", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    names = dashboard_files(tmp_path / "out")
    assert names[:2] == ["queuedash-broker.json", "queuedash-overview.json"]
    assert "queuedash-queue-emails.json" in names and "queuedash-tasks.json" in names


def test_list_shows_names_uids_and_panel_counts(runner, repo, monkeypatch):
    monkeypatch.chdir(repo)
    result = runner.invoke(cli, ["list"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["NAME", "UID", "PANELS", "TITLE", "DEFINITION"]
    tasks = next(line for line in lines if line.startswith("tasks "))
    assert "queuedash-tasks" in tasks and "dashboards/tasks.py" in tasks


def test_validate_passes_on_the_definitions_and_on_built_files(runner, project):
    assert runner.invoke(cli, ["validate"]).output.strip() == "1 dashboard OK"
    runner.invoke(cli, ["build"])
    result = runner.invoke(cli, ["validate", "build/dashboards"])
    assert result.exit_code == 0 and "1 dashboard OK" in result.output


def test_validate_reports_every_problem_of_a_broken_file(runner, project):
    runner.invoke(cli, ["build"])
    path = project / "build" / "dashboards" / "queuedash-answer.json"
    data = json.loads(path.read_text())
    panel = data["panels"][1]
    panel["type"] = "graph"
    data["schemaVersion"] = 12
    stat = dict(panel, id=99, type="stat", gridPos={"x": 20, "y": 0, "w": 8, "h": 4})
    stat["targets"] = [{"refId": "A", "target": "sumSeries(#B"}, {"refId": "B", "target": "nosuchFunction(a.b)"}]
    data["panels"].append(stat)
    path.write_text(json.dumps(data))
    result = runner.invoke(cli, ["validate", str(path)])
    assert result.exit_code == 1
    for expected in ("schemaVersion is 12", "panel type 'graph'", "outside the 24-column grid",
                     "unclosed '('", "unknown Graphite function 'nosuchFunction'"):
        assert expected in result.output


def test_a_definition_that_raises_names_file_and_dashboard_and_keeps_the_previous_build(runner, project):
    assert runner.invoke(cli, ["build"]).exit_code == 0
    before = (project / "build" / "dashboards" / "queuedash-answer.json").read_text()
    define(project, "broken", "Broken", body="def build(settings):\n    return 1 / 0\n")
    result = runner.invoke(cli, ["build"])
    assert result.exit_code == 1
    assert result.output.strip() == ("Error: dashboards/broken.py:2: dashboard 'broken': ZeroDivisionError: "
                                     "division by zero (--debug shows the traceback)")
    assert "Traceback" not in result.output
    assert dashboard_files(project / "build" / "dashboards") == ["queuedash-answer.json"]
    assert (project / "build" / "dashboards" / "queuedash-answer.json").read_text() == before
    assert [p.name for p in (project / "build").iterdir()] == ["dashboards"]


LEGACY_FIELD = '''
import attr

from queuedash.authoring.dashboard import dashboard
from queuedash.authoring.layout import Row
from queuedash.authoring.panels import Presets


def build(settings):
    stat = attr.evolve(Presets(settings).stat("Answer", ["constantLine(42)"]), span=6)
    return dashboard(settings, name="legacy", title="Legacy", rows=[Row("Numbers", [stat])])
'''


def test_a_field_grafana_cannot_read_names_file_dashboard_class_and_field(runner, project):
    assert runner.invoke(cli, ["build"]).exit_code == 0
    before = (project / "build" / "dashboards" / "queuedash-answer.json").read_text()
    define(project, "legacy", "Legacy", body=LEGACY_FIELD)
    result = runner.invoke(cli, ["build"])
    assert result.exit_code == 1
    assert result.output.strip() == ("Error: dashboards/legacy.py: dashboard 'legacy': Stat.span = 6: Grafana 10+ "
                                     "sizes panels by gridPos; give the preset size=(width, height)")
    # The previous build as it was (with the record of what queuedash wrote there).
    assert sorted(p.name for p in (project / "build" / "dashboards").iterdir()) == [".queuedash-output",
                                                                                  "queuedash-answer.json"]
    assert (project / "build" / "dashboards" / "queuedash-answer.json").read_text() == before


def test_a_definition_that_fails_to_import_is_named(runner, project):
    define(project, "syntax", "x", body="def build(settings)\n    pass\n")
    result = runner.invoke(cli, ["build"])
    assert result.exit_code == 1
    assert "Error: dashboards/syntax.py:1: cannot load the definition: SyntaxError: expected ':'" in result.output


def test_a_duplicate_uid_is_an_error(runner, project):
    define(project, "copy", "Copy", body=GOOD_DEFINITION.format(name="answer", title="Copy"))
    result = runner.invoke(cli, ["build"])
    assert result.exit_code == 1
    assert "has the uid 'queuedash-answer' of dashboard 'answer'" in result.output


def test_an_empty_title_is_an_error(runner, project):
    define(project, "untitled", "   ")
    result = runner.invoke(cli, ["build"])
    assert result.exit_code == 1
    assert "dashboards/untitled.py: dashboard 'untitled': the title is empty" in result.output


def test_an_unknown_queue_in_an_override_names_the_file(runner, project):
    (project / "queuedash.toml").write_text('queues = ["default"]\n[queue.emails]\nteam = "x"\n')
    result = runner.invoke(cli, ["build"])
    assert result.exit_code == 1
    assert result.output.strip() == "Error: queuedash.toml: queue.emails: overrides a queue that is not in `queues`"


def test_zero_metrics_must_land_on_a_dashboard_that_shows_them(runner, project):
    """The settings know no dashboard names: the build checks them against the definitions."""
    settings = project / "queuedash.toml"
    settings.write_text('queues = ["default"]\n[[zero_metrics]]\ntitle = "Lost"\ntarget = "a.b"\n'
                        'dashboard = "tasks"\n', encoding="utf-8")
    result = runner.invoke(cli, ["build"])
    assert result.exit_code == 1
    assert result.output == ("Error: queuedash.toml: zero_metrics[0].dashboard: no dashboard named 'tasks' "
                             "(there are: answer)\n")
    settings.write_text(settings.read_text().replace('"tasks"', '"answer"'), encoding="utf-8")
    result = runner.invoke(cli, ["build"])
    assert result.exit_code == 1
    assert "zero_metrics[0].dashboard: dashboard 'answer' (dashboards/answer.py) does not show" in result.output
    define(project, "answer", "Answer", body=GOOD_DEFINITION.format(name="answer", title="Answer").replace(
        'Row("Numbers", [presets.stat("Answer", ["constantLine(42)"])])',
        'Row("Numbers", [presets.stat("Answer", ["constantLine(42)"])] + health.extra(presets, settings, "answer"))',
    ).replace("from queuedash.authoring.layout import Row", "from queuedash.authoring import health\n"
                                                           "from queuedash.authoring.layout import Row"))
    result = runner.invoke(cli, ["build"])
    assert result.exit_code == 0, result.output


def test_settings_come_from_options_and_environment(runner, project):
    result = runner.invoke(cli, ["--datasource-uid", "from-cli", "build"], env={"QUEUEDASH_DATASOURCE_UID": "env"})
    assert result.exit_code == 0
    data = json.loads((project / "build" / "dashboards" / "queuedash-answer.json").read_text())
    assert data["panels"][1]["datasource"]["uid"] == "from-cli"
    runner.invoke(cli, ["build"], env={"QUEUEDASH_DATASOURCE_UID": "from-env"})
    data = json.loads((project / "build" / "dashboards" / "queuedash-answer.json").read_text())
    assert data["panels"][1]["datasource"]["uid"] == "from-env"


def test_a_missing_settings_file_given_explicitly_is_an_error(runner, project):
    result = runner.invoke(cli, ["--config", "missing.toml", "build"])
    assert result.exit_code == 1
    assert "missing.toml: settings file not found" in result.output


def test_usage_mistakes_exit_2(runner, project):
    assert runner.invoke(cli, ["build", "--bogus"]).exit_code == 2
    assert runner.invoke(cli, ["--namespace", "flat", "build"]).exit_code == 2


def test_help_explains_each_command(runner):
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0
    for command in ("build", "list", "validate"):
        assert command in result.output
    assert "replaced only when every" in runner.invoke(cli, ["build", "--help"]).output


def test_the_per_host_mode_from_the_environment_or_an_option(runner, in_tmp):
    (in_tmp / "queuedash.toml").write_text('queues = ["emails"]\n', encoding="utf-8")
    built = in_tmp / "build" / "dashboards" / "queuedash-queue-emails.json"
    for args, env in (([], {}), (["--per-host"], {}), ([], {"QUEUEDASH_PER_HOST": "true"})):
        result = runner.invoke(cli, [*args, "build", "--only", "queue-emails"], env=env)
        assert result.exit_code == 0, result.output
        per_host = "stats_counts.celery.tasks.emails.*.*.received" in built.read_text()
        assert per_host == bool(args or env), (args, env)
    result = runner.invoke(cli, ["build"], env={"QUEUEDASH_PER_HOST": "sometimes"})
    assert result.exit_code == 2
    assert "'sometimes' is not a valid boolean" in result.output
    assert "QUEUEDASH_PER_HOST" in runner.invoke(cli, ["--help"], terminal_width=200).output
