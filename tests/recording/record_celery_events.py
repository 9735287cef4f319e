"""Record what real Celery workers send, on every pool that installs here.

For each pool (prefork, solo, threads, and gevent and eventlet when they import), this starts a
real worker of tests/recording/recording_app.py on a real Redis, with task events on and
queuedash's signal hook installed, sends one task per outcome the naming contract counts, and
records both paths at once:

* ``events``: every event the worker and the producer sent, as Celery's event receiver hands
  them to a handler (what `queuedash agent events` gives its translator), in arrival order;
* ``hook``: every counter the signal hook sent to StatsD (key -> count), caught on a UDP socket.

The recordings are the fixtures the translator's tests replay (tests/test_agent_recordings.py):
tests/fixtures/celery_events/<pool>.json. Regenerate them after a Celery upgrade with::

    make record-events        # = .venv/bin/python tests/recording/record_celery_events.py

Options: ``--pool NAME`` (repeat; default every pool that imports), ``--out DIR``, ``--broker URL``
(default: a Redis started for the run with stack/servers.py).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
for path in (HERE, HERE.parent, REPO):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from agent_support import UdpCapture  # noqa: E402  (StatsD's side of the socket, as the tests have it)

POOLS = ("prefork", "solo", "threads", "gevent", "eventlet")
#: The Python module each pool needs beyond Celery.
POOL_MODULES = {"gevent": "gevent", "eventlet": "eventlet"}
OUT = REPO / "tests" / "fixtures" / "celery_events"
QUEUES = ("alpha", "beta")
TERMINAL = ("task-succeeded", "task-failed", "task-rejected", "task-revoked", "task-retried")

#: What is sent, in order: (label, task name, queue, arguments). The label names the outcome.
SCENARIO = (
    ("success", "rec.succeed", "alpha", (1, 2)),
    ("success", "rec.succeed", "beta", (3, 4)),
    ("failure", "rec.fail", "alpha", ()),
    ("retry", "rec.retry", "alpha", ()),
    ("reject without requeue", "rec.reject_drop", "beta", ()),
    ("reject of an acknowledged message", "rec.reject_acked", "beta", ()),
    ("reject with requeue", "rec.reject_requeue", "beta", ()),
    ("ignore", "rec.ignore", "alpha", ()),
    ("unknown task", "rec.unknown", "alpha", ()),
    ("soft time limit", "rec.soft_limit", "alpha", ()),
    ("hard time limit", "rec.hard_limit", "alpha", ()),
)


def available_pools() -> list[str]:
    found = []
    for pool in POOLS:
        module = POOL_MODULES.get(pool)
        if module:
            try:
                importlib.import_module(module)
            except ImportError:
                continue
        found.append(pool)
    return found


class EventLog:
    """Celery's event receiver in a thread, keeping every event it hands over."""

    def __init__(self, app):
        self.app = app
        self.events: list[dict] = []
        self.ready = threading.Event()
        self._lock = threading.Lock()
        self._receiver = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self.ready.wait(20):
            raise SystemExit("the event receiver did not connect")

    def _record(self, event: dict) -> None:
        with self._lock:
            self.events.append(event)

    def _run(self) -> None:
        with self.app.connection_for_read() as connection:
            self._receiver = self.app.events.Receiver(connection, handlers={"*": self._record})
            self.ready.set()
            self._receiver.capture(limit=None, timeout=None, wakeup=False)

    def snapshot(self) -> list[dict]:
        with self._lock:
            return list(self.events)

    def of_type(self, *types: str) -> list[dict]:
        return [e for e in self.snapshot() if e.get("type") in types]

    def close(self) -> list[dict]:
        if self._receiver is not None:
            self._receiver.should_stop = True
        self._thread.join(10)
        return self.snapshot()


