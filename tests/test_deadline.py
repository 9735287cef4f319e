"""`--timeout` is a deadline for each request, not a limit on the gap between bytes.

A slow-drip server (the stand-in's `drip_next`: status line, headers and body one byte every
50 ms, each byte well within any socket timeout) used to keep a request alive for as long as the
answer took to drip: seconds per request with `--timeout 1`. Every request now ends at its
deadline, whatever stage it is in, through the Grafana client, `deploy` (on the /apis path too: the
list read on a thread of its own while the folders are checked, and the saves), and the Graphite
client (`check`, `discover`); each retry gets a deadline of its own; requests in time are untouched.
"""

from __future__ import annotations

import time

import pytest
from click.testing import CliRunner

from queuedash.cli.main import cli
from queuedash.grafana import errors
from queuedash.grafana.client import GrafanaClient, RetryPolicy
from queuedash.grafana.credentials import Credentials
from queuedash.graphite.client import GraphiteClient, GraphiteError
from test_deploy_support import ADMIN_TOKEN, point_at
# Fixtures (pytest finds them by name in this module's namespace):
from test_deploy_support import grafana, make_grafana, no_secret_leaks, project, queuedash  # noqa: F401

DRIP = 0.05  # seconds per byte: a 200-byte answer takes 10 s to arrive


def client(standin, timeout=1.0, retries=0) -> GrafanaClient:
    return GrafanaClient(standin.url, Credentials(token=ADMIN_TOKEN), timeout=timeout,
                         retry=RetryPolicy(retries=retries, max_backoff=0.01), sleep=lambda seconds: None)


def timed(call):
    started = time.monotonic()
    try:
        return call(), time.monotonic() - started
    except Exception as exc:  # noqa: BLE001 - the test looks at what it was
        return exc, time.monotonic() - started


def test_a_slow_drip_answer_ends_at_the_deadline(grafana):
    grafana.drip_next(1, DRIP, path_prefix="/api/org")
    error, seconds = timed(client(grafana).org)
    assert isinstance(error, errors.GrafanaUnreachable), error
    assert str(error) == f"cannot reach Grafana at {grafana.url}: GET /api/org: no answer within 1 s"
    # The answer would have taken 10 s and more; the deadline is 1 s (slack for a loaded machine).
    assert seconds < 5


def test_each_attempt_gets_a_deadline_of_its_own(grafana):
    grafana.drip_next(1, DRIP, path_prefix="/api/org")
    answer, seconds = timed(client(grafana, retries=1).org)
    assert answer["id"] == 1  # the second attempt, in time
    assert [entry["fault"] for entry in grafana.request_log] == ["drip", None]


def test_requests_in_time_are_untouched_and_keep_their_connection(grafana):
    fast = client(grafana, timeout=0.5)
    for _ in range(20):
        assert fast.org()["id"] == 1
    time.sleep(0.6)  # past every deadline those requests had: nothing fires on the idle connection
    assert fast.org()["id"] == 1
    assert grafana.connections_accepted == 1


def test_deploy_ends_at_the_deadline_with_one_line(project, grafana, queuedash):
    grafana.drip_next(1, DRIP, path_prefix="/api/health")
    started = time.monotonic()
    run = queuedash("deploy", "--timeout", "1", "--retries", "0", fast=False)
    assert run.exit_code == 1
    assert run.stderr.strip().splitlines() == [
        f"Error: cannot reach Grafana at {grafana.url}: GET /api/health: no answer within 1 s"]
    assert time.monotonic() - started < 8
    assert grafana.write_count() == 0


APIS_DASHBOARDS = "/apis/dashboard.grafana.app/v1/namespaces/default/dashboards"


def test_the_apis_list_read_ahead_ends_at_the_deadline(project, make_grafana, monkeypatch, queuedash):
    grafana = make_grafana("13.0.0")
    point_at(monkeypatch, grafana)
    grafana.drip_next(1, DRIP, methods="GET", path_prefix=APIS_DASHBOARDS)
    started = time.monotonic()
    run = queuedash("deploy", "--timeout", "1", "--retries", "0", fast=False)
    assert run.exit_code == 1
    assert run.stderr.strip().splitlines() == [
        f"Error: cannot reach Grafana at {grafana.url}: GET {APIS_DASHBOARDS}: no answer within 1 s"]
    assert time.monotonic() - started < 8
    assert grafana.dashboards() == []  # (the folder is made while the list is on its way)


def test_an_apis_save_ends_at_the_deadline_and_fails_alone(project, make_grafana, monkeypatch, queuedash):
    grafana = make_grafana("13.0.0")
    point_at(monkeypatch, grafana)
    grafana.drip_next(1, DRIP, methods="POST", path_prefix=APIS_DASHBOARDS)
    started = time.monotonic()
    run = queuedash("deploy", "--timeout", "1", "--retries", "0", "--jobs", "1", fast=False)
    assert time.monotonic() - started < 8
    assert run.exit_code == 1
    failed = [line for line in run.stdout.splitlines() if line.startswith("failed ")]
    assert len(failed) == 1 and failed[0].endswith(f"(cannot reach Grafana at {grafana.url}: POST {APIS_DASHBOARDS}: "
                                                   "no answer within 1 s)"), run.stdout
    assert run.stdout.splitlines()[-1] == "deploy: 1 added, 0 updated, 0 unchanged, 0 conflict, 1 failed"


@pytest.mark.parametrize("command", ["check", "discover"])
def test_check_and_discover_end_at_the_deadline(command, grafana, in_tmp):
    grafana.drip_next(1, DRIP)
    started = time.monotonic()
    result = CliRunner().invoke(cli, [command, "--graphite", grafana.url, "--timeout", "1"])
    assert result.output == f"Error: {grafana.url}: Graphite did not answer within 1 s\n"
    assert result.exit_code == (2 if command == "check" else 1)
    assert time.monotonic() - started < 8


def test_the_graphite_client_alone(grafana):
    grafana.drip_next(1, DRIP)
    error, seconds = timed(lambda: GraphiteClient(grafana.url, timeout=1).find("*"))
    assert isinstance(error, GraphiteError) and "did not answer within 1 s" in str(error)
    assert seconds < 5
