"""Start and stop the real servers queuedash is tested against, on loopback, on free ports.

One class per server: :class:`Graphite` (carbon-cache + graphite-web), :class:`StatsD` (etsy
statsd on node), :class:`Redis` and :class:`RabbitMQ`. Each has ``start()`` / ``stop()`` and works as
a context manager::

    with Graphite() as graphite, StatsD(graphite) as statsd:
        ...  # graphite.web_url, graphite.carbon_port, statsd.port

What every server does the same way (the :class:`Server` base class):

* binds 127.0.0.1 only, on ports the kernel reports free at start (bind to port 0); the small race
  between choosing a port and the server binding it is handled by retrying with new ports when the
  log says "address in use";
* keeps its configuration, data and logs in a directory of its own (a temporary one, removed on
  stop, unless ``root`` is given);
* runs every process in a session of its own and stops it by signalling the whole process group
  (SIGTERM, then SIGKILL after a timeout), so workers and helpers go too;
* waits until the server really answers, gives up early when the process dies, and raises
  :class:`StackError` naming the server and quoting the tail of its log;
* is stopped at interpreter exit if the caller forgot, so nothing survives a test run.

The installs are found through environment variables with defaults under the repository
(``stack/install.sh`` puts them there): ``QUEUEDASH_STACK_DIR`` (default ``<repo>/.stack``),
``QUEUEDASH_GRAPHITE_VENV``, ``QUEUEDASH_STATSD_DIR``, ``QUEUEDASH_RABBITMQ_BIN``,
``QUEUEDASH_REDIS_SERVER``, ``QUEUEDASH_NODE``.

Run as a script it backs ``make graphite-up`` / ``make graphite-down`` for people, on fixed ports::

    python3 stack/servers.py graphite up --dir .stack/run [--with-statsd]
    python3 stack/servers.py graphite down --dir .stack/run

Standard library only: it is imported by the test suite and run by ``make`` with any Python 3.11.
"""

from __future__ import annotations

import argparse
import atexit
import base64
import itertools
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

LOOPBACK = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parent.parent

# Log lines by which each server reports that a port was taken between our choice and its bind.
_ADDRESS_IN_USE = re.compile(r"address already in use|EADDRINUSE|eaddrinuse|Errno 98", re.IGNORECASE)


class StackError(RuntimeError):
    """A server could not be started or stopped. The message names it and ends with its log tail."""


class PortCollision(StackError):
    """A port found free was taken before the server could bind it (retried with new ports)."""


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


def _executable(env_var: str, name: str) -> str | None:
    """$env_var if set, else `name` on PATH; None unless it is an executable file."""
    return shutil.which(os.environ.get(env_var) or name)


def _not_installed(server: str, what: str, component: str) -> StackError:
    return StackError(f"{server}: {what} not found; install it with: stack/install.sh {component}")


# --------------------------------------------------------------------------- ports and probes


