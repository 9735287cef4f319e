"""Each mistake a careless user made, as a test: one clear line, pointing the right way.

Settings that used to be accepted silently (a refresh Grafana cannot read, a blank queue name, a
runbook URL with a template typo), errors that pointed the wrong way (a misspelt `queues`, a
definition's exception with no line, `--only emails` for the dashboard `queue-emails`, `check` at
an address that is not graphite-web), a definition that never ends, `deploy --from` a dashboard
Grafana could not show, `validate` on the provisioning output, and the exit statuses of `diff`.
"""

from __future__ import annotations

import json
import textwrap
import threading
import time
from http.server import HTTPServer, SimpleHTTPRequestHandler

import pytest

from queuedash.cli.main import cli
from test_deploy_support import ADMIN_TOKEN, closed_port, define, point_at
# Fixtures (pytest finds them by name in this module's namespace):
from test_deploy_support import grafana, make_grafana, no_secret_leaks, project, queuedash  # noqa: F401


@pytest.fixture
def settings(in_tmp):
    def write(body: str):
        (in_tmp / "queuedash.toml").write_text(textwrap.dedent(body), encoding="utf-8")
        return in_tmp

    return write


def one_error(result) -> str:
    """The run's only line: an error, no traceback."""
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    return lines[0]


# ----- settings accepted silently before --------------------------------------------------------

@pytest.mark.parametrize("body, message", [
    ('[dashboards]\nrefresh = "1 minute"\n',
     'dashboards.refresh: \'1 minute\' is not a refresh interval Grafana reads: write it like "30s", "1m", "1h" '
     'or "1d" ("" turns refresh off)'),
    ('[dashboards]\nrefresh = "0s"\n', "dashboards.refresh: '0s' is not a refresh interval Grafana reads"),
    ('[dashboards]\ntime_from = "six hours ago"\n',
     "dashboards.time_from: 'six hours ago' is not a time Grafana reads"),
    ('queues = ["   "]\n', "queues: queue name '   ' is blank"),
    ('queues = [" emails"]\n', "queues: queue name ' emails' has blanks at its ends"),
    ('queues = ["a\\tb"]\n', "queues: queue name 'a\\tb' holds a control character"),
    ('queues = ["emails"]\n[queue.emails]\ntitle = "  "\n', "queue.emails.title: is blank: leave it out instead"),
    ('queus = ["emails"]\n[queue.emails]\nteam = "growth"\n', "queus: unknown key (did you mean 'queues'?)"),
    ('queues = ["emails"]\n[dashboard]\nrefresh = "1m"\n', "dashboard: unknown key (did you mean 'dashboards'?)"),
    ('definition_timeout = 0\n', "definition_timeout: must be a positive number of seconds, at most 86400"),
    ('queues = ["emails"]\n[alertng]\ngrafana_version = "11.6"\n',
     "alertng: unknown key (did you mean 'alerting'?)"),
    ('[alerting]\ngrafana_versoin = "11.6"\n', "alerting.grafana_versoin: unknown key (did you mean "
                                               "'grafana_version'?)"),
    ('[defaults]\nalert_fro = "1m"\n', "defaults.alert_fro: unknown key (did you mean 'alert_for'?)"),
    ('queues = ["emails"]\n[queue.emails]\nalert_lables = { env = "prod" }\n',
     "queue.emails.alert_lables: unknown key (did you mean 'alert_labels'?)"),
    ('queues = ["emails"]\n[queue.emails]\nalert_for = "1 minute"\n', "queue.emails.alert_for: "),
    ('[naming]\nper_hosts = true\n', "naming.per_hosts: unknown key (did you mean 'per_host'?)"),
    ('[naming]\nper_host = "yes"\n', "naming.per_host: expected true or false, got str 'yes'"),
])
def test_a_setting_grafana_cannot_use_is_one_line(runner, settings, body, message):
    settings(body)
    result = runner.invoke(cli, ["build"])
    assert result.exit_code == 1
    assert one_error(result).startswith(f"Error: queuedash.toml: {message}")


