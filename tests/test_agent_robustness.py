"""The event monitor under trouble: the broker goes away and comes back, StatsD
is down, events are malformed, SIGTERM arrives. Real Redis, real subprocesses
(`queuedash agent events`), real UDP.
"""

from __future__ import annotations

import base64
import contextlib
import json
import signal
import socket
import threading
import time
import tracemalloc

import pytest
import redis
from agent_support import UdpCapture, agent_command, wait_for
from celery import Celery
from celery.events.event import get_exchange
from realstack import Redis, running

from queuedash.naming.metrics import Naming
from queuedash.agent.client import BufferedClient, UDPClient
from queuedash.agent.keys import Keys
from queuedash.agent.lifecycle import Backoff
from queuedash.agent.monitor import Monitor
from queuedash.agent.routes import QueueResolver
from queuedash.agent.translate import Translator




def dispatch_until_counted(broker: str, capture: UdpCapture, timeout: float = 20.0) -> bool:
    """Send task-received events (a new task each time) until StatsD's side sees one counted."""
    app = Celery("robustness-producer", broker=broker, set_as_current=False)
    with app.connection_for_write() as connection:
        dispatcher = app.events.Dispatcher(connection, hostname="producer@test", enabled=True)
        counter = [0]

        def sent_and_counted():
            counter[0] += 1
            dispatcher.send("task-received", uuid=f"probe-{counter[0]}", name="probe.task")
            return wait_for(lambda: any(".probe_task.received" in key for key in capture.counters()), 0.5)

        found = wait_for(sent_and_counted, timeout, interval=0)
        dispatcher.close()
    return found


@contextlib.contextmanager
def monitoring(url: str, capture: UdpCapture, name: str):
    """An event monitor on `url` sending to `capture`, on a thread, connected and seen counting;
    stopped (and its thread gone) on the way out. Yields (app, monitor, translator, thread)."""
    app = Celery(name, broker=url, set_as_current=False)
    client = BufferedClient(UDPClient("127.0.0.1", capture.port))
    translator = Translator(Keys(Naming()), client, QueueResolver(default="q"))
    monitor = Monitor(app, url, translator, client, tick_interval=0.2, backoff=Backoff(0.2, 1))
    thread = threading.Thread(target=monitor.run, daemon=True)
    thread.start()
    try:
        assert monitor.connected.wait(20)
        assert dispatch_until_counted(url, capture)
        yield app, monitor, translator, thread
    finally:
        monitor.stop()
        thread.join(10)
    assert not thread.is_alive()


def closed_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.realstack
@pytest.mark.redis                  # starts and stops a Redis of its own
def test_broker_lost_and_back_reconnects_without_crashing(tmp_path, capture):
    with running(Redis()) as redis:
        port = redis.port
        monitor = agent_command(tmp_path, "monitor", "agent", "events", "--broker", redis.url, "--poll-interval", "0",
                                "--reconnect-max", "1", "--statsd-port", str(capture.port))
        try:
            assert monitor.wait_for_log("connected to broker", timeout=20), monitor.tail()
            assert dispatch_until_counted(redis.url, capture)
            redis.stop()
            assert monitor.wait_for_log("broker connection lost", timeout=20), monitor.tail()
            time.sleep(2)                                   # a few failed attempts while it is down
            assert monitor.popen.poll() is None, monitor.tail()
            with running(Redis(port=port)):
                assert monitor.wait_for_log("connected to broker", timeout=20, count=2), monitor.tail()
                capture.lines.clear()
                assert dispatch_until_counted(redis.url, capture), monitor.tail()
            assert monitor.popen.poll() is None
        finally:
            code = monitor.stop()
        assert code == 0, monitor.tail()
        assert "Traceback" not in monitor.text()