def wait_for(predicate, timeout: float, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(interval)


def start_worker(pool: str, broker: str, statsd_port: int, log: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QUEUEDASH_", "CELERY_"))}
    env.update(PYTHONPATH=os.pathsep.join([str(HERE), str(REPO)]), QUEUEDASH_RECORD_BROKER=broker,
               QUEUEDASH_STATSD_HOST="127.0.0.1", QUEUEDASH_STATSD_PORT=str(statsd_port))
    argv = [sys.executable, "-m", "celery", "-A", "recording_app", "worker", "-P", pool, "-c", "2",
            "-Q", ",".join(QUEUES), "-n", f"rec-{pool}@recording", "--without-mingle", "--without-gossip",
            "-E", "-l", "info"]
    out = open(log, "wb")
    worker = subprocess.Popen(argv, env=env, cwd=HERE, stdin=subprocess.DEVNULL, stdout=out,
                              stderr=subprocess.STDOUT, start_new_session=True)
    if not wait_for(lambda: b" ready." in log.read_bytes() or worker.poll() is not None, 60):
        raise SystemExit(f"the {pool} worker did not start:\n{log.read_text()[-3000:]}")
    if worker.poll() is not None:
        raise SystemExit(f"the {pool} worker died:\n{log.read_text()[-3000:]}")
    return worker


def settled(log: EventLog, sent: int, quiet: float = 2.0) -> bool:
    """Every task sent has had its say: as many task-sent as sent, and no task event for `quiet` s
    (heartbeats go on)."""
    if len(log.of_type("task-sent")) < sent:
        return False
    tasks = [e for e in log.snapshot() if str(e.get("type")).startswith("task-")]
    time.sleep(quiet)
    return len([e for e in log.snapshot() if str(e.get("type")).startswith("task-")]) == len(tasks)


def record(pool: str, broker: str, workdir: Path) -> dict:
    """One pool's recording: events and hook counters for the whole scenario."""
    import recording_app
    import queuedash_agent
    from celery.utils import uuid

    app = recording_app.app
    app.conf.broker_url = broker
    udp = UdpCapture()
    queuedash_agent.install(app, statsd_host="127.0.0.1", statsd_port=udp.port)   # the producer's side
    log = EventLog(app)
    worker = start_worker(pool, broker, udp.port, workdir / f"worker-{pool}.log")
    sent = 0
    try:
        assert wait_for(lambda: log.of_type("worker-online"), 20), "no worker-online event"
        # Revoked before it reaches the worker: discarded on arrival.
        revoked_id = uuid()
        if not app.control.revoke(revoked_id, reply=True, timeout=10):
            raise SystemExit(f"the {pool} worker did not answer the revoke broadcast")
        recording_app.succeed.apply_async((0, 0), queue="beta", task_id=revoked_id)
        sent += 1
        for _label, name, queue, args in SCENARIO:
            app.send_task(name, args=args, queue=queue)
            sent += 1
        # Revoked while it runs (terminate: the pools that can, stop it; the others let it end).
        running = app.send_task("rec.sleep", args=(3,), queue="beta")
        sent += 1
        wait_for(lambda: any(e.get("uuid") == running.id for e in log.of_type("task-started")), 20)
        app.control.revoke(running.id, terminate=True, signal="SIGKILL")
        if not wait_for(lambda: settled(log, sent), 60, interval=0):
            seen = Counter(e.get("type") for e in log.snapshot())
            raise SystemExit(f"the {pool} worker never settled ({sent} sent; events seen: {dict(seen)}):\n"
                             f"{(workdir / f'worker-{pool}.log').read_text()[-3000:]}")
    finally:
        os.killpg(worker.pid, signal.SIGTERM)          # a warm shutdown: the worker says goodbye
        worker.wait(30)
    wait_for(lambda: log.of_type("worker-offline"), 10)
    events = log.close()
    hook = dict(sorted(udp.counters().items()))
    udp.close()
    from queuedash.agent.hook import uninstall

    uninstall()
    import celery
    import kombu

    return {
        "recorded_with": {"celery": celery.__version__, "kombu": kombu.__version__, "pool": pool,
                          "python": platform.python_version(), "broker": "redis"},
        "scenario": [label for label, *_ in SCENARIO] + ["revoked before it arrives", "revoked while it runs"],
        "events": events,
        "hook": hook,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pool", action="append", choices=POOLS, help="a pool to record (repeat); default: all")
    parser.add_argument("--out", type=Path, default=OUT, help=f"where the recordings go (default {OUT})")
    parser.add_argument("--broker", help="a Redis broker URL (default: a Redis started for the run)")
    args = parser.parse_args(argv)
    pools = args.pool or available_pools()
    args.out.mkdir(parents=True, exist_ok=True)
    redis_server = None
    broker = args.broker
    if broker is None:
        from stack.servers import Redis

        redis_server = Redis().start()
        broker = redis_server.url
    os.environ["QUEUEDASH_RECORD_BROKER"] = broker
    try:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="queuedash-recording-") as tmp:
            for pool in pools:
                started = time.monotonic()
                recording = record(pool, broker, Path(tmp))
                target = args.out / f"{pool}.json"
                target.write_text(json.dumps(recording, indent=1, sort_keys=True, default=str) + "\n")
                print(f"{target}: {len(recording['events'])} events, {sum(recording['hook'].values())} hook "
                      f"counts, {time.monotonic() - started:.0f} s")
    finally:
        if redis_server is not None:
            redis_server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