@pytest.mark.parametrize("refresh", ["", "5s", "1m", "1h30m", "1d", "2w"])
def test_refresh_intervals_grafana_reads_are_kept(runner, settings, refresh):
    root = settings(f'queues = []\n[dashboards]\nrefresh = "{refresh}"\ntime_from = "now-1d/d"\n')
    result = runner.invoke(cli, ["build", "--only", "tasks"])
    assert result.exit_code == 0, result.output
    built = json.loads((root / "build" / "dashboards" / "queuedash-tasks.json").read_text())
    assert built["refresh"] == refresh and built["time"]["from"] == "now-1d/d"


def test_a_runbook_url_is_a_template_and_its_typo_is_the_settings_files(runner, settings):
    root = settings('queues = ["emails"]\n[queue.emails]\nrunbook_url = "https://wiki.example/{{ queue.name }}"\n')
    assert runner.invoke(cli, ["build", "--only", "queue-emails"]).exit_code == 0
    built = json.loads((root / "build" / "dashboards" / "queuedash-queue-emails.json").read_text())
    assert {"title": "Runbook", "url": "https://wiki.example/emails"}.items() <= built["links"][0].items()
    runbook = [p for p in built["panels"] if p.get("title") == "Runbook and ownership"][0]
    assert "https://wiki.example/emails" in runbook["options"]["content"]
    # The queue's alert rules link the same runbook.
    assert runner.invoke(cli, ["build"]).exit_code == 0
    [group] = (root / "build" / "rules").glob("*.json")
    linked = {rule["annotations"].get("runbook_url") for rule in json.loads(group.read_text())["rules"]
              if rule["labels"].get("queue") == "emails"}
    assert linked == {"https://wiki.example/emails"}

    settings('queues = ["emails"]\n[queue.emails]\nrunbook_url = "https://wiki.example/{{ queue.nam }}"\n')
    result = runner.invoke(cli, ["build"])
    assert result.exit_code == 1
    assert one_error(result) == ("Error: queuedash.toml: template queue.emails.runbook_url line 1: "
                                 "'dict object' has no attribute 'nam'")


# ----- definitions ----------------------------------------------------------------------------

BROKEN = '''
def helper(settings):
    return len(settings.queues) / 0


def build(settings):
    return helper(settings)
'''


@pytest.fixture
def definitions(in_tmp):
    (in_tmp / "queuedash.toml").write_text('queues = []\n')
    (in_tmp / "dashboards").mkdir()

    def write(name: str, body: str):
        (in_tmp / "dashboards" / f"{name}.py").write_text(textwrap.dedent(body))
        return in_tmp

    return write


def test_a_definition_that_raises_names_its_line_and_debug_shows_the_traceback(runner, definitions):
    definitions("broken", BROKEN)
    result = runner.invoke(cli, ["build"])
    assert result.exit_code == 1
    assert one_error(result) == ("Error: dashboards/broken.py:3: dashboard 'broken': ZeroDivisionError: "
                                 "division by zero (--debug shows the traceback)")
    debug = runner.invoke(cli, ["--debug", "build"])
    assert debug.exit_code == 1
    assert "Traceback (most recent call last):" in debug.stderr
    assert 'dashboards/broken.py", line 7, in build' in debug.stderr
    assert 'dashboards/broken.py", line 3, in helper' in debug.stderr
    assert debug.stderr.strip().splitlines()[-1] == one_error(result)


def test_a_definition_that_never_ends_is_stopped_at_the_limit(runner, definitions):
    definitions("spin", "import time\n\n\ndef build(settings):\n    while True:\n        time.sleep(0.01)\n")
    started = time.monotonic()
    result = runner.invoke(cli, ["--definition-timeout", "0.5", "build"])
    assert result.exit_code == 1
    line = one_error(result)
    assert line.startswith("Error: dashboards/spin.py:")
    assert ": dashboard 'spin': did not finish within 0.5 s (stopped at this line; raise the limit with " in line
    assert time.monotonic() - started < 10
    # The limit is a setting too, and its environment variable.
    (definitions("spin", "def build(settings):\n    while True:\n        pass\n") / "queuedash.toml").write_text(
        "queues = []\ndefinition_timeout = 0.3\n")
    assert "did not finish within 0.3 s" in one_error(runner.invoke(cli, ["list"]))
    assert "did not finish within 0.2 s" in one_error(
        runner.invoke(cli, ["list"], env={"QUEUEDASH_DEFINITION_TIMEOUT": "0.2"}))


