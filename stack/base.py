"""What every real server of the test stack shares: a folder of its own, processes run by mirakuru, one error.

A :class:`Server` is one or more processes with its configuration, data and logs in a folder of its
own (a temporary one, removed on stop, unless ``root`` is given). The plumbing is mirakuru's and
port-for's:

* ports come from port-for: free ports outside the kernel's ephemeral range, so no outgoing
  connection of another program can take one between our choice and the server's bind;
* each process is a mirakuru executor: started in a session of its own, ready when its check
  passes (a TCP port, an HTTP answer, or a check of ours), given up on early when it exits, and
  stopped by signalling its whole process group (SIGTERM, then SIGKILL);
* mirakuru marks every process it starts, and every descendant, with an environment variable:
  after a stop, whatever still carries a server's marks (a daemon that left the process group,
  such as RabbitMQ's epmd) is stopped too, and a stop that leaves anything behind is an error.

What is ours: where the installs are (``stack/install.sh`` puts them there), and errors that name
the server and quote the tail of its log (:class:`StackError`).

Imports mirakuru, port-for and psutil (mirakuru's own dependency); nothing of queuedash.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import port_for
import psutil
from mirakuru import AlreadyRunning, ProcessExitedWithError, SimpleExecutor, TimeoutExpired
from mirakuru.base import ENV_UUID
from mirakuru.base_env import processes_with_env
from mirakuru.exceptions import ProcessFinishedWithError

LOOPBACK = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parent.parent

# Variables that would make a child Python (the Graphite venv's) load this interpreter's modules.
# mirakuru starts children with our environment plus its own overrides: empty values unset them.
_CHILD_ENV = {"PYTHONPATH": "", "PYTHONHOME": "", "PYTHONSTARTUP": ""}


class StackError(RuntimeError):
    """A server could not be started or stopped. The message names it and ends with its log tail."""


# --------------------------------------------------------------------------- install locations


def stack_dir() -> Path:
    """Where stack/install.sh puts the installs: $QUEUEDASH_STACK_DIR or <repo>/.stack."""
    return Path(os.environ.get("QUEUEDASH_STACK_DIR") or REPO_ROOT / ".stack")


def graphite_venv() -> Path:
    return Path(os.environ.get("QUEUEDASH_GRAPHITE_VENV") or stack_dir() / "graphite-venv")


def statsd_package_dir() -> Path:
    base = Path(os.environ.get("QUEUEDASH_STATSD_DIR") or stack_dir() / "statsd")
    return base / "node_modules" / "statsd"


def rabbitmq_bin_dir() -> Path:
    return Path(os.environ.get("QUEUEDASH_RABBITMQ_BIN") or "/usr/lib/rabbitmq/bin")


def executable(env_var: str, name: str) -> str | None:
    """$env_var if set, else `name` on PATH; None unless it is an executable file."""
    return shutil.which(os.environ.get(env_var) or name)


def not_installed(server: str, what: str, component: str) -> StackError:
    return StackError(f"{server}: {what} not found; install it with: stack/install.sh {component}")


# --------------------------------------------------------------------------- ports


def free_ports(count: int, exclude: Iterable[int] = ()) -> list[int]:
    """`count` distinct TCP ports free on loopback, chosen by port-for."""
    chosen: list[int] = []
    for _ in range(count):
        chosen.append(port_for.select_random(exclude_ports=[*exclude, *chosen]))
    return chosen


def udp_port_is_free(port: int) -> bool:
    """Whether UDP 127.0.0.1:port can be bound now (port-for knows only TCP)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((LOOPBACK, port))
        except OSError:
            return False
        return True


def free_udp_port(exclude: Iterable[int] = ()) -> int:
    """A port free for both TCP (port-for's choice) and UDP."""
    excluded = set(exclude)
    while True:
        port = port_for.select_random(exclude_ports=excluded)
        if udp_port_is_free(port):
            return port
        excluded.add(port)


def busy_ports(ports: dict[str, int]) -> list[str]:
    """`name=port` for each of the given TCP ports something already listens on.

    Not port-for's `port_is_used`, which also counts a port that cannot be bound without
    SO_REUSEADDR: a server restarted on its port would find it "used" by the TIME_WAIT
    connections of its previous life. Every server here binds with SO_REUSEADDR.
    """
    return [f"{name}={port}" for name, port in ports.items() if accepts_tcp(port)]


