"""Celery events -> metrics (queuedash.agent.translate), event by event.

The client here is a recorder of (kind, key, value); the clock is a variable.
Real events from a real worker are exercised by tests/test_agent_e2e.py.
"""

from __future__ import annotations

import pytest

from queuedash.naming.metrics import Naming
from queuedash.agent.keys import Keys
from queuedash.agent.routes import QueueResolver, parse_route
from queuedash.agent.translate import TaskTable, Translator


class Recorder:
    def __init__(self):
        self.sent = []

    def incr(self, key, count=1):
        self.sent.append(("c", key, count))

    def timing(self, key, ms):
        self.sent.append(("ms", key, ms))

    def gauge(self, key, value):
        self.sent.append(("g", key, value))

    def counts(self):
        found = {}
        for kind, key, value in self.sent:
            if kind == "c":
                found[key] = found.get(key, 0) + value
        return found

    def timers(self):
        return [(key, value) for kind, key, value in self.sent if kind == "ms"]

    def gauges(self):
        return {key: value for kind, key, value in self.sent if kind == "g"}


class Clock:
    def __init__(self, now=1000.0):
        self.now = now

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def make(clock):
    def make(routes=(), **options):
        recorder = Recorder()
        translator = Translator(Keys(Naming()), recorder, QueueResolver(routes), clock=clock, **options)
        return translator, recorder
    return make


def lifecycle(uuid="u1", name="proj.tasks.add", queue="emails", t=1000.0, sent=True):
    events = []
    if sent:
        events.append({"type": "task-sent", "uuid": uuid, "name": name, "queue": queue, "timestamp": t})
    events += [
        {"type": "task-received", "uuid": uuid, "name": name, "timestamp": t + 0.5},
        {"type": "task-started", "uuid": uuid, "timestamp": t + 1.5},
        {"type": "task-succeeded", "uuid": uuid, "runtime": 0.25, "timestamp": t + 1.75},
    ]
    return events


def test_a_task_counts_each_state_under_the_queue_from_task_sent(make):
    translator, recorder = make()
    for event in lifecycle():
        translator.handle(event)
    base = "celery.tasks.emails.proj_tasks_add"
    assert recorder.counts() == {f"{base}.sent": 1, f"{base}.received": 1, f"{base}.started": 1,
                                 f"{base}.succeeded": 1}
    assert recorder.timers() == [(f"{base}.wait", 1500.0), (f"{base}.runtime", 250.0)]


def test_without_task_sent_the_queue_comes_from_the_routes_else_unknown(make, clock):
    translator, recorder = make(routes=["proj.emails.*=emails"])
    for event in lifecycle("a", "proj.emails.send", sent=False) + lifecycle("b", "proj.other", sent=False):
        translator.handle(event)
    counts = recorder.counts()
    assert counts["celery.tasks.emails.proj_emails_send.succeeded"] == 1
    # A task only the default queue would take waits sent_wait for a task-sent first.
    assert "celery.tasks.unknown.proj_other.succeeded" not in counts
    clock.now += 2.0
    translator.release_held()
    counts = recorder.counts()
    assert counts["celery.tasks.unknown.proj_other.succeeded"] == 1
    # No task-sent, no wait timer: only the runtime.
    assert all(key.endswith(".runtime") for key, _ in recorder.timers())


def test_the_apps_task_routes_give_the_queue():
    from celery import Celery

    app = Celery("routes", set_as_current=False)
    app.conf.task_routes = {"proj.mail.*": {"queue": "emails"}, "proj.pdf": "reports"}
    resolve = QueueResolver.from_app(app, routes=["proj.pdf=urgent"], default="celery")
    assert resolve("proj.mail.send") == "emails"
    assert resolve("proj.pdf") == "urgent"          # the command line first
    assert resolve("proj.other") == "celery"
    assert resolve(None) == "celery"


def test_a_route_must_name_a_pattern_and_a_queue():
    assert parse_route(" a.* = q ") == ("a.*", "q")
    for bad in ("a.*", "=q", "a="):
        with pytest.raises(ValueError, match="PATTERN=QUEUE"):
            parse_route(bad)


