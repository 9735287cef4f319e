"""Fixtures and helpers shared by the deploy tests (holds no tests of its own).

* `grafana` / `make_grafana`: the Grafana stand-in (tests/grafana_standin.py) on a
  loopback port, with an Admin and a Viewer token; stopped after the test.
* `project`: a queuedash project in a temporary folder with two small definitions,
  GRAFANA_URL and GRAFANA_TOKEN set in the environment.
* `queuedash`: runs the CLI through CliRunner with small timeouts and backoff caps.
* `no_secret_leaks` (autouse): after every test, asserts that no credential appears
  in any CLI output, exception text, captured log or captured stdout/stderr.

Nothing is mocked: every request goes over real HTTP.
"""

from __future__ import annotations

import base64
import logging
import socket
import textwrap
import time
import traceback
from pathlib import Path

import pytest
from click.testing import CliRunner

from queuedash.cli.main import cli
from grafana_standin import GrafanaStandin

ADMIN_TOKEN = "glsa_AdminTokenSecret0123456789abcdef_0badc0de"
EDITOR_TOKEN = "glsa_EditorTokenSecret123456789abcdef_0badc0de"
VIEWER_TOKEN = "glsa_ViewerTokenSecret123456789abcdef_0badc0de"
#: An Editor service account without alert.provisioning.provenance:write (licensed Enterprise
#: or Cloud let an admin take it from Editors): it may not provision alert rules on any version.
LOCKED_EDITOR_TOKEN = "glsa_LockedEditorSecret23456789abcdef_0badc0de"
USER, PASSWORD = "deployer", "Pa55word-that-must-not-leak"
SECRETS = (
    ADMIN_TOKEN, EDITOR_TOKEN, VIEWER_TOKEN, LOCKED_EDITOR_TOKEN, PASSWORD,
    base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode(),
    base64.b64encode(f"api_key:{ADMIN_TOKEN}".encode()).decode(),
)

#: The repository's standard definitions (their rules are the real ones).
REPO_DEFINITIONS = Path(__file__).resolve().parent.parent / "dashboards"

#: Fast but real: retries still happen, they just do not wait long.
FAST = ["--timeout", "2", "--max-backoff", "0.01"]

DEFINITION = '''
from queuedash.authoring.dashboard import dashboard
from queuedash.authoring.layout import Row
from queuedash.authoring.panels import Presets


def build(settings):
    presets = Presets(settings)
    return dashboard(settings, name="{name}", title="{title}", rows=[
        Row("Numbers", [presets.stat("{panel}", ["constantLine({value})"])]),
    ])
'''


class LeakCheck:
    """Texts a test produced; checked for secrets after the test."""

    def __init__(self):
        self.texts: list[str] = []

    def add(self, *texts: object) -> None:
        self.texts.extend(str(text) for text in texts)


@pytest.fixture(autouse=True)
def no_secret_leaks(caplog, capsys):
    caplog.set_level(logging.DEBUG, logger="queuedash")  # the most verbose logging there is
    check = LeakCheck()
    yield check
    captured = capsys.readouterr()
    texts = check.texts + [captured.out, captured.err]
    # caplog.records is per phase, and this runs in teardown: ask for the earlier phases.
    texts += [record.getMessage() for phase in ("setup", "call", "teardown") for record in caplog.get_records(phase)]
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, "a credential leaked into output"


@pytest.fixture
def make_grafana():
    started: list[GrafanaStandin] = []

    def make(version: str = "11.6.0", **kwargs) -> GrafanaStandin:
        standin = GrafanaStandin(version=version, **kwargs)
        standin.add_token(ADMIN_TOKEN, role="Admin", login="sa-queuedash")
        standin.add_token(EDITOR_TOKEN, role="Editor", login="sa-editor")
        standin.add_token(VIEWER_TOKEN, role="Viewer", login="sa-viewer")
        standin.add_token(LOCKED_EDITOR_TOKEN, role="Editor", login="sa-locked-editor",
                          without_actions=["alert.provisioning.provenance:write"])
        standin.add_user(USER, PASSWORD, orgs={1: "Editor"})
        standin.add_datasource(1, "graphite", "Graphite")  # the settings' default [datasource] uid
        started.append(standin.start())
        return standin

    yield make
    for standin in started:
        standin.stop()
    for standin in started:
        assert not standin.errors, f"the stand-in failed inside: {standin.errors[0]}"


