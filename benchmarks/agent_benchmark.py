"""The agent's costs: monitor throughput and memory, and the signal hook's overhead per task.

1. Event monitor throughput, one core, no broker in the loop: a Celery event
   stream as it comes off the wire (JSON bodies, Celery's own fields: per task
   task-sent, task-received, task-started, task-succeeded, one failure in 20,
   worker heartbeats every 2 s) goes through what the monitor runs per
   message: JSON decoding, Celery's receiver (`event_from_message`), the
   translator, StatsD packets over UDP to a local socket. Compared, on the
   same stream, with the approach of Flower and celery-exporter, Celery's
   `app.events.State` (``State.event`` per event), and, when
   ``--celery-exporter-python`` names an interpreter that has
   prometheus-exporter-celery installed, celery-exporter itself
   (`Exporter.track_task_event` / `track_worker_heartbeat`, its handlers).
2. Memory after one million tasks (four million events): the Python heap
   still held (tracemalloc) once the stream has passed, and its peak, for the
   monitor (its LRU of --max-tasks, default 10,000). `State`
   (max_tasks_in_memory=10,000, its default) and celery-exporter are measured
   the same way over --compare-memory-tasks (default 100,000: both are bounded
   by the same 10,000-task LRU, and tracemalloc makes them slow).
3. Signal hook overhead: `task.apply()` of a task that returns at once (the
   same tracer and signals as a worker), many times, with and without the
   hook; with StatsD listening and with nobody on the port.

With StatsD down (nobody on its port) the agent must stay cheap: the hook adds
well under a millisecond to a task, the monitor handles an event in well under
100 µs. The benchmark measures both and exits non-zero when either is over
budget (the budgets are HOOK_BUDGET_US and EVENT_BUDGET_US below).

The process is pinned to one CPU. Usage:

    python benchmarks/agent_benchmark.py [--tasks 100000] [--memory-tasks 1000000]
        [--compare-memory-tasks 100000] [--hook-runs 20000] [--celery-exporter-python /path/to/venv/bin/python]

Results are printed and written to benchmarks/results/agent.json.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import socket
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"

QUEUES = ("default", "emails", "reports.daily", "billing")
TASKS = ("proj.tasks.add", "proj.emails.send_welcome", "proj.reports.build_daily", "proj.billing.charge",
         "proj.tasks.cleanup")
WORKERS = tuple(f"celery@worker-{i}.example.com" for i in range(8))

#: With StatsD down: what the hook may add to a task, and what the monitor may spend on an event.
HOOK_BUDGET_US = 500
EVENT_BUDGET_US = 100


# -- the stream ---------------------------------------------------------------------------


def stream(tasks: int, seed: int = 7):
    """Celery events for `tasks` tasks, in arrival order, as dicts with Celery's fields."""
    rng = random.Random(seed)
    now = 1_700_000_000.0
    clock = 0
    next_heartbeat = now
    for i in range(tasks):
        now += 0.001
        clock += 4
        uuid = f"{rng.getrandbits(128):032x}"
        uuid = f"{uuid[:8]}-{uuid[8:12]}-{uuid[12:16]}-{uuid[16:20]}-{uuid[20:]}"
        name = TASKS[i % len(TASKS)]
        queue = QUEUES[i % len(QUEUES)]
        worker = WORKERS[i % len(WORKERS)]
        base = {"hostname": worker, "utcoffset": 0, "pid": 4242, "uuid": uuid}
        yield {"type": "task-sent", "uuid": uuid, "name": name, "args": "(1, 2)", "kwargs": "{}", "retries": 0,
               "eta": None, "expires": None, "queue": queue, "exchange": "", "routing_key": queue,
               "root_id": uuid, "parent_id": None, "hostname": "gen1@web-1", "utcoffset": 0, "pid": 1,
               "clock": clock, "timestamp": now}
        yield {**base, "type": "task-received", "name": name, "args": "(1, 2)", "kwargs": "{}", "retries": 0,
               "eta": None, "expires": None, "root_id": uuid, "parent_id": None, "clock": clock + 1,
               "timestamp": now + 0.002}
        yield {**base, "type": "task-started", "clock": clock + 2, "timestamp": now + 0.004}
        if i % 20 == 19:
            yield {**base, "type": "task-failed", "exception": "ValueError('boom')",
                   "traceback": "Traceback (most recent call last):\n  ...\nValueError: boom",
                   "clock": clock + 3, "timestamp": now + 0.02}
        else:
            yield {**base, "type": "task-succeeded", "result": "3", "runtime": 0.016, "clock": clock + 3,
                   "timestamp": now + 0.02}
        if now >= next_heartbeat:
            next_heartbeat = now + 2.0
            for n, host in enumerate(WORKERS):
                yield {"type": "worker-heartbeat", "hostname": host, "utcoffset": 0, "pid": 4242 + n,
                       "clock": clock, "freq": 2.0, "active": 1, "processed": i // len(WORKERS),
                       "loadavg": [0.5, 0.4, 0.3], "sw_ident": "py-celery", "sw_ver": "5.7.0", "sw_sys": "Linux",
                       "timestamp": now}