def test_the_first_task_of_a_run_waits_for_its_task_sent_too(make):
    """Before any task-sent was seen, a received that outran it must not land under unknown."""
    translator, recorder = make()
    events = lifecycle("first", sent=False)
    sent = {"type": "task-sent", "uuid": "first", "name": "proj.tasks.add", "queue": "orders", "timestamp": 999.0}
    for event in events[:2] + [sent] + events[2:]:
        translator.handle(event)
    counts = recorder.counts()
    assert counts == {f"celery.tasks.orders.proj_tasks_add.{state}": 1
                      for state in ("received", "sent", "started", "succeeded")}


def test_metrics_wait_for_a_task_sent_that_arrives_after_the_worker_events(make, clock):
    """The producer publishes task-sent after the message: received may come first."""
    translator, recorder = make()
    translator.handle(lifecycle("first")[0])       # producers do send task-sent
    recorder.sent.clear()
    received, started = lifecycle("late")[1:3]
    translator.handle(received)
    translator.handle(started)
    assert recorder.sent == []                     # held: the queue is not known yet
    translator.handle(lifecycle("late")[0])        # task-sent
    counts = recorder.counts()
    assert counts == {"celery.tasks.emails.proj_tasks_add.received": 1, "celery.tasks.emails.proj_tasks_add.started": 1,
                      "celery.tasks.emails.proj_tasks_add.sent": 1}
    assert recorder.timers() == [("celery.tasks.emails.proj_tasks_add.wait", 1500.0)]


def test_held_metrics_go_out_under_the_routed_queue_when_task_sent_never_comes(make, clock):
    translator, recorder = make(sent_wait=2.0)
    translator.handle(lifecycle("first")[0])
    recorder.sent.clear()
    translator.handle(lifecycle("orphan", sent=False)[0])
    assert recorder.sent == []
    clock.now += 2.5
    translator.tick()
    assert recorder.counts() == {"celery.tasks.unknown.proj_tasks_add.received": 1}


def test_failures_retries_rejections(make):
    translator, recorder = make(routes=["*=q"])
    events = [
        {"type": "task-received", "uuid": "f", "name": "t", "timestamp": 1.0},
        {"type": "task-started", "uuid": "f", "timestamp": 2.0},
        {"type": "task-failed", "uuid": "f", "exception": "ValueError('x')", "timestamp": 2.5},
        {"type": "task-received", "uuid": "r", "name": "t"},
        {"type": "task-retried", "uuid": "r", "exception": "Retry()"},
        {"type": "task-received", "uuid": "r", "name": "t"},
        {"type": "task-succeeded", "uuid": "r", "runtime": 0.1},
        # Reject(requeue=False) with acks_late: Celery sends task-failed (the text is Reject's
        # repr on prefork; tests/test_agent_recordings.py replays every pool), then
        # task-rejected: one rejection.
        {"type": "task-received", "uuid": "j", "name": "t"},
        {"type": "task-failed", "uuid": "j", "exception": "reject requeue=False: dropped"},
        {"type": "task-rejected", "uuid": "j", "requeue": False},
    ]
    for event in events:
        translator.handle(event)
    assert recorder.counts() == {"celery.tasks.q.t.received": 4, "celery.tasks.q.t.started": 1,
                                 "celery.tasks.q.t.failed": 1,
                                 "celery.tasks.q.t.retried": 1, "celery.tasks.q.t.succeeded": 1,
                                 "celery.tasks.q.t.rejected": 1}
    assert ("celery.tasks.q.t.runtime", 500.0) in recorder.timers()


def test_unknown_tasks_count_as_unknown_not_failed(make):
    translator, recorder = make(routes=["*=q"])
    translator.handle({"type": "task-failed", "uuid": "x", "exception": "NotRegistered('proj.gone')"})
    assert recorder.counts() == {"celery.tasks.q.proj_gone.unknown": 1}


def test_a_revoked_task_counts_once_and_as_received_when_discarded_on_arrival(make, clock):
    translator, recorder = make(routes=["*=q"])
    translator.handle({"type": "task-sent", "uuid": "v", "name": "t", "queue": "q"})
    translator.handle({"type": "task-revoked", "uuid": "v", "terminated": False})
    translator.handle({"type": "task-revoked", "uuid": "v", "terminated": False})   # another worker
    translator.handle({"type": "task-received", "uuid": "w", "name": "t"})
    translator.handle({"type": "task-revoked", "uuid": "w", "terminated": True})
    clock.now += 5      # w's task-sent never comes: its metrics go out under the route's queue
    translator.tick()
    assert recorder.counts() == {"celery.tasks.q.t.sent": 1, "celery.tasks.q.t.received": 2,
                                 "celery.tasks.q.t.revoked": 2}
    assert translator.duplicates == 1