@pytest.fixture
def grafana(make_grafana) -> GrafanaStandin:
    return make_grafana()


def define(root, name: str, title: str, panel: str = "Answer", value: int = 42) -> None:
    body = DEFINITION.format(name=name, title=title, panel=panel, value=value)
    (root / "dashboards" / f"{name}.py").write_text(textwrap.dedent(body), encoding="utf-8")


PROJECT = "github.com/acme/celery-ops"
SETTINGS = f"""\
queues = ["default"]

[grafana]
folder_uid = "celery"
folder_title = "Celery queues"
project = "{PROJECT}"
"""


@pytest.fixture
def project(in_tmp, grafana, monkeypatch):
    """A project with definitions `answer` and `second`, pointed at the stand-in."""
    (in_tmp / "dashboards").mkdir()
    (in_tmp / "queuedash.toml").write_text(SETTINGS, encoding="utf-8")
    define(in_tmp, "answer", "Answer")
    define(in_tmp, "second", "Second")
    point_at(monkeypatch, grafana)
    return in_tmp


def point_at(monkeypatch, standin: GrafanaStandin, token: str | None = ADMIN_TOKEN) -> None:
    monkeypatch.setenv("GRAFANA_URL", standin.url)
    for name in ("GRAFANA_TOKEN", "GRAFANA_USER", "GRAFANA_PASSWORD", "GRAFANA_ORG_ID", "GRAFANA_CA_BUNDLE",
                 "GRAFANA_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    if token is not None:
        monkeypatch.setenv("GRAFANA_TOKEN", token)


class Run:
    """One CLI run: exit code, stdout, stderr, and the wall time it took."""

    def __init__(self, result, seconds: float):
        self.result = result
        self.exit_code = result.exit_code
        self.stdout = result.stdout
        self.stderr = result.stderr
        self.output = result.output
        self.seconds = seconds

    @property
    def lines(self) -> list[str]:
        return self.stdout.splitlines()

    def status_of(self, uid: str) -> str:
        for line in self.lines:
            words = line.split()
            if len(words) >= 2 and words[1] == uid:
                return words[0]
        raise AssertionError(f"no line for {uid} in:\n{self.output}")

    def __repr__(self) -> str:
        return f"Run(exit {self.exit_code}):\n{self.output}"


@pytest.fixture
def queuedash(no_secret_leaks):
    runner = CliRunner()

    def run(*args: str, fast: bool = True) -> Run:
        command, rest = args[0], list(args[1:])
        argv = [command] + (FAST if fast and command in ("deploy", "diff") else []) + rest
        started = time.monotonic()
        result = runner.invoke(cli, argv)
        seconds = time.monotonic() - started
        no_secret_leaks.add(result.output, result.stdout, result.stderr, repr(result.exception))
        if result.exc_info is not None:
            no_secret_leaks.add("".join(traceback.format_exception(*result.exc_info)))
        return Run(result, seconds)

    return run


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def writes(standin: GrafanaStandin) -> list[dict]:
    return [entry for entry in standin.request_log if entry["method"] in ("POST", "PUT", "DELETE", "PATCH")]


def saves(standin: GrafanaStandin) -> list[dict]:
    return [entry for entry in standin.request_log
            if entry["method"] == "POST" and entry["route_path"] == "/api/dashboards/db"]


def marker_value(dashboard_data: dict) -> str | None:
    for variable in dashboard_data.get("templating", {}).get("list", []):
        if variable.get("name") == "queuedash" and variable.get("type") == "constant":
            return variable.get("query")
    return None
