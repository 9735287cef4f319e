"""The in-worker signal hook: every task's state transitions and timings, sent
to StatsD from Celery's own signals. One line in the user's Celery app::

    queuedash_agent.install(app, statsd_host="statsd", statsd_port=8125)

Where each count comes from (all under ``<prefix>.tasks.<queue>.<task>``):

===================  =================  =======================================
signal               runs in            counts / times
===================  =================  =======================================
before_task_publish  the producer       stamps the send time in a message header
after_task_publish   the producer       sent
task_received        worker main        received
task_prerun          pool child         started; ``wait`` = now - sent header
                                        (from the ETA when it is later)
task_postrun         pool child         ``runtime``; succeeded (SUCCESS),
                                        retried (RETRY), rejected (REJECTED)
task_failure         child or main      failed (main: hard time limit, lost
                                        worker), except Reject, counted above
task_revoked         worker main        revoked, plus received if the message
                                        was discarded on arrival (Celery then
                                        sends no task_received)
task_unknown         worker main        unknown (NotRegistered)
===================  =================  =======================================

A delivery ends once per process: Celery sends task_failure twice for a hard
time limit (both in the main process), which counts one failure, as the events
path does.

The queue is the message's routing key (``request.delivery_info``), which is
the queue name with Celery's default direct exchange; the producer side uses
the routing key it published with.

In the per-host mode every key also names this process's host: the `host`
option or QUEUEDASH_HOST, else the worker's node name (``celeryd_init``; its
host part, ``w1@web-1`` -> ``web-1``), else the machine's host name (a producer).

Never raises into a task and never blocks it: every handler is guarded, and
StatsD gets one non-blocking UDP packet per signal (a pipeline when a signal
sends several metrics). A worker process holds only the start times of its
running tasks and a bounded set of received task ids.

Imports Celery, `client`, `keys`, `queuedash.naming.metrics` and `queuedash.errors`.
"""

from __future__ import annotations

import logging
import os
import socket
import time

from celery import signals
from celery.exceptions import Reject

from queuedash.errors import SettingsError
from queuedash.naming.metrics import Naming

from queuedash.agent.client import UDPClient
from queuedash.agent.keys import Keys
from queuedash.agent.waiting import eta_seconds, wait_seconds

log = logging.getLogger(__name__)

#: Message header carrying the time a task was sent (POSIX seconds), for `wait`.
SENT_HEADER = "queuedash_sent"

#: Queues of the task ids received by this worker process whose end it has not
#: seen: enough for every prefetched and ETA task of a busy worker, bounded all
#: the same.
MAX_RECEIVED_IDS = 20000
#: Start times of tasks running in one process (a pool child runs one at a time;
#: a threads pool, a few): the bound only matters if postrun never comes.
MAX_RUNNING = 10000

_MISSING = object()
_STATE_COUNTERS = {"SUCCESS": "succeeded", "RETRY": "retried", "REJECTED": "rejected"}


_TRUE = ("1", "true", "t", "yes", "y", "on")
_FALSE = ("0", "false", "f", "no", "n", "off", "")


def _env_flag(name: str) -> bool:
    """A true/false environment variable, read as click reads the commands' flags."""
    value = os.environ.get(name, "").strip().lower()
    if value in _TRUE or value in _FALSE:
        return value in _TRUE
    raise SettingsError(f"{name}: expected true or false, got {os.environ[name]!r}")


def _env_port(default: int = 8125) -> int:
    value = os.environ.get("QUEUEDASH_STATSD_PORT")
    return int(value) if value else default


def _queue_of(request) -> str | None:
    info = getattr(request, "delivery_info", None) or {}
    return info.get("routing_key") or info.get("exchange") or None


