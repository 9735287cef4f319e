"""Graphite as the tests and `make graphite-up` run it: carbon-cache and graphite-web, configured here.

The domain knowledge lives in this module: carbon's configuration (every metric created at once,
no self-metrics, loopback only), and graphite-web's settings, including the shim that graphite-web
1.1 needs on Python 3.11. The storage schemas and the aggregation rules that make counters roll up
as sums are the reference configuration's (fleet/, through stack.reference).

A Graphite is either a storage node (carbon-cache and the graphite-web reading its whisper files)
or, with `cluster=`, a front graphite-web alone, asking the storage nodes' graphite-webs
(CLUSTER_SERVERS, fleet/graphite-web-cluster.py), as a cluster behind carbon-c-relay is read.
Processes are mirakuru's (stack/base.py).

Imports stack.base, stack.reference, mirakuru and requests.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import socket
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import requests
from mirakuru import HTTPExecutor, TCPExecutor

from stack import reference
from stack.base import LOOPBACK, Server, StackError, accepts_tcp, busy_ports, free_ports, graphite_venv, log_tail, \
    not_installed, stack_dir

_RETENTION_UNITS = {"": 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def finest_retention_seconds(retention: str) -> int:
    """Seconds per point of the first (finest) archive of a carbon retention like '10s:1d,1m:7d'."""
    precision = retention.split(",")[0].split(":")[0].strip()
    match = re.fullmatch(r"(\d+)([a-z]*)", precision)
    if not match or match.group(2) not in _RETENTION_UNITS:
        raise ValueError(f"not a carbon retention: {retention!r}")
    return int(match.group(1)) * _RETENTION_UNITS[match.group(2)]


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


def _migrated_database(venv: Path) -> Path:
    """Where a freshly migrated graphite-web database of this venv's graphite-web is kept.

    graphite-web keeps tags, dashboards and events in sqlite; `django-admin migrate` makes the
    tables in about 5 s of CPU, the same tables every time. The first start migrates, later starts
    copy. The name carries the venv's install marker (stack/install.sh), so new pins migrate anew.
    """
    marker = (venv / ".queuedash-installed").read_bytes() if (venv / ".queuedash-installed").exists() else b""
    key = hashlib.sha256(bytes(venv.resolve()) + b"\0" + marker).hexdigest()[:12]
    return stack_dir() / f"graphite-web-{key}.db"


def _keep_as_template(database: Path, template: Path) -> None:
    """Copy a migrated database to `template` atomically (concurrent starts may race); best effort."""
    try:
        template.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=template.parent, prefix=template.name, delete=False) as copy:
            shutil.copyfile(database, copy.name)
        os.replace(copy.name, template)
    except OSError:
        pass


_PORTS = ("carbon_port", "pickle_port", "cache_query_port", "web_port")


class _CarbonExecutor(TCPExecutor):
    """carbon-cache, ready when its line receiver and its cache query port both accept connections
    (graphite-web asks the cache for points not yet written)."""

    def __init__(self, command, *, carbon_port: int, cache_query_port: int, **kwargs):
        super().__init__(command, host=LOOPBACK, port=carbon_port, **kwargs)
        self.cache_query_port = cache_query_port

    def after_start_check(self) -> bool:
        return accepts_tcp(self.port) and accepts_tcp(self.cache_query_port)


class Graphite(Server):
    """carbon-cache (plaintext + pickle receivers, cache query port) and graphite-web (gunicorn).

    `retention` is carbon's for every metric; its finest step must equal the StatsD flush
    interval (a faster flush overwrites the slot: counts are lost). Ports left None are chosen free.

    With `cluster` (started storage nodes), only a front graphite-web: it reads the nodes'
    graphite-webs, has no carbon (`carbon_port` None), and its step is theirs.
    """

    name = "graphite"

    def __init__(self, root=None, retention: str = "10s:1d,1m:7d", *, carbon_port: int | None = None,
                 pickle_port: int | None = None, cache_query_port: int | None = None,
                 web_port: int | None = None, venv: str | os.PathLike | None = None, start_timeout: float = 60.0,
                 cluster: Sequence[Graphite] = (), web_workers: int = 2):
        super().__init__(root, start_timeout)
        self.cluster = tuple(cluster)
        if self.cluster:
            retentions = {node.retention for node in self.cluster}
            if len(retentions) != 1:
                raise ValueError(f"the storage nodes of one cluster keep different retentions: {sorted(retentions)}")
            (retention,) = retentions
            self.name = "graphite-front"
        self.web_workers = web_workers
        self.retention = retention
        self.finest_retention = finest_retention_seconds(retention)
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
    def _database(self) -> Path:
        return self._storage / "graphite.db"

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
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            answer = requests.get(f"{self.web_url}/metrics/find", params={"query": path}, timeout=10)
            if answer.ok and any(n.get("id") == path and n.get("leaf") for n in answer.json()):
                return self.whisper_file(path)
            time.sleep(0.1)
        raise StackError(f"graphite: metric {path!r} not found after {timeout:.0f} s\n"
                         f"--- last lines of carbon log ---\n{log_tail(self.log_path('carbon'))}")

    def render(self, target: str | Sequence[str], from_: str = "-15min", until: str = "now", **params) -> list:
        """GET /render?format=json for one target or several; returns the parsed JSON list."""
        targets = [target] if isinstance(target, str) else list(target)
        answer = requests.get(f"{self.web_url}/render", timeout=10, params={
            "target": targets, "from": from_, "until": until, "format": "json", **params})
        if not answer.ok:
            raise StackError(f"graphite: /render {targets} answered {answer.status_code}: {answer.text[:500]!r}")
        return answer.json()

    # -- Server hooks

    def check_installed(self) -> None:
        for script in ("carbon-cache.py", "django-admin", "gunicorn"):
            if not (self.venv / "bin" / script).exists():
                raise not_installed("graphite", f"{self.venv}/bin/{script}", "graphite")

    def _choose_ports(self) -> None:
        if any(node.web_port is None or not node.pids for node in self.cluster):
            raise StackError(f"{self.name}: start its storage nodes first")
        for name in _PORTS:
            setattr(self, name, self._fixed[name])
        fixed = {name: port for name, port in self._fixed.items() if port is not None}
        busy = busy_ports(fixed)
        if busy:
            raise StackError(f"graphite: ports already in use: {', '.join(busy)}")
        unset = [name for name in (("web_port",) if self.cluster else _PORTS) if self._fixed[name] is None]
        for name, port in zip(unset, free_ports(len(unset), exclude=fixed.values()), strict=True):
            setattr(self, name, port)

    def _launch(self) -> None:
        self._write_carbon_config()
        self._write_web_settings()
        # a front graphite-web has no carbon of its own: its storage nodes have
        start_carbon = self._start_carbon if not self.cluster else (lambda: None)
        template = _migrated_database(self.venv)
        if template.exists():
            shutil.copyfile(template, self._database)
            start_carbon()
        else:
            # migrating while carbon boots saves a second or two: the two take about as long
            migrate = self._begin_step("migrate", [self.venv / "bin" / "django-admin", "migrate", "--noinput"],
                                       self._web_env())
            try:
                start_carbon()
            finally:
                self._finish_step("migrate", migrate, self.start_timeout)
            _keep_as_template(self._database, template)
        self._start_web()

    # -- carbon

    def _write_carbon_config(self) -> None:
        conf = self.root / "conf"
        for d in (conf, self._storage / "whisper", self._storage / "lists", self.root / "pids",
                  self.root / "log" / "carbon", self.root / "log" / "webapp"):
            d.mkdir(parents=True, exist_ok=True)
        (conf / "carbon.conf").write_text(f"""# written by queuedash stack/graphite.py
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
        (conf / "storage-schemas.conf").write_text(reference.storage_schemas(self.retention))
        (conf / "storage-aggregation.conf").write_text(reference.storage_aggregation())

    def _start_carbon(self) -> None:
        # A pid file left by a killed carbon makes the next one refuse to start ("already running").
        (self.root / "pids" / "carbon-cache-a.pid").unlink(missing_ok=True)
        self._start("carbon", _CarbonExecutor, [
            self.venv / "bin" / "python", self.venv / "bin" / "carbon-cache.py",
            f"--config={self.root / 'conf' / 'carbon.conf'}", "--nodaemon", "--debug", "start"],
            env={"GRAPHITE_ROOT": str(self.root)}, carbon_port=self.carbon_port,
            cache_query_port=self.cache_query_port)

    # -- graphite-web

    def _web_env(self) -> dict[str, str]:
        return {"PYTHONPATH": str(self.root / "webapp"), "GRAPHITE_SETTINGS_MODULE": _SETTINGS_MODULE,
                "DJANGO_SETTINGS_MODULE": "graphite.settings"}

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
            "CARBONLINK_HOSTS": [f"{LOOPBACK}:{self.cache_query_port}"] if not self.cluster else [],
            "DATABASES": {"default": {"NAME": str(self._database),
                                      "ENGINE": "django.db.backends.sqlite3",
                                      "USER": "", "PASSWORD": "", "HOST": "", "PORT": ""}},
        }
        if self.cluster:
            settings.update(reference.graphite_cluster_settings(
                "graphite-web-cluster.py", [(LOOPBACK, node.web_port) for node in self.cluster]))
        body = "".join(f"{key} = {value!r}\n" for key, value in settings.items())
        (webapp / f"{_SETTINGS_MODULE}.py").write_text(
            f'"""graphite-web local settings, written by queuedash stack/graphite.py."""\n{_INSPECT_SHIM}\n{body}')

    def _start_web(self) -> None:
        # gunicorn >= 25 otherwise opens a control socket under ~/.gunicorn, shared by all instances
        argv = [self.venv / "bin" / "gunicorn", "--no-control-socket", "-b", f"{LOOPBACK}:{self.web_port}",
                "-w", str(self.web_workers), "--preload", "--timeout", "60", "--graceful-timeout", "3", "graphite.wsgi:application"]
        self._start("graphite-web", HTTPExecutor, argv, env=self._web_env(),
                    url=f"{self.web_url}/metrics/find?query=*", method="GET", status="200")