def wire(tasks: int) -> list[bytes]:
    return [json.dumps(event).encode() for event in stream(tasks)]


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def pin_one_cpu() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})


# -- engines: each returns a function handling one decoded body --------------------------------


def statsd_sink() -> socket.socket:
    """A local UDP socket standing in for StatsD (never read: the kernel drops what overflows)."""
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    return sink


def closed_port() -> int:
    """A UDP port nobody listens on: StatsD down."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def queuedash_engine(port: int, max_tasks: int = 10000):
    sys.path.insert(0, str(REPO))
    from celery import Celery

    from queuedash.naming.metrics import Naming
    from queuedash.agent.client import BufferedClient, UDPClient
    from queuedash.agent.keys import Keys
    from queuedash.agent.monitor import TolerantReceiver
    from queuedash.agent.routes import QueueResolver
    from queuedash.agent.translate import Translator

    client = BufferedClient(UDPClient("127.0.0.1", port))
    translator = Translator(Keys(Naming()), client, QueueResolver(), max_tasks=max_tasks)
    app = Celery("bench", broker="memory://", set_as_current=False)
    receiver = TolerantReceiver(None, handlers={"*": translator.handle}, app=app,
                                on_malformed=translator.count_malformed)

    def handle(body):
        receiver._receive(body, None)

    return handle, translator, client


def celery_state_engine():
    from celery import Celery

    app = Celery("bench", broker="memory://", set_as_current=False)
    state = app.events.State()
    receiver = app.events.Receiver(None, handlers={"*": state.event})

    def handle(body):
        receiver._receive(body, None)

    return handle, state


def celery_exporter_engine():
    """celery-exporter's own handlers (needs prometheus-exporter-celery importable)."""
    from celery import Celery
    from loguru import logger
    from src.exporter import Exporter

    logger.remove()
    logger.add(sys.stderr, level="INFO")          # its default log level
    exporter = Exporter()
    app = Celery("bench", broker="memory://", set_as_current=False)
    exporter.state = app.events.State()
    handlers = {"worker-heartbeat": exporter.track_worker_heartbeat,
                "worker-online": lambda e: exporter.track_worker_status(e, True),
                "worker-offline": lambda e: exporter.track_worker_status(e, False)}
    for key in exporter.state_counters:
        handlers[key] = exporter.track_task_event
    receiver = app.events.Receiver(None, handlers=handlers)

    def handle(body):
        receiver._receive(body, None)

    return handle, exporter


def throughput(handle, messages: list[bytes]) -> float:
    """Events per second through `handle`, JSON decoding included."""
    loads = json.loads
    gc.collect()
    started = time.perf_counter()
    for message in messages:
        handle(loads(message))
    return len(messages) / (time.perf_counter() - started)


