"""End to end, real parts only: Redis, real Celery workers, the agent, StatsD
(npm statsd, legacy namespace, 10 s flush) into carbon, graphite-web. Then the
built dashboards' own queries, evaluated through /render, must give exactly
the counts of the mix that was sent.

Both paths run at once, each under a StatsD prefix of its own so their counts
cannot mix, and each on a Redis database of its own so their workers cannot
take each other's tasks:

* signals: a worker of tests/agent_celery_app.py with the hook installed, the
  producer hooked too, and ``queuedash agent poll`` for the queue gauges;
* events: a plain worker with -E, producers with task_send_sent_event, and
  ``queuedash agent events`` (with its poller) turning events into metrics.

Flushes are waited for by polling Graphite, never by sleeping a fixed time.
"""

from __future__ import annotations

import textwrap
import time

import pytest
from agent_support import REPO, DashboardReader, agent_command, celery_worker, send_mix, wait_for
from realstack import flush_seconds

from queuedash import settings as settings_module
from queuedash.compile.build import build_all
from queuedash.naming.metrics import TASK_STATES

pytestmark = [pytest.mark.realstack, pytest.mark.celery]

PATHS = ("signals", "events")
PREFIX = {"signals": "e2esig", "events": "e2eevt"}
DB = {"signals": 1, "events": 2}

#: tests/agent_celery_app.py's send_mix, per queue and state. The retried task
#: is sent, received and started twice; the revoked one is discarded on arrival
#: and counts as received and revoked.
EXPECTED = {
    "orders": {"sent": 9, "received": 9, "started": 8, "succeeded": 7, "retried": 1, "revoked": 1},
    "emails": {"sent": 5, "received": 5, "started": 5, "succeeded": 3, "failed": 2},
}
FAILING, HEALTHY = "emails", "orders"


def dashboards_for(tmp_path, path: str):
    """The dashboards built for the e2e inventory under this path's prefix."""
    config = tmp_path / f"queuedash-{path}.toml"
    config.write_text(textwrap.dedent(f"""
        queues = ["orders", "emails"]
        definitions = "{REPO / 'dashboards'}"
        [naming]
        prefix = "{PREFIX[path]}"
        [dashboards]
        expected_workers = 1
        [defaults]
        must_be_zero = ["failed", "rejected", "unknown", "backlog"]
    """))
    return build_all(settings_module.load(config))


def state_counts(reader: DashboardReader, queue: str) -> dict[str, int]:
    """Counts per state from the tasks dashboard's "Task states per second" (rates x flush)."""
    rates = reader.totals("tasks", "Task states per second", queue=queue, task="*")
    return {state: round(total * flush_seconds()) for state, total in rates.items() if round(total * flush_seconds())}


def all_counted(readers) -> bool:
    return all(state_counts(readers[path], queue) == expected
               for path in PATHS for queue, expected in EXPECTED.items())


@pytest.fixture(scope="module")
def e2e(tmp_path_factory, graphite, statsd, redis_server):
    """Both paths run the mix; yields {path: DashboardReader} once every count is in Graphite
    and one more flush has landed after that."""
    tmp = tmp_path_factory.mktemp("agent-e2e")
    base = redis_server.url.rsplit("/", 1)[0]
    brokers = {path: f"{base}/{DB[path]}" for path in PATHS}
    statsd_env = {"QUEUEDASH_STATSD_HOST": "127.0.0.1", "QUEUEDASH_STATSD_PORT": statsd.port}
    started = time.time()

    monitor = agent_command(tmp, "monitor", "agent", "events", "--prefix", PREFIX["events"],
                            "--broker", brokers["events"], "--queue", "orders", "--queue", "emails",
                            "--poll-interval", "2", **statsd_env)
    poller = agent_command(tmp, "poller", "agent", "poll", "--prefix", PREFIX["signals"],
                           "--broker", brokers["signals"], "--queue", "orders", "--queue", "emails",
                           "--interval", "2", **statsd_env)
    try:
        with celery_worker(tmp, broker=brokers["signals"], mode="signals", name="sig",
                           QUEUEDASH_PREFIX=PREFIX["signals"], **statsd_env), \
             celery_worker(tmp, broker=brokers["events"], mode="events", name="evt", events=True):
            # Events are Redis PUB/SUB: the monitor must be listening before tasks run.
            assert monitor.wait_for_log("worker evt@", timeout=30), monitor.tail()
            send_mix(brokers["signals"], "signals", QUEUEDASH_PREFIX=PREFIX["signals"], **statsd_env)
            send_mix(brokers["events"], "events")
            readers = {path: DashboardReader(graphite.web_url, dashboards_for(tmp, path), "-10min")
                       for path in PATHS}
            counted = wait_for(lambda: all_counted(readers), timeout=90, interval=1.0)
            if not counted:
                found = {(p, q): state_counts(readers[p], q) for p in PATHS for q in EXPECTED}
                pytest.fail(f"counts never reached the mix: {found}\n--- monitor ---\n{monitor.tail()}")
            # One more flush after everything counted: nothing arrives late to spoil "exactly".
            landed = time.time()
            step = graphite.finest_retention
            probe = f"stats_counts.{PREFIX['events']}.tasks.orders.e2e_add.sent"
            assert wait_for(lambda: any(ts >= landed + step and value is not None
                                        for s in graphite.render(probe, from_="-2min")
                                        for value, ts in s["datapoints"]), timeout=3 * step, interval=0.5)
            yield readers
    finally:
        assert monitor.stop() == 0, monitor.tail()
        assert poller.stop() == 0, poller.tail()
        print(f"agent e2e: {time.time() - started:.1f} s")