def test_a_definition_that_swallows_every_exception_is_stopped_too(runner, definitions):
    definitions("stubborn", "def build(settings):\n    while True:\n        try:\n            pass\n"
                            "        except Exception:\n            pass\n")
    result = runner.invoke(cli, ["--definition-timeout", "0.3", "build"])
    assert result.exit_code == 1 and "did not finish within 0.3 s" in one_error(result)


def test_a_loading_definition_that_never_ends_is_stopped_too(runner, definitions):
    definitions("top", "while True:\n    pass\n")
    result = runner.invoke(cli, ["--definition-timeout", "0.3", "build"])
    assert one_error(result) .startswith("Error: dashboards/top.py:")
    assert "cannot load the definition: did not finish within 0.3 s" in one_error(result)


def test_a_definition_calling_sys_exit_is_an_error_not_a_silent_exit(runner, definitions):
    definitions("quits", "import sys\n\n\ndef build(settings):\n    sys.exit(0)\n")
    result = runner.invoke(cli, ["build"])
    assert result.exit_code == 1
    assert one_error(result).startswith("Error: dashboards/quits.py:5: dashboard 'quits': SystemExit")


#: A definition's own alert rule, whose condition is the definition's code: it runs when the
#: rules are made, after build() returned, for `build`, `validate`, `check` and `deploy`.
OWN_CONDITION = '''
from queuedash.authoring.alerts import Alert, Condition, attach
from queuedash.authoring.dashboard import dashboard
from queuedash.authoring.layout import Row
from queuedash.authoring.panels import Presets


class Odd(Condition):
    def evaluator(self, version):
        {body}


def build(settings):
    panel = attach(Presets(settings).stat("Stuck", ["sumSeries(stats.gauges.stuck)"]),
                   Alert(name="stuck", title="Stuck", condition=Odd("above", 1)))
    return dashboard(settings, name="odd", title="Odd", rows=[Row("Health", [panel])])
'''


@pytest.mark.parametrize("command", [["build"], ["validate"], ["check", "--graphite", "http://127.0.0.1:9"]])
def test_a_rule_of_a_definition_that_raises_names_its_line(runner, definitions, command):
    definitions("odd", OWN_CONDITION.format(body="return 1 / 0"))
    result = runner.invoke(cli, command)
    assert result.exit_code == (2 if command[0] == "check" else 1)
    assert one_error(result) == ("Error: dashboards/odd.py:10: dashboard 'odd': panel 'Stuck': alert 'stuck': "
                                 "ZeroDivisionError: division by zero (--debug shows the traceback)")
    debug = runner.invoke(cli, ["--debug", *command])
    assert 'dashboards/odd.py", line 10, in evaluator' in debug.stderr


def test_a_rule_of_a_definition_that_never_ends_is_stopped_at_the_limit(runner, definitions):
    definitions("odd", OWN_CONDITION.format(body="while True:\n            pass"))
    started = time.monotonic()
    result = runner.invoke(cli, ["--definition-timeout", "0.3", "build"])
    assert result.exit_code == 1
    line = one_error(result)
    assert line.startswith("Error: dashboards/odd.py:1")
    assert line.endswith(": dashboard 'odd': panel 'Stuck': alert 'stuck': did not finish within 0.3 s (stopped "
                         "at this line; raise the limit with --definition-timeout, QUEUEDASH_DEFINITION_TIMEOUT or "
                         "definition_timeout in the settings)")
    assert time.monotonic() - started < 10
    assert not (definitions("odd", OWN_CONDITION.format(body="return 1 / 0")) / "build").exists()


# ----- --only -----------------------------------------------------------------------------------