class Hook:
    """Signal handlers bound to one StatsD client and naming scheme."""

    def __init__(self, client, keys: Keys, app=None, host: str | None = None):
        self.client = client
        self.keys = keys
        self.app = app
        #: The host named in every key (per-host mode): given, else the worker's node name
        #: once the worker starts, else this machine's.
        self.host = host or socket.gethostname()
        self._host_given = bool(host)
        self.errors = 0
        self._running: dict[str, float] = {}
        self._received: dict[str, str | None] = {}
        #: Task ids whose end this process counted: a second end is a duplicate.
        self._ended: dict[str, None] = {}

    # -- plumbing -------------------------------------------------------------

    def key(self, queue, task, leaf) -> str:
        return self.keys.task(queue, task, leaf, self.host)

    def worker_starting(self, sender=None, **_):
        """celeryd_init: the worker's node name, before its pool starts (prefork children inherit it)."""
        if not self._host_given and isinstance(sender, str) and sender:
            self.host = sender

    def _end(self, task_id) -> bool:
        """Mark the end of a task's delivery in this process; False when it was marked already."""
        ended = self._ended
        if task_id in ended:
            return False
        if len(ended) >= MAX_RECEIVED_IDS:
            del ended[next(iter(ended))]
        ended[task_id] = None
        return True

    def _ours(self, task) -> bool:
        return self.app is None or getattr(task, "app", self.app) is self.app

    def _failed(self, where: str) -> None:
        # A metric is never worth a task: log the first few, then stay quiet.
        self.errors += 1
        if self.errors <= 5:
            log.warning("queuedash hook: %s failed; metrics may be missing", where, exc_info=True)

    def connect(self) -> Hook:
        for signal, handler in self._handlers():
            signal.connect(handler, weak=False, dispatch_uid=f"queuedash-{handler.__name__}")
        return self

    def disconnect(self) -> None:
        for signal, handler in self._handlers():
            signal.disconnect(handler, dispatch_uid=f"queuedash-{handler.__name__}")

    def _handlers(self):
        return [
            (signals.celeryd_init, self.worker_starting),
            (signals.before_task_publish, self.before_publish),
            (signals.after_task_publish, self.after_publish),
            (signals.task_received, self.received),
            (signals.task_prerun, self.prerun),
            (signals.task_postrun, self.postrun),
            (signals.task_failure, self.failure),
            (signals.task_revoked, self.revoked),
            (signals.task_unknown, self.unknown),
        ]

    # -- producer -------------------------------------------------------------

    def before_publish(self, sender=None, headers=None, **_):
        try:
            if isinstance(headers, dict) and SENT_HEADER not in headers:
                headers[SENT_HEADER] = time.time()
        except Exception:
            self._failed("before_task_publish")

    def after_publish(self, sender=None, headers=None, body=None, routing_key=None, exchange=None, **_):
        try:
            name = (headers or {}).get("task") or sender
            if not name and isinstance(body, dict):
                name = body.get("task")   # message protocol 1
            self.client.incr(self.key(routing_key or exchange, name, "sent"))
        except Exception:
            self._failed("after_task_publish")

    # -- worker main process --------------------------------------------------

    def received(self, sender=None, request=None, **_):
        try:
            if not self._ours(getattr(request, "task", None)):
                return
            received = self._received
            if len(received) >= MAX_RECEIVED_IDS:
                del received[next(iter(received))]
            queue = received[request.id] = _queue_of(request)
            self._ended.pop(request.id, None)       # a retry or a requeue: a new delivery
            self.client.incr(self.key(queue, request.name, "received"))
        except Exception:
            self._failed("task_received")

    def revoked(self, sender=None, request=None, **_):
        try:
            if not self._ours(sender):
                return
            name = getattr(request, "task", None) or getattr(sender, "name", None)
            queue = _queue_of(request)
            task_id = getattr(request, "id", None)
            if not self._end(task_id):
                return
            with self.client.pipeline() as pipe:
                if self._received.pop(task_id, _MISSING) is _MISSING:
                    pipe.incr(self.key(queue, name, "received"))
                pipe.incr(self.key(queue, name, "revoked"))
        except Exception:
            self._failed("task_revoked")

    def unknown(self, sender=None, message=None, name=None, **_):
        try:
            info = getattr(message, "delivery_info", None) or {}
            self.client.incr(self.key(info.get("routing_key"), name, "unknown"))
        except Exception:
            self._failed("task_unknown")

    # -- pool child (or main, with the solo and threads pools) ---------------

    def prerun(self, sender=None, task_id=None, task=None, **_):
        now = time.time()
        try:
            if not self._ours(task):
                return
            running = self._running
            if len(running) >= MAX_RUNNING:
                del running[next(iter(running))]
            running[task_id] = time.perf_counter()
            self._ended.pop(task_id, None)         # a new delivery (prefork: in the child)
            request = task.request
            queue, name = _queue_of(request), task.name
            sent = request.get(SENT_HEADER)
            if sent is None:
                # A worker puts message headers on the request itself; task.apply() under them.
                sent = (request.get("headers") or {}).get(SENT_HEADER)
            with self.client.pipeline() as pipe:
                pipe.incr(self.key(queue, name, "started"))
                if isinstance(sent, (int, float)):
                    waited = wait_seconds(sent, now, eta_seconds(request.eta))
                    pipe.timing(self.key(queue, name, "wait"), waited * 1000.0)
        except Exception:
            self._failed("task_prerun")

    def postrun(self, sender=None, task_id=None, task=None, state=None, **_):
        ended = time.perf_counter()
        try:
            if not self._ours(task):
                return
            started = self._running.pop(task_id, None)
            queue, name = _queue_of(task.request), task.name
            counter = _STATE_COUNTERS.get(state)
            if counter and not self._end(task_id):
                counter = None
            with self.client.pipeline() as pipe:
                if counter:
                    pipe.incr(self.key(queue, name, counter))
                if started is not None:
                    pipe.timing(self.key(queue, name, "runtime"), (ended - started) * 1000.0)
        except Exception:
            self._failed("task_postrun")

    def failure(self, sender=None, task_id=None, exception=None, **_):
        try:
            if not self._ours(sender):
                return
            if isinstance(exception, Reject) or not self._end(task_id):
                return      # Reject: counted as rejected by postrun (REJECTED)
            # A hard time limit is reported by the main process without the
            # task's request: its queue is the one it was received from.
            queue = _queue_of(sender.request) or self._received.get(task_id)
            self.client.incr(self.key(queue, sender.name, "failed"))
        except Exception:
            self._failed("task_failure")