@pytest.mark.parametrize("path", PATHS)
def test_task_state_counts_per_queue_are_exactly_the_mix(e2e, path):
    reader = e2e[path]
    for queue, expected in EXPECTED.items():
        assert state_counts(reader, queue) == expected, (path, queue)
        assert set(state_counts(reader, queue)) <= set(TASK_STATES)


@pytest.mark.parametrize("path", PATHS)
def test_succeeded_and_failed_stats_show_the_mix(e2e, path):
    reader = e2e[path]
    for queue, expected in EXPECTED.items():
        succeeded = reader.shown("tasks", "Succeeded", queue=queue, task="*")
        failed = reader.shown("tasks", "Failed in $queue ($task)", queue=queue, task="*")
        # What the panel shows: a queue with no failure has no failed series, shown as noValue "0".
        assert [s.text for s in succeeded] == [str(expected.get("succeeded", 0))]
        assert [s.text for s in failed] == [str(expected.get("failed", 0))]


@pytest.mark.parametrize("path", PATHS)
def test_failure_panel_is_red_on_the_failing_queue_only(e2e, path):
    reader = e2e[path]
    # The tasks dashboard's should-be-zero panel: one value per queue that has a failed
    # counter; a queue that never failed has none, so it cannot be red.
    by_queue = {s.name: (s.numeric, s.color) for s in reader.shown("tasks", "Failed tasks")}
    assert by_queue == {FAILING: (2, "red")}
    # Each queue's own dashboard: red with 2 on the failing one, green "0" on the other.
    assert [(s.text, s.color) for s in reader.shown(f"queue-{FAILING}", "Failed tasks")] == [("2", "red")]
    assert [(s.text, s.color) for s in reader.shown(f"queue-{HEALTHY}", "Failed tasks")] == [("0", "green")]


@pytest.mark.parametrize("path", PATHS)
def test_backlog_returns_to_zero_when_all_tasks_end(e2e, path):
    reader = e2e[path]
    for queue in EXPECTED:
        # received - processed per flush, over the whole run: every received task ended.
        backlog = reader.series(f"queue-{queue}", "Backlog: received - processed")
        assert len(backlog) == 1
        values = [v for v in backlog[0].values if v is not None]
        assert any(v != 0 for v in reader.series("tasks", "Task states per second", queue=queue, task="*")[0].values
                   if v is not None), "no activity at all: the backlog would be trivially zero"
        assert sum(values) == 0, (queue, values)
        assert values[-1] == 0
        # And the should-be-zero backlog stat of the tasks' queue is green.
        title = f"Backlog: {queue}"
        assert [(s.numeric, s.color) for s in reader.shown(f"queue-{queue}", title)] == [(0, "green")]
        # The broker's queue is empty again.
        length = reader.shown(f"queue-{queue}", "Queue length now")
        assert [s.numeric for s in length] == [0]


@pytest.mark.parametrize("path", PATHS)
def test_runtime_and_wait_time_are_measured(e2e, path):
    reader = e2e[path]
    runtime = {s.target: max(v for v in s.values if v is not None)
               for s in reader.series("tasks", "Runtime", queue="orders", task="*") if s.has_data}
    assert runtime["max"] >= 1500          # the slow task sleeps 1.5 s
    assert runtime["max"] < 5000
    wait = {s.target for s in reader.series("tasks", "Wait time", queue="*", task="*") if s.has_data}
    assert {"mean", "max"} <= wait


def test_the_monitor_reports_the_worker_online(e2e):
    reader = e2e["events"]
    assert [s.numeric for s in reader.shown("workers", "Workers online")] == [1]
    assert [(s.numeric, s.color) for s in reader.shown("workers", "Workers offline")] == [(0, "green")]
