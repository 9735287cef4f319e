"""Known data for tests against a real Graphite, written straight into carbon.

`seed(graphite, naming)` writes what StatsD's Graphite backend would have written
over the last two minutes, under the naming scheme (every path comes from
`queuedash.naming.metrics.Naming`, never from a hand-written string), on the 10 s whisper
step, through carbon's plaintext protocol, and waits until Graphite has every path.
The plan is data (`PLAN`, `BROKER`, `WORKERS`): per queue and task, the count of
each state per flush interval (None: no point in that slot); the values tests
expect are computed from the same plan (`total`, `backlog`, `counts`). A test can
seed a plan of its own (``seed(graphite, naming, plan=..., broker={}, ...)``).
`settings_toml` writes a settings file for the seeded queues.

Give each test module a naming prefix of its own: the Graphite is shared by the
session, and the same paths seeded twice at different times would add up.

What the plan holds, and why:

* ``default``: the clean queue. Every received task succeeded; the other states
  are sent as 0 (StatsD sends 0 for a counter it has seen before). Backlog 0.
* ``emails``: the failing queue: failed, retried, rejected, revoked and unknown
  tasks, and yet every received task ended (backlog 0). Consumers attached.
* ``reports.daily``: backlog `IN_FLIGHT` (received more than processed), gaps in the
  received counts (slots without a point, where ``diffSeries`` would flip signs
  without ``transformNull``) and one in the processed counts; its consumers go
  from 1 to 0 while messages pile up (waiting with no consumer).
* Task names with dots (``proj.tasks.add``) and hosts with ``@`` and dots, to
  exercise escaping.
* Workers: ``celery@web-2.example.com`` goes offline half-way (online 1 then 0).

Counts go to the count path and their rate (count / 10 s) to the rate path, as
StatsD does; timers get mean/upper/upper_90/lower/count/sum; broker and worker
gauges one value per slot.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from queuedash.naming.metrics import PROCESSED_STATES, TASK_STATES, Naming

REPO = Path(__file__).resolve().parent.parent
STEP = 10               # the StatsD flush interval = the finest whisper step
INTERVALS = 12          # two minutes of data
_ = None                # a slot without a point, in the plan below

ZEROS = [0] * INTERVALS

#: queue -> task -> state -> count per interval. States not given are sent as 0.
PLAN = {
    "default": {
        "proj.tasks.add": {"sent": [3] * 12, "received": [3] * 12, "started": [3] * 12, "succeeded": [3] * 12},
        "proj.tasks.mul": {"sent": [1, 2] * 6, "received": [1, 2] * 6, "started": [1, 2] * 6,
                           "succeeded": [1, 2] * 6},
    },
    "emails": {
        "mail.send": {
            "sent": [4] * 12,
            "received": [4] * 12,
            "started": [4] * 12,
            "failed":    [0, 1, 0, 2, 0, 0, 1, 0, 0, 2, 0, 0],   # 6
            "retried":   [0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 1, 0],   # 3
            "rejected":  [0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0],   # 2
            "revoked":   [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],   # 1
            "succeeded": [3, 3, 3, 2, 3, 4, 3, 3, 4, 2, 2, 4],   # received - the four above
            "unknown":   [0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0],   # 1 (never reaches received)
        },
        "mail.render": {"sent": [2] * 12, "received": [2] * 12, "started": [2] * 12, "succeeded": [2] * 12},
    },
    "reports.daily": {
        "reports.build.pdf": {
            "sent":      [5, 2, 5, 1, 3, 2, 1, 4, 1, 1, 2, 3],
            "received":  [5, _, 5, _, 3, 2, _, 4, 1, _, 2, 3],   # 25, four slots without a point
            "started":   [5, _, 5, _, 3, 2, _, 4, 1, _, 2, 3],
            "succeeded": [3, 2, 4, 1, 2, 2, 1, 3, 1, _, 1, 1],   # 21, one slot without a point
        },
    },
}

#: reports.daily: received minus processed over the plan.
IN_FLIGHT = 4

#: queue -> gauge -> value per interval.
BROKER = {
    "default": {"length": [0, 1, 0, 0, 2, 0, 0, 1, 0, 0, 0, 0], "consumers": [2] * 12, "unacked": [1] * 12},
    "emails": {"length": [5, 4, 6, 5, 5, 4, 6, 5, 5, 4, 5, 5], "consumers": [2] * 12, "unacked": [2] * 12},
    "reports.daily": {"length": [0, 0, 0, 0, 0, 0, 1, 2, 3, 5, 6, 7], "consumers": [1] * 6 + [0] * 6,
                      "unacked": [1] * 6 + [0] * 6},
}

#: host -> gauge -> value per interval; processed is cumulative, heartbeat_age in seconds.
WORKERS = {
    "celery@web-1.example.com": {"online": [1] * 12, "active": [2, 3] * 6,
                                 "processed": [100 + 4 * k for k in range(12)], "heartbeat_age": [1.0] * 12},
    "celery@web-2.example.com": {"online": [1] * 6 + [0] * 6, "active": [1] * 6 + [0] * 6,
                                 "processed": [50 + 2 * min(k, 5) for k in range(12)],
                                 "heartbeat_age": [1.0] * 6 + [10.0 * k for k in range(1, 7)]},
    "celery@batch.1": {"online": [1] * 12, "active": [1] * 12,
                       "processed": [10 + k for k in range(12)], "heartbeat_age": [2.0] * 12},
}

#: task -> (runtime mean ms, wait mean ms): timers sent in every slot where the task started.
TIMERS = {"proj.tasks.add": (12.0, 3.0), "proj.tasks.mul": (20.0, 4.0), "mail.send": (250.0, 40.0),
          "mail.render": (80.0, 30.0), "reports.build.pdf": (4000.0, 900.0)}

OFFLINE_HOST = "celery@web-2.example.com"
NO_CONSUMER_QUEUE = "reports.daily"


def counts(queue: str, task: str, state: str) -> list[int | None]:
    return PLAN[queue][task].get(state, ZEROS)


def total(queue: str, states) -> int:
    """Sum over the plan of `states` on every task of `queue`."""
    return sum(v or 0 for task in PLAN[queue] for state in states for v in counts(queue, task, state))


def backlog(queue: str) -> int:
    return total(queue, ["received"]) - total(queue, PROCESSED_STATES)


@dataclass(frozen=True)
class Seeded:
    """What `seed` wrote: the naming, the slots and every path, for expectations."""

    naming: Naming
    timestamps: tuple[int, ...]
    paths: tuple[str, ...]


def lines(naming: Naming, timestamps, plan=None, broker=None, workers=None,
          idle_zeros: bool = True) -> list[tuple[str, float, int]]:
    """Every (path, value, timestamp) of a plan (by default `PLAN`, `BROKER`, `WORKERS`).

    With `idle_zeros`, task states the plan does not give are sent as 0, as StatsD
    does for a counter it has seen before; without, they are not sent at all (a
    counter that never fired has no metric).
    """
    plan = PLAN if plan is None else plan
    broker = BROKER if broker is None else broker
    workers = WORKERS if workers is None else workers
    out = []

    def put(path, values):
        out.extend((path, value, ts) for value, ts in zip(values, timestamps) if value is not None)

    for queue, tasks in plan.items():
        for task, by_state in tasks.items():
            for state in TASK_STATES:
                if state not in by_state and not idle_zeros:
                    continue
                values = by_state.get(state, ZEROS)
                put(naming.task_count(queue, task, state), values)
                put(naming.task_rate(queue, task, state), [None if v is None else v / STEP for v in values])
            runtime, wait = TIMERS.get(task, (10.0, 1.0))
            started = by_state.get("started", by_state.get("received", ZEROS))
            for timer, mean in (("runtime", runtime), ("wait", wait)):
                stats = {"mean": mean, "upper": 2 * mean, naming.percentile_stat: 1.5 * mean, "lower": mean / 2}
                for stat, value in stats.items():
                    put(naming.task_timer(queue, task, timer, stat), [value if n else None for n in started])
                put(naming.task_timer(queue, task, timer, "count"), [n if n else None for n in started])
                put(naming.task_timer(queue, task, timer, "sum"), [n * mean if n else None for n in started])
    for queue, gauges in broker.items():
        for gauge, values in gauges.items():
            put(naming.broker_gauge(queue, gauge), values)
    for host, gauges in workers.items():
        for gauge, values in gauges.items():
            put(naming.worker_gauge(host, gauge), values)
    return out


def slots(now: float | None = None) -> tuple[int, ...]:
    """The `INTERVALS` whisper slots that end one step before `now`."""
    last = int(now or time.time()) // STEP * STEP - STEP
    return tuple(last - (INTERVALS - 1 - k) * STEP for k in range(INTERVALS))


def seed(graphite, naming: Naming, now: float | None = None, **plan) -> Seeded:
    """Write a plan (by default the whole of `PLAN`, `BROKER`, `WORKERS`; keywords as for
    `lines`) into `graphite` (stack.servers.Graphite) and wait until Graphite has every path."""
    timestamps = slots(now)
    points = lines(naming, timestamps, **plan)
    graphite.send(points)
    paths = tuple(dict.fromkeys(path for path, _, _ in points))
    for path in paths:
        # The whisper file is there once carbon created it; graphite-web reads the
        # points carbon still caches through CARBONLINK_HOSTS.
        if not graphite.whisper_file(path).exists():
            graphite.wait_for_metric(path)
    return Seeded(naming=naming, timestamps=timestamps, paths=paths)


def settings_toml(naming: Naming, queues=None, extra: str = "") -> str:
    """A settings file for the seeded queues, compiling the repository's dashboards.

    Every queue watches every condition, except reports.daily (failures, no
    consumer, backlog), so the panels cover clean, failing and stuck queues.
    """
    queues = list(PLAN) if queues is None else list(queues)
    every = '["failed", "rejected", "retried", "revoked", "unknown", "no_consumers", "backlog"]'
    overrides = "".join(
        f'[queue."{queue}"]\nmust_be_zero = '
        + ('["failed", "no_consumers", "backlog"]' if queue == NO_CONSUMER_QUEUE else every) + "\n"
        for queue in queues
    )
    return (
        f"queues = {json.dumps(queues)}\n"
        f"definitions = {json.dumps(str(REPO / 'dashboards'))}\n"
        f'[naming]\nnamespace = "{naming.namespace}"\nprefix = "{naming.prefix}"\n'
        "[dashboards]\nexpected_workers = 3\n"
        f"{overrides}{extra}"
    )
