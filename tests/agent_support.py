"""Helpers of the agent's tests: a UDP listener standing in for StatsD's socket,
real Celery workers and agent commands as subprocesses, and the built
dashboards' own queries evaluated through graphite-web.

A pytest plugin of the suite (conftest.py's pytest_plugins): tests ask for the
`capture` fixture by name and import only the helpers.

Evaluation uses queuedash.check.evaluate (`grafana_targets`: variables and ``#A``
references as Grafana resolves them), queuedash.graphite.client (``/render``) and
Grafana's own display code for what a stat shows (tests/grafana_display.py).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from realstack import in_ci

REPO = Path(__file__).resolve().parent.parent
TESTS = REPO / "tests"
#: The `queuedash` command, run by the interpreter running the tests.
QUEUEDASH = [sys.executable, "-m", "queuedash"]


def unavailable(message: str) -> None:
    """A real part could not start: a failure in CI (it must work there), a skip elsewhere."""
    if in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def wait_for(predicate, timeout: float, interval: float = 0.1):
    """Call predicate() until it returns something true, or the timeout; return the last result."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(interval)


# -- StatsD's side of the socket ------------------------------------------------------


class UdpCapture:
    """A UDP socket on loopback collecting StatsD lines (what the agent sends)."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.lines: list[str] = []
        self.packets = 0
        self._lock = threading.Lock()
        self._running = True
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while self._running:
            try:
                data = self.sock.recv(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.packets += 1
                self.lines.extend(data.decode().splitlines())

    def snapshot(self) -> list[str]:
        with self._lock:
            return list(self.lines)

    def counters(self) -> Counter:
        """key -> summed count of every ``key:N|c`` line."""
        counts = Counter()
        for line in self.snapshot():
            key, _, rest = line.partition(":")
            value, _, kind = rest.partition("|")
            if kind == "c":
                counts[key] += int(float(value))
        return counts

    def gauges(self) -> dict:
        """key -> last value of every ``key:N|g`` line."""
        found = {}
        for line in self.snapshot():
            key, _, rest = line.partition(":")
            value, _, kind = rest.partition("|")
            if kind == "g":
                found[key] = float(value)
        return found

    def keys(self) -> set[str]:
        return {line.partition(":")[0] for line in self.snapshot()}

    def close(self) -> None:
        self._running = False
        self._thread.join(timeout=2)
        self.sock.close()


@pytest.fixture
def capture():
    """A UDP socket standing where StatsD would, collecting what the agent sends."""
    udp = UdpCapture()
    yield udp
    udp.close()


# -- subprocesses -----------------------------------------------------------------------



def child_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QUEUEDASH_", "CELERY_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), str(REPO)])
    env.update({k: str(v) for k, v in extra.items()})
    return env


class Process:
    """A subprocess in a session of its own, output in a log file we can wait on."""

    def __init__(self, argv, env: dict, log: Path, cwd: Path | None = None):
        self.log = log
        self._out = open(log, "ab")
        self.popen = subprocess.Popen([str(a) for a in argv], env=env, cwd=cwd or TESTS, stdin=subprocess.DEVNULL,
                                      stdout=self._out, stderr=subprocess.STDOUT, start_new_session=True)

    def text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.text().splitlines()[-lines:])

    def wait_for_log(self, needle: str, timeout: float, count: int = 1) -> bool:
        """Until `needle` appears `count` times in the log; False if the process died or time ran out."""
        def seen():
            return self.text().count(needle) >= count or self.popen.poll() is not None
        wait_for(seen, timeout)
        return self.text().count(needle) >= count

    def signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signum)

    def stop(self, timeout: float = 10.0) -> int | None:
        if self.popen.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.popen.wait(5)
        self._out.close()
        return self.popen.returncode


@contextlib.contextmanager
def celery_worker(tmp: Path, *, broker: str, mode: str, name: str, queues: str = "orders,emails",
                  events: bool = False, **env):
    """A real Celery worker (prefork, 2 processes) of tests/agent_celery_app.py."""
    argv = [sys.executable, "-m", "celery", "-A", "agent_celery_app", "worker", "-Q", queues, "-c", "2",
            "-n", f"{name}@%h", "--without-mingle", "--without-gossip", "-l", "info"] + (["-E"] if events else [])
    worker = Process(argv, child_env(QUEUEDASH_E2E_BROKER=broker, QUEUEDASH_E2E_MODE=mode, **env),
                     tmp / f"worker-{name}.log")
    try:
        if not worker.wait_for_log(" ready.", timeout=60):
            unavailable(f"celery worker {name} did not start:\n{worker.tail()}")
        yield worker
    finally:
        worker.stop()


def agent_command(tmp: Path, label: str, *args, **env) -> Process:
    """`queuedash ... agent ...` as a subprocess, in an empty folder (no settings file)."""
    return Process([*QUEUEDASH, *args], child_env(**env), tmp / f"{label}.log", cwd=tmp)


def send_mix(broker: str, mode: str, **env) -> None:
    """Run tests/agent_celery_app.py's mix as its own producer process."""
    done = subprocess.run([sys.executable, str(TESTS / "agent_celery_app.py")],
                          env=child_env(QUEUEDASH_E2E_BROKER=broker, QUEUEDASH_E2E_MODE=mode, **env),
                          cwd=TESTS, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


# -- the dashboards' own queries -------------------------------------------------------------


def panels_of(data: dict):
    for panel in data.get("panels", []):
        yield panel
        yield from panel.get("panels") or []


class DashboardReader:
    """Evaluates built dashboards' targets, as Grafana sends them, through graphite-web."""

    def __init__(self, graphite_url: str, built, time_from: str = "-10min"):
        from queuedash.graphite.client import GraphiteClient

        self.client = GraphiteClient(graphite_url)
        self.built = {b.name: b.data for b in built}
        self.time_from = time_from

    def panel(self, dashboard: str, title: str) -> dict:
        for panel in panels_of(self.built[dashboard]):
            if panel.get("title") == title:
                return panel
        raise KeyError(f"{dashboard}: no panel {title!r}")

    def series(self, dashboard: str, title: str, **scope):
        """Every series the panel's visible targets return, with `$name` = scope[name]."""
        from queuedash.check.evaluate import grafana_targets, max_data_points

        panel = self.panel(dashboard, title)
        found = []
        for _, target in grafana_targets(panel, scope):
            found.extend(self.client.render([target], self.time_from, "now", max_data_points(panel)))
        return found

    def shown(self, dashboard: str, title: str, **scope):
        """What the stat panel shows, as Grafana draws it: one (name, text, colour, numeric) per value."""
        from grafana_display import display

        return display().shown(self.panel(dashboard, title), self.series(dashboard, title, **scope))

    def totals(self, dashboard: str, title: str, **scope) -> dict[str, float]:
        """Series name -> sum of its points (nulls skipped)."""
        return {s.target: sum(v for v in s.values if v is not None) for s in self.series(dashboard, title, **scope)}
