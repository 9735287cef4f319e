"""Ctrl-C stops a deploy: a real SIGINT to a real `queuedash deploy` process.

The stand-in answers every save after 300 ms (a distant Grafana), so with `--jobs 4` most saves
are still queued when the signal comes. Ctrl-C must cancel what has not started, let the requests
in flight finish, print the outcome of every dashboard touched and the summary, and exit 130;
before, every queued save still ran and only `Aborted!` was printed. On both paths: the legacy
`/api` (one POST per dashboard) and `/apis` (a dry run, then the save: a dashboard whose save
never left when the signal came is not started). The alert rules, written after the dashboards
one whole-group PUT at a time, stop the same way: the group in flight is written and reported,
the next one is not started.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from grafana_standin import GrafanaStandin
from queuedash.cli.main import cli

DASHBOARDS = 24
JOBS = 4
QUEUEDASH = Path(sys.executable).parent / "queuedash"

MANY = '''
from queuedash.authoring.dashboard import dashboard
from queuedash.authoring.layout import Row
from queuedash.authoring.panels import Presets


def build(settings):
    return [dashboard(settings, name=f"d{index:02d}", title=f"Dashboard {index}", rows=[
        Row("Numbers", [Presets(settings).stat("Answer", ["constantLine(42)"])]),
    ]) for index in range(%d)]
''' % DASHBOARDS


@pytest.fixture
def built(in_tmp):
    (in_tmp / "dashboards").mkdir()
    (in_tmp / "dashboards" / "many.py").write_text(textwrap.dedent(MANY))
    (in_tmp / "queuedash.toml").write_text('queues = []\n[grafana]\nproject = "github.com/acme/interrupt"\n')
    result = CliRunner().invoke(cli, ["build", "--out", "built"])
    assert result.exit_code == 0, result.output
    return in_tmp / "built"


#: (Grafana version, where a save goes): the legacy path on 11.6, /apis on 13 (chosen by itself).
PATHS = {"legacy": ("11.6.0", "/api/dashboards/db"),
         "apis": ("13.0.0", "/apis/dashboard.grafana.app/v1/namespaces/default/dashboards")}


def saves(standin, path: str, dry_runs: bool = False) -> int:
    """Saves that reached Grafana (not /apis dry runs, which store nothing); or the dry runs."""
    return sum(1 for entry in standin.request_log
               if entry["method"] == "POST" and entry["route_path"] == path
               and ("dryRun" in entry["query"]) == dry_runs)


def started(standin, api: str, path: str) -> bool:
    """Time for Ctrl-C: saves on their way. On /apis, the second round of dry runs: those
    dashboards' saves must then never leave."""
    if api == "apis":
        return saves(standin, path, dry_runs=True) >= 2 * JOBS
    return saves(standin, path) >= JOBS


@pytest.mark.parametrize("api", sorted(PATHS))
def test_ctrl_c_stops_a_deploy_and_reports_what_it_did(built, in_tmp, api):
    version, path = PATHS[api]
    standin = GrafanaStandin(version=version).start()
    standin.add_token("glsa_interrupt_test_token_0123456789", role="Admin")
    standin.add_datasource(1, "graphite", "Graphite")
    standin.slow_next(10 ** 6, 0.3, methods="POST", path_prefix=path)
    env = {**os.environ, "GRAFANA_URL": standin.url, "GRAFANA_TOKEN": "glsa_interrupt_test_token_0123456789"}
    process = subprocess.Popen([str(QUEUEDASH), "deploy", "--from", str(built), "--jobs", str(JOBS)],
                               cwd=in_tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not started(standin, api, path) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert started(standin, api, path), f"the deploy never started saving: {process.poll()}"
        process.send_signal(signal.SIGINT)
        at_signal = saves(standin, path)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
        standin.stop()
    assert not standin.errors

    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and "Aborted!" not in stderr
    added = [line for line in stdout.splitlines() if line.startswith("added ")]
    assert f"through {'/apis' if api == 'apis' else 'the legacy /api'}" in stdout
    sent = saves(standin, path)
    # Every save that reached Grafana is reported, and is in Grafana; nothing new started after Ctrl-C
    # but what was already on its way (at most one per job).
    assert len(added) == sent == len(standin.dashboards())
    assert at_signal <= sent <= at_signal + JOBS
    assert sent < DASHBOARDS
    assert stdout.splitlines()[-1] == (f"deploy: {sent} added, 0 updated, 0 unchanged, 0 conflict, 0 failed, "
                                       f"{DASHBOARDS - sent} not started (interrupted)")
    assert stderr.strip().splitlines()[-1] == (
        "Error: interrupted: the requests in flight finished, the outcome of each is above; "
        f"{DASHBOARDS - sent} dashboards not started")


#: Two rule groups: the folder's (queue default, workers offline) and team growth's (queue emails).
TWO_GROUPS = """\
queues = ["default", "emails"]
definitions = "{definitions}"

[grafana]
project = "github.com/acme/interrupt"

[queue.emails]
team = "growth"
alert_group = "team"
"""
RULES_PATH = "/api/v1/provisioning/folder/"


def run_until_signal(standin, cwd: Path, ready) -> tuple[subprocess.Popen, str, str]:
    """`queuedash deploy` against the stand-in, Ctrl-C once `ready()`; its exit and output."""
    env = {**os.environ, "GRAFANA_URL": standin.url, "GRAFANA_TOKEN": "glsa_interrupt_test_token_0123456789"}
    process = subprocess.Popen([str(QUEUEDASH), "deploy"], cwd=cwd, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not ready() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert ready(), f"the deploy never got there: {process.poll()}"
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    return process, stdout, stderr


def test_ctrl_c_during_the_rules_finishes_the_group_in_flight_and_starts_no_other(in_tmp):
    definitions = Path(__file__).resolve().parent.parent / "dashboards"
    (in_tmp / "queuedash.toml").write_text(TWO_GROUPS.format(definitions=definitions))
    standin = GrafanaStandin(version="11.6.0").start()
    try:
        standin.add_token("glsa_interrupt_test_token_0123456789", role="Admin")
        standin.add_datasource(1, "graphite", "Graphite")
        standin.slow_next(10, 1.0, methods="PUT", path_prefix=RULES_PATH)

        def group_puts() -> list[dict]:
            return [entry for entry in standin.request_log
                    if entry["method"] == "PUT" and entry["route_path"].startswith(RULES_PATH)]

        process, stdout, stderr = run_until_signal(standin, in_tmp, lambda: group_puts())
        assert not standin.errors
        [put] = group_puts()   # the second group's write never started
        stored = standin.alerting.rules()
    finally:
        standin.stop()
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and "Aborted!" not in stderr
    written = {rule["uid"] for rule in stored}
    assert written == {rule["uid"] for rule in put["body"]["rules"]}
    added = {line.split()[1] for line in stdout.splitlines() if line.startswith("added ") and " (group " in line}
    assert added == written
    left = 13 - len(written)   # each queue: 4 should-be-zero conditions, growing, length; workers offline
    assert stdout.splitlines()[-1] == (f"rules: {len(written)} added, 0 updated, 0 unchanged, 0 conflict, 0 failed, "
                                       f"{left} not started (interrupted)")
    assert stderr.strip().splitlines()[-1] == (
        "Error: interrupted: the requests in flight finished, the outcome of each is above; "
        f"0 dashboards and {left} alert rules not started")