def test_statsd_down_grows_no_memory_and_buffers_nothing():
    """Events keep coming while StatsD is down: the task table stays within max_tasks, the buffer
    does not grow, packets go out (or are counted as dropped). The monitor's events per second
    with StatsD down are measured by benchmarks/agent_benchmark.py."""
    transport = UDPClient("127.0.0.1", closed_udp_port())
    client = BufferedClient(transport)
    translator = Translator(Keys(Naming()), client, QueueResolver(default="q"), max_tasks=1000)

    def run(tasks: int, start: int) -> None:
        for i in range(start, start + tasks):
            uuid = f"task-{i}"
            translator.handle({"type": "task-received", "uuid": uuid, "name": "proj.add", "timestamp": 1.0})
            translator.handle({"type": "task-started", "uuid": uuid, "timestamp": 2.0})
            translator.handle({"type": "task-succeeded", "uuid": uuid, "runtime": 0.1, "timestamp": 3.0})

    run(5000, 0)                      # warm: caches and the task table are full
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    run(20000, 5000)                  # twenty times max_tasks: a table that kept them would hold MBs
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    assert grown < 1_000_000, f"memory grew by {grown} bytes over 60,000 events"
    assert len(translator.tasks) <= 1000
    assert client.buffered_lines < 100
    assert transport.sent_packets + transport.dropped_packets > 1000


def test_malformed_events_are_counted_and_skipped(redis_server, capture):
    url = redis_server.url.rsplit("/", 1)[0] + "/8"
    with monitoring(url, capture, "robustness-monitor") as (app, _, translator, thread):
        with app.connection_for_write() as connection:
            producer = connection.Producer()
            exchange = get_exchange(connection, name=app.conf.event_exchange)
            bad = [
                ("a string, not an event", {}),
                ({"no": "type"}, {}),
                ({"type": "task-received", "hostname": "w"}, {}),                 # no uuid
                ([{"type": "task-received", "uuid": "good-in-list", "name": "listed.task"}, 42], {}),
                (b"\x00\xff garbage", {"content_type": "application/x-nonsense", "content_encoding": "binary"}),
            ]
            for body, options in bad:
                producer.publish(body, exchange=exchange, routing_key="task.bogus", declare=[exchange],
                                 serializer=None if options else "json", **options)
        assert wait_for(lambda: translator.malformed >= 5, 10), translator.malformed
        assert wait_for(lambda: "celery.tasks.q.listed_task.received" in capture.counters(), 5)
        capture.lines.clear()
        assert dispatch_until_counted(url, capture)       # still working
        assert thread.is_alive()
    assert translator.malformed == 5


def test_one_bad_message_a_second_costs_no_event_and_no_reconnection(redis_server, capture, caplog):
    """Raw PUBLISHes on the events channel: bodies that are not JSON, JSON that is not a kombu
    envelope, an event whose type is not a string. Every one is counted and skipped on the same
    connection; the good events sent between them all arrive; the log stays short, no traceback."""
    db = 9
    url = redis_server.url.rsplit("/", 1)[0] + f"/{db}"
    caplog.set_level("DEBUG")
    raw = redis.Redis.from_url(url)
    channel = f"/{db}.celeryev/task.bogus"
    try:
        with monitoring(url, capture, "robustness-bad-messages") as (app, monitor, translator, _):
            malformed_before = translator.malformed
            bad = [b"\x00\xff not json", b'{"not": "an envelope"}',
                   json.dumps({"body": base64.b64encode(json.dumps({"type": ["task-received"], "uuid": "x"}).encode())
                               .decode(), "content-type": "application/json", "content-encoding": "utf-8",
                               "properties": {"body_encoding": "base64", "delivery_info": {"exchange": "celeryev",
                                                                                          "routing_key": "task.bogus"},
                                              "delivery_tag": "t"}, "headers": {}}).encode()]
            rounds = 20
            with app.connection_for_write() as connection:
                dispatcher = app.events.Dispatcher(connection, hostname="producer@test", enabled=True)
                for i in range(rounds):
                    for body in bad:
                        raw.publish(channel, body)
                    dispatcher.send("task-received", uuid=f"between-{i}", name="between.task")
                dispatcher.close()
            key = "celery.tasks.q.between_task.received"
            assert wait_for(lambda: capture.counters().get(key) == rounds, 15), capture.counters().get(key)
            assert wait_for(lambda: translator.malformed - malformed_before == rounds * len(bad), 5), \
                translator.malformed - malformed_before
            assert monitor.disconnections == 0 and monitor.connections == 1
    finally:
        raw.close()
    text = caplog.text
    assert "Traceback" not in text
    assert len([r for r in caplog.records if r.levelname == "WARNING"]) <= 12, text[-3000:]