def accepts_tcp(port: int, host: str = LOOPBACK, timeout: float = 0.5) -> bool:
    try:
        socket.create_connection((host, port), timeout).close()
        return True
    except OSError:
        return False


# --------------------------------------------------------------------------- processes


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"


def marked_processes(marks: Iterable[str]) -> list[psutil.Process]:
    """Live processes carrying one of mirakuru's marks (its executors' ENV_UUID values).

    A process that rewrites its title over its environment (redis-server does) cannot be found
    this way: `alive` also takes the processes themselves.
    """
    found = []
    for mark in marks:
        for pid in processes_with_env(ENV_UUID, mark):
            try:
                found.append(psutil.Process(pid))
            except psutil.NoSuchProcess:
                pass
    return alive(found)


def alive(processes: Iterable[psutil.Process]) -> list[psutil.Process]:
    """Those still running (psutil checks the start time too: a reused pid is not ours), zombies excluded."""
    running = {}
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                running[process.pid] = process
        except psutil.NoSuchProcess:
            pass
    return [running[pid] for pid in sorted(running)]


def process_started_at(pid: int, create_time: float) -> psutil.Process | None:
    """The process `pid` if it is still the one that started at `create_time`."""
    try:
        process = psutil.Process(pid)
        return process if abs(process.create_time() - create_time) < 0.01 else None
    except psutil.NoSuchProcess:
        return None


def stop_processes(marks: Iterable[str], processes: Iterable[psutil.Process] = (), timeout: float = 5.0) -> list[int]:
    """SIGTERM the processes and whatever carries the marks, SIGKILL what is left after `timeout`;
    return the pids surviving even that."""
    marks, processes = list(marks), list(processes)
    for signal_them in (psutil.Process.terminate, psutil.Process.kill):
        targets = alive([*processes, *marked_processes(marks)])
        for process in targets:
            try:
                signal_them(process)
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(targets, timeout=timeout)
    return [p.pid for p in alive([*processes, *marked_processes(marks)])]


def mark_of(executor: SimpleExecutor) -> str:
    """The value mirakuru puts in ENV_UUID of every process the executor starts."""
    return executor.envvars[ENV_UUID]


