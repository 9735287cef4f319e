"""Celery events -> StatsD counters, timers and worker gauges, in bounded memory.

`Translator.handle` takes one event as Celery's receiver delivers it (a dict
with ``type``, ``uuid``, ``timestamp``...) and sends what it means through a
StatsD client; `Translator.tick` sends the worker gauges. No I/O but the
client's sends, no Celery import: the benchmark feeds it a recorded stream.

What an event counts (``<prefix>.tasks.<queue>.<task>.<state>``):

=================  ==========================================================
task-sent          sent; remembers the queue, the send time and the ETA
task-received      received
task-started       started; ``wait`` = started - max(sent, eta) when sent was seen
task-succeeded     succeeded; ``runtime`` from the event
task-failed        failed (``runtime`` = failed - started when started was seen);
                   ``NotRegistered(...)`` counts ``unknown`` instead (the task
                   never reached received); a task that raised ``Reject``
                   counts rejected (told by the traceback's last line,
                   ``celery.exceptions.Reject: ...``, or Celery's own text
                   ``reject requeue=...``: the exception text alone says
                   ``ExceptionWithTraceback()`` on the solo and threads pools)
task-retried       retried (the retry comes back as a new task-received)
task-rejected      rejected
task-revoked       revoked, once per task (several workers may announce it);
                   plus received when the task was never received: Celery
                   discards a message revoked before it arrives without a
                   task-received, and the backlog (received - processed)
                   would stay negative
=================  ==========================================================

A delivery ends once: a task counts no more ends (succeeded, failed, retried,
rejected, revoked) than it was received; one more is a duplicate (Celery sends
task-failed and then task-rejected for ``Reject(requeue=False)`` with
``acks_late``, and two task-failed for a hard time limit). Deliveries are
counted, not flagged: a retry's task-received can arrive before the
task-retried of the delivery it replaces (prefork publishes the retry from the
pool child, while the main process reports the retry). A task whose
task-received the monitor never saw (it started late) counts its ends as they come.

Only task-sent names the queue. Later events find it in the task's record,
else ask `routes.QueueResolver` (the app's task_routes, else ``unknown``).
The producer publishes task-sent after the message, so a fast worker's
task-received (even task-started) can arrive first: the metrics of a task
whose queue is not known yet wait up to `sent_wait` seconds for its task-sent,
then go out under the routed queue. They wait once producers are seen sending
task-sent, and also before that when the routes would only give the default
queue: the very first task of a run must not land under ``unknown`` because its
task-received outran the first task-sent. An event
for a task never seen (the monitor started late) counts under task
``unknown``.

Memory: one small record per task in an LRU of at most `max_tasks`, dropped
after `task_ttl` seconds untouched; at most `max_held` tasks waiting for their
task-sent; one record per worker (see below). A malformed event
(not a dict, no uuid, a field of the wrong type) is counted and skipped.

In the per-host mode each task metric is keyed by the host of the event that
counted it (its ``hostname``, a Celery node name: ``celery@web-1`` -> ``web-1``;
task-sent names the producer's, ``gen1234@web-2`` -> ``web-2``).

Workers come and go, and the gauges tell which way:

* heartbeats arriving: ``online`` 1, ``active``, ``processed``, ``heartbeat_age``;
* heartbeats stopped (older than twice the worker's heartbeat interval, Celery's
  own rule) without a goodbye: offline, ``online`` 0, until `worker_expiry`
  seconds after its last heartbeat; then the worker is forgotten;
* said goodbye (``worker-offline``: a warm shutdown, a scale-down): gone, not
  offline; forgotten at once.

A forgotten worker's gauges are no longer sent. StatsD re-sends a gauge's last
value forever unless told otherwise: with ``deleteGauges: true`` and
``gaugesMaxTTL: N`` it stops after N flushes without an update, and the worker
leaves the panels (README, "Workers that come and go").

Imports `keys` and the standard library.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict, deque

from queuedash.agent.keys import Keys
from queuedash.agent.waiting import eta_seconds, wait_seconds

log = logging.getLogger(__name__)

#: Log the first malformed events one by one, then one line every this many.
MALFORMED_LOG_EVERY = 1000


class MalformedEvent(ValueError):
    """An event this agent cannot read."""


class TaskRecord:
    """What the monitor remembers of one task between its events."""

    __slots__ = ("name", "queue", "sent", "eta", "started", "received", "revoked", "open", "touched",
                 "pending", "waited")

    def __init__(self, touched: float):
        self.name: str | None = None
        self.queue: str | None = None
        #: Metrics held until the queue is known: [(kind, leaf, value)], or None.
        self.pending: list | None = None
        #: Whether the wait timer of the current delivery was sent.
        self.waited = False
        self.sent: float | None = None
        self.eta: float | None = None
        self.started: float | None = None
        self.received = False
        self.revoked = False
        #: Deliveries received and not ended yet (a retry's received can come before the old end).
        self.open = 0
        self.touched = touched


class TaskTable:
    """Task records by uuid: an LRU of at most `max_tasks`, with a TTL."""

    def __init__(self, max_tasks: int = 10000, ttl: float = 3600.0, clock=time.monotonic):
        if max_tasks < 1:
            raise ValueError("max_tasks must be at least 1")
        self.max_tasks = max_tasks
        self.ttl = ttl
        self.clock = clock
        self._records: OrderedDict[str, TaskRecord] = OrderedDict()
        self.evicted = 0
        self.expired = 0

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, uuid: str) -> bool:
        return uuid in self._records

    def record(self, uuid: str) -> TaskRecord:
        """The record of `uuid`, made if missing, marked as just used."""
        now = self.clock()
        records = self._records
        record = records.get(uuid)
        if record is not None and now - record.touched > self.ttl:
            del records[uuid]
            self.expired += 1
            record = None
        if record is None:
            self._expire(now)
            if len(records) >= self.max_tasks:
                records.popitem(last=False)
                self.evicted += 1
            record = records[uuid] = TaskRecord(now)
        else:
            record.touched = now
            records.move_to_end(uuid)
        return record

    def _expire(self, now: float) -> None:
        # Oldest first: stop at the first record still alive.
        records = self._records
        while records:
            uuid, oldest = next(iter(records.items()))
            if now - oldest.touched <= self.ttl:
                return
            del records[uuid]
            self.expired += 1


class WorkerRecord:
    __slots__ = ("freq", "last_seen", "active", "processed", "reported_online")

    def __init__(self, freq: float, last_seen: float):
        self.freq = freq
        self.last_seen = last_seen
        self.active = 0
        self.processed = 0
        #: What the log last said of it: a line per change, not per tick.
        self.reported_online = False


def _timestamp(value) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise MalformedEvent(f"timestamp is not a number: {value!r}")
    return float(value)


def _is_reject(exception: str, traceback) -> bool:
    """Whether a task-failed is a task that raised celery.exceptions.Reject.

    The traceback's last line names the exception's class on every pool; the exception
    text does only on prefork (``reject requeue=False: <reason>``, Reject's repr).
    """
    if exception.startswith("reject requeue="):
        return True
    if isinstance(traceback, str):
        lines = [line for line in traceback.splitlines() if line.strip()]
        if lines and lines[-1].split(":", 1)[0].strip() in ("celery.exceptions.Reject", "Reject"):
            return True
    return False


def _not_registered_name(exception: str) -> str | None:
    """'NotRegistered('proj.tasks.x')' -> 'proj.tasks.x'."""
    inside = exception[len("NotRegistered("):].rstrip(")")
    return inside.strip("'\"") or None


class Translator:
    """Celery events in, StatsD metrics out."""

    def __init__(self, keys: Keys, client, resolve_queue, *, max_tasks: int = 10000,
                 task_ttl: float = 3600.0, heartbeat_interval: float = 2.0,
                 worker_expiry: float = 300.0, max_workers: int = 10000, sent_wait: float = 2.0,
                 max_held: int = 1000, clock=time.time):
        self.keys = keys
        self.client = client
        self.resolve_queue = resolve_queue
        self._per_host = keys.naming.per_host
        self.clock = clock
        self.tasks = TaskTable(max_tasks, task_ttl)
        self.workers: dict[str, WorkerRecord] = {}
        self.heartbeat_interval = heartbeat_interval
        #: Seconds after its last heartbeat a worker whose heartbeats stopped stays offline.
        self.worker_expiry = worker_expiry
        self.max_workers = max_workers
        self.sent_wait = sent_wait
        #: At most this many tasks wait for their task-sent at once; past it the
        #: oldest goes out at once, so a burst never grows memory.
        self.max_held = max_held
        #: Whether producers send task-sent at all: only then is a queue worth waiting for.
        self.sent_seen = False
        self._held: deque[tuple[float, TaskRecord]] = deque()
        self.events = 0
        self.malformed = 0
        self.duplicates = 0
        self._handlers = {
            "task-sent": self._task_sent,
            "task-received": self._task_received,
            "task-started": self._task_started,
            "task-succeeded": self._task_succeeded,
            "task-failed": self._task_failed,
            "task-retried": self._task_retried,
            "task-rejected": self._task_rejected,
            "task-revoked": self._task_revoked,
            "worker-online": self._worker_heartbeat,
            "worker-heartbeat": self._worker_heartbeat,
            "worker-offline": self._worker_offline,
        }

    # -- entry points -------------------------------------------------------------

    def handle(self, event) -> None:
        """Count one event; a malformed one is counted and skipped, never raised."""
        self.events += 1
        if self._held:
            self.release_held()
        try:
            handler = self._handlers.get(event["type"])
            if handler is not None:
                handler(event)
        except (MalformedEvent, KeyError, TypeError, ValueError, AttributeError) as exc:
            self.count_malformed(f"{type(exc).__name__}: {exc}")

    def count_malformed(self, reason: str) -> None:
        self.malformed += 1
        if self.malformed <= 10 or self.malformed % MALFORMED_LOG_EVERY == 0:
            log.warning("malformed event skipped (%d so far): %s", self.malformed, reason)

    def tick(self, now: float | None = None) -> None:
        """Send every known worker's gauges; forget workers past their expiry.

        A worker is online while its last heartbeat is younger than twice its
        heartbeat interval (Celery's own rule), offline after that, and
        forgotten `worker_expiry` seconds after its last heartbeat.
        """
        now = self.clock() if now is None else now
        self.release_held(now)
        key = self.keys.worker
        client = self.client
        for host, worker in list(self.workers.items()):
            age = max(0.0, now - worker.last_seen)
            if age > self.worker_expiry:
                del self.workers[host]
                log.info("worker %s forgotten: no heartbeat for %.0f s; its gauges are no longer sent", host, age)
                continue
            online = age <= 2 * worker.freq
            if worker.reported_online and not online:
                log.info("worker %s offline (no heartbeat for %.0f s)", host, age)
            worker.reported_online = online
            client.gauge(key(host, "online"), 1 if online else 0)
            client.gauge(key(host, "active"), worker.active if online else 0)
            client.gauge(key(host, "processed"), worker.processed)
            client.gauge(key(host, "heartbeat_age"), round(age, 1))

    # -- tasks --------------------------------------------------------------------

    def _record(self, event) -> TaskRecord:
        uuid = event["uuid"]
        if not isinstance(uuid, str) or not uuid:
            raise MalformedEvent(f"uuid is not a string: {uuid!r}")
        record = self.tasks.record(uuid)
        name = event.get("name")
        if name:
            if not isinstance(name, str):
                raise MalformedEvent(f"name is not a string: {name!r}")
            record.name = name
        return record

    def _host(self, event) -> str | None:
        """The event's host (per-host mode only: otherwise no key names it)."""
        if not self._per_host:
            return None
        host = event.get("hostname")
        if host is not None and not isinstance(host, str):
            raise MalformedEvent(f"hostname is not a string: {host!r}")
        return host

    def _queue(self, record: TaskRecord) -> str:
        if record.queue is None:
            if record.name is None:
                return self.resolve_queue(None)   # not stored: the name may come later
            record.queue = self.resolve_queue(record.name)
        return record.queue

    def _emit(self, record: TaskRecord, kind: str, leaf: str, value: float, host: str | None) -> None:
        if record.pending is not None:
            record.pending.append((kind, leaf, value, host))
            return
        if record.queue is None and self.sent_wait > 0 and (self.sent_seen or self._only_default(record)):
            record.pending = [(kind, leaf, value, host)]
            self._held.append((self.clock() + self.sent_wait, record))
            while len(self._held) > self.max_held:
                _, oldest = self._held.popleft()
                if oldest.pending is not None:
                    self._release(oldest)
            return
        self._send(record, self._queue(record), kind, leaf, value, host)

    def _only_default(self, record: TaskRecord) -> bool:
        """Whether the routes know nothing better than the default queue for this task."""
        default = getattr(self.resolve_queue, "default", None)
        return default is not None and self.resolve_queue(record.name) == default

    def _send(self, record: TaskRecord, queue: str, kind: str, leaf: str, value: float, host: str | None) -> None:
        key = self.keys.task(queue, record.name, leaf, host)
        if kind == "c":
            self.client.incr(key)
        else:
            self.client.timing(key, value)

    def _release(self, record: TaskRecord) -> None:
        """Send the metrics held for the queue, under the queue known by now."""
        pending, record.pending = record.pending, None
        queue = self._queue(record)
        for kind, leaf, value, host in pending or ():
            self._send(record, queue, kind, leaf, value, host)

    def release_held(self, now: float | None = None) -> None:
        """Send what waited `sent_wait` seconds for a task-sent that did not come."""
        now = self.clock() if now is None else now
        held = self._held
        while held and held[0][0] <= now:
            _, record = held.popleft()
            if record.pending is not None:
                self._release(record)

    def _count(self, record: TaskRecord, state: str, host: str | None) -> None:
        self._emit(record, "c", state, 1, host)

    def _end(self, record: TaskRecord, state: str, host: str | None) -> bool:
        """Count the end of a delivery; False for a duplicate (more ends than deliveries)."""
        if record.received and record.open <= 0:
            self.duplicates += 1
            return False
        record.open = max(0, record.open - 1)
        self._count(record, state, host)
        return True

    def _time(self, record: TaskRecord, timer: str, seconds: float, host: str | None) -> None:
        self._emit(record, "ms", timer, max(0.0, seconds) * 1000.0, host)

    def _runtime_since_start(self, record: TaskRecord, event, host: str | None) -> None:
        ended = _timestamp(event.get("timestamp"))
        if record.started is not None and ended is not None and ended >= record.started:
            self._time(record, "runtime", ended - record.started, host)

    def _task_sent(self, event) -> None:
        record = self._record(event)
        queue = event.get("queue") or event.get("routing_key")
        if queue:
            if not isinstance(queue, str):
                raise MalformedEvent(f"queue is not a string: {queue!r}")
            record.queue = queue
        self.sent_seen = True
        record.sent = _timestamp(event.get("timestamp"))
        record.eta = eta_seconds(event.get("eta"))
        host = self._host(event)
        self._count(record, "sent", host)
        if record.started is not None and not record.waited:
            self._wait(record, host)      # task-started came first: the race above
        if record.pending is not None:
            self._release(record)

    def _task_received(self, event) -> None:
        record = self._record(event)
        record.received = True
        record.open += 1
        record.started = None
        record.waited = False
        self._count(record, "received", self._host(event))

    def _task_started(self, event) -> None:
        record = self._record(event)
        started = _timestamp(event.get("timestamp"))
        record.started = started
        host = self._host(event)
        self._count(record, "started", host)
        self._wait(record, host)

    def _wait(self, record: TaskRecord, host: str | None) -> None:
        if record.sent is not None and record.started is not None:
            record.waited = True
            self._time(record, "wait", wait_seconds(record.sent, record.started, record.eta), host)

    def _task_succeeded(self, event) -> None:
        record = self._record(event)
        host = self._host(event)
        if not self._end(record, "succeeded", host):
            return
        runtime = event.get("runtime")
        if runtime is not None:
            self._time(record, "runtime", float(runtime), host)

    def _task_failed(self, event) -> None:
        record = self._record(event)
        exception = event.get("exception") or ""
        if not isinstance(exception, str):
            raise MalformedEvent(f"exception is not a string: {exception!r}")
        host = self._host(event)
        if exception.startswith("NotRegistered("):
            record.name = record.name or _not_registered_name(exception)
            self._count(record, "unknown", host)
            return
        state = "rejected" if _is_reject(exception, event.get("traceback")) else "failed"
        if self._end(record, state, host):
            self._runtime_since_start(record, event, host)

    def _task_retried(self, event) -> None:
        record = self._record(event)
        host = self._host(event)
        if self._end(record, "retried", host):
            self._runtime_since_start(record, event, host)

    def _task_rejected(self, event) -> None:
        record = self._record(event)
        host = self._host(event)
        if self._end(record, "rejected", host):
            self._runtime_since_start(record, event, host)

    def _task_revoked(self, event) -> None:
        record = self._record(event)
        if record.revoked:
            self.duplicates += 1
            return
        record.revoked = True
        host = self._host(event)
        if not record.received:
            record.received = True
            record.open += 1
            self._count(record, "received", host)
        self._end(record, "revoked", host)

    # -- workers ------------------------------------------------------------------

    def _worker(self, event) -> tuple[str, WorkerRecord]:
        host = event["hostname"]
        if not isinstance(host, str) or not host:
            raise MalformedEvent(f"hostname is not a string: {host!r}")
        seen = _timestamp(event.get("local_received")) or self.clock()
        worker = self.workers.get(host)
        if worker is None:
            if len(self.workers) >= self.max_workers:
                # Make room by forgetting the worker silent for longest.
                del self.workers[min(self.workers, key=lambda h: self.workers[h].last_seen)]
            worker = self.workers[host] = WorkerRecord(self.heartbeat_interval, seen)
        return host, worker

    def _worker_heartbeat(self, event) -> None:
        host, worker = self._worker(event)
        freq = event.get("freq")
        if freq:
            worker.freq = float(freq)
        worker.last_seen = _timestamp(event.get("local_received")) or self.clock()
        if not worker.reported_online:
            log.info("worker %s online", host)
            worker.reported_online = True
        active = event.get("active")
        processed = event.get("processed")
        if active is not None:
            worker.active = int(active)
        if processed is not None:
            worker.processed = int(processed)

    def _worker_offline(self, event) -> None:
        """A goodbye: the worker is gone (scaled down, stopped), not offline: forgotten now."""
        host = event["hostname"]
        if not isinstance(host, str) or not host:
            raise MalformedEvent(f"hostname is not a string: {host!r}")
        if self.workers.pop(host, None) is not None:
            log.info("worker %s gone (said goodbye); its gauges are no longer sent", host)