_installed: Hook | None = None


def install(app=None, *, statsd_host: str | None = None, statsd_port: int | None = None,
            prefix: str | None = None, per_host: bool | None = None, host: str | None = None,
            naming: Naming | None = None, client=None) -> Hook | None:
    """Connect the hook to Celery's signals; call once, where the app is made.

    `statsd_host` / `statsd_port` default to QUEUEDASH_STATSD_HOST /
    QUEUEDASH_STATSD_PORT, then 127.0.0.1:8125; `prefix` (the first node of
    every key) to QUEUEDASH_PREFIX, then ``celery``. `per_host` (task keys
    carry the host: the dashboards' ``[naming] per_host``) to QUEUEDASH_PER_HOST,
    then false; `host` to QUEUEDASH_HOST, then the worker's node name (its host
    part), then the machine's host name. With `app`, only that app's tasks are
    counted. Installing again replaces the previous hook.

    Never raises for a StatsD problem: an unresolvable host is logged and the
    hook is not installed (returns None), so the app still starts.
    """
    global _installed
    if naming is None:
        naming = Naming(prefix=prefix or os.environ.get("QUEUEDASH_PREFIX") or "celery",
                        per_host=_env_flag("QUEUEDASH_PER_HOST") if per_host is None else per_host)
    if client is None:
        address = statsd_host or os.environ.get("QUEUEDASH_STATSD_HOST") or "127.0.0.1"
        try:
            client = UDPClient(address, statsd_port or _env_port())
        except OSError as exc:
            log.error("queuedash hook not installed: %s", exc)
            return None
    if _installed is not None:
        _installed.disconnect()
    _installed = Hook(client, Keys(naming), app, host=host or os.environ.get("QUEUEDASH_HOST")).connect()
    return _installed


def uninstall() -> None:
    """Disconnect the installed hook (tests, benchmarks)."""
    global _installed
    if _installed is not None:
        _installed.disconnect()
        _installed = None