def test_only_takes_the_queue_name_of_a_queue_dashboard(runner, settings):
    root = settings('queues = ["emails", "reports.daily"]\n')
    result = runner.invoke(cli, ["build", "--only", "emails"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].startswith("build/dashboards/queuedash-queue-emails.json")
    result = runner.invoke(cli, ["build", "--only", "reports.daily"])
    assert result.exit_code == 0, result.output
    assert "queue-reports-daily" in result.output
    assert (root / "build" / "dashboards").is_dir()


def test_only_with_a_name_that_fits_several_or_none_lists_them(runner, definitions):
    definitions("two", '''
        from queuedash.authoring.dashboard import dashboard
        from queuedash.authoring.layout import Row
        from queuedash.authoring.panels import Presets

        def build(settings):
            return [dashboard(settings, name=name, title=name, rows=[
                Row("Numbers", [Presets(settings).stat("Answer", ["constantLine(42)"])])]) for name in ("a-x", "b-x")]
    ''')
    for only in ("x", "y"):
        result = runner.invoke(cli, ["build", "--only", only])
        assert result.exit_code == 1
        assert one_error(result) == f"Error: no dashboard named {only!r} (there are: a-x, b-x)"


# ----- check and discover at the wrong address --------------------------------------------------

class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture
def not_graphite():
    """A web server that is not graphite-web (Python's own: POST is 501)."""
    server = HTTPServer(("127.0.0.1", 0), _Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_check_says_what_the_address_is_instead(runner, in_tmp, grafana, not_graphite):
    port = closed_port()
    cases = {
        f"127.0.0.1:{port}": f"Error: the Graphite URL '127.0.0.1:{port}' must start with http:// or https:// and "
                             "name a host (graphite-web's address, e.g. http://graphite:8080)",
        not_graphite: f"Error: {not_graphite}: ENDPOINT answered HTTP 501: not graphite-web; is the URL "
                      "graphite-web's own address (e.g. http://graphite:8080), sub-path included?",
        grafana.url: f"Error: {grafana.url}: ENDPOINT answered HTTP 404: this is Grafana, not graphite-web: "
                     "give graphite-web's own address (the URL of Grafana's Graphite datasource)",
    }
    for url, message in cases.items():
        for command, status in (("check", 2), ("discover", 1)):
            result = runner.invoke(cli, [command, "--graphite", url])
            assert result.exit_code == status, result.output
            # check asks /render or metrics/find first, as the first dashboard has it; discover metrics/find
            assert one_error(result) in (message.replace("ENDPOINT", "render"),
                                         message.replace("ENDPOINT", "metrics/find"))


@pytest.mark.parametrize("args", [["check", "--timeout", "0"], ["check", "--timeout", "-1"],
                                  ["discover", "--timeout", "0"], ["check", "--timeout", "soon"],
                                  ["check", "--timeout", "1e999"], ["discover", "--timeout", "1e10"]])
def test_a_timeout_that_cannot_be_is_a_usage_error(runner, in_tmp, args):
    result = runner.invoke(cli, args + ["--graphite", "http://127.0.0.1:9"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output and "Invalid value for '--timeout'" in result.output


# A wait longer than a socket or a thread can take (time_t overflows near 1e10 s) was an internal error.
@pytest.mark.parametrize("args, option", [
    (["deploy", "--dry-run", "--project", "ops", "--url", "http://127.0.0.1:9", "--timeout", "1e999"], "'--timeout'"),
    (["--definition-timeout", "1e10", "build"], "'--definition-timeout'"),
])
def test_a_wait_longer_than_a_day_is_a_usage_error(runner, in_tmp, args, option):
    result = runner.invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert f"Invalid value for {option} (env var:" in result.stderr
    assert "is not in the range 0<x<=86400" in result.stderr


@pytest.mark.parametrize("body, key", [("definition_timeout = 1e300\n", "definition_timeout"),
                                       ("[grafana]\ntimeout = inf\n", "grafana.timeout")])
def test_a_settings_wait_longer_than_a_day_is_one_line(runner, settings, body, key):
    settings(body)
    result = runner.invoke(cli, ["build"] if key == "definition_timeout" else ["deploy", "--dry-run"])
    assert result.exit_code == 1, result.output
    assert one_error(result) == (f"Error: queuedash.toml: {key}: must be a positive number of seconds, "
                                 "at most 86400")


# ----- deploy --from, validate ------------------------------------------------------------------

def test_deploy_from_a_dashboard_grafana_could_not_show_is_refused(project, grafana, queuedash):
    assert queuedash("build").exit_code == 0
    path = project / "build" / "dashboards" / "queuedash-answer.json"
    data = json.loads(path.read_text())
    data["panels"] = {"not": "a list"}
    path.write_text(json.dumps(data))
    run = queuedash("deploy", "--from", "build/dashboards")
    assert run.exit_code == 1
    assert run.stderr.strip() == ("Error: build/dashboards/queuedash-answer.json: `panels` must be a list of "
                                  "objects")
    assert grafana.write_count() == 0


def test_deploy_only_takes_a_short_name_with_from_too(project, grafana, queuedash):
    define(project, "queue-emails", "Emails")
    assert queuedash("build").exit_code == 0
    run = queuedash("deploy", "--from", "build/dashboards", "--only", "emails")
    assert run.exit_code == 0, run
    assert [d["uid"] for d in grafana.dashboards()] == ["queuedash-queue-emails"]


def test_validate_looks_into_subfolders(runner, in_tmp):
    (in_tmp / "queuedash.toml").write_text('queues = ["emails"]\n')
    assert runner.invoke(cli, ["build", "--provisioning", "grafana"]).exit_code == 0
    result = runner.invoke(cli, ["validate", "grafana"])
    assert result.exit_code == 0, result.output
    assert result.output == "5 dashboards OK\n"


# ----- diff's exit statuses ---------------------------------------------------------------------

DASHBOARDS_13 = "/apis/dashboard.grafana.app/v1/namespaces/default/dashboards"


@pytest.mark.parametrize("version, api", [("11.6.0", "legacy"), ("13.0.0", "apis")])
def test_diff_tells_differs_from_could_not_check(version, api, project, make_grafana, monkeypatch, queuedash):
    """On both paths: the legacy /api, which reads each dashboard by uid, and /apis, which lists them."""
    grafana = make_grafana(version)
    point_at(monkeypatch, grafana)
    assert f"through {'/apis' if api == 'apis' else 'the legacy /api'}" in queuedash("diff").stderr
    assert queuedash("diff").exit_code == 1  # differs: nothing deployed yet
    assert queuedash("deploy").exit_code == 0
    assert queuedash("diff").exit_code == 0  # same

    monkeypatch.setenv("GRAFANA_TOKEN", "glsa_NotATokenGrafanaKnows0000000000_12345678")
    refused = queuedash("diff")
    assert refused.exit_code == 2
    assert refused.stderr.strip().splitlines() == [
        "Error: Grafana does not know the token in GRAFANA_TOKEN (GET /api/org answered 401 api-key.invalid: "
        "Invalid API key)"]
    monkeypatch.setenv("GRAFANA_TOKEN", ADMIN_TOKEN)

    if api == "legacy":
        grafana.fail_next(1, 500, path_prefix="/api/dashboards/uid/queuedash-answer")
        unreadable = queuedash("diff")
        assert unreadable.exit_code == 2
        assert "diff: no differences in 1 dashboard, 1 could not be read" in unreadable.stderr
    else:
        # One list for every dashboard: when it fails, nothing could be compared.
        grafana.fail_next(1, 500, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                   "message": "etcdserver: request timed out", "reason": "InternalError",
                                   "code": 500}, methods="GET", path_prefix=DASHBOARDS_13)
        unreadable = queuedash("diff")
        assert unreadable.exit_code == 2
        assert unreadable.stderr.strip().splitlines()[-1] == (
            f"Error: GET {DASHBOARDS_13} answered 500 InternalError: etcdserver: request timed out")
        # Conflicts differ (deploy would not write them): a person's save on 13.
        grafana.human_edit("queuedash-answer")
        conflict = queuedash("diff")
        assert conflict.exit_code == 1, conflict
    monkeypatch.setenv("GRAFANA_API", "apis" if api == "legacy" else "legacy")
    other_path = queuedash("diff")
    assert other_path.exit_code == (2 if api == "legacy" else 1), other_path  # 11.6 has no /apis path
    monkeypatch.delenv("GRAFANA_API")

    monkeypatch.setenv("GRAFANA_URL", f"http://127.0.0.1:{closed_port()}")
    assert queuedash("diff", "--retries", "0").exit_code == 2
    (project / "queuedash.toml").write_text("queues = 3\n")
    assert queuedash("diff").exit_code == 2
