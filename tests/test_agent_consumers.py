"""Consumers of Redis queues, end to end with the real parts: Redis, real Celery workers, the
poller (`queuedash agent poll`), StatsD, Graphite, and the broker dashboard's "Waiting with no
consumer" panel as Grafana's own display code shows it.

Redis has no consumer count: the poller asks the workers (Celery's inspect active_queues). One
worker consumes `alpha` only, busy, with messages waiting behind it; messages wait in `beta`,
which nobody consumes: alpha is green (0), beta red with the number waiting. Then a worker for
`beta` starts and beta turns green. A poller told not to ask (--inspect-timeout 0) sends no
consumer count, and the panel says "unknown", not red.
"""

from __future__ import annotations

import textwrap

import pytest
import redis
from agent_support import REPO, DashboardReader, agent_command, celery_worker, child_env, wait_for

from queuedash import settings as settings_module
from queuedash.compile.build import build_all

pytestmark = pytest.mark.realstack

PREFIX = {"asked": "qdconsumers", "unasked": "qdnoconsumers"}
WAITING = {"alpha": 5, "beta": 3}


def dashboards(tmp_path, prefix: str):
    config = tmp_path / f"{prefix}.toml"
    config.write_text(textwrap.dedent(f"""
        queues = ["alpha", "beta"]
        definitions = "{REPO / 'dashboards'}"
        [naming]
        prefix = "{prefix}"
    """))
    return build_all(settings_module.load(config), only="broker")


def send(broker: str, queue: str, task: str, args, count: int) -> None:
    """Publish `count` tasks from a producer process of tests/agent_celery_app.py."""
    import subprocess
    import sys

    code = (f"import agent_celery_app as a\n"
            f"for _ in range({count}): a.app.send_task({task!r}, args={args!r}, queue={queue!r})\n")
    done = subprocess.run([sys.executable, "-c", code], env=child_env(QUEUEDASH_E2E_BROKER=broker,
                                                                      QUEUEDASH_E2E_MODE="events"),
                          cwd=REPO / "tests", capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def shown(reader: DashboardReader) -> dict:
    return {s.name: (s.text, s.color) for s in reader.shown("broker", "Waiting with no consumer")}


def test_redis_queues_get_a_true_consumer_count_and_an_unknown_one_is_not_red(tmp_path, graphite, statsd,
                                                                              redis_server):
    broker = redis_server.url.rsplit("/", 1)[0] + "/12"
    redis.Redis.from_url(broker).flushdb()
    statsd_env = {"QUEUEDASH_STATSD_HOST": "127.0.0.1", "QUEUEDASH_STATSD_PORT": statsd.port}
    readers = {kind: DashboardReader(graphite.web_url, dashboards(tmp_path, prefix), "-5min")
               for kind, prefix in PREFIX.items()}
    pollers = [agent_command(tmp_path, f"poller-{kind}", "agent", "poll", "--prefix", prefix, "--broker", broker,
                             "--queue", "alpha", "--queue", "beta", "--interval", "2",
                             *(["--inspect-timeout", "0"] if kind == "unasked" else []), **statsd_env)
               for kind, prefix in PREFIX.items()]
    try:
        with celery_worker(tmp_path, broker=broker, mode="events", name="alpha", queues="alpha"):
            # Two slow tasks keep the worker's two processes busy; the rest wait in Redis.
            send(broker, "alpha", "e2e.slow", (120,), 2)
            send(broker, "alpha", "e2e.add", (1, 1), WAITING["alpha"])
            send(broker, "beta", "e2e.add", (1, 1), WAITING["beta"])
            first = {"alpha": ("0", "green"), "beta": (str(WAITING["beta"]), "red")}
            assert wait_for(lambda: shown(readers["asked"]) == first, 60, interval=1), shown(readers["asked"])
            # Nobody asked the workers: no consumer count, no verdict.
            assert wait_for(lambda: shown(readers["unasked"]) == {None: ("unknown", "transparent")}, 30,
                            interval=1), shown(readers["unasked"])

            with celery_worker(tmp_path, broker=broker, mode="events", name="beta", queues="beta"):
                assert wait_for(lambda: shown(readers["asked"]) == {"alpha": ("0", "green"),
                                                                    "beta": ("0", "green")}, 60, interval=1), \
                    shown(readers["asked"])
    finally:
        for poller in pollers:
            assert poller.stop() == 0, poller.tail()
