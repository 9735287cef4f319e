"""The servers of stack/ start real servers configured as the tests need them, and leave nothing behind.

Needs the installs of stack/install.sh; without them these tests skip locally and fail in CI.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest
import redis
import requests
from realstack import Graphite, Redis, StackError, StatsD, require_installed, running

from stack.base import LOOPBACK, REPO_ROOT, alive, free_ports, marked_processes, process_started_at, \
    udp_port_is_free

pytestmark = pytest.mark.realstack


def poll(fetch, accept, timeout: float = 20.0, interval: float = 0.2):
    """Call fetch() until accept(result) or the timeout; return the last result either way."""
    deadline = time.monotonic() + timeout
    while True:
        result = fetch()
        if accept(result) or time.monotonic() > deadline:
            return result
        time.sleep(interval)


def values_at(series: list, timestamp: int) -> list:
    return [value for s in series for value, ts in s["datapoints"] if ts == timestamp]


# --------------------------------------------------------------------------- Graphite


def test_graphite_renders_a_plaintext_metric(graphite):
    step = graphite.finest_retention
    ts = int(time.time()) // step * step
    graphite.send(f"qd.selftest.plain.received 7 {ts}")
    graphite.wait_for_metric("qd.selftest.plain.received", timeout=30)

    series = graphite.render("qd.selftest.plain.received", from_="-5min")

    assert [s["target"] for s in series] == ["qd.selftest.plain.received"]
    assert values_at(series, ts) == [7.0]


def test_graphite_functions_endpoint_answers_a_json_object(graphite):
    # Grafana's Graphite datasource loads /functions; graphite-web 1.1 answers 500 on Python 3.11
    # unless the settings module shims inspect.getargspec.
    answer = requests.get(f"{graphite.web_url}/functions", timeout=10)

    assert answer.status_code == 200
    functions = answer.json()
    assert isinstance(functions, dict)
    assert {"diffSeries", "sumSeries", "summarize"} <= functions.keys()


def whisper_headers(graphite: Graphite, files) -> dict:
    """whisper.info() of each file, read with the graphite venv's whisper module (not ours)."""
    script = "import json, sys, whisper; print(json.dumps({f: whisper.info(f) for f in sys.argv[1:]}))"
    out = subprocess.run([str(graphite.venv / "bin" / "python"), "-c", script, *map(str, files)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


AGGREGATION_BY_NAME = {
    "qd.selftest.agg.received.count": "sum",
    "stats_counts.qd.selftest.agg.received": "sum",
    "qd.selftest.agg.runtime.sum": "sum",
    "qd.selftest.agg.runtime.sum_90": "sum",
    "qd.selftest.agg.runtime.lower": "min",
    "qd.selftest.agg.runtime.upper": "max",
    "qd.selftest.agg.runtime.upper_90": "max",
    "qd.selftest.agg.received.rate": "average",
    "qd.selftest.agg.queue.length": "average",
}


def test_whisper_files_get_the_aggregation_method_of_their_name(graphite):
    graphite.send([(path, 1) for path in AGGREGATION_BY_NAME])
    files = {path: graphite.wait_for_metric(path) for path in AGGREGATION_BY_NAME}

    headers = whisper_headers(graphite, files.values())

    got = {path: headers[str(f)]["aggregationMethod"] for path, f in files.items()}
    assert got == AGGREGATION_BY_NAME
    assert {headers[str(f)]["xFilesFactor"] for f in files.values()} == {0.0}
    archives = headers[str(files["qd.selftest.agg.received.count"])]["archives"]
    assert archives[0]["secondsPerPoint"] == graphite.finest_retention
    assert archives[-1]["secondsPerPoint"] == 60


def test_rollup_to_one_minute_sums_counts_and_averages_rates(graphite):
    # Six points in one minute, values 1..6, into the finest archive; a query reaching back past its
    # one-day retention is answered from the 1-minute archive, i.e. from the rollup.
    step = graphite.finest_retention
    minute = int(time.time()) // 60 * 60 - 120
    points = [(minute + i * step, i + 1) for i in range(60 // step)]
    expected = {"qd.selftest.rollup.received.count": float(sum(v for _, v in points)),
                "qd.selftest.rollup.received.rate": sum(v for _, v in points) / len(points),
                "qd.selftest.rollup.runtime.lower": 1.0,
                "qd.selftest.rollup.runtime.upper": float(len(points))}
    graphite.send([(path, value, ts) for path in expected for ts, value in points])
    for path in expected:
        graphite.wait_for_metric(path)

    def rolled_up():
        series = graphite.render(list(expected), from_=str(int(time.time()) - 2 * 86400))
        return {s["target"]: values_at([s], minute) for s in series}

    got = poll(rolled_up, lambda r: r == {p: [v] for p, v in expected.items()})
    assert got == {path: [value] for path, value in expected.items()}


def test_fixed_busy_port_fails_with_the_server_name(graphite):
    server = Graphite(carbon_port=graphite.carbon_port, pickle_port=free_ports(1)[0],
                      cache_query_port=free_ports(1)[0], web_port=free_ports(1)[0])
    with pytest.raises(StackError, match=rf"^graphite: ports already in use: carbon_port={graphite.carbon_port}$"):
        server.start()
    assert server.pids == {} and server.root is None


# --------------------------------------------------------------------------- StatsD


@pytest.mark.graphite
@pytest.mark.statsd
def test_statsd_counter_reaches_graphite_as_stats_counts():
    # A Graphite with 1 s points and a StatsD flushing every 1 s: same rule as the 10 s default
    # (flush = finest retention), ten times faster.
    with running(Graphite(retention="1s:1h,1m:1d")) as graphite, running(StatsD(graphite, flush_ms=1000)) as sd:
        sd.send("qd.selftest.hits:3|c")
        sd.send("qd.selftest.hits:4|c")
        graphite.wait_for_metric("stats_counts.qd.selftest.hits", timeout=20)

        def total():
            series = graphite.render("stats_counts.qd.selftest.hits", from_="-2min")
            return sum(v for s in series for v, _ in s["datapoints"] if v)

        assert poll(total, lambda t: t == 7) == 7
        # legacy namespace: the per-second rate under stats.<key>, nothing under stats.counters
        graphite.wait_for_metric("stats.qd.selftest.hits", timeout=10)
        assert graphite.render("stats.counters.*.*.*.*") == []
    assert graphite.leftovers() == [] and sd.leftovers() == []


def test_statsd_fixture_flushes_at_the_graphite_step(statsd, graphite):
    assert statsd.health() == "health: up"
    assert statsd.flush_ms == graphite.finest_retention * 1000
    assert not udp_port_is_free(statsd.port)


@pytest.mark.parametrize("retention", ["10s:1d,1m:7d", "1s:1h"])
def test_statsd_refuses_a_flush_faster_than_the_finest_retention(retention):
    # several flushes would land in one whisper slot and overwrite each other
    graphite = Graphite(retention=retention)
    with pytest.raises(ValueError, match="shorter than the Graphite's finest retention"):
        StatsD(graphite, flush_ms=graphite.finest_retention * 1000 // 2)


# --------------------------------------------------------------------------- Redis


def test_redis_answers_ping(redis_server):
    with socket.create_connection((redis_server.host, redis_server.port), timeout=5) as s:
        s.sendall(b"*1\r\n$4\r\nPING\r\n")
        assert s.recv(64) == b"+PONG\r\n"
    assert redis_server.url == f"redis://127.0.0.1:{redis_server.port}/0"


def test_redis_has_redis_s_sixteen_databases_and_keeps_idle_clients(redis_server):
    # pytest-redis's defaults are 8 databases and a 15 s idle timeout; the tests use /9 and
    # brokers stay connected between polls
    client = redis.Redis.from_url(redis_server.url)
    try:
        assert client.config_get("databases") == {"databases": "16"}
        assert client.config_get("timeout") == {"timeout": "0"}
    finally:
        client.close()

@pytest.mark.redis
def test_redis_on_a_busy_port_fails_with_its_name_and_leaves_nothing():
    require_installed(Redis())
    with socket.socket() as busy:
        busy.bind((LOOPBACK, 0))
        busy.listen()
        server = Redis(port=busy.getsockname()[1])
        with pytest.raises(StackError, match=rf"^redis: port {busy.getsockname()[1]} already in use$"):
            server.start()
    assert server.pids == {} and server.root is None


@pytest.mark.redis
def test_a_stopped_server_leaves_no_process_and_no_folder():
    with running(Redis()) as server:
        assert server.leftovers() == list(server.pids.values())
        root = server.root
    assert server.leftovers() == []
    assert not root.exists()


# --------------------------------------------------------------------------- RabbitMQ


def test_rabbitmq_management_api_lists_queues(rabbitmq):
    rabbitmq.api("/api/queues/%2F/qd-selftest", method="PUT", body={"durable": False})

    queues = rabbitmq.api("/api/queues")

    assert "qd-selftest" in [q["name"] for q in queues]
    assert rabbitmq.amqp_url == f"amqp://guest:guest@127.0.0.1:{rabbitmq.port}//"
    with socket.create_connection(("127.0.0.1", rabbitmq.port), timeout=5) as amqp:
        amqp.sendall(b"AMQP\x00\x00\x09\x01")
        assert amqp.recv(1) == b"\x01"       # a Connection.Start method frame


def test_rabbitmqs_epmd_left_the_process_group_but_carries_the_servers_mark(rabbitmq):
    # Erlang daemonizes epmd out of the node's process group, so signalling the group misses it;
    # the stop finds it by mirakuru's mark instead (and the fixture's stop fails if it survives).
    [epmd] = rabbitmq.epmd_pids()
    assert os.getpgid(epmd) != rabbitmq.pids["rabbitmq"]
    assert epmd in rabbitmq.leftovers()


# --------------------------------------------------------------------------- make graphite-up / graphite-down


@pytest.mark.graphite
@pytest.mark.statsd
def test_command_line_up_and_down(tmp_path):
    cli_graphite = Graphite()
    require_installed(cli_graphite, StatsD(cli_graphite))
    carbon, pickle, cache_query, web, mgmt = free_ports(5)
    statsd_port = free_ports(1, exclude=[carbon, pickle, cache_query, web, mgmt])[0]
    cli = [sys.executable, "-m", "stack", "graphite"]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}

    def stack(*args, timeout=120):
        return subprocess.run([*cli, *args, "--dir", str(tmp_path)], capture_output=True, text=True,
                              timeout=timeout, env=env, cwd=tmp_path)

    up = stack("up", "--carbon-port", str(carbon), "--pickle-port", str(pickle), "--cache-query-port",
               str(cache_query), "--web-port", str(web), "--with-statsd", "--statsd-port", str(statsd_port),
               "--statsd-mgmt-port", str(mgmt))
    recorded = json.loads((tmp_path / "servers.json").read_text()) if up.returncode == 0 else {}
    marks = [entry["mark"] for entry in recorded.values()]
    processes = [process_started_at(entry["pid"], entry["started"]) for entry in recorded.values()]
    try:
        assert up.returncode == 0, up.stderr
        assert f"http://127.0.0.1:{web}" in up.stdout
        assert sorted(recorded) == ["carbon", "graphite-web", "statsd"]
        assert None not in processes and len(alive(processes)) == 3
        assert requests.get(f"http://127.0.0.1:{web}/metrics/find?query=*", timeout=10).status_code == 200
        env_sh = (tmp_path / "env.sh").read_text()
        assert f"CARBON_PORT={carbon}" in env_sh
        # The names queuedash reads: `check` and `discover` need no --graphite, the agent finds StatsD.
        assert f"QUEUEDASH_GRAPHITE_URL=http://127.0.0.1:{web}" in env_sh
        assert f"QUEUEDASH_STATSD_HOST=127.0.0.1 QUEUEDASH_STATSD_PORT={statsd_port}" in env_sh
        again = stack("up", timeout=60)
        assert again.returncode == 1 and "already running" in again.stderr
    finally:
        down = stack("down")
    assert down.returncode == 0, down.stderr
    assert alive(p for p in processes if p) == [] and marked_processes(marks) == []
    assert not (tmp_path / "servers.json").exists()
    assert list((tmp_path / "graphite" / "pids").glob("*.pid")) == []
