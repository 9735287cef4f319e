"""Deploy of 1,000 generated dashboards to the Grafana stand-in, through the legacy /api and
through /apis, in the same run: first (all created), then again with no change, with a
network round trip added to every request of the no-change deploy.

The dashboards are generated here (one small dashboard per queue, from
`queuedash.authoring.dashboard.dashboard` and `queuedash.authoring.panels.Presets`) and written as
JSON; each run is the real command, `queuedash deploy --from DIR --api PATH`, in its own
process, against the stand-in (tests/grafana_standin.py) serving from another
process, so client and server do not share an interpreter, as in real life. Each
path gets a stand-in of its own, playing Grafana 13 by default.

The first deploy runs without added latency (it only sets the stage); the
no-change deploy runs with `--latency` milliseconds (default 50) added by the
stand-in to every request, which is what a Grafana across a network costs.
Reported per run: the deploy's own seconds (timed inside the process, after
Python started and imported queuedash) and the CPU seconds it spent, the
process's wall seconds and, of those, the imports; HTTP requests; writes. The goal (issue 11): the no-change
deploy through /apis writes nothing and its own time is under 1 second (the
legacy path reads every dashboard, one request each); the exit status is 1 when
it is not. Usage:

    python benchmarks/deploy_benchmark.py [--dashboards 1000] [--paths legacy,apis] [--jobs 4]
                                          [--version 13.0.0] [--latency MS] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
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
#: The no-change deploy through /apis, with the default latency, must take less than this.
NO_CHANGE_GOAL_SECONDS = 1.0
GOAL_PATH = "apis"


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


def serve(connection, version: str) -> None:
    """Child process: run a stand-in and answer questions about it over a pipe."""
    from grafana_standin import GrafanaStandin

    standin = GrafanaStandin(version=version)
    standin.add_token(TOKEN, role="Admin")
    standin.add_datasource(1, "graphite", "Graphite")
    standin.start()
    connection.send(standin.url)
    while True:
        command, argument = connection.recv()
        if command == "counts":
            connection.send((len(standin.request_log), standin.write_count(), len(standin.dashboards())))
        elif command == "clear":
            standin.clear_request_log()
            connection.send(None)
        elif command == "latency":
            # Every request waits this long before it is handled (outside the stand-in's lock):
            # a network round trip and a database that is not in memory.
            standin.latency = argument
            connection.send(None)
        elif command == "stop":
            standin.stop()
            connection.send(None)
            return


class RemoteStandin:
    def __init__(self, version: str):
        self._mine, theirs = multiprocessing.Pipe()
        self._process = multiprocessing.Process(target=serve, args=(theirs, version), daemon=True)
        self._process.start()
        self.url = self._mine.recv()

    def ask(self, command: str, argument=None):
        self._mine.send((command, argument))
        return self._mine.recv()

    def stop(self) -> None:
        self.ask("stop")
        self._process.join(timeout=10)


#: Run in the child process: the real command, timed from inside, so the report can say
#: how much of the wall time is the interpreter starting and importing queuedash.
CHILD = """
import json, sys, time
started = time.monotonic()
from queuedash.cli.main import cli
imported, cpu = time.monotonic(), time.process_time()
try:
    cli.main(sys.argv[1:], prog_name="queuedash")
except SystemExit as exit:
    code = exit.code or 0
else:
    code = 0
print(json.dumps({"imports": imported - started, "deploy": time.monotonic() - imported,
                  "cpu": time.process_time() - cpu}), file=sys.stderr)
sys.exit(code)
"""


def deploy(url: str, folder: Path, jobs: int, path: str, workdir: Path) -> tuple[float, float, float, float, str]:
    """One `queuedash deploy` in its own process: (wall seconds, import seconds, deploy seconds, the
    deploy's CPU seconds, summary)."""
    env = dict(os.environ, GRAFANA_URL=url, GRAFANA_TOKEN=TOKEN, QUEUEDASH_PROJECT="benchmark")
    env.pop("QUEUEDASH_CONFIG", None)
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", CHILD, "deploy", "--from", str(folder), "--jobs", str(jobs),
                           "--api", path], cwd=workdir, env=env, capture_output=True, text=True)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"deploy failed (exit {done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    timings = json.loads(done.stderr.strip().splitlines()[-1])
    return seconds, timings["imports"], timings["deploy"], timings["cpu"], done.stdout.strip().splitlines()[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dashboards", type=int, default=1000)
    parser.add_argument("--paths", default="legacy,apis", help="comma-separated --api values")
    parser.add_argument("--jobs", type=int, default=DEFAULT_JOBS)
    parser.add_argument("--version", default="13.0.0", help="the Grafana version the stand-in plays")
    parser.add_argument("--repeat", type=int, default=5, help="no-change runs per path; the best is reported")
    parser.add_argument("--latency", type=float, default=50.0, metavar="MS",
                        help="milliseconds the stand-in waits before each request of the no-change deploy "
                             "(default 50)")
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
        for path in args.paths.split(","):
            standin = RemoteStandin(args.version)
            try:
                for run, latency in (("first (all added)", 0.0), ("no change", args.latency)):
                    standin.ask("latency", latency / 1000)
                    # A no-change deploy can be repeated: the best of `--repeat` runs is reported, the
                    # usual way to see through other load on a shared machine.
                    tries = []
                    for _ in range(args.repeat if run == "no change" else 1):
                        standin.ask("clear")
                        timed = deploy(standin.url, folder, args.jobs, path, workdir)
                        tries.append((timed, standin.ask("counts")))
                    (seconds, imports, work, cpu, summary), (requests, writes, stored) = min(
                        tries, key=lambda t: t[0][2])
                    rows.append((path, run, latency, seconds, imports, work, cpu, requests, writes, summary))
                    if run == "no change" and path == GOAL_PATH and args.latency == 50.0 and (
                            writes or work >= NO_CHANGE_GOAL_SECONDS):
                        ok = False
                assert stored == args.dashboards, f"the stand-in holds {stored} dashboards"
            finally:
                standin.stop()

    print(f"\nGrafana stand-in {args.version}, {args.dashboards} dashboards, --jobs {args.jobs}, "
          f"`queuedash deploy --from DIR --api PATH` in its own process, {os.cpu_count()} CPUs, "
          f"no change: best of {args.repeat}\n")
    print(f"{'path':<7} {'run':<18} {'ms/request':>10} {'deploy s':>9} {'of it CPU s':>11} {'process s':>10} "
          f"{'imports s':>10} {'requests':>9} {'writes':>7}")
    for path, run, latency, seconds, imports, work, cpu, requests, writes, _ in rows:
        print(f"{path:<7} {run:<18} {latency:>10g} {work:>9.2f} {cpu:>11.2f} {seconds:>10.2f} {imports:>10.2f} "
              f"{requests:>9} {writes:>7}")
    print()
    for path, run, *_, summary in rows:
        print(f"{path}, {run}: {summary}")
    goal = (f"no-change deploy through /apis with 50 ms per request: zero writes and under "
            f"{NO_CHANGE_GOAL_SECONDS:g} s (the deploy itself, after the interpreter started and imported queuedash)")
    measured = GOAL_PATH in args.paths.split(",") and args.latency == 50.0
    print(f"\n{('met' if ok else 'MISSED') if measured else 'not measured'}: {goal}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
