"""Workers that come and go, end to end with the real parts: Redis, real Celery workers, the
event monitor, StatsD with the settings `make graphite-up` uses (deleteGauges, gaugesMaxTTL 3),
Graphite, and the workers dashboard as Grafana's own display code shows it.

Three workers run; then one stops cleanly (a goodbye: gone, never offline), one is killed with
SIGKILL (heartbeats stop: offline, red, until the monitor's --worker-expiry), and one is killed
and replaced by a worker with a new hostname (what every Kubernetes rollout does). In the end
"Workers offline" is back to a green 0, and the gone workers' gauges have left Graphite's
latest points: nothing stays red for good.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import textwrap

import pytest
import redis
from agent_support import REPO, DashboardReader, agent_command, celery_worker, wait_for

from queuedash import settings as settings_module
from queuedash.compile.build import build_all
from queuedash.naming.metrics import Naming, escape

pytestmark = pytest.mark.realstack

PREFIX = "qdworkers"
EXPIRY = 15


def offline_and_online(reader: DashboardReader):
    offline = [(s.text, s.color) for s in reader.shown("workers", "Workers offline")]
    online = [s.text for s in reader.shown("workers", "Workers online")]
    return offline, online


def online_values(graphite, host: str) -> list:
    path = Naming(prefix=PREFIX).worker_gauge(f"{host}@{socket.gethostname()}", "online")
    return [value for s in graphite.render(path, from_="-10min") for value, _ in s["datapoints"]]


def test_a_goodbye_is_gone_a_sigkill_is_offline_until_its_expiry_and_nothing_stays_red(
        tmp_path, graphite, statsd, redis_server):
    broker = redis_server.url.rsplit("/", 1)[0] + "/13"
    redis.Redis.from_url(broker).flushdb()
    config = tmp_path / "workers.toml"
    config.write_text(textwrap.dedent(f"""
        queues = ["wq"]
        definitions = "{REPO / 'dashboards'}"
        [naming]
        prefix = "{PREFIX}"
        [dashboards]
        expected_workers = 1
    """))
    reader = DashboardReader(graphite.web_url, build_all(settings_module.load(config), only="workers"), "-5min")
    monitor = agent_command(tmp_path, "monitor", "agent", "events", "--prefix", PREFIX, "--broker", broker,
                            "--poll-interval", "0", "--worker-expiry", str(EXPIRY),
                            QUEUEDASH_STATSD_HOST="127.0.0.1", QUEUEDASH_STATSD_PORT=statsd.port)
    try:
        assert monitor.wait_for_log("connected to broker", timeout=30), monitor.tail()
        with contextlib.ExitStack() as stack:
            workers = {name: stack.enter_context(celery_worker(tmp_path, broker=broker, mode="events", name=name,
                                                               queues="wq", events=True))
                       for name in ("clean", "killed", "old")}
            assert wait_for(lambda: offline_and_online(reader) == ([("0", "green")], ["3"]), 60, interval=1), \
                offline_and_online(reader)

            workers["clean"].stop()                       # a warm shutdown: the worker says goodbye
            workers["killed"].signal(signal.SIGKILL)
            workers["old"].signal(signal.SIGKILL)
            stack.enter_context(celery_worker(tmp_path, broker=broker, mode="events", name="new", queues="wq",
                                              events=True))
            # Heartbeats stopped: the two killed workers are offline, red; the one that said
            # goodbye is not counted.
            assert wait_for(lambda: offline_and_online(reader)[0] == [("2", "red")], 60, interval=1), \
                offline_and_online(reader)
            # After the expiry, and gaugesMaxTTL flushes later, their gauges are gone: green again.
            assert wait_for(lambda: offline_and_online(reader) == ([("0", "green")], ["1"]), 120, interval=1), \
                offline_and_online(reader)

            # No longer sent at all: the latest points of the gone workers are empty.
            for host in ("clean", "killed", "old"):
                assert wait_for(lambda: online_values(graphite, host)[-3:] == [None] * 3, 60, interval=1), \
                    (host, online_values(graphite, host))
            clean, killed = online_values(graphite, "clean"), online_values(graphite, "killed")
            assert 1 in clean and 0 not in clean, clean           # gone, never offline
            assert 0 in killed, killed                            # offline for a while
    finally:
        assert monitor.stop() == 0, monitor.tail()
    assert "worker clean@" in monitor.text() and "gone (said goodbye)" in monitor.text()
    assert "forgotten: no heartbeat" in monitor.text()
