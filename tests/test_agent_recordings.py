"""Celery's real events, replayed: the recordings of tests/fixtures/celery_events/<pool>.json
(made by tests/recording/record_celery_events.py with real workers of every pool that installs
here) through the monitor's translator, against the counters the signal hook sent in the same run.

Both paths must give the same count per queue, task and state, on every pool; and each outcome
the naming contract counts must count what it means (a Reject is rejected, never failed too; a
hard time limit is one failure; an unknown task is unknown...). Then the same comparison live,
with real workers on prefork and threads.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import pytest
from test_agent_translate import Recorder

from queuedash.agent.keys import Keys
from queuedash.agent.routes import QueueResolver
from queuedash.agent.translate import Translator
from queuedash.naming.metrics import PROCESSED_STATES, Naming

RECORDINGS = Path(__file__).resolve().parent / "fixtures" / "celery_events"
POOLS = sorted(path.stem for path in RECORDINGS.glob("*.json"))

#: eventlet only: a task revoked with terminate=True while it runs is reported by Celery as
#: succeeded (the killed green thread's callback) and then revoked in its events, while the
#: signals say revoked. Each path counts one end of the task: the backlog agrees, the state not.
EVENTLET_TERMINATE = {"celery.tasks.beta.rec_sleep.succeeded": (1, None), "celery.tasks.beta.rec_sleep.revoked": (None, 1)}


def load(pool: str) -> dict:
    return json.loads((RECORDINGS / f"{pool}.json").read_text())


def translated(events, naming: Naming | None = None) -> dict[str, int]:
    """What the monitor's translator sends for these events, key -> count."""
    recorder = Recorder()
    translator = Translator(Keys(naming or Naming()), recorder, QueueResolver(), clock=lambda: 1e12)
    for event in events:
        translator.handle(event)
    translator.release_held(2e12)
    assert translator.malformed == 0
    return recorder.counts()


def differences(events_path: dict, hook: dict) -> dict:
    keys = set(events_path) | set(hook)
    return {k: (events_path.get(k), hook.get(k)) for k in sorted(keys) if events_path.get(k) != hook.get(k)}


def by_task(counts: dict) -> dict[tuple[str, str], dict[str, int]]:
    """(queue, task) -> {state: count} from ``celery.tasks.<queue>.<task>.<state>`` keys."""
    found: dict = {}
    for key, count in counts.items():
        _, _, queue, task, state = key.split(".")
        found.setdefault((queue, task), {})[state] = count
    return found


def test_every_pool_that_installs_here_was_recorded():
    assert {"prefork", "solo", "threads"} <= set(POOLS)
    for pool in POOLS:
        recording = load(pool)
        assert recording["recorded_with"]["pool"] == pool
        assert {e["type"] for e in recording["events"]} >= {"task-sent", "task-received", "task-started",
                                                            "task-succeeded", "task-failed", "worker-online"}


@pytest.mark.parametrize("pool", POOLS)
def test_events_and_signals_give_the_same_counts(pool):
    recording = load(pool)
    diff = differences(translated(recording["events"]), recording["hook"])
    if pool == "eventlet":
        assert diff in ({}, EVENTLET_TERMINATE)
    else:
        assert diff == {}


@pytest.mark.parametrize("pool", POOLS)
def test_per_host_the_hosts_counts_add_up_to_the_same_counts(pool):
    """In the per-host mode each count names the host of its event; summed over the host
    node they are the counts of the plain mode, and the producer's sends are apart."""
    events = load(pool)["events"]
    per_host = translated(events, Naming(per_host=True))
    summed = Counter()
    hosts = set()
    for key, count in per_host.items():
        prefix, group, queue, task, host, state = key.split(".")
        summed[".".join((prefix, group, queue, task, state))] += count
        hosts.add((host, state == "sent"))
    assert dict(summed) == translated(events)
    producer = {e["hostname"].rpartition("@")[2] for e in events if e["type"] == "task-sent"}
    worker = {e["hostname"].rpartition("@")[2] for e in events if e["type"] == "task-received"}
    assert hosts == {(h, True) for h in producer} | {(h, False) for h in worker}


@pytest.mark.parametrize("pool", POOLS)
def test_each_outcome_counts_what_it_means(pool):
    tasks = by_task(translated(load(pool)["events"]))
    ended = {"sent": 1, "received": 1, "started": 1}
    assert tasks["alpha", "rec_succeed"] == {**ended, "succeeded": 1}
    assert tasks["alpha", "rec_fail"] == {**ended, "failed": 1}
    assert tasks["alpha", "rec_retry"] == {"sent": 2, "received": 2, "started": 2, "retried": 1, "succeeded": 1}
    # Reject(requeue=False) with acks_late: task-failed then task-rejected, one rejection.
    assert tasks["beta", "rec_reject_drop"] == {**ended, "rejected": 1}
    # Reject of a message already acknowledged: Celery only reports the failure; still a rejection.
    assert tasks["beta", "rec_reject_acked"] == {**ended, "rejected": 1}
    # Reject(requeue=True): rejected once, delivered again, then it succeeds.
    assert tasks["beta", "rec_reject_requeue"] == {"sent": 1, "received": 2, "started": 2, "rejected": 1,
                                                   "succeeded": 1}
    # Ignore ends nothing: the naming contract has no state for it.
    assert tasks["alpha", "rec_ignore"] == ended
    assert tasks["alpha", "rec_unknown"] == {"sent": 1, "unknown": 1}
    # Revoked before it arrives: discarded without task-received, counted received and revoked.
    assert tasks["beta", "rec_succeed"] == {"sent": 2, "received": 2, "started": 1, "succeeded": 1, "revoked": 1}
    if pool == "prefork":   # the only pool that enforces time limits and terminates a running task
        assert tasks["alpha", "rec_soft_limit"] == {**ended, "failed": 1}
        assert tasks["alpha", "rec_hard_limit"] == {**ended, "failed": 1}      # two task-failed, one failure
        assert tasks["beta", "rec_sleep"] == {**ended, "revoked": 1}


@pytest.mark.parametrize("pool", POOLS)
def test_the_backlog_of_each_queue_is_the_ignored_task_only(pool):
    recording = load(pool)
    for counts in (translated(recording["events"]), recording["hook"]):
        backlog = Counter()
        for (queue, _), states in by_task(counts).items():
            backlog[queue] += states.get("received", 0) - sum(states.get(s, 0) for s in PROCESSED_STATES)
        assert dict(backlog) == {"alpha": 1, "beta": 0}


@pytest.mark.realstack
@pytest.mark.parametrize("pool", ["prefork", "threads"])
def test_live_workers_give_the_same_counts_on_both_paths(redis_server, tmp_path, pool):
    """The recording script's run, live: real workers, real Redis, both paths compared."""
    recording_dir = str(Path(__file__).resolve().parent / "recording")
    if recording_dir not in sys.path:
        sys.path.insert(0, recording_dir)
    import record_celery_events

    broker = redis_server.url.rsplit("/", 1)[0] + "/11"
    recording = record_celery_events.record(pool, broker, tmp_path)
    assert differences(translated(recording["events"]), recording["hook"]) == {}
    assert by_task(recording["hook"])["beta", "rec_reject_drop"] == {"sent": 1, "received": 1, "started": 1,
                                                                     "rejected": 1}