class Server:
    """A server made of one or more processes, with a folder of its own.

    Subclasses implement `check_installed`, `_choose_ports` (fill the ports still None) and
    `_launch` (write configs, start processes with `_start`).
    """

    name = "server"

    def __init__(self, root: str | os.PathLike | None = None, start_timeout: float = 60.0):
        self._given_root = Path(root).resolve() if root else None
        self.root: Path | None = None
        self.start_timeout = start_timeout
        self.start_seconds: float | None = None     # how long the last start() took
        self.step_seconds: dict[str, float] = {}    # label -> seconds, for each process and step
        self._processes: dict[str, SimpleExecutor] = {}
        self._marks: dict[str, str] = {}            # label -> mirakuru mark, kept after stop
        self._started: dict[str, psutil.Process] = {}   # label -> the process, kept after stop

    # -- public API

    def start(self) -> Server:
        if self._processes:
            raise StackError(f"{self.name}: already started")
        self.check_installed()
        self._choose_ports()
        self.root = self._given_root or Path(tempfile.mkdtemp(prefix=f"queuedash-{self.name}-"))
        (self.root / "log").mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        try:
            self._launch()
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - started
        return self

    def stop(self) -> None:
        """Stop every process (last started first), then whatever still carries their marks;
        remove the folder if it is a temporary one."""
        for executor in reversed(list(self._processes.values())):
            self._stop_process(executor)
        self._processes = {}
        survivors = stop_processes(self._marks.values(), self._started.values())
        if self._given_root is None and self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None
        if survivors:
            raise StackError(f"{self.name}: processes {survivors} survived SIGKILL")

    def leftovers(self) -> list[int]:
        """Pids of processes this server started (and their descendants) still alive."""
        return [p.pid for p in alive([*self._started.values(), *marked_processes(self._marks.values())])]

    def detach(self) -> dict[str, dict]:
        """Leave the processes running after this Python exits (`python -m stack graphite up`).

        Returns label -> {"pid", "started", "mark"}, to find them again (`process_started_at`,
        `stop_processes`). mirakuru stops an executor's process when the executor is
        garbage-collected: forgetting the process prevents that.
        """
        for executor in self._processes.values():
            executor.process = None
        self._processes = {}
        return {label: {"pid": process.pid, "started": process.create_time(), "mark": self._marks[label]}
                for label, process in self._started.items()}

    @property
    def pids(self) -> dict[str, int]:
        """label -> pid of each process started (each leads its own process group)."""
        return {label: e.process.pid for label, e in self._processes.items() if e.process is not None}

    def log_path(self, label: str) -> Path:
        return self.root / "log" / f"{label}.log"

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # -- for subclasses

    def check_installed(self) -> None:
        """Raise StackError (saying what to install) if the server's programs are missing."""
        raise NotImplementedError

    def _choose_ports(self) -> None:
        raise NotImplementedError

    def _launch(self) -> None:
        raise NotImplementedError

    def _stop_process(self, executor: SimpleExecutor) -> None:
        try:
            executor.stop()
        except ProcessFinishedWithError:
            pass                # how a server we stopped exits says nothing about the tests

    def _start(self, label: str, make: Callable[..., SimpleExecutor], argv: Sequence, *,
               env: dict[str, str] | None = None, cwd: Path | None = None, **check) -> SimpleExecutor:
        """Start argv with the executor class `make` (its readiness check in `check`), output to
        log/<label>.log; wait until it is ready or raise StackError quoting the log."""
        log = self.log_path(label)
        with open(log, "ab") as out:
            executor = make([str(a) for a in argv], stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                            envvars={**_CHILD_ENV, **(env or {})}, cwd=str(cwd or self.root),
                            timeout=self.start_timeout, sleep=0.05, **check)
            return self._start_executor(label, executor, log)

    def _start_executor(self, label: str, executor: SimpleExecutor, log: Path) -> SimpleExecutor:
        """Start an executor made elsewhere (pytest-redis's); StackError quoting `log` if it fails."""
        self._processes[label] = executor
        self._marks[label] = mark_of(executor)
        started = time.monotonic()
        try:
            executor.start()
        except AlreadyRunning as error:
            raise self._failed(label, f"found port {error.executor.port} already taken", log) from None
        except ProcessExitedWithError as error:
            raise self._failed(label, f"exited with code {error.exit_code} during start-up", log) from None
        except TimeoutExpired:
            raise self._failed(label, f"not ready after {self.start_timeout:.0f} s", log) from None
        except Exception as error:  # noqa: BLE001  OSError from Popen, pytest-redis's checks of its executable
            raise self._failed(label, f"could not start: {error}", log) from None
        self._started[label] = psutil.Process(executor.process.pid)
        self.step_seconds[label] = time.monotonic() - started
        return executor

    def _run_step(self, label: str, argv: Sequence, env: dict[str, str], timeout: float) -> None:
        """Run a one-off command to completion (e.g. migrate), output appended to log/<label>.log."""
        self._finish_step(label, self._begin_step(label, argv, env), timeout)

    def _begin_step(self, label: str, argv: Sequence, env: dict[str, str]) -> subprocess.Popen:
        """Start a one-off command in the background; `_finish_step` waits for it."""
        with open(self.log_path(label), "ab") as out:
            return subprocess.Popen([str(a) for a in argv], stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, env={**os.environ, **_CHILD_ENV, **env}, cwd=self.root)

    def _finish_step(self, label: str, step: subprocess.Popen, timeout: float) -> None:
        started = time.monotonic()
        try:
            code = step.wait(timeout)
        except subprocess.TimeoutExpired:
            step.kill()
            step.wait()
            code = None
        self.step_seconds[label] = time.monotonic() - started
        if code != 0:
            reason = f"timed out after {timeout:.0f} s" if code is None else f"failed with code {code}"
            raise self._failed(label, reason, self.log_path(label))

    def _failed(self, label: str, reason: str, log: Path) -> StackError:
        return StackError(f"{self.name}: {label} {reason}\n--- last lines of {log} ---\n{log_tail(log)}")
