"""Fleets that outgrow one StatsD: each topology of the README, started for real on loopback, counts exactly.

Three worker "hosts" (real Celery workers named w@host1, w@host2, w@host3, prefork, the hook
installed), each sending to what its topology puts on its host, and a producer sending the same
mix of tasks (tests/agent_celery_app.py's FLEET_MIX) every time:

1. one central StatsD (fleet/statsd.js);
2. StatsD's cluster proxy on every host, in front of two StatsD nodes (fleet/statsd-proxy.js,
   statsd-node.js): the proxies share one consistent-hash ring, so a key is counted by one node;
3. a StatsD on every host (fleet/statsd.js) with the per-host mode on both sides;
4. the largest: proxies in front of two StatsD nodes flushing into carbon-c-relay
   (fleet/carbon-c-relay.conf), which hashes every metric to one of two carbon-caches, read
   through a front graphite-web over both storage nodes (fleet/graphite-web-cluster.py); `check`
   and `discover` against that front.

In each, the built dashboards' own queries (evaluated through graphite-web, as Grafana sends them)
give exactly the mix's count per queue and state and a backlog of 0; in the per-host topology the
alert rules, evaluated as Grafana's alerting would, page for the failures (summed over the hosts)
and nothing else. And the problem the per-host mode solves is measured: a StatsD on every host
*without* it undercounts, since every host's StatsD flushes the same key and Whisper keeps the last
value written in a slot.

The servers start from the reference configuration in fleet/ (stack/reference.py changes only the
addresses and the step). To run fast, StatsD flushes every second into 1 s whisper slots; the
topologies sharing one Graphite write under prefixes of their own, on Redis databases of their own.
Processing is known to be over when the workers have logged the end of every delivery; the
figures are read once a few flushes have landed after that, never polled until they look right.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import textwrap
import time

import pytest
from agent_support import REPO, TESTS, DashboardReader, Process, child_env, unavailable, wait_for
from realstack import CarbonRelay, Graphite, StatsD, StatsDProxy, graphite_retention, running

from queuedash import settings as settings_module
from queuedash.check import alerting
from queuedash.check.discover import discover
from queuedash.check.evaluate import check_all, TimeRange, OK, ERROR
from queuedash.compile.build import build_all
from queuedash.compile.rules import rule_groups
from queuedash.graphite.client import GraphiteClient
from queuedash.naming.metrics import ANY

pytestmark = [pytest.mark.realstack, pytest.mark.celery, pytest.mark.graphite, pytest.mark.statsd,
              pytest.mark.redis]

#: StatsD's flush interval and the whisper step, in seconds.
STEP = 1
HOSTS = ("host1", "host2", "host3")
#: FLEET_MIX, per queue and state: the retried task is sent, received and started twice.
EXPECTED = {
    "orders": {"sent": 32, "received": 32, "started": 32, "succeeded": 31, "retried": 1},
    "emails": {"sent": 24, "received": 24, "started": 24, "succeeded": 20, "failed": 4},
}
#: Deliveries that end (succeeded, failed, retried): the workers log each.
ENDS = sum(states.get(s, 0) for states in EXPECTED.values() for s in ("succeeded", "failed", "retried"))
ENDED = re.compile(r"Task e2e\.\w+\[[0-9a-f-]+\] (succeeded in|raised unexpected|retry:)")


@pytest.fixture(scope="module")
def shared_graphite():
    """The Graphite of the topologies that have one (1 s step), each under its own prefix."""
    with running(Graphite(retention=graphite_retention(STEP))) as graphite:
        yield graphite


@pytest.fixture(scope="module")
def broker(redis_server):
    base = redis_server.url.rsplit("/", 1)[0]
    # Databases no other module uses (the agent's tests take 0-2, 5-9 and 11-13 of the server the
    # session shares): a kombu binding left here would be a queue the poller's tests find.
    databases = iter((3, 4, 10, 14, 15))
    return lambda: f"{base}/{next(databases)}"


# -- the hosts ------------------------------------------------------------------------------------


@contextlib.contextmanager
def hosts(tmp, broker_url: str, ports: dict[str, int], **env):
    """A worker per host (w@<host>, prefork, 2 processes, the hook sending to ports[host]),
    started side by side."""
    workers = {}
    try:
        for host in HOSTS:
            argv = [sys.executable, "-m", "celery", "-A", "agent_celery_app", "worker", "-Q", "orders,emails",
                    "-c", "2", "-n", f"w@{host}", "--without-mingle", "--without-gossip", "-l", "info"]
            workers[host] = Process(argv, child_env(QUEUEDASH_E2E_BROKER=broker_url, QUEUEDASH_E2E_MODE="signals",
                                                    QUEUEDASH_STATSD_HOST="127.0.0.1",
                                                    QUEUEDASH_STATSD_PORT=ports[host], **env),
                                    tmp / f"worker-{host}.log")
        for host, worker in workers.items():
            if not worker.wait_for_log(" ready.", timeout=90):
                unavailable(f"celery worker of {host} did not start:\n{worker.tail()}")
        yield workers
    finally:
        for worker in workers.values():
            worker.stop()


def send_mix(broker_url: str, port: int, **env) -> float:
    """The producer (hooked, on host1's StatsD or proxy) sends the mix; returns when it was sent."""
    done = subprocess.run([sys.executable, str(TESTS / "agent_celery_app.py"), "fleet"],
                          env=child_env(QUEUEDASH_E2E_BROKER=broker_url, QUEUEDASH_E2E_MODE="signals",
                                        QUEUEDASH_STATSD_HOST="127.0.0.1", QUEUEDASH_STATSD_PORT=port, **env),
                          cwd=TESTS, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return time.time()


def ended_per_host(workers) -> dict[str, int]:
    return {host: len(ENDED.findall(worker.text())) for host, worker in workers.items()}


def run_mix(workers, broker_url: str, port: int, graphite_url: str, **env) -> dict[str, int]:
    """Send the mix, wait until the workers have ended every delivery and three flushes have
    landed in Graphite after that; returns how many deliveries each host ended."""
    send_mix(broker_url, port, **env)
    if not wait_for(lambda: sum(ended_per_host(workers).values()) >= ENDS, timeout=120, interval=0.5):
        pytest.fail(f"the workers ended {ended_per_host(workers)} of {ENDS} deliveries\n"
                    + "\n".join(f"--- {h} ---\n{w.tail()}" for h, w in workers.items()))
    ended = time.time()
    client = GraphiteClient(graphite_url)
    # Every StatsD writes its own packet counter on every flush, even with deleteIdleStats.
    landed = wait_for(lambda: any(ts >= ended + 3 * STEP for series in client.render(
        ["stats_counts.statsd.packets_received"], "-2min", "now", 1000) for value, ts in series.points
        if value is not None), timeout=30, interval=0.5)
    assert landed, "no StatsD flush reached Graphite after the workers finished"
    counts = ended_per_host(workers)
    assert sum(counts.values()) == ENDS, counts
    return counts


# -- the dashboards ---------------------------------------------------------------------------------


def dashboards(tmp, prefix: str, per_host: bool):
    config = tmp / f"queuedash-{prefix}.toml"
    config.write_text(textwrap.dedent(f"""
        queues = ["orders", "emails"]
        definitions = "{REPO / 'dashboards'}"
        [naming]
        prefix = "{prefix}"
        per_host = {'true' if per_host else 'false'}
        [defaults]
        must_be_zero = ["failed", "rejected", "unknown", "backlog"]
    """))
    settings = settings_module.load(config)
    return settings, build_all(settings)


def state_counts(reader: DashboardReader, queue: str) -> dict[str, int]:
    """Counts per state, from the tasks dashboard's "Task states per second" (rate x step)."""
    rates = reader.totals("tasks", "Task states per second", queue=queue, task="*")
    return {state: round(total * STEP) for state, total in rates.items() if round(total * STEP)}


def assert_exact(reader: DashboardReader) -> None:
    """The dashboards show the mix exactly: counts per queue and state, failures, a backlog of 0."""
    found = {queue: state_counts(reader, queue) for queue in EXPECTED}
    assert found == EXPECTED
    for queue, expected in EXPECTED.items():
        backlog = [v for v in reader.series(f"queue-{queue}", "Backlog: received - processed")[0].values
                   if v is not None]
        assert sum(backlog) == 0 and backlog[-1] == 0, (queue, backlog)
        assert [(s.numeric, s.color) for s in reader.shown(f"queue-{queue}", f"Backlog: {queue}")] == [(0, "green")]
        failed = [(s.text, s.color) for s in reader.shown(f"queue-{queue}", "Failed tasks")]
        assert failed == ([(str(expected["failed"]), "red")] if "failed" in expected else [("0", "green")])


def shared_out(counts: dict[str, int]) -> None:
    """The mix really was spread over the hosts (else one StatsD per host would be one StatsD)."""
    assert sum(1 for n in counts.values() if n) >= 2, counts


# -- the topologies -------------------------------------------------------------------------------------


def test_one_central_statsd_counts_exactly(shared_graphite, broker, tmp_path):
    prefix, url = "fleetcentral", broker()
    with running(StatsD(shared_graphite, flush_ms=STEP * 1000)) as statsd, \
         hosts(tmp_path, url, dict.fromkeys(HOSTS, statsd.port), QUEUEDASH_PREFIX=prefix) as workers:
        shared_out(run_mix(workers, url, statsd.port, shared_graphite.web_url, QUEUEDASH_PREFIX=prefix))
        _, built = dashboards(tmp_path, prefix, per_host=False)
        assert_exact(DashboardReader(shared_graphite.web_url, built, "-10min"))


def test_a_statsd_per_host_without_the_per_host_mode_undercounts(shared_graphite, broker, tmp_path):
    """Every host's StatsD flushes stats_counts.<prefix>.tasks.orders.e2e_slow.succeeded into the same
    whisper file; of the values written for one slot, Whisper keeps the last."""
    prefix, url = "fleetnaive", broker()
    with running(StatsD(shared_graphite, flush_ms=STEP * 1000)) as s1, \
         running(StatsD(shared_graphite, flush_ms=STEP * 1000)) as s2, \
         running(StatsD(shared_graphite, flush_ms=STEP * 1000)) as s3, \
         hosts(tmp_path, url, dict(zip(HOSTS, (s1.port, s2.port, s3.port))), QUEUEDASH_PREFIX=prefix) as workers:
        counts = run_mix(workers, url, s1.port, shared_graphite.web_url, QUEUEDASH_PREFIX=prefix)
        assert all(counts.values()), f"every host must have ended some tasks: {counts}"
        _, built = dashboards(tmp_path, prefix, per_host=False)
        reader = DashboardReader(shared_graphite.web_url, built, "-10min")
        found = {queue: state_counts(reader, queue) for queue in EXPECTED}
        succeeded = sum(found[q].get("succeeded", 0) for q in EXPECTED)
        print(f"a StatsD per host, no per-host mode: {found} for {EXPECTED}; hosts ended {counts}")
        assert succeeded < sum(e["succeeded"] for e in EXPECTED.values()), found


def test_a_statsd_per_host_with_the_per_host_mode_counts_exactly(shared_graphite, broker, tmp_path):
    prefix, url = "fleethosts", broker()
    env = {"QUEUEDASH_PREFIX": prefix, "QUEUEDASH_PER_HOST": "true"}
    with running(StatsD(shared_graphite, flush_ms=STEP * 1000)) as s1, \
         running(StatsD(shared_graphite, flush_ms=STEP * 1000)) as s2, \
         running(StatsD(shared_graphite, flush_ms=STEP * 1000)) as s3, \
         hosts(tmp_path, url, dict(zip(HOSTS, (s1.port, s2.port, s3.port))), **env) as workers:
        counts = run_mix(workers, url, s1.port, shared_graphite.web_url, **env)
        shared_out(counts)
        settings, built = dashboards(tmp_path, prefix, per_host=True)
        assert_exact(DashboardReader(shared_graphite.web_url, built, "-10min"))
        # Each worker's processes (the prefork children too) name their worker's host: the
        # hosts that started tasks are exactly those whose workers ended some.
        client = GraphiteClient(shared_graphite.web_url)
        node = settings.naming.task_host_node
        started = {series.target.split(".")[node] for series in client.render(
            [settings.naming.task_count(ANY, ANY, "started")], "-10min", "now", 43200) if series.has_data}
        assert started == {host for host, n in counts.items() if n}
        assert_check_and_discover(settings, shared_graphite.web_url)
        assert_rules_evaluate_exactly(settings, built, shared_graphite.web_url)


def test_a_proxy_per_host_in_front_of_two_statsd_nodes_counts_exactly(shared_graphite, broker, tmp_path):
    prefix, url = "fleetproxy", broker()
    with running(StatsD(shared_graphite, flush_ms=STEP * 1000, config="statsd-node.js")) as a, \
         running(StatsD(shared_graphite, flush_ms=STEP * 1000, config="statsd-node.js")) as b, \
         proxies([a, b]) as front, \
         hosts(tmp_path, url, front, QUEUEDASH_PREFIX=prefix) as workers:
        shared_out(run_mix(workers, url, front["host1"], shared_graphite.web_url, QUEUEDASH_PREFIX=prefix))
        _, built = dashboards(tmp_path, prefix, per_host=False)
        assert_exact(DashboardReader(shared_graphite.web_url, built, "-10min"))


def test_two_carbon_caches_behind_carbon_c_relay_read_through_one_graphite_web(broker, tmp_path):
    prefix, url = "fleetrelay", broker()
    retention = graphite_retention(STEP)
    with running(Graphite(retention=retention, web_workers=1)) as node_a, \
         running(Graphite(retention=retention, web_workers=1)) as node_b, \
         running(Graphite(cluster=[node_a, node_b])) as graphite, \
         running(CarbonRelay([node_a, node_b])) as relay, \
         running(StatsD(relay, flush_ms=STEP * 1000, config="statsd-node.js")) as a, \
         running(StatsD(relay, flush_ms=STEP * 1000, config="statsd-node.js")) as b, \
         proxies([a, b]) as front, \
         hosts(tmp_path, url, front, QUEUEDASH_PREFIX=prefix) as workers:
        shared_out(run_mix(workers, url, front["host1"], graphite.web_url, QUEUEDASH_PREFIX=prefix))
        settings, built = dashboards(tmp_path, prefix, per_host=False)
        assert_exact(DashboardReader(graphite.web_url, built, "-10min"))
        # Both storage nodes hold some of the task counters: the front really reads a cluster.
        for node in (node_a, node_b):
            assert list((node.whisper_dir / "stats_counts" / prefix / "tasks").rglob("*.wsp")), node.root
        assert_check_and_discover(settings, graphite.web_url)


@contextlib.contextmanager
def proxies(nodes):
    """A StatsD cluster proxy per host, all in front of the same nodes: {host: its UDP port}."""
    with contextlib.ExitStack() as stack:
        yield {host: stack.enter_context(running(StatsDProxy(nodes))).port for host in HOSTS}


def assert_rules_evaluate_exactly(settings, built, graphite_url: str) -> None:
    """The alert rules, evaluated as Grafana's alerting would on this Graphite: the failures on
    emails page with their count summed over the hosts, and nothing else fires (no backlog, none
    growing: received and processed both summed over the hosts)."""
    groups = [g.body() for g in rule_groups(settings, built, "11.6")]
    checked = {c.title: c for c in alerting.check_rules(GraphiteClient(graphite_url), groups)}
    values = {title: [i.value for i in check.instances] for title, check in checked.items()}
    failed = checked["Failed tasks on emails"]
    assert (failed.status, values[failed.title]) == (alerting.FIRING, [EXPECTED["emails"]["failed"]])
    assert {t for t, c in checked.items() if c.pages} == {"Failed tasks on emails"}, \
        {t: c.describe() for t, c in checked.items() if c.pages}
    for queue in EXPECTED:
        assert values[f"Backlog on {queue}"] == [0] and values[f"Backlog growing on {queue}"] == [0], queue
    assert values["Failed tasks on orders"] == []          # never fired: no series, no page


def assert_check_and_discover(settings, graphite_url: str) -> None:
    """`check` finds every panel that has data OK and nothing Graphite refuses; `discover` finds the queues."""
    results = check_all(build_all(settings), GraphiteClient(graphite_url), TimeRange("-10min", "now"))
    statuses = {(d.name, p.title): p.status for d in results for p in d.panels}
    assert ERROR not in statuses.values(), [k for k, v in statuses.items() if v == ERROR]
    for panel in (("tasks", "Task states per second"), ("queue-orders", "Backlog: received - processed"),
                  ("queue-emails", "Failed tasks"), ("tasks", "Slowest tasks"), ("tasks", "Most failing tasks")):
        assert statuses[panel] == OK, panel
    variables = {(d.name, v.name): v for d in results for v in d.variables}
    assert set(variables["tasks", "queue"].values) == {"orders", "emails"}
    found = discover(settings, graphite_url)
    assert found.known == ("emails", "orders") and found.new == ()