def test_malformed_events_are_counted_and_skipped(make):
    translator, recorder = make()
    for bad in ["not a dict", {"no": "type"}, {"type": "task-received"}, {"type": "task-received", "uuid": 7},
                {"type": "task-started", "uuid": "u", "timestamp": "noon"},
                {"type": "worker-heartbeat", "hostname": None}, None]:
        translator.handle(bad)
    assert translator.malformed == 7
    for event in lifecycle():
        translator.handle(event)
    assert recorder.counts()["celery.tasks.emails.proj_tasks_add.succeeded"] == 1


def test_unknown_event_types_are_ignored(make):
    translator, recorder = make()
    translator.handle({"type": "task-cancelled", "uuid": "x"})
    translator.handle({"type": "something-new"})
    assert recorder.sent == [] and translator.malformed == 0


def test_worker_gauges_from_heartbeats_and_offline_after_two_intervals(make, clock):
    translator, recorder = make()
    translator.handle({"type": "worker-heartbeat", "hostname": "celery@web-1.example.com", "freq": 2.0,
                       "active": 3, "processed": 40, "local_received": clock.now})
    clock.now += 1
    translator.tick()
    base = "celery.workers.celery_web-1_example_com"
    assert recorder.gauges() == {f"{base}.online": 1, f"{base}.active": 3, f"{base}.processed": 40,
                                 f"{base}.heartbeat_age": 1.0}
    clock.now += 3.5         # 4.5 s without a heartbeat: more than 2 x 2.0 s
    translator.tick()
    assert recorder.gauges()[f"{base}.online"] == 0
    assert recorder.gauges()[f"{base}.active"] == 0
    assert recorder.gauges()[f"{base}.heartbeat_age"] == 4.5
    translator.handle({"type": "worker-heartbeat", "hostname": "celery@web-1.example.com", "freq": 2.0,
                       "active": 0, "processed": 41, "local_received": clock.now})
    translator.tick()
    assert recorder.gauges()[f"{base}.online"] == 1


def test_a_worker_that_says_goodbye_is_gone_not_offline(make, clock):
    """A scale-down is no outage: no online=0, no more gauges at all."""
    translator, recorder = make()
    translator.handle({"type": "worker-online", "hostname": "w1", "freq": 2.0, "local_received": clock.now})
    translator.tick()
    assert recorder.gauges()["celery.workers.w1.online"] == 1
    recorder.sent.clear()
    translator.handle({"type": "worker-offline", "hostname": "w1", "local_received": clock.now})
    for _ in range(3):
        clock.now += 5
        translator.tick()
    assert recorder.sent == [] and translator.workers == {}


def test_a_worker_whose_heartbeats_stopped_is_offline_until_its_expiry_then_its_gauges_stop(make, clock):
    translator, recorder = make(worker_expiry=60)
    translator.handle({"type": "worker-heartbeat", "hostname": "w1", "freq": 2.0, "local_received": clock.now})
    clock.now += 59
    translator.tick()
    assert recorder.gauges()["celery.workers.w1.online"] == 0
    recorder.sent.clear()
    clock.now += 2
    translator.tick()
    assert recorder.sent == [] and translator.workers == {}


def test_memory_is_bounded_by_max_tasks(make):
    translator, _ = make(max_tasks=100)
    for i in range(10000):
        for event in lifecycle(f"u{i}"):
            translator.handle(event)
    assert len(translator.tasks) == 100
    assert translator.tasks.evicted == 9900


def test_task_records_expire_after_their_ttl():
    now = [0.0]
    table = TaskTable(max_tasks=10, ttl=60, clock=lambda: now[0])
    table.record("old")
    now[0] = 30
    table.record("young")
    now[0] = 70
    table.record("new")                  # sweeps what is older than 60 s
    assert "old" not in table and "young" in table and "new" in table
    assert table.expired == 1


