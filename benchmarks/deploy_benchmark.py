"""Deploy of 1,000 generated dashboards to the Grafana stand-in: first (all created), then
again with no change, with `--jobs 1` beside the default.

The dashboards are generated here (one small dashboard per queue, from
`queuedash.authoring.dashboard.dashboard` and `queuedash.authoring.panels.Presets`) and written as
JSON; each run is the real command, `queuedash deploy --from DIR`, in its own
process, against the stand-in (tests/grafana_standin.py) serving from another
process, so client and server do not share an interpreter, as in real life.

Reported per run: wall seconds (process start to exit), HTTP requests, requests
per dashboard, writes. The goal (issue 3): the no-change deploy writes nothing
and takes under 5 seconds with the default --jobs; the exit status is 1 when it
does not. `--latency` adds a delay to every request, to see what --jobs buys
when each request costs a network round trip. Usage:

    python benchmarks/deploy_benchmark.py [--dashboards 1000] [--jobs 1,4] [--version 11.6.0] [--latency MS]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from queuedash.compile.build import compile_dashboard  # noqa: E402
from queuedash.compile.encode import encode  # noqa: E402
from queuedash.authoring.dashboard import dashboard  # noqa: E402
from queuedash.deploy.apply import DEFAULT_JOBS  # noqa: E402
from queuedash.authoring.layout import Row  # noqa: E402
from queuedash.naming.metrics import ANY  # noqa: E402
from queuedash.authoring.panels import Presets  # noqa: E402
from queuedash.authoring.queries import TaskQueries  # noqa: E402
from queuedash.settings import Settings  # noqa: E402

TOKEN = "glsa_BenchmarkToken000000000000000000_0badc0de"
NO_CHANGE_GOAL_SECONDS = 5.0


def generate(count: int, out: Path) -> None:
    """`count` small dashboards, one per queue, written as <uid>.json into `out`."""
    settings = Settings()
    presets = Presets(settings)
    tasks = TaskQueries(settings.naming, task=ANY)
    out.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        queue = f"queue{index:04d}"
        built = compile_dashboard(dashboard(settings, name=f"bench-{queue}", title=f"Queue {queue}", rows=[
            Row("Health", [presets.should_be_zero("Failed", [tasks.total_count(["failed"], queue=queue)])]),
            Row("Flow", [presets.count("Backlog", [tasks.backlog(queue=queue)])]),
        ]), "benchmark", lint=False)
        (out / built.filename).write_text(encode(built.data), encoding="utf-8")


def serve(connection, version: str, latency: float) -> None:
    """Child process: run a stand-in and answer questions about it over a pipe."""
    from grafana_standin import GrafanaStandin

    standin = GrafanaStandin(version=version)
    standin.add_token(TOKEN, role="Admin")
    if latency:
        # Every request waits this long before it is handled (outside the stand-in's lock):
        # a network round trip and a database that is not in memory.
        standin.slow_next(10 ** 9, latency)
    standin.start()
    connection.send(standin.url)
    while True:
        command = connection.recv()
        if command == "counts":
            connection.send((len(standin.request_log), standin.write_count(), len(standin.dashboards())))
        elif command == "clear":
            standin.clear_request_log()
            connection.send(None)
        elif command == "stop":
            standin.stop()
            connection.send(None)
            return


class RemoteStandin:
    def __init__(self, version: str, latency: float):
        self._mine, theirs = multiprocessing.Pipe()
        self._process = multiprocessing.Process(target=serve, args=(theirs, version, latency), daemon=True)
        self._process.start()
        self.url = self._mine.recv()

    def ask(self, command: str):
        self._mine.send(command)
        return self._mine.recv()

    def stop(self) -> None:
        self.ask("stop")
        self._process.join(timeout=10)


def deploy(url: str, folder: Path, jobs: int, workdir: Path) -> tuple[float, str]:
    queuedash = Path(sys.executable).with_name("queuedash")
    env = dict(os.environ, GRAFANA_URL=url, GRAFANA_TOKEN=TOKEN)
    env.pop("QUEUEDASH_CONFIG", None)
    started = time.monotonic()
    done = subprocess.run([str(queuedash), "deploy", "--from", str(folder), "--jobs", str(jobs)],
                          cwd=workdir, env=env, capture_output=True, text=True)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"deploy failed (exit {done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return seconds, done.stdout.strip().splitlines()[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dashboards", type=int, default=1000)
    parser.add_argument("--jobs", default=f"1,{DEFAULT_JOBS}", help="comma-separated --jobs values")
    parser.add_argument("--version", default="11.6.0", help="the Grafana version the stand-in plays")
    parser.add_argument("--latency", type=float, default=0.0, metavar="MS",
                        help="milliseconds the stand-in waits before handling each request (default 0)")
    args = parser.parse_args()

    rows = []
    ok = True
    with tempfile.TemporaryDirectory(prefix="queuedash-deploy-bench-") as tmp:
        workdir = Path(tmp)
        folder = workdir / "dashboards"
        started = time.monotonic()
        generate(args.dashboards, folder)
        print(f"generated {args.dashboards} dashboards in {time.monotonic() - started:.1f} s "
              f"({sum(p.stat().st_size for p in folder.iterdir()) / 1e6:.1f} MB of JSON)")
        for jobs in (int(value) for value in args.jobs.split(",")):
            standin = RemoteStandin(args.version, args.latency / 1000)
            try:
                for run in ("first (all added)", "second (no change)"):
                    standin.ask("clear")
                    seconds, summary = deploy(standin.url, folder, jobs, workdir)
                    requests, writes, stored = standin.ask("counts")
                    rows.append((jobs, run, seconds, requests, requests / args.dashboards, writes, summary))
                    # The goal is for deploy as CI runs it: the default --jobs.
                    if (run.startswith("second") and jobs == DEFAULT_JOBS
                            and (writes or seconds >= NO_CHANGE_GOAL_SECONDS)):
                        ok = False
                assert stored == args.dashboards, f"the stand-in holds {stored} dashboards"
            finally:
                standin.stop()

    print(f"\nGrafana stand-in {args.version}, {args.latency:g} ms added per request, {args.dashboards} dashboards, "
          f"`queuedash deploy --from DIR` (whole process), {os.cpu_count()} CPUs\n")
    print(f"{'jobs':>4}  {'run':<20} {'seconds':>8} {'requests':>9} {'req/dash':>9} {'writes':>7}")
    for jobs, run, seconds, requests, per_dashboard, writes, _ in rows:
        print(f"{jobs:>4}  {run:<20} {seconds:>8.2f} {requests:>9} {per_dashboard:>9.3f} {writes:>7}")
    print()
    for jobs, run, *_, summary in rows:
        print(f"jobs {jobs}, {run}: {summary}")
    goal = f"no-change deploy with the default --jobs {DEFAULT_JOBS}: zero writes and under {NO_CHANGE_GOAL_SECONDS:g} s"
    measured = any(jobs == DEFAULT_JOBS for jobs, *_ in rows)
    print(f"\n{('met' if ok else 'MISSED') if measured else 'not measured'}: {goal}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
