"""The Celery app of the agent's end-to-end tests, run by a real worker subprocess.

Configured by environment variables, so the worker and the test's producer
build the same app: QUEUEDASH_E2E_BROKER (broker URL), QUEUEDASH_E2E_MODE
(``signals``: the hook is installed, reading QUEUEDASH_STATSD_HOST/PORT,
QUEUEDASH_PREFIX and QUEUEDASH_PER_HOST; ``events``: no hook, task events and
task-sent events on). ``python agent_celery_app.py fleet`` sends the fleet
tests' mix (tests/test_fleet.py) instead of the end-to-end one.
"""

from __future__ import annotations

import os
import time

from celery import Celery

MODE = os.environ.get("QUEUEDASH_E2E_MODE", "signals")

app = Celery("queuedash_e2e", broker=os.environ.get("QUEUEDASH_E2E_BROKER", "redis://127.0.0.1:6379/0"))
app.conf.update(
    task_send_sent_event=MODE == "events",
    worker_send_task_events=MODE == "events",
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
    task_default_queue="orders",
    worker_hijack_root_logger=False,
)

if MODE == "signals":
    import queuedash_agent

    queuedash_agent.install(app)


@app.task(name="e2e.add")
def add(x, y):
    return x + y


@app.task(name="e2e.slow")
def slow(seconds):
    time.sleep(seconds)
    return seconds


@app.task(name="e2e.boom")
def boom():
    raise ValueError("boom")


@app.task(name="e2e.flaky", bind=True, max_retries=3)
def flaky(self):
    if self.request.retries == 0:
        raise self.retry(countdown=0)
    return "ok"


def send_mix() -> None:
    """The end-to-end test's mix (counts in tests/test_agent_e2e.py): on orders,
    5 successes, a slow task, a task retried once, a revoked task; on emails,
    3 successes and 2 failures."""
    from celery.utils import uuid

    for i in range(5):
        add.apply_async((i, i), queue="orders")
    slow.apply_async((1.5,), queue="orders")
    flaky.apply_async(queue="orders")
    revoked_id = uuid()
    # Revoked before it is sent: the worker discards it on arrival (a reply
    # proves the worker knows the id before the message can reach it).
    if not app.control.revoke(revoked_id, reply=True, timeout=5):
        raise SystemExit("no worker answered the revoke broadcast")
    add.apply_async((0, 0), queue="orders", task_id=revoked_id)
    for i in range(3):
        add.apply_async((i, 1), queue="emails")
    for _ in range(2):
        boom.apply_async(queue="emails")


#: The fleet tests' mix: enough tasks, each long enough, that three workers share them.
FLEET_MIX = {"orders": {"slow": 30, "flaky": 1}, "emails": {"slow": 20, "boom": 4}}


def send_fleet_mix() -> None:
    """On orders, 30 tasks of 0.1 s and a task retried once; on emails, 20 tasks of 0.1 s and
    4 failures (counts in tests/test_fleet.py)."""
    for queue, tasks in FLEET_MIX.items():
        for _ in range(tasks.get("slow", 0)):
            slow.apply_async((0.1,), queue=queue)
        for _ in range(tasks.get("flaky", 0)):
            flaky.apply_async(queue=queue)
        for _ in range(tasks.get("boom", 0)):
            boom.apply_async(queue=queue)


if __name__ == "__main__":
    import sys

    send_fleet_mix() if sys.argv[1:] == ["fleet"] else send_mix()