def test_good_events_read_behind_a_bad_message_arrive_without_waiting_for_more(redis_server, capture):
    """Messages published together reach the monitor in one read, which kombu's Redis transport
    splits: a bad one among them must not hold back the good ones behind it until the next
    message comes (in a quiet spell, never). The good events are the envelopes Celery's own
    dispatcher published, recorded off the channel, then published again in one pipeline,
    each behind a message that is not JSON and one that is not kombu's envelope. (Database 9,
    as the test above: the tests of a module run one after the other; every other is taken.)"""
    db = 9
    url = redis_server.url.rsplit("/", 1)[0] + f"/{db}"
    raw = redis.Redis.from_url(url)
    channel = f"/{db}.celeryev/task.received"
    rounds = 20
    # Celery's envelopes, as its dispatcher publishes them.
    recorder = raw.pubsub()
    recorder.subscribe(channel)
    assert wait_for(lambda: recorder.get_message(timeout=0.2) is not None, 5)  # the subscribe confirmation
    producer = Celery("robustness-envelopes", broker=url, set_as_current=False)
    with producer.connection_for_write() as connection:
        dispatcher = producer.events.Dispatcher(connection, hostname="producer@test", enabled=True)
        for i in range(rounds):
            dispatcher.send("task-received", uuid=f"behind-{i}", name="behind.task")
        dispatcher.close()
    envelopes = []
    assert wait_for(lambda: envelopes.extend(m["data"] for m in [recorder.get_message(timeout=0.2)] if m)
                    or len(envelopes) == rounds, 10), len(envelopes)
    recorder.close()

    try:
        with monitoring(url, capture, "robustness-behind") as (_, monitor, translator, _):
            malformed_before = translator.malformed
            pipeline = raw.pipeline(transaction=False)
            for envelope in envelopes:
                pipeline.publish(channel, b"\x00\xff not json")
                pipeline.publish(channel, b'{"not": "an envelope"}')
                pipeline.publish(channel, envelope)
            pipeline.execute()
            key = "celery.tasks.q.behind_task.received"
            # Nothing is published after the pipeline: what is held back stays held back.
            assert wait_for(lambda: capture.counters().get(key) == rounds, 10), capture.counters().get(key)
            assert wait_for(lambda: translator.malformed - malformed_before == 2 * rounds, 5), \
                translator.malformed - malformed_before
            assert monitor.disconnections == 0 and monitor.connections == 1
    finally:
        raw.close()


@pytest.mark.parametrize("command", ["events", "poll"])
def test_sigterm_stops_cleanly(tmp_path, redis_server, capture, command):
    extra = ["--queue", "q", "--poll-interval", "1"] if command == "events" else ["--queue", "q", "--interval", "1"]
    process = agent_command(tmp_path, command, "agent", command, "--broker", redis_server.url, *extra,
                            "--statsd-port", str(capture.port))
    try:
        ready = "connected to broker" if command == "events" else "polling redis"
        assert process.wait_for_log(ready, timeout=20), process.tail()
        assert wait_for(lambda: "celery.broker.q.length" in capture.gauges(), 10)
        process.signal(signal.SIGTERM)
        started = time.monotonic()
        process.popen.wait(10)
        took = time.monotonic() - started
    finally:
        code = process.stop()
    assert code == 0, process.tail()
    assert took < 5
    assert "stopping: SIGTERM" in process.text()
    assert "Traceback" not in process.text()