def free_ports(count: int, kind: int = socket.SOCK_STREAM) -> list[int]:
    """`count` distinct loopback ports the kernel reports free (TCP, or UDP with SOCK_DGRAM).

    The sockets are held open together so the ports differ, then closed: another process may
    still take one before our server binds it, which start() detects and retries.
    """
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, kind)
            sockets.append(s)
            s.bind((LOOPBACK, 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def port_is_free(port: int, kind: int = socket.SOCK_STREAM) -> bool:
    """Whether 127.0.0.1:port can be bound now (SO_REUSEADDR: TIME_WAIT leftovers don't count)."""
    with socket.socket(socket.AF_INET, kind) as s:
        if kind == socket.SOCK_STREAM:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((LOOPBACK, port))
        except OSError:
            return False
        return True


def tcp_answers(port: int, host: str = LOOPBACK, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on host:port (connects, sends nothing)."""
    try:
        socket.create_connection((host, port), timeout).close()
        return True
    except OSError:
        return False


def tcp_exchange(port: int, request: bytes, timeout: float = 2.0, host: str = LOOPBACK) -> bytes:
    """Send `request` on a fresh TCP connection and return the first chunk of the answer."""
    with socket.create_connection((host, port), timeout) as s:
        s.sendall(request)
        return s.recv(4096)


def http_request(url: str, *, method: str = "GET", body: bytes | None = None,
                 auth: tuple[str, str] | None = None, headers: dict | None = None,
                 timeout: float = 10.0) -> tuple[int, bytes]:
    """(status, body) of one HTTP request; HTTP errors are returned, not raised."""
    request = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
    if auth:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def http_ok(url: str, auth: tuple[str, str] | None = None) -> bool:
    try:
        return http_request(url, auth=auth, timeout=2.0)[0] == 200
    except OSError:
        return False


# --------------------------------------------------------------------------- processes


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, process group) of a pid from /proc, or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()   # the command name may contain spaces
    return fields[0], int(fields[2])


def pid_alive(pid: int) -> bool:
    """Whether pid runs (a zombie does not: PID 1 of a container may never reap it)."""
    stat = _proc_stat(pid)
    if stat is not None:
        return stat[0] != "Z"
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) pids in process group `pgid`."""
    if not Path("/proc/self/stat").exists():       # not Linux: ask the kernel instead
        try:
            os.killpg(pgid, 0)
            return [pgid]
        except ProcessLookupError:
            return []
        except PermissionError:
            return [pgid]
    members = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            stat = _proc_stat(int(entry.name))
            if stat and stat[1] == pgid and stat[0] != "Z":
                members.append(int(entry.name))
    return members


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _wait_until_gone(pgids: Iterable[int], deadline: float) -> list[int]:
    """Wait until the groups are empty or the deadline passes; return the groups still alive."""
    remaining = list(pgids)
    while remaining:
        remaining = [g for g in remaining if group_members(g)]
        if not remaining or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    return remaining


def stop_process_groups(pgids: Sequence[int], timeout: float = 10.0) -> list[int]:
    """SIGTERM all groups at once, SIGKILL what is left after `timeout` s.

    All groups are signalled together because each server takes 1-3 s to shut down gracefully
    (carbon flushes, gunicorn drains) and the waits would otherwise add up in every test run.
    Returns the groups that survived even SIGKILL (normally none).
    """
    for pgid in pgids:
        _signal_group(pgid, signal.SIGTERM)
    alive = _wait_until_gone(pgids, time.monotonic() + timeout)
    for pgid in alive:
        _signal_group(pgid, signal.SIGKILL)
    return _wait_until_gone(alive, time.monotonic() + 5.0)


@dataclass
class _Proc:
    label: str            # e.g. "carbon", "graphite-web": names it in messages and pid files
    popen: subprocess.Popen
    log: Path
    spawned_at: float     # time.monotonic() when started, for step_seconds

    @property
    def pid(self) -> int:
        return self.popen.pid


# Servers started and not stopped yet; stopped at interpreter exit (see Server.detach()).
_RUNNING: list[Server] = []


@atexit.register
def _stop_forgotten_servers() -> None:
    for server in list(_RUNNING):
        server.stop()


def _child_env(**extra: str) -> dict[str, str]:
    """The caller's environment without variables that would make a child Python load our modules."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    env.update(extra)
    return env


# --------------------------------------------------------------------------- base class


class Server:
    """A server made of one or more processes, with a data directory of its own.

    Subclasses implement `check_installed`, `_choose_ports` (fill the ports still None with free
    ones, return whether any was chosen here) and `_launch` (write configs, spawn, wait ready).
    """

    name = "server"
    port_attempts = 3           # new free ports per attempt when the chosen ones were taken
    stop_timeout = 10.0         # seconds between SIGTERM and SIGKILL

    def __init__(self, root: str | os.PathLike | None = None, start_timeout: float = 60.0):
        self._given_root = Path(root).resolve() if root else None
        self.root: Path | None = None
        self.start_timeout = start_timeout
        self.start_seconds: float | None = None     # how long the last start() took
        self.step_seconds: dict[str, float] = {}    # label -> seconds, for each process and step
        self._procs: list[_Proc] = []

    # -- public API

    def start(self) -> Server:
        if self._procs:
            raise StackError(f"{self.name}: already started")
        self.check_installed()
        self.root = self._given_root or Path(tempfile.mkdtemp(prefix=f"queuedash-{self.name}-"))
        (self.root / "log").mkdir(parents=True, exist_ok=True)
        _RUNNING.append(self)
        started = time.monotonic()
        try:
            self._start_with_retries()
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - started
        return self

    def stop(self) -> None:
        """Stop every process (whole process groups), then remove the data dir if it is a temp one."""
        stuck = stop_process_groups([p.pid for p in self._procs], self.stop_timeout)
        for proc in self._procs:
            try:
                proc.popen.wait(timeout=1)          # reap, so no zombie is left behind
            except subprocess.TimeoutExpired:
                pass
        self._procs = []
        self._after_stop()
        if self in _RUNNING:
            _RUNNING.remove(self)
        if self._given_root is None and self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None
        if stuck:
            raise StackError(f"{self.name}: process groups {stuck} survived SIGKILL")

    def detach(self) -> None:
        """Leave the processes running after this Python exits (the command-line `up`)."""
        if self in _RUNNING:
            _RUNNING.remove(self)

    @property
    def pids(self) -> dict[str, int]:
        """label -> pid of each process started (each leads its own process group)."""
        return {p.label: p.pid for p in self._procs}

    def leftover_pids(self, pids: Iterable[int]) -> list[int]:
        """Of the given pids (from `pids` before stop), those whose process group still has members."""
        return [pid for pid in pids if group_members(pid)]

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # -- for subclasses

    def check_installed(self) -> None:
        """Raise StackError (saying what to install) if the server's programs are missing."""
        raise NotImplementedError

    def _choose_ports(self) -> bool:
        raise NotImplementedError

    def _launch(self) -> None:
        raise NotImplementedError

    def _after_stop(self) -> None:
        """Clean up what lives outside our process groups (RabbitMQ's epmd)."""

    def _start_with_retries(self) -> None:
        for attempt in range(1, self.port_attempts + 1):
            chose_ports = self._choose_ports()
            try:
                self._launch()
                self._check_still_running()
                return
            except PortCollision:
                stop_process_groups([p.pid for p in self._procs], self.stop_timeout)
                self._procs = []
                self._after_stop()
                if not chose_ports or attempt == self.port_attempts:
                    raise
                self._forget_chosen_ports()

    def _forget_chosen_ports(self) -> None:
        """Reset the ports chosen by _choose_ports (not the fixed ones) before a retry."""
        raise NotImplementedError

    def _check_still_running(self) -> None:
        """Every process is still up once all answered: a probe may have reached another program
        holding a port we chose, while ours was dying of the collision."""
        for proc in self._procs:
            code = proc.popen.poll()
            if code is not None:
                self._fail(proc, f"exited with code {code} during start-up")

    def _spawn(self, label: str, argv: Sequence[str], env: dict[str, str], cwd: Path | None = None) -> _Proc:
        """Start argv in a new session (so its whole group can be signalled), output to log/<label>.log."""
        log = self.root / "log" / f"{label}.log"
        with open(log, "ab") as out:
            try:
                popen = subprocess.Popen(
                    [str(a) for a in argv], stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                    env=env, cwd=cwd or self.root, start_new_session=True)
            except OSError as error:
                raise StackError(f"{self.name}: cannot run {argv[0]}: {error}") from error
        proc = _Proc(label, popen, log, time.monotonic())
        self._procs.append(proc)
        return proc

    def _wait_ready(self, proc: _Proc, is_ready: Callable[[], bool], what: str,
                    timeout: float | None = None) -> None:
        """Poll is_ready() until true; fail early if the process exits, or after the timeout."""
        deadline = time.monotonic() + (timeout or self.start_timeout)
        while True:
            code = proc.popen.poll()       # first: a probe of a port someone else holds may hang
            if code is not None:
                self._fail(proc, f"exited with code {code} before {what}")
            if is_ready():
                self.step_seconds[proc.label] = time.monotonic() - proc.spawned_at
                return
            if time.monotonic() > deadline:
                self._fail(proc, f"not ready ({what}) after {timeout or self.start_timeout:.0f} s")
            time.sleep(0.05)

    def _fail(self, proc: _Proc, reason: str, log: Path | None = None) -> None:
        log = log or proc.log
        tail = log_tail(log)
        error = PortCollision if _ADDRESS_IN_USE.search(tail) else StackError
        raise error(f"{self.name}: {proc.label} {reason}\n--- last lines of {log} ---\n{tail}")

    def _run_step(self, label: str, argv: Sequence[str], env: dict[str, str], timeout: float) -> None:
        """Run a one-off command to completion (e.g. migrate), output appended to log/<label>.log."""
        log = self.root / "log" / f"{label}.log"
        started = time.monotonic()
        with open(log, "ab") as out:
            try:
                code = subprocess.run([str(a) for a in argv], stdin=subprocess.DEVNULL, stdout=out,
                                      stderr=subprocess.STDOUT, env=env, cwd=self.root, timeout=timeout).returncode
            except subprocess.TimeoutExpired:
                code = None
        self.step_seconds[label] = time.monotonic() - started
        if code != 0:
            reason = f"timed out after {timeout:.0f} s" if code is None else f"failed with code {code}"
            raise StackError(f"{self.name}: {label} {reason}\n--- last lines of {log} ---\n{log_tail(log)}")


# --------------------------------------------------------------------------- Graphite

_RETENTION_UNITS = {"": 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def finest_retention_seconds(retention: str) -> int:
    """Seconds per point of the first (finest) archive of a carbon retention like '10s:1d,1m:7d'."""
    precision = retention.split(",")[0].split(":")[0].strip()
    match = re.fullmatch(r"(\d+)([a-z]*)", precision)
    if not match or match.group(2) not in _RETENTION_UNITS:
        raise ValueError(f"not a carbon retention: {retention!r}")
    return int(match.group(1)) * _RETENTION_UNITS[match.group(2)]


# Counters must roll up with sum, xFilesFactor 0 (else a 1 m point is the average of six 10 s
# counts, and sparse counters vanish); lower/upper keep min/max. First matching section wins.
STORAGE_AGGREGATION = r"""# written by queuedash stack/servers.py; first match wins
[legacy_counts]
pattern = ^stats_counts\.
xFilesFactor = 0
aggregationMethod = sum

[counts]
pattern = \.count(_\d+)?$
xFilesFactor = 0
aggregationMethod = sum

[sums]
pattern = \.sum(_squares)?(_\d+)?$
xFilesFactor = 0
aggregationMethod = sum

[lower]
pattern = \.lower$
xFilesFactor = 0
aggregationMethod = min

[upper]
pattern = \.upper(_\d+)?$
xFilesFactor = 0
aggregationMethod = max

[default]
pattern = .*
xFilesFactor = 0
aggregationMethod = average
"""

# graphite-web 1.1.x's /functions (loaded by Grafana's Graphite datasource) calls
# inspect.getargspec/formatargspec, which Python 3.11 removed: HTTP 500 without this shim.
_INSPECT_SHIM = '''
import inspect as _inspect
if not hasattr(_inspect, "getargspec"):
    _inspect.getargspec = lambda f: _inspect.getfullargspec(f)[:4]
if not hasattr(_inspect, "formatargspec"):
    def _formatargspec(args, varargs=None, varkw=None, defaults=None, *_a, **_k):
        first_default = len(args) - len(defaults or ())
        out = [a + ("=" + repr(defaults[i - first_default]) if defaults and i >= first_default else "")
               for i, a in enumerate(args)]
        out += ["*" + varargs] if varargs else []
        out += ["**" + varkw] if varkw else []
        return "(" + ", ".join(out) + ")"
    _inspect.formatargspec = _formatargspec
'''

_SETTINGS_MODULE = "queuedash_graphite_settings"
_gunicorn_has_no_control_socket: dict[Path, bool] = {}


class Graphite(Server):
    """carbon-cache (plaintext + pickle receivers, cache query port) and graphite-web.

    `retention` is carbon's for every metric; its finest step must equal the StatsD flush
    interval (a faster flush overwrites the slot: counts are lost). Ports left None are chosen free.
    """

    name = "graphite"

    def __init__(self, root=None, retention: str = "10s:1d,1m:7d", *, carbon_port: int | None = None,
                 pickle_port: int | None = None, cache_query_port: int | None = None,
                 web_port: int | None = None, web_server: str = "auto", venv: str | os.PathLike | None = None,
                 start_timeout: float = 60.0):
        super().__init__(root, start_timeout)
        self.retention = retention
        self.finest_retention = finest_retention_seconds(retention)
        if web_server not in ("auto", "gunicorn", "runserver"):
            raise ValueError("web_server must be auto, gunicorn or runserver")
        self.web_server = web_server
        self.venv = Path(venv) if venv else graphite_venv()
        self.carbon_host = LOOPBACK
        self._fixed = dict(carbon_port=carbon_port, pickle_port=pickle_port,
                           cache_query_port=cache_query_port, web_port=web_port)
        self.carbon_port, self.pickle_port = carbon_port, pickle_port
        self.cache_query_port, self.web_port = cache_query_port, web_port

    # -- attributes

    @property
    def web_url(self) -> str:
        return f"http://{LOOPBACK}:{self.web_port}"

    @property
    def whisper_dir(self) -> Path:
        return self._storage / "whisper"

    @property
    def _storage(self) -> Path:
        if self.root is None:
            raise StackError("graphite: not started")
        return self.root / "storage"

    def whisper_file(self, path: str) -> Path:
        """The .wsp file carbon writes for a metric path."""
        return self.whisper_dir.joinpath(*path.split(".")).with_suffix(".wsp")

    # -- helpers for tests

    def send(self, lines: str | Iterable[str | tuple]) -> None:
        """Send plaintext lines to carbon: 'path value timestamp' strings or (path, value[, ts]) tuples."""
        if isinstance(lines, (str, tuple)):
            lines = [lines]
        payload = "".join(self._plaintext(line) for line in lines).encode()
        with socket.create_connection((LOOPBACK, self.carbon_port), timeout=5) as s:
            s.sendall(payload)

    @staticmethod
    def _plaintext(line: str | tuple) -> str:
        if isinstance(line, tuple):
            path, value, *ts = line
            line = f"{path} {value} {int(ts[0] if ts else time.time())}"
        return line if line.endswith("\n") else line + "\n"

    def wait_for_metric(self, path: str, timeout: float = 30.0) -> Path:
        """Poll /metrics/find until `path` is a leaf (its whisper file exists); return the file."""
        url = f"{self.web_url}/metrics/find?" + urllib.parse.urlencode({"query": path})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, body = http_request(url)
            if status == 200 and any(n.get("id") == path and n.get("leaf") for n in json.loads(body)):
                return self.whisper_file(path)
            time.sleep(0.1)
        raise StackError(f"graphite: metric {path!r} not found after {timeout:.0f} s\n"
                         f"--- last lines of carbon log ---\n{log_tail(self.root / 'log' / 'carbon.log')}")

    def render(self, target: str | Sequence[str], from_: str = "-15min", until: str = "now", **params) -> list:
        """GET /render?format=json for one target or several; returns the parsed JSON list."""
        targets = [target] if isinstance(target, str) else list(target)
        query = urllib.parse.urlencode(
            {"target": targets, "from": from_, "until": until, "format": "json", **params}, doseq=True)
        status, body = http_request(f"{self.web_url}/render?{query}")
        if status != 200:
            raise StackError(f"graphite: /render {targets} answered {status}: {body[:500]!r}")
        return json.loads(body)

    # -- Server hooks

    def check_installed(self) -> None:
        for script in ("carbon-cache.py", "django-admin"):
            if not (self.venv / "bin" / script).exists():
                raise _not_installed("graphite", f"{self.venv}/bin/{script}", "graphite")

    def _choose_ports(self) -> bool:
        names = [n for n in self._fixed if getattr(self, n) is None]
        for name, port in zip(names, free_ports(len(names)), strict=True):
            setattr(self, name, port)
        if not names:
            self._refuse_busy_fixed_ports()
        return bool(names)

    def _refuse_busy_fixed_ports(self) -> None:
        busy = [f"{n}={p}" for n, p in self._fixed.items() if p is not None and not port_is_free(p)]
        if busy:
            raise StackError(f"graphite: ports already in use: {', '.join(busy)}")

    def _forget_chosen_ports(self) -> None:
        for name, fixed in self._fixed.items():
            setattr(self, name, fixed)

    def _launch(self) -> None:
        self._write_carbon_config()
        self._write_web_settings()
        carbon = self._spawn_carbon()
        self._migrate()                 # meanwhile carbon boots: the two take about as long
        self._wait_ready(carbon, lambda: tcp_answers(self.carbon_port) and tcp_answers(self.cache_query_port),
                         f"listening on {self.carbon_port} and {self.cache_query_port}")
        self._start_web()

    # -- carbon

    def _write_carbon_config(self) -> None:
        conf = self.root / "conf"
        for d in (conf, self._storage / "whisper", self._storage / "lists", self.root / "pids",
                  self.root / "log" / "carbon", self.root / "log" / "webapp"):
            d.mkdir(parents=True, exist_ok=True)
        (conf / "carbon.conf").write_text(f"""# written by queuedash stack/servers.py
[cache]
STORAGE_DIR = {self._storage}
LOCAL_DATA_DIR = {self.whisper_dir}
WHITELISTS_DIR = {self._storage / "lists"}
LOG_DIR = {self.root / "log" / "carbon"}
PID_DIR = {self.root / "pids"}
USER =
# tags would be posted to a graphite-web on port 80
ENABLE_TAGS = False
MAX_CACHE_SIZE = inf
MAX_UPDATES_PER_SECOND = inf
# the default, 50 a minute, delays the creation of new metrics (and so every test)
MAX_CREATES_PER_MINUTE = inf
# no carbon.agents.* self-metrics: keeps the metric tree to what the tests send
CARBON_METRIC_INTERVAL = 0
LINE_RECEIVER_INTERFACE = {LOOPBACK}
LINE_RECEIVER_PORT = {self.carbon_port}
ENABLE_UDP_LISTENER = False
PICKLE_RECEIVER_INTERFACE = {LOOPBACK}
PICKLE_RECEIVER_PORT = {self.pickle_port}
CACHE_QUERY_INTERFACE = {LOOPBACK}
CACHE_QUERY_PORT = {self.cache_query_port}
LOG_LISTENER_CONN_SUCCESS = False
LOG_UPDATES = False
LOG_CACHE_HITS = False
LOG_CREATES = True
""")
        (conf / "storage-schemas.conf").write_text(
            "# written by queuedash stack/servers.py\n"
            f"[default]\npattern = .*\nretentions = {self.retention}\n")
        (conf / "storage-aggregation.conf").write_text(STORAGE_AGGREGATION)

    def _spawn_carbon(self) -> _Proc:
        # A pid file left by a killed carbon makes the next one refuse to start ("already running").
        (self.root / "pids" / "carbon-cache-a.pid").unlink(missing_ok=True)
        return self._spawn("carbon", [
            self.venv / "bin" / "python", self.venv / "bin" / "carbon-cache.py",
            f"--config={self.root / 'conf' / 'carbon.conf'}", "--nodaemon", "--debug", "start"],
            env=_child_env(GRAPHITE_ROOT=str(self.root)))

    # -- graphite-web

    def _web_env(self) -> dict[str, str]:
        return _child_env(PYTHONPATH=str(self.root / "webapp"), GRAPHITE_SETTINGS_MODULE=_SETTINGS_MODULE,
                          DJANGO_SETTINGS_MODULE="graphite.settings")

    def _write_web_settings(self) -> None:
        webapp = self.root / "webapp"
        webapp.mkdir(exist_ok=True)
        settings = {
            "SECRET_KEY": secrets.token_hex(16),
            "TIME_ZONE": "UTC",
            "ALLOWED_HOSTS": ["*"],
            "STORAGE_DIR": str(self._storage),
            "WHISPER_DIR": str(self.whisper_dir),
            "INDEX_FILE": str(self._storage / "index"),
            "LOG_DIR": str(self.root / "log" / "webapp"),
            "STATIC_ROOT": str(self.root / "static"),
            # lets graphite-web see points carbon has cached but not written yet
            "CARBONLINK_HOSTS": [f"{LOOPBACK}:{self.cache_query_port}"],
            "DATABASES": {"default": {"NAME": str(self._storage / "graphite.db"),
                                      "ENGINE": "django.db.backends.sqlite3",
                                      "USER": "", "PASSWORD": "", "HOST": "", "PORT": ""}},
        }
        body = "".join(f"{key} = {value!r}\n" for key, value in settings.items())
        (webapp / f"{_SETTINGS_MODULE}.py").write_text(
            f'"""graphite-web local settings, written by queuedash stack/servers.py."""\n{_INSPECT_SHIM}\n{body}')

    def _migrate(self) -> None:
        # sqlite tables for the views that use them (tags, dashboards, events)
        self._run_step("migrate", [self.venv / "bin" / "django-admin", "migrate", "--noinput"],
                       self._web_env(), timeout=self.start_timeout)

    def _use_gunicorn(self) -> bool:
        has_gunicorn = (self.venv / "bin" / "gunicorn").exists()
        if self.web_server == "gunicorn" and not has_gunicorn:
            raise _not_installed("graphite", f"{self.venv}/bin/gunicorn", "graphite")
        return self.web_server == "gunicorn" or (self.web_server == "auto" and has_gunicorn)

    def _gunicorn_argv(self) -> list:
        gunicorn = self.venv / "bin" / "gunicorn"
        if gunicorn not in _gunicorn_has_no_control_socket:
            help_text = subprocess.run([gunicorn, "--help"], capture_output=True, text=True).stdout
            _gunicorn_has_no_control_socket[gunicorn] = "--no-control-socket" in help_text
        # gunicorn >= 25 otherwise opens a control socket under ~/.gunicorn, shared by all instances
        control = ["--no-control-socket"] if _gunicorn_has_no_control_socket[gunicorn] else []
        return [gunicorn, *control, "-b", f"{LOOPBACK}:{self.web_port}", "-w", "2", "--timeout", "60",
                "--graceful-timeout", "3", "graphite.wsgi:application"]

    def _start_web(self) -> None:
        if self._use_gunicorn():
            argv = self._gunicorn_argv()
        else:
            argv = [self.venv / "bin" / "django-admin", "runserver", "--noreload", f"{LOOPBACK}:{self.web_port}"]
        proc = self._spawn("graphite-web", argv, env=self._web_env())
        self._wait_ready(proc, lambda: http_ok(f"{self.web_url}/metrics/find?query=*"),
                         f"answering on {self.web_url}")


# --------------------------------------------------------------------------- StatsD


class StatsD(Server):
    """etsy statsd 0.9.0 (node) flushing to a started Graphite's carbon plaintext port.

    `flush_ms` must not be shorter than the Graphite's finest retention: several flushes in one
    whisper slot overwrite each other and counts are lost. `legacy_namespace=True` (statsd's
    default) names counters stats.<key> (rate) and stats_counts.<key> (count).
    """

    name = "statsd"

    def __init__(self, graphite: Graphite, flush_ms: int = 10000, legacy_namespace: bool = True, root=None, *,
                 port: int | None = None, mgmt_port: int | None = None, node: str | None = None,
                 package_dir: str | os.PathLike | None = None, start_timeout: float = 30.0):
        super().__init__(root, start_timeout)
        if flush_ms < graphite.finest_retention * 1000:
            raise ValueError(f"statsd flush {flush_ms} ms is shorter than the Graphite's finest retention "
                             f"({graphite.finest_retention} s): flushes would overwrite each other")
        self.graphite = graphite
        self.flush_ms = flush_ms
        self.legacy_namespace = legacy_namespace
        self.host = LOOPBACK
        self._fixed = dict(port=port, mgmt_port=mgmt_port)
        self.port, self.mgmt_port = port, mgmt_port
        self.node = node or _executable("QUEUEDASH_NODE", "node")
        self.package_dir = Path(package_dir) if package_dir else statsd_package_dir()

    def send(self, *lines: str) -> None:
        """Send metric lines ('key:1|c', 'key:12|ms', ...) in one UDP datagram."""
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto("\n".join(lines).encode(), (self.host, self.port))

    def health(self) -> str:
        """The management console's answer to `health` ('health: up')."""
        return tcp_exchange(self.mgmt_port, b"health\n", timeout=0.5).decode().strip()

    def check_installed(self) -> None:
        if not self.node:
            raise _not_installed("statsd", "node", "statsd")
        if not (self.package_dir / "stats.js").exists():
            raise _not_installed("statsd", f"{self.package_dir}/stats.js", "statsd")

    def _choose_ports(self) -> bool:
        if self.graphite.carbon_port is None or not self.graphite.pids:
            raise StackError("statsd: start its Graphite first")
        chose = False
        if self.port is None:
            self.port, chose = free_ports(1, socket.SOCK_DGRAM)[0], True
        if self.mgmt_port is None:
            self.mgmt_port, chose = free_ports(1)[0], True
        if not chose:
            busy = [] if port_is_free(self.port, socket.SOCK_DGRAM) else [f"udp {self.port}"]
            busy += [] if port_is_free(self.mgmt_port) else [f"tcp {self.mgmt_port}"]
            if busy:
                raise StackError(f"statsd: ports already in use: {', '.join(busy)}")
        return chose

    def _forget_chosen_ports(self) -> None:
        self.port, self.mgmt_port = self._fixed["port"], self._fixed["mgmt_port"]

    def _launch(self) -> None:
        config = self.root / "statsd-config.js"
        config.write_text(json.dumps({
            "graphiteHost": LOOPBACK,
            "graphitePort": self.graphite.carbon_port,
            "address": LOOPBACK,
            "port": self.port,
            "mgmt_address": LOOPBACK,
            "mgmt_port": self.mgmt_port,
            "flushInterval": self.flush_ms,
            # relative to the package dir, which must therefore be the working directory
            "backends": ["./backends/graphite"],
            "graphite": {"legacyNamespace": self.legacy_namespace},
            # idle counters keep sending 0 instead of vanishing: graphs show zeros, not gaps
            "deleteIdleStats": False,
            # ...but a gauge nobody updates for 3 flushes goes: the gauges of a worker that left
            # (or of a queue nobody polls) leave the panels instead of repeating forever
            "deleteGauges": True,
            "gaugesMaxTTL": 3,
        }, indent=2))
        proc = self._spawn("statsd", [self.node, "stats.js", config], env=_child_env(), cwd=self.package_dir)
        # The UDP socket binds asynchronously: wait for it as well as the management console.
        self._wait_ready(proc, lambda: self._mgmt_healthy() and not port_is_free(self.port, socket.SOCK_DGRAM),
                         f"management port {self.mgmt_port} answering and UDP {self.port} bound")

    def _mgmt_healthy(self) -> bool:
        try:
            return self.health() == "health: up"
        except OSError:
            return False


# --------------------------------------------------------------------------- Redis


class Redis(Server):
    """redis-server without persistence, bound to 127.0.0.1."""

    name = "redis"

    def __init__(self, root=None, *, port: int | None = None, executable: str | None = None,
                 start_timeout: float = 20.0):
        super().__init__(root, start_timeout)
        self.host = LOOPBACK
        self._fixed_port = port
        self.port = port
        self.executable = executable or _executable("QUEUEDASH_REDIS_SERVER", "redis-server")

    @property
    def url(self) -> str:
        return f"redis://{LOOPBACK}:{self.port}/0"

    def ping(self) -> bool:
        """PING in the Redis protocol over a raw socket (no client library needed)."""
        try:
            return tcp_exchange(self.port, b"PING\r\n", timeout=0.5).startswith(b"+PONG")
        except OSError:
            return False

    def check_installed(self) -> None:
        if not self.executable:
            raise _not_installed("redis", "redis-server", "redis")

    def _choose_ports(self) -> bool:
        if self.port is not None:
            return False
        self.port = free_ports(1)[0]
        return True

    def _forget_chosen_ports(self) -> None:
        self.port = self._fixed_port

    def _launch(self) -> None:
        proc = self._spawn("redis", [
            self.executable, "--port", self.port, "--bind", LOOPBACK, "--save", "", "--appendonly", "no",
            "--daemonize", "no", "--dir", self.root, "--logfile", ""], env=_child_env())
        self._wait_ready(proc, self.ping, f"answering PING on {self.port}")


# --------------------------------------------------------------------------- RabbitMQ

_node_counter = itertools.count(1)


def epmd_pids(epmd_port: int) -> list[int]:
    """Pids of the epmd daemons serving `epmd_port` (found by their ERL_EPMD_PORT or -port)."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if (entry / "comm").read_text().strip() != "epmd":
                continue
            environ = (entry / "environ").read_bytes().split(b"\0")
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        port = str(epmd_port).encode()
        by_env = b"ERL_EPMD_PORT=" + port in environ
        by_option = any(a == b"-port" and b == port for a, b in zip(argv, argv[1:], strict=False))
        if by_env or by_option:
            found.append(int(entry.name))
    return found


class RabbitMQ(Server):
    """rabbitmq-server with the management plugin, with its own node name, epmd, ports and HOME.

    Erlang starts an `epmd -daemon` that leaves our process group (it daemonizes); it listens on an
    ERL_EPMD_PORT of its own and is killed on stop, by port and by pid.
    """

    name = "rabbitmq"
    user = "guest"          # guest/guest is only accepted from loopback, which is all we use
    password = "guest"

    def __init__(self, root=None, *, port: int | None = None, dist_port: int | None = None,
                 epmd_port: int | None = None, management_port: int | None = None,
                 bin_dir: str | os.PathLike | None = None, start_timeout: float = 90.0):
        super().__init__(root, start_timeout)
        self.host = LOOPBACK
        self.bin_dir = Path(bin_dir) if bin_dir else rabbitmq_bin_dir()
        self.node = f"queuedash-{os.getpid()}-{next(_node_counter)}-{secrets.token_hex(3)}@localhost"
        self._fixed = dict(port=port, dist_port=dist_port, epmd_port=epmd_port, management_port=management_port)
        self.port, self.dist_port, self.epmd_port, self.management_port = port, dist_port, epmd_port, management_port
        self.epmd_pid: int | None = None
        # RabbitMQ 3.10 spends 5 s of every graceful stop waiting on the management agent
        # (fixed upstream in 3.13, rabbitmq-server PR 11070). A throwaway node is not worth that
        # wait in every test run, so it gets SIGKILL after 1 s; a node with kept data (root given)
        # gets the full graceful stop.
        self.stop_timeout = Server.stop_timeout if root else 1.0

    @property
    def amqp_url(self) -> str:
        return f"amqp://{self.user}:{self.password}@{LOOPBACK}:{self.port}//"

    @property
    def management_url(self) -> str:
        return f"http://{LOOPBACK}:{self.management_port}"

    def api(self, path: str, method: str = "GET", body: object = None) -> object:
        """Call the management HTTP API (path like '/api/queues'); returns parsed JSON or None."""
        data = None if body is None else json.dumps(body).encode()
        status, answer = http_request(f"{self.management_url}{path}", method=method, body=data,
                                      auth=(self.user, self.password),
                                      headers={"content-type": "application/json"})
        if status >= 300:
            raise StackError(f"rabbitmq: {method} {path} answered {status}: {answer[:500]!r}")
        return json.loads(answer) if answer else None

    # -- Server hooks

    def check_installed(self) -> None:
        for tool in ("rabbitmq-server", "rabbitmqctl"):
            if not (self.bin_dir / tool).exists():
                raise _not_installed("rabbitmq", f"{self.bin_dir}/{tool}", "rabbitmq")

    def _choose_ports(self) -> bool:
        names = [n for n in self._fixed if getattr(self, n) is None]
        for name, port in zip(names, free_ports(len(names)), strict=True):
            setattr(self, name, port)
        return bool(names)

    def _forget_chosen_ports(self) -> None:
        for name, fixed in self._fixed.items():
            setattr(self, name, fixed)

    def _env(self) -> dict[str, str]:
        r = self.root
        return _child_env(
            HOME=str(r / "home"),                    # keeps the Erlang cookie out of the real HOME
            RABBITMQ_NODENAME=self.node,
            RABBITMQ_NODE_IP_ADDRESS=LOOPBACK,
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            ERL_EPMD_ADDRESS=LOOPBACK,
            ERL_EPMD_PORT=str(self.epmd_port),
            RABBITMQ_CONF_ENV_FILE=str(r / "rabbitmq-env.conf"),   # not /etc/rabbitmq's
            RABBITMQ_CONFIG_FILE=str(r / "rabbitmq"),              # rabbit appends .conf
            RABBITMQ_ADVANCED_CONFIG_FILE=str(r / "advanced.config"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(r / "enabled_plugins"),
            RABBITMQ_MNESIA_BASE=str(r / "mnesia"),
            RABBITMQ_LOG_BASE=str(r / "log" / "rabbitmq"),
            RABBITMQ_LOGS="-",                       # to stdout, i.e. our log file
            RABBITMQ_PID_FILE=str(r / "rabbitmq.pid"),
        )

    def _write_config(self) -> None:
        for d in ("home", "mnesia", "log/rabbitmq"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        (self.root / "rabbitmq-env.conf").write_text("# empty: isolates this node from /etc/rabbitmq\n")
        (self.root / "enabled_plugins").write_text("[rabbitmq_management].\n")
        (self.root / "rabbitmq.conf").write_text(
            "# written by queuedash stack/servers.py\n"
            f"listeners.tcp.default = {LOOPBACK}:{self.port}\n"
            f"management.tcp.ip = {LOOPBACK}\n"
            f"management.tcp.port = {self.management_port}\n"
            "loopback_users.guest = true\n")

    def _launch(self) -> None:
        self._write_config()
        env = self._env()
        proc = self._spawn("rabbitmq", [self.bin_dir / "rabbitmq-server"], env=env)
        # Cheap probes first: each rabbitmqctl run boots an Erlang VM, which would slow the server's own boot.
        self._wait_ready(proc, lambda: tcp_answers(self.port) and http_ok(
            f"{self.management_url}/api/overview", auth=(self.user, self.password)),
            f"AMQP {self.port} and management API {self.management_port} answering")
        self._await_startup(proc, env)
        found = epmd_pids(self.epmd_port)
        self.epmd_pid = found[0] if found else None

    def _await_startup(self, proc: _Proc, env: dict[str, str]) -> None:
        log = self.root / "log" / "rabbitmqctl.log"
        started = time.monotonic()
        with open(log, "ab") as out:
            try:
                code = subprocess.run(
                    [self.bin_dir / "rabbitmqctl", "-n", self.node, "await_startup", "--timeout", "60"],
                    stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
                    timeout=90).returncode
            except subprocess.TimeoutExpired:
                code = None
        self.step_seconds["await_startup"] = time.monotonic() - started
        if code != 0:
            self._fail(proc, f"rabbitmqctl await_startup gave {code}", log=log)

    @property
    def pids(self) -> dict[str, int]:
        pids = super().pids
        if self.epmd_pid:
            pids["epmd"] = self.epmd_pid
        return pids

    def _after_stop(self) -> None:
        """Kill the epmd Erlang daemonized outside our process group: by port, then by pid."""
        if self.epmd_port is None:
            return
        epmd = _executable("QUEUEDASH_EPMD", "epmd")
        if epmd and epmd_pids(self.epmd_port):
            subprocess.run([epmd, "-kill"], env=_child_env(ERL_EPMD_PORT=str(self.epmd_port)),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10)
        for pid in epmd_pids(self.epmd_port):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 5
        while epmd_pids(self.epmd_port) and time.monotonic() < deadline:
            time.sleep(0.05)

    def leftover_pids(self, pids: Iterable[int]) -> list[int]:
        # epmd is not a group leader of ours: check the pid itself
        return [pid for pid in pids if (pid_alive(pid) if pid == self.epmd_pid else group_members(pid))]


# --------------------------------------------------------------------------- command line (make graphite-up/down)

_UP_LABELS = ("statsd", "graphite-web", "carbon")       # stop order: carbon last, so it gets the last points


def _pid_file(run_dir: Path, label: str) -> Path:
    return run_dir / "pids" / f"{label}.pid"


def _recorded_pid(run_dir: Path, label: str) -> int | None:
    """The pid `up` recorded for label, if that process still runs and still leads its session.

    The session check guards against a reused pid: our servers are session leaders, few others are.
    """
    try:
        pid = int(_pid_file(run_dir, label).read_text())
    except (OSError, ValueError):
        return None
    try:
        return pid if pid_alive(pid) and os.getsid(pid) == pid else None
    except OSError:
        return None


def _write_env_sh(run_dir: Path, graphite: Graphite, statsd: StatsD | None) -> Path:
    """The variables queuedash reads (`check`/`discover`, the agent), set to these servers."""
    lines = [f"export CARBON_HOST={LOOPBACK} CARBON_PORT={graphite.carbon_port}",
             f"export QUEUEDASH_GRAPHITE_URL={graphite.web_url}"]
    if statsd:
        lines.append(f"export QUEUEDASH_STATSD_HOST={LOOPBACK} QUEUEDASH_STATSD_PORT={statsd.port}")
    env_sh = run_dir / "env.sh"
    env_sh.write_text("# written by stack/servers.py graphite up\n" + "\n".join(lines) + "\n")
    return env_sh


def graphite_up(args: argparse.Namespace) -> int:
    run_dir = Path(args.dir).resolve()
    running = [label for label in _UP_LABELS if _recorded_pid(run_dir, label)]
    if running:
        print(f"already running in {run_dir}: {', '.join(running)}; run `graphite down` first", file=sys.stderr)
        return 1
    graphite = Graphite(root=run_dir / "graphite", retention=args.retention, carbon_port=args.carbon_port,
                        pickle_port=args.pickle_port, cache_query_port=args.cache_query_port,
                        web_port=args.web_port)
    statsd = None
    try:
        graphite.start()
        if args.with_statsd:
            statsd = StatsD(graphite, flush_ms=args.flush_ms, legacy_namespace=not args.no_legacy_namespace,
                            root=run_dir / "statsd", port=args.statsd_port, mgmt_port=args.statsd_mgmt_port)
            statsd.start()
    except (StackError, ValueError) as error:
        graphite.stop()
        print(error, file=sys.stderr)
        return 1
    (run_dir / "pids").mkdir(parents=True, exist_ok=True)
    for server in filter(None, (graphite, statsd)):
        for label, pid in server.pids.items():
            _pid_file(run_dir, label).write_text(f"{pid}\n")
        server.detach()
    env_sh = _write_env_sh(run_dir, graphite, statsd)
    print(f"graphite up in {graphite.start_seconds:.1f} s: carbon plaintext {LOOPBACK}:{graphite.carbon_port}, "
          f"web {graphite.web_url}")
    if statsd:
        print(f"statsd up in {statsd.start_seconds:.1f} s: udp {LOOPBACK}:{statsd.port}, "
              f"management {LOOPBACK}:{statsd.mgmt_port}, flush {statsd.flush_ms} ms")
    print(f"logs in {run_dir}/*/log; for clients: source {env_sh}")
    return 0


def graphite_down(args: argparse.Namespace) -> int:
    run_dir = Path(args.dir).resolve()
    pids = {label: _recorded_pid(run_dir, label) for label in _UP_LABELS}
    running = {label: pid for label, pid in pids.items() if pid}
    stuck = []
    # statsd first so its final flush still reaches carbon; carbon last
    for label, pid in running.items():
        stuck += stop_process_groups([pid], timeout=15.0)
        print(f"stopped {label} (pid {pid})")
    for label in _UP_LABELS:
        _pid_file(run_dir, label).unlink(missing_ok=True)
    # carbon's own pid file: a stale one makes the next carbon refuse to start
    (run_dir / "graphite" / "pids" / "carbon-cache-a.pid").unlink(missing_ok=True)
    if not running:
        print(f"nothing running in {run_dir}")
    if stuck:
        print(f"process groups still alive after SIGKILL: {stuck}", file=sys.stderr)
        return 1
    return 0


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="stack/servers.py", description="Start/stop a local Graphite (and StatsD) on fixed loopback ports.")
    sub = parser.add_subparsers(dest="server", required=True)
    graphite = sub.add_parser("graphite", help="carbon-cache + graphite-web (+ statsd)")
    actions = graphite.add_subparsers(dest="action", required=True)
    up = actions.add_parser("up", help="start in the background, detached")
    down = actions.add_parser("down", help="stop what `up` started")
    for p in (up, down):
        p.add_argument("--dir", required=True, help="run directory: data, logs, pids, env.sh")
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


if __name__ == "__main__":
    sys.exit(main())
