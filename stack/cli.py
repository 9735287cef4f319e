"""`python -m stack graphite up|down`: a Graphite (and StatsD) for people, on fixed loopback ports.

Backs `make graphite-up` and `make graphite-down`. `up` starts the servers and leaves them running
after it exits; it records what it started in <dir>/servers.json (per process: its pid and
mirakuru's mark, which its descendants carry too), and `down` stops exactly those processes.

Imports stack.base, stack.graphite, stack.statsd and mirakuru.
"""

from __future__ import annotations

import argparse
import atexit
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import mirakuru.base

from stack.base import LOOPBACK, StackError, alive, marked_processes, process_started_at, stop_processes
from stack.graphite import Graphite
from stack.statsd import StatsD

#: Stop order: statsd first so its last flush still reaches carbon, carbon last.
STOP_ORDER = ("statsd", "graphite-web", "carbon")


def _record(run_dir: Path) -> Path:
    return run_dir / "servers.json"


def _recorded(run_dir: Path) -> dict[str, dict]:
    """label -> {"pid", "started", "mark"} of what `up` started in run_dir, if anything."""
    try:
        return json.loads(_record(run_dir).read_text())
    except (OSError, ValueError):
        return {}


def _process(entry: dict) -> list:
    process = process_started_at(entry["pid"], entry["started"])
    return [process] if process else []


def _still_running(entry: dict) -> bool:
    return bool(alive(_process(entry)) or marked_processes([entry["mark"]]))


def _write_env_sh(run_dir: Path, graphite: Graphite, statsd: StatsD | None) -> Path:
    lines = [f"export CARBON_HOST={LOOPBACK} CARBON_PORT={graphite.carbon_port}",
             f"export QUEUEDASH_GRAPHITE_URL={graphite.web_url}"]
    if statsd:
        lines.append(f"export QUEUEDASH_STATSD_HOST={LOOPBACK} QUEUEDASH_STATSD_PORT={statsd.port}")
    env_sh = run_dir / "env.sh"
    env_sh.write_text("# written by `python -m stack graphite up`\n" + "\n".join(lines) + "\n")
    return env_sh


def graphite_up(args: argparse.Namespace) -> int:
    run_dir = Path(args.dir).resolve()
    running = [label for label, entry in _recorded(run_dir).items() if _still_running(entry)]
    if running:
        print(f"already running in {run_dir}: {', '.join(sorted(running))}; run `graphite down` first",
              file=sys.stderr)
        return 1
    graphite = Graphite(root=run_dir / "graphite", retention=args.retention, carbon_port=args.carbon_port,
                        pickle_port=args.pickle_port, cache_query_port=args.cache_query_port,
                        web_port=args.web_port)
    servers = [graphite]
    try:
        graphite.start()
        if args.with_statsd:
            servers.append(StatsD(graphite, flush_ms=args.flush_ms, legacy_namespace=not args.no_legacy_namespace,
                                  root=run_dir / "statsd", port=args.statsd_port, mgmt_port=args.statsd_mgmt_port))
            servers[-1].start()
    except (StackError, ValueError) as error:
        for server in reversed(servers):
            server.stop()
        print(error, file=sys.stderr)
        return 1
    # The servers outlive this process: mirakuru would stop them at exit otherwise.
    atexit.unregister(mirakuru.base.cleanup_subprocesses)
    record = {}
    for server in servers:
        record.update(server.detach())
    _record(run_dir).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    env_sh = _write_env_sh(run_dir, graphite, servers[1] if args.with_statsd else None)
    print(f"graphite up in {graphite.start_seconds:.1f} s: carbon plaintext {LOOPBACK}:{graphite.carbon_port}, "
          f"web {graphite.web_url}")
    if args.with_statsd:
        statsd = servers[1]
        print(f"statsd up in {statsd.start_seconds:.1f} s: udp {LOOPBACK}:{statsd.port}, "
              f"management {LOOPBACK}:{statsd.mgmt_port}, flush {statsd.flush_ms} ms")
    print(f"logs in {run_dir}/*/log; for clients: source {env_sh}")
    return 0


def graphite_down(args: argparse.Namespace) -> int:
    run_dir = Path(args.dir).resolve()
    recorded = _recorded(run_dir)
    stuck = []
    stopped = 0
    for label in sorted(recorded, key=lambda name: STOP_ORDER.index(name) if name in STOP_ORDER else -1):
        entry = recorded[label]
        if _still_running(entry):
            stuck += stop_processes([entry["mark"]], _process(entry), timeout=15.0)
            stopped += 1
            print(f"stopped {label} (pid {entry['pid']})")
    _record(run_dir).unlink(missing_ok=True)
    # carbon's own pid file: a stale one makes the next carbon refuse to start
    (run_dir / "graphite" / "pids" / "carbon-cache-a.pid").unlink(missing_ok=True)
    if not stopped:
        print(f"nothing running in {run_dir}")
    if stuck:
        print(f"processes still alive after SIGKILL: {stuck}", file=sys.stderr)
        return 1
    return 0


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m stack", description="Start/stop a local Graphite (and StatsD) on fixed loopback ports.")
    sub = parser.add_subparsers(dest="server", required=True)
    graphite = sub.add_parser("graphite", help="carbon-cache + graphite-web (+ statsd)")
    actions = graphite.add_subparsers(dest="action", required=True)
    up = actions.add_parser("up", help="start in the background, detached")
    down = actions.add_parser("down", help="stop what `up` started")
    for p in (up, down):
        p.add_argument("--dir", required=True, help="run directory: data, logs, servers.json, env.sh")
    up.add_argument("--carbon-port", type=int, default=2003, help="plaintext receiver (default 2003)")
    up.add_argument("--pickle-port", type=int, default=2004)
    up.add_argument("--cache-query-port", type=int, default=7002)
    up.add_argument("--web-port", type=int, default=8080, help="graphite-web (default 8080)")
    up.add_argument("--retention", default="10s:1d,1m:7d")
    up.add_argument("--with-statsd", action="store_true", help="also start statsd")
    up.add_argument("--statsd-port", type=int, default=8125, help="UDP (default 8125)")
    up.add_argument("--statsd-mgmt-port", type=int, default=8126)
    up.add_argument("--flush-ms", type=int, default=10000, help="must not be below the finest retention")
    up.add_argument("--no-legacy-namespace", action="store_true",
                    help="name counters stats.counters.<key>.{count,rate} instead of stats_counts.<key>")
    up.set_defaults(run=graphite_up)
    down.set_defaults(run=graphite_down)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    return args.run(args)
