"""The metrics pipeline's capacity: tasks per second counted exactly, through one StatsD and through the fleet reference.

Three topologies, each started on loopback from the reference configuration of fleet/ (the servers
of stack/, as the tests start them), in one run:

* single:      hook -> one StatsD (fleet/statsd.js) -> carbon-cache -> graphite-web;
* fleet:       hook -> StatsD's cluster proxy on every host (statsd-proxy.js) -> two StatsD nodes
               (statsd-node.js) -> carbon-c-relay (carbon-c-relay.conf) -> two carbon-caches ->
               a front graphite-web (graphite-web-cluster.py);
* fleet-proxy: the same with one proxy for every host.

StatsD flushes every 10 s into 10 s whisper slots, as in the reference. For each topology, task
rates are tried, each for --duration seconds (60): three sender processes (the "hosts") drive the
agent's own hook handlers, as Celery's signals call them (queuedash.agent.hook.Hook: sent on the
producer side, received, started with its wait timer, succeeded with its runtime: 4 UDP packets and
6 metrics per task), at an even pace, over 20 task names in 4 queues. Once the run is over and
every StatsD has flushed, Graphite's sum of each counter (sent, received, started, succeeded) and
of the runtime timer's count over the run must equal the tasks sent: the rate is *exact*. Rates
double from --start until one is not exact, then the gap is halved twice; the first rate that is
not exact is where the pipeline starts losing counts. Each socket's UDP receive-buffer drops
(/proc/net/udp) say where they were lost, the servers' CPU time says who was busy.

The senders share the machine's two cores with the pipeline: a sender that cannot keep the pace
is reported (the rate reached is then the sender's limit, not the pipeline's).

The baseline is the single StatsD, measured first in the same run whatever --topologies says (the
load of a shared machine changes from hour to hour): every other topology's highest exact rate is
reported as a multiple of its.

    python benchmarks/pipeline_benchmark.py [--duration 60] [--start 1000]
        [--topologies fleet,fleet-proxy] [--rates 1000,2000,...]

Needs the stack (stack/install.sh graphite statsd relay). Results are printed and written to
benchmarks/results/pipeline.json. Exits 1 if a topology loses counts at the first rate tried: the
pipeline is then broken, not merely full.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import multiprocessing
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil
import requests

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
sys.path.insert(0, str(REPO))

from stack.servers import CarbonRelay, Graphite, StatsD, StatsDProxy  # noqa: E402

QUEUES = ("default", "emails", "reports", "billing")
TASK_NAMES = tuple(f"proj.{queue}.task{i}" for queue in QUEUES for i in range(5))
HOSTS = ("host1", "host2", "host3")
STATES = ("sent", "received", "started", "succeeded")
FLUSH_SECONDS = 10
RETENTION = "10s:1d,1m:7d"


# -- the senders ------------------------------------------------------------------------------------


class _Request(dict):
    """What the hook reads of a Celery request: attributes, and .get() like Celery's Context."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class _Task:
    def __init__(self, name: str, request: _Request):
        self.name = name
        self.request = request


def drive(port: int, prefix: str, host: str, rate: float, duration: float, start_at: float, out) -> None:
    """One host: the hook's handlers for `rate` tasks a second, evenly paced, from `start_at` for `duration` s."""
    from queuedash.agent.client import UDPClient
    from queuedash.agent.hook import SENT_HEADER, Hook
    from queuedash.agent.keys import Keys
    from queuedash.naming.metrics import Naming

    client = UDPClient("127.0.0.1", port)
    hook = Hook(client, Keys(Naming(prefix=prefix)), app=None, host=host)
    tasks, late = 0, 0.0
    while time.time() < start_at:
        time.sleep(0.001)
    began = time.perf_counter()
    total = int(rate * duration)
    while tasks < total:
        due = began + tasks / rate
        now = time.perf_counter()
        if due > now:
            time.sleep(due - now)
        else:
            late = max(late, now - due)
        name = TASK_NAMES[tasks % len(TASK_NAMES)]
        queue = name.split(".")[1]
        task_id = f"{host}-{tasks}"
        headers = {"task": name, "id": task_id}
        hook.before_publish(headers=headers)
        hook.after_publish(sender=name, headers=headers, routing_key=queue)
        request = _Request(id=task_id, name=name, task=None, eta=None, delivery_info={"routing_key": queue},
                           headers=None, **{SENT_HEADER: headers[SENT_HEADER]})
        hook.received(request=request)
        task = _Task(name, request)
        hook.prerun(task_id=task_id, task=task)
        hook.postrun(task_id=task_id, task=task, state="SUCCESS")
        tasks += 1
    out.put({"host": host, "tasks": tasks, "seconds": time.perf_counter() - began, "late": late,
             "dropped_packets": client.dropped_packets, "errors": hook.errors})