def memory_after(handle, tasks: int) -> dict:
    """RSS growth and Python heap held after `tasks` tasks went through `handle`.

    Events are made one by one (never a list of millions), so what is held is the engine's.
    """
    gc.collect()
    rss_before = rss_bytes()
    tracemalloc.start()
    started = time.perf_counter()
    events = 0
    for event in stream(tasks, seed=11):
        handle(event)
        events += 1
    seconds = time.perf_counter() - started
    gc.collect()
    held, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"tasks": tasks, "events": events, "seconds": round(seconds, 1),
            "heap_held_mb": round(held / 1e6, 2), "heap_peak_mb": round(peak / 1e6, 2),
            "rss_growth_mb": round((rss_bytes() - rss_before) / 1e6, 1), "rss_mb": round(rss_bytes() / 1e6, 1)}


# -- the hook ---------------------------------------------------------------------------------


def hook_overhead(runs: int, repeat: int = 5) -> dict:
    sys.path.insert(0, str(REPO))
    from celery import Celery

    from queuedash.naming.metrics import Naming
    from queuedash.agent import hook
    from queuedash.agent.client import UDPClient

    app = Celery("bench-hook", set_as_current=False)
    app.conf.task_store_eager_result = False

    @app.task(name="proj.tasks.noop", shared=False)
    def noop():
        return None

    options = {"routing_key": "default", "exchange": "", "headers": {hook.SENT_HEADER: time.time()}}

    def per_task() -> float:
        best = float("inf")
        for _ in range(repeat):
            started = time.perf_counter()
            for _ in range(runs):
                noop.apply(**options)
            best = min(best, (time.perf_counter() - started) / runs)
        return best

    sink = statsd_sink()
    bare = per_task()
    hook.install(app, client=UDPClient("127.0.0.1", sink.getsockname()[1]), naming=Naming())
    listening = per_task()
    hook.install(app, client=UDPClient("127.0.0.1", closed_port()), naming=Naming())
    down = per_task()
    hook.uninstall()
    sink.close()
    return {"runs": runs, "bare_us": round(bare * 1e6, 1), "hooked_us": round(listening * 1e6, 1),
            "overhead_us": round((listening - bare) * 1e6, 1),
            "overhead_statsd_down_us": round((down - bare) * 1e6, 1)}


# -- main -------------------------------------------------------------------------------------


def run_celery_exporter(python: str, tasks: int, memory_tasks: int) -> dict:
    """This file's --engine celery-exporter mode, in the interpreter that has it installed."""
    done = subprocess.run([python, __file__, "--engine", "celery-exporter", "--tasks", str(tasks),
                           "--memory-tasks", str(memory_tasks)], capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"}
    return json.loads(done.stdout)


def engine_only(name: str, tasks: int, memory_tasks: int) -> dict:
    pin_one_cpu()
    if name != "celery-exporter":
        raise SystemExit(f"unknown engine {name}")
    messages = wire(tasks)
    handle, _ = celery_exporter_engine()
    speed = throughput(handle, messages)
    del messages
    handle, _ = celery_exporter_engine()
    return {"events_per_s": round(speed), "memory": memory_after(handle, memory_tasks) if memory_tasks else None}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=100_000, help="tasks in the throughput stream")
    parser.add_argument("--memory-tasks", type=int, default=1_000_000, help="tasks for the memory figure (0: skip)")
    parser.add_argument("--compare-memory-tasks", type=int, default=100_000,
                        help="tasks for the memory figure of celery's State and celery-exporter (0: skip)")
    parser.add_argument("--hook-runs", type=int, default=20_000, help="task.apply() calls per measurement")
    parser.add_argument("--celery-exporter-python", metavar="PYTHON",
                        help="an interpreter with prometheus-exporter-celery installed, to compare with it")
    parser.add_argument("--engine", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.engine:
        print(json.dumps(engine_only(args.engine, args.tasks, args.memory_tasks)))
        return 0

    pin_one_cpu()
    results = {"python": sys.version.split()[0], "tasks": args.tasks}
    messages = wire(args.tasks)
    results["events"] = len(messages)
    sink = statsd_sink()

    handle, translator, client = queuedash_engine(sink.getsockname()[1])
    results["queuedash_events_per_s"] = round(throughput(handle, messages))
    client.flush()
    results["queuedash_packets"] = client.transport.sent_packets + client.transport.dropped_packets
    handle, _, _ = queuedash_engine(closed_port())
    results["queuedash_events_per_s_statsd_down"] = round(throughput(handle, messages))
    handle, _ = celery_state_engine()
    results["celery_state_events_per_s"] = round(throughput(handle, messages))
    del messages
    if args.memory_tasks:
        handle, translator, _ = queuedash_engine(sink.getsockname()[1])
        results["queuedash_memory"] = memory_after(handle, args.memory_tasks)
        results["queuedash_memory"]["tasks_remembered"] = len(translator.tasks)
    if args.compare_memory_tasks:
        handle, state = celery_state_engine()
        results["celery_state_memory"] = memory_after(handle, args.compare_memory_tasks)
        results["celery_state_memory"]["tasks_remembered"] = len(state.tasks)
    if args.celery_exporter_python:
        results["celery_exporter"] = run_celery_exporter(args.celery_exporter_python, args.tasks,
                                                         args.compare_memory_tasks)
    results["hook"] = hook_overhead(args.hook_runs)
    sink.close()

    results["over_budget"] = over_budget(results)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "agent.json").write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    report(results)
    return 1 if results["over_budget"] else 0


