"""The Celery app the event recordings are made with (tests/recording/record_celery_events.py).

One task per outcome the naming contract counts. Run by real workers of every pool, with task
events on (-E), task-sent events on, and queuedash's signal hook installed, so one run records
both paths: the events a monitor would receive and the counters the hook sends.

Configured by the environment, so the worker and the producer build the same app:
QUEUEDASH_RECORD_BROKER (the Redis broker URL) and the hook's QUEUEDASH_STATSD_HOST/PORT.
"""

from __future__ import annotations

import os
import time

import redis
from celery import Celery
from celery.exceptions import Ignore, Reject

import queuedash_agent

BROKER = os.environ.get("QUEUEDASH_RECORD_BROKER", "redis://127.0.0.1:6379/0")

app = Celery("queuedash_recording", broker=BROKER)
app.conf.update(
    task_send_sent_event=True,
    worker_send_task_events=True,
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
    task_default_queue="alpha",
    worker_hijack_root_logger=False,
)
queuedash_agent.install(app)


def _first_delivery(task_id: str) -> bool:
    """True the first time a task id asks (a marker in the broker's Redis): what a task that
    rejects with requeue uses to succeed on its second delivery, on any pool."""
    client = redis.Redis.from_url(BROKER)
    try:
        return client.incr(f"queuedash-recording:{task_id}") == 1
    finally:
        client.close()


@app.task(name="rec.succeed")
def succeed(x, y):
    return x + y


@app.task(name="rec.fail")
def fail():
    raise ValueError("the task failed")


@app.task(name="rec.retry", bind=True, max_retries=3)
def retry(self):
    if self.request.retries == 0:
        raise self.retry(countdown=0)
    return "retried once"


# Reject does what it says with acks_late (the message is still unacknowledged); without it
# the message was acknowledged when the task started and Celery only reports a failure.
@app.task(name="rec.reject_drop", acks_late=True)
def reject_drop():
    raise Reject("dropped", requeue=False)


@app.task(name="rec.reject_acked")
def reject_acked():
    raise Reject("too late: already acknowledged", requeue=False)


@app.task(name="rec.reject_requeue", bind=True, acks_late=True)
def reject_requeue(self):
    if _first_delivery(self.request.id):
        raise Reject("requeued once", requeue=True)
    return "second delivery"


@app.task(name="rec.ignore")
def ignore():
    raise Ignore()


@app.task(name="rec.sleep")
def sleep(seconds):
    time.sleep(seconds)
    return seconds


@app.task(name="rec.soft_limit", soft_time_limit=0.5)
def soft_limit():
    time.sleep(2)


@app.task(name="rec.hard_limit", time_limit=0.5)
def hard_limit():
    time.sleep(2)