# -- the topologies -----------------------------------------------------------------------------------


@dataclass
class Topology:
    name: str
    ports: dict                    # host -> the UDP port it sends to
    graphite_url: str
    servers: dict = field(default_factory=dict)   # label -> Server, for CPU time and drops
    udp_ports: dict = field(default_factory=dict)  # label -> UDP port


@contextlib.contextmanager
def single():
    with Graphite(retention=RETENTION) as graphite, StatsD(graphite, flush_ms=FLUSH_SECONDS * 1000) as statsd:
        yield Topology("single", dict.fromkeys(HOSTS, statsd.port), graphite.web_url,
                       {"statsd": statsd, "graphite": graphite}, {"statsd": statsd.port})


@contextlib.contextmanager
def fleet(proxy_per_host: bool = True):
    with contextlib.ExitStack() as stack:
        node_a = stack.enter_context(Graphite(retention=RETENTION, web_workers=1))
        node_b = stack.enter_context(Graphite(retention=RETENTION, web_workers=1))
        front = stack.enter_context(Graphite(cluster=[node_a, node_b]))
        relay = stack.enter_context(CarbonRelay([node_a, node_b]))
        a = stack.enter_context(StatsD(relay, flush_ms=FLUSH_SECONDS * 1000, config="statsd-node.js"))
        b = stack.enter_context(StatsD(relay, flush_ms=FLUSH_SECONDS * 1000, config="statsd-node.js"))
        if proxy_per_host:
            proxies = {f"statsd-proxy-{host}": stack.enter_context(StatsDProxy([a, b])) for host in HOSTS}
            ports = {host: proxy.port for host, proxy in zip(HOSTS, proxies.values(), strict=True)}
        else:
            proxies = {"statsd-proxy": stack.enter_context(StatsDProxy([a, b]))}
            ports = dict.fromkeys(HOSTS, proxies["statsd-proxy"].port)
        servers = {**proxies, "statsd-a": a, "statsd-b": b, "carbon-c-relay": relay,
                   "graphite-a": node_a, "graphite-b": node_b, "graphite-front": front}
        udp = {label: proxy.port for label, proxy in proxies.items()} | {"statsd-a": a.port, "statsd-b": b.port}
        yield Topology("fleet" if proxy_per_host else "fleet-proxy", ports, front.web_url, servers, udp)


TOPOLOGIES = {"single": single, "fleet": fleet, "fleet-proxy": lambda: fleet(proxy_per_host=False)}
#: What the others are measured against.
BASELINE = "single"


# -- measuring ------------------------------------------------------------------------------------------


def machine() -> dict:
    """What the figures were measured on: the CPU, its cores, the kernel's default UDP receive buffer."""
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    return {"cpu": model, "cpus": os.cpu_count(), "kernel": platform.release(),
            "udp_receive_buffer_bytes": int(Path("/proc/sys/net/core/rmem_default").read_text())}