def test_tasks_waiting_for_task_sent_are_bounded(make):
    translator, recorder = make(max_held=2)
    for uuid in ("a", "b", "c"):
        translator.handle({"type": "task-received", "uuid": uuid, "name": "proj.add", "timestamp": 1.0})
    # The third held task pushed the oldest out under the routed (default) queue at once.
    assert recorder.counts() == {"celery.tasks.unknown.proj_add.received": 1}
    assert len(translator._held) == 2


def test_a_retry_received_before_the_retried_event_still_counts_its_success(make):
    """Prefork publishes the retry from the pool child while the main process reports the retry:
    the new delivery's task-received can come before the old delivery's task-retried."""
    translator, recorder = make(routes=["*=q"])
    for event in [
        {"type": "task-received", "uuid": "r", "name": "t"},
        {"type": "task-started", "uuid": "r"},
        {"type": "task-received", "uuid": "r", "name": "t"},       # the retry, first
        {"type": "task-retried", "uuid": "r", "exception": "Retry()"},
        {"type": "task-started", "uuid": "r"},
        {"type": "task-succeeded", "uuid": "r", "runtime": 0.1},
        {"type": "task-failed", "uuid": "r", "exception": "WorkerLostError()"},   # one end too many
    ]:
        translator.handle(event)
    assert recorder.counts() == {"celery.tasks.q.t.received": 2, "celery.tasks.q.t.started": 2,
                                 "celery.tasks.q.t.retried": 1, "celery.tasks.q.t.succeeded": 1}
    assert translator.duplicates == 1


def on_host(events, worker: str, producer: str | None = None):
    """The events as two hosts send them: task-sent from the producer's dispatcher, the rest from the worker."""
    return [{**e, "hostname": producer if e["type"] == "task-sent" else worker} for e in events]


def test_per_host_every_count_is_keyed_by_the_host_of_its_event(clock):
    recorder = Recorder()
    translator = Translator(Keys(Naming(per_host=True)), recorder, QueueResolver(), clock=clock)
    for event in (on_host(lifecycle("a"), "celery@web-1.example", "gen4242@api-1")
                  + on_host(lifecycle("b"), "w2@web-2", "gen4243@api-1")):
        translator.handle(event)
    base = "celery.tasks.emails.proj_tasks_add"
    assert recorder.counts() == {
        f"{base}.api-1.sent": 2,
        f"{base}.web-1_example.received": 1, f"{base}.web-1_example.started": 1, f"{base}.web-1_example.succeeded": 1,
        f"{base}.web-2.received": 1, f"{base}.web-2.started": 1, f"{base}.web-2.succeeded": 1,
    }
    assert (f"{base}.web-2.runtime", 250.0) in recorder.timers()


def test_per_host_metrics_held_for_their_task_sent_keep_their_own_host(clock):
    recorder = Recorder()
    translator = Translator(Keys(Naming(per_host=True)), recorder, QueueResolver(), clock=clock)
    sent, received, started, _ = on_host(lifecycle("late"), "w@web-3", "gen1@api-2")
    translator.handle(on_host(lifecycle("first"), "w@web-3", "gen1@api-2")[0])   # producers send task-sent
    recorder.sent.clear()
    translator.handle(received)
    translator.handle(started)
    assert recorder.sent == []
    translator.handle(sent)
    assert recorder.counts() == {"celery.tasks.emails.proj_tasks_add.web-3.received": 1,
                                 "celery.tasks.emails.proj_tasks_add.web-3.started": 1,
                                 "celery.tasks.emails.proj_tasks_add.api-2.sent": 1}


def test_per_host_an_event_without_a_host_counts_under_unknown_and_a_bad_one_is_malformed(clock):
    recorder = Recorder()
    translator = Translator(Keys(Naming(per_host=True)), recorder, QueueResolver(), clock=clock)
    translator.handle({"type": "task-received", "uuid": "x", "name": "t", "timestamp": 1.0})
    translator.handle({"type": "task-received", "uuid": "y", "name": "t", "timestamp": 1.0, "hostname": 3})
    clock.now += 5
    translator.release_held()
    assert recorder.counts() == {"celery.tasks.unknown.t.unknown.received": 1}
    assert translator.malformed == 1