def over_budget(r: dict) -> list[str]:
    """What StatsD down costs beyond the budgets, one line each (none: within budget)."""
    found = []
    hook_us = r["hook"]["overhead_statsd_down_us"]
    if hook_us >= HOOK_BUDGET_US:
        found.append(f"the hook adds {hook_us} us per task with StatsD down (budget {HOOK_BUDGET_US} us)")
    event_us = 1e6 / r["queuedash_events_per_s_statsd_down"]
    if event_us >= EVENT_BUDGET_US:
        found.append(f"the monitor spends {event_us:.1f} us per event with StatsD down (budget {EVENT_BUDGET_US} us)")
    return found


def report(r: dict) -> None:
    print(f"event stream: {r['tasks']:,} tasks, {r['events']:,} events (Python {r['python']}, one CPU)")
    print(f"  queuedash monitor     {r['queuedash_events_per_s']:>10,} events/s "
          f"({r['queuedash_events_per_s_statsd_down']:,} with StatsD down)")
    print(f"  celery events.State   {r['celery_state_events_per_s']:>10,} events/s")
    exporter = r.get("celery_exporter")
    if exporter and "events_per_s" in exporter:
        print(f"  celery-exporter       {exporter['events_per_s']:>10,} events/s")
    elif exporter:
        print(f"  celery-exporter       not run: {exporter['error']}")
    for label, key in (("queuedash monitor", "queuedash_memory"), ("celery events.State", "celery_state_memory")):
        m = r.get(key)
        if m:
            print(f"memory after {m['tasks']:,} tasks, {label}: heap held {m['heap_held_mb']} MB "
                  f"(peak {m['heap_peak_mb']} MB), process RSS {m['rss_mb']} MB (+{m['rss_growth_mb']} MB), "
                  f"{m['tasks_remembered']:,} tasks "
                  f"remembered, {m['seconds']} s")
    if exporter and exporter.get("memory"):
        m = exporter["memory"]
        print(f"memory after {m['tasks']:,} tasks, celery-exporter: heap held {m['heap_held_mb']} MB "
              f"(peak {m['heap_peak_mb']} MB), process RSS {m['rss_mb']} MB (+{m['rss_growth_mb']} MB), "
              f"{m['seconds']} s")
    h = r["hook"]
    print(f"signal hook, task.apply() x {h['runs']:,}: {h['bare_us']} us bare, {h['hooked_us']} us hooked: "
          f"+{h['overhead_us']} us per task (+{h['overhead_statsd_down_us']} us with StatsD down)")
    for line in r["over_budget"]:
        print(f"OVER BUDGET: {line}")
    if not r["over_budget"]:
        print(f"within budget with StatsD down: hook < {HOOK_BUDGET_US} us per task, "
              f"monitor < {EVENT_BUDGET_US} us per event")


if __name__ == "__main__":
    sys.exit(main())