def udp_drops() -> dict[int, int]:
    """Local UDP port -> packets the kernel dropped on that socket's full receive buffer."""
    drops: dict[int, int] = {}
    for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
        fields = line.split()
        port = int(fields[1].split(":")[1], 16)
        drops[port] = drops.get(port, 0) + int(fields[-1])
    return drops


def cpu_seconds(server) -> float:
    """User + system CPU seconds of a server's processes and their children so far."""
    total = 0.0
    for pid in server.pids.values():
        with contextlib.suppress(psutil.Error):
            process = psutil.Process(pid)
            for p in [process, *process.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    times = p.cpu_times()
                    total += times.user + times.system
    return total


def counted(graphite_url: str, prefix: str, since: float) -> dict[str, int]:
    """Graphite's sums over the run: every state's counter and the runtime timer's count."""
    targets = {state: f"sumSeries(stats_counts.{prefix}.tasks.*.*.{state})" for state in STATES}
    targets["runtime count"] = f"sumSeries(stats.timers.{prefix}.tasks.*.*.runtime.count)"
    found = {}
    for label, target in targets.items():
        answer = requests.get(f"{graphite_url}/render", timeout=30, params={
            "target": target, "from": str(int(since) - 2 * FLUSH_SECONDS), "until": "now", "format": "json",
            "maxDataPoints": 100000})
        answer.raise_for_status()
        found[label] = round(sum(v for series in answer.json() for v, _ in series["datapoints"] if v is not None))
    return found


@dataclass
class Trial:
    rate: int
    tasks: int
    counted: dict
    exact: bool
    sender_rate: float
    sender_late_s: float
    sender_dropped: int
    udp_drops: dict
    cpu_percent: dict


def trial(topology: Topology, rate: int, duration: float) -> Trial:
    prefix = f"bench_{topology.name}_{rate}_{int(time.time())}"
    queue = multiprocessing.Queue()
    start_at = time.time() + 2.0           # the senders import the agent meanwhile
    senders = [multiprocessing.Process(target=drive, args=(topology.ports[host], prefix, host, rate / len(HOSTS),
                                                          duration, start_at, queue)) for host in HOSTS]
    for sender in senders:
        sender.start()
    drops_before = udp_drops()
    while time.time() < start_at:
        time.sleep(0.01)
    cpu_before = {label: cpu_seconds(server) for label, server in topology.servers.items()}
    reports = [queue.get(timeout=duration * 3 + 60) for _ in senders]
    for sender in senders:
        sender.join()
    ended = time.time()
    cpu = {label: round(100 * (cpu_seconds(server) - cpu_before[label]) / (ended - start_at))
           for label, server in topology.servers.items()}
    # Every StatsD flushes within FLUSH_SECONDS of the end; the relay and the caches right after.
    time.sleep(max(0.0, ended + FLUSH_SECONDS + 3 - time.time()))
    tasks = sum(r["tasks"] for r in reports)
    found, previous = counted(topology.graphite_url, prefix, start_at), None
    deadline = time.time() + 30
    while found != previous and time.time() < deadline:
        time.sleep(2)
        previous, found = found, counted(topology.graphite_url, prefix, start_at)
    drops_after = udp_drops()
    return Trial(
        rate=rate, tasks=tasks, counted=found, exact=all(v == tasks for v in found.values()),
        sender_rate=round(tasks / max(r["seconds"] for r in reports)),
        sender_late_s=round(max(r["late"] for r in reports), 3),
        sender_dropped=sum(r["dropped_packets"] for r in reports),
        udp_drops={label: drops_after.get(port, 0) - drops_before.get(port, 0)
                   for label, port in topology.udp_ports.items()},
        cpu_percent=cpu)


def search(topology: Topology, duration: float, start: int, rates: list[int] | None) -> list[Trial]:
    """Rates doubling from `start` until one is not exact, then the gap halved twice (or `rates` as given)."""
    trials: list[Trial] = []

    def run(rate: int) -> Trial:
        result = trial(topology, rate, duration)
        trials.append(result)
        print(line(topology.name, result), flush=True)
        return result

    if rates:
        for rate in rates:
            run(rate)
        return trials
    good, bad, rate = 0, None, start
    while bad is None:
        if run(rate).exact:
            good, rate = rate, rate * 2
        else:
            bad = rate
        if rate > 200_000:
            return trials
    for _ in range(2):
        middle = (good + bad) // 2
        if run(middle).exact:
            good = middle
        else:
            bad = middle
    return trials


def line(name: str, t: Trial) -> str:
    verdict = "exact" if t.exact else "LOST " + ", ".join(f"{k} {v - t.tasks:+,}" for k, v in t.counted.items()
                                                            if v != t.tasks)
    paced = "" if t.sender_rate >= 0.97 * t.rate else f" (senders reached {t.sender_rate:,}/s)"
    drops = ", ".join(f"{k} {v:,}" for k, v in t.udp_drops.items() if v) or "none"
    cpu = ", ".join(f"{k} {v}%" for k, v in t.cpu_percent.items())
    return (f"{name:<11} {t.rate:>7,} tasks/s{paced}: {t.tasks:,} tasks, {verdict}; UDP drops: {drops}; "
            f"CPU: {cpu}")


def summary(trials: list[Trial]) -> dict:
    """The lowest rate that lost counts, and the highest exact one below it (drops come in bursts,
    when a receiver pauses: a higher rate may come out exact by luck, and does not count)."""
    lost = [t.rate for t in trials if not t.exact]
    lowest_lossy = min(lost, default=None)
    exact = [t.rate for t in trials if t.exact and (lowest_lossy is None or t.rate < lowest_lossy)]
    return {"highest_exact": max(exact, default=0), "lowest_lossy": lowest_lossy}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds each rate is sent for")
    parser.add_argument("--start", type=int, default=1000, help="first rate tried (tasks/s)")
    parser.add_argument("--rates", help="comma-separated rates to try instead of the search")
    parser.add_argument("--topologies", default="fleet,fleet-proxy",
                        help=f"which to measure against the {BASELINE} baseline, which always runs first: "
                             f"{', '.join(TOPOLOGIES)}")
    args = parser.parse_args(argv)
    rates = [int(r) for r in args.rates.split(",")] if args.rates else None
    asked = [name.strip() for name in args.topologies.split(",") if name.strip()]
    unknown = sorted(set(asked) - set(TOPOLOGIES))
    if unknown:
        parser.error(f"unknown topology {', '.join(unknown)}: choose from {', '.join(TOPOLOGIES)}")
    names = [BASELINE, *(name for name in asked if name != BASELINE)]
    results = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               "machine": machine(), "duration_s": args.duration, "flush_s": FLUSH_SECONDS,
               "load_average": os.getloadavg(), "topologies": {}}
    for name in names:
        with TOPOLOGIES[name]() as topology:
            trials = search(topology, args.duration, args.start, rates)
        results["topologies"][name] = {"trials": [asdict(t) for t in trials], **summary(trials)}
    results["load_average_after"] = os.getloadavg()
    print()
    baseline = results["topologies"][BASELINE]["highest_exact"]
    for name, result in results["topologies"].items():
        against = ""
        if name != BASELINE and baseline:
            result["times_baseline"] = round(result["highest_exact"] / baseline, 2)
            against = f" ({result['times_baseline']:g} x {BASELINE})"
        print(f"{name}: exact up to {result['highest_exact']:,} tasks/s{against} over {args.duration:g} s; "
              f"counts lost from {result['lowest_lossy'] or 'beyond the rates tried'}"
              + (" tasks/s" if result["lowest_lossy"] else ""))
    print(f"load average before/after: {results['load_average']} / {results['load_average_after']}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "pipeline.json").write_text(json.dumps(results, indent=2) + "\n")
    broken = [name for name, result in results["topologies"].items() if not result["trials"][0]["exact"]]
    if broken:
        print(f"counts lost at the first rate tried in: {', '.join(broken)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
