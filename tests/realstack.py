"""The real servers as a pytest plugin: fixtures, markers and the CI rule (registered in conftest.py).

Fixtures, one server each per test session (per worker under pytest-xdist), stopped at its end:

* ``graphite``: carbon + graphite-web (stack/graphite.py), whisper step = the StatsD flush;
* ``statsd``: etsy StatsD flushing into that Graphite (legacy namespace);
* ``redis_server``: pytest-redis's ``redis_proc`` running Debian's redis-server;
  ``.url`` (redis://127.0.0.1:PORT/0), ``.host``, ``.port``;
* ``rabbitmq``: rabbitmq-server with its management plugin (stack/rabbitmq.py);
  ``.amqp_url``, ``.management_url``, ``.api()``, guest/guest.

Tests find them by name; nothing is imported. Tests that start servers of their own use the
classes of stack.servers (re-exported here) inside ``running(...)``.

Markers: ``realstack`` on every test that needs a real server, and the server's own marker
(``graphite``, ``statsd``, ``redis``, ``rabbitmq``; ``celery`` for real worker processes). A test
that uses one of the fixtures above gets them at collection; a test that starts servers itself
carries them in its module, and ``running(...)`` fails a test that does not. So
``pytest -m "not realstack"`` starts no server.

When a server cannot start, the test fails in CI (CI=true) and is skipped elsewhere, with the
reason (what to install: ``stack/install.sh``, ``make stack-install``).

The StatsD flush interval equals the finest whisper retention: 10 s unless
QUEUEDASH_TEST_FLUSH_SECONDS says otherwise (it must divide 60; a faster flush with the same
retention step keeps counts correct, only gives finer points).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest
from pytest_redis import factories

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:            # makes `stack` importable
    sys.path.insert(0, str(REPO_ROOT))

from stack.redis import REDIS_DATABASES, Redis, redis_server_executable, redis_url  # noqa: E402
from stack.servers import CarbonRelay, Graphite, RabbitMQ, Server, StackError, StatsD, StatsDProxy  # noqa: E402

S = TypeVar("S", bound=Server)

__all__ = ["running", "require_installed", "in_ci", "flush_seconds", "graphite_retention",
           "Graphite", "StatsD", "StatsDProxy", "CarbonRelay", "Redis", "RabbitMQ", "StackError"]

#: fixture -> the marker of the server it starts
SERVER_FIXTURES = {"graphite": "graphite", "statsd": "statsd", "redis_server": "redis", "rabbitmq": "rabbitmq"}
MARKERS = {
    "realstack": "needs real servers (Graphite, StatsD, Redis, RabbitMQ) started on loopback",
    "graphite": "needs carbon + graphite-web",
    "statsd": "needs etsy StatsD",
    "redis": "needs redis-server",
    "rabbitmq": "needs rabbitmq-server",
    "celery": "runs real Celery worker processes",
}


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def server_unavailable(message: str) -> None:
    """A server could not start: a failure in CI (it must work there), a skip elsewhere."""
    if in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def require_installed(*servers: Server) -> None:
    """For tests that drive a server without starting it here: fail (CI) / skip if it is not installed."""
    for server in servers:
        try:
            server.check_installed()
        except StackError as error:
            server_unavailable(str(error))


def flush_seconds() -> int:
    """StatsD flush interval = finest whisper step, in seconds (default 10)."""
    seconds = int(os.environ.get("QUEUEDASH_TEST_FLUSH_SECONDS", "10"))
    if seconds <= 0 or 60 % seconds:
        raise ValueError(f"QUEUEDASH_TEST_FLUSH_SECONDS={seconds}: must divide 60 (the 1 min archive)")
    return seconds


def graphite_retention(step: int) -> str:
    """Carbon retention with `step` s points for a day (6 h below 10 s, to keep files small), then 1 min."""
    return f"{step}s:{'1d' if step >= 10 else '6h'},1m:7d"


# --------------------------------------------------------------------------- starting and stopping


def _start(server: S) -> S:
    try:
        return server.start()
    except StackError as error:
        server_unavailable(str(error))


@contextlib.contextmanager
def running(server: S) -> Iterator[S]:
    """Start `server` for a with block (fail in CI / skip otherwise if it cannot), stop it after.
    Stopping raises if any of its processes survived."""
    _require_marked(server)
    _start(server)
    try:
        yield server
    finally:
        server.stop()


# The test running now, so that a server started from it can check its markers.
_current: list[pytest.Item] = []


def _require_marked(server: Server) -> None:
    item = _current[-1] if _current else None
    if item is not None and item.get_closest_marker("realstack") is None:
        pytest.fail(f"{item.nodeid} starts {server.name} but is not marked realstack "
                    "(pytestmark = pytest.mark.realstack): `-m 'not realstack'` would run it", pytrace=False)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def graphite() -> Iterator[Graphite]:
    """carbon-cache + graphite-web on free loopback ports, whisper step = StatsD flush (10 s)."""
    server = _start(Graphite(retention=graphite_retention(flush_seconds())))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def statsd(graphite: Graphite) -> Iterator[StatsD]:
    """etsy statsd (legacy namespace: stats_counts.<key>, stats.<key>) flushing into `graphite`."""
    server = _start(StatsD(graphite, flush_ms=flush_seconds() * 1000))
    yield server
    server.stop()


#: pytest-redis's process fixture, on Debian's redis-server (found like stack.redis.Redis finds it).
#: Its idle-client timeout is set in pyproject.toml (redis_timeout = 0): the factory reads 0 as unset.
redis_process = factories.redis_proc(executable=redis_server_executable(), db_count=REDIS_DATABASES)


@dataclass(frozen=True)
class RedisEndpoint:
    """Where the session's Redis answers."""

    host: str
    port: int

    @property
    def url(self) -> str:
        return redis_url(self.host, self.port)


@pytest.fixture(scope="session")
def redis_server(request: pytest.FixtureRequest) -> RedisEndpoint:
    """redis-server on a free loopback port (pytest-redis); `.url` is redis://127.0.0.1:PORT/0."""
    require_installed(Redis())
    try:
        executor = request.getfixturevalue("redis_process")
    except Exception as error:  # pytest-redis and mirakuru raise their own kinds
        server_unavailable(f"redis: redis-server could not start: {error}")
    return RedisEndpoint(executor.host, executor.port)


@pytest.fixture(scope="session")
def rabbitmq() -> Iterator[RabbitMQ]:
    """rabbitmq-server with the management plugin; `.amqp_url`, `.management_url`, guest/guest."""
    server = _start(RabbitMQ())
    yield server
    server.stop()


# --------------------------------------------------------------------------- hooks


def pytest_configure(config: pytest.Config) -> None:
    for name, description in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {description}")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark what uses a server fixture with the server's marker; every server marker implies realstack.

    Under pytest-xdist (`make test`: `--dist loadfile --no-loadscope-reorder`) the tests needing
    servers come first, real Celery workers foremost: their waits for servers and StatsD flushes
    then overlap the other workers' unit tests instead of ending the run.
    """
    for item in items:
        for fixture, marker in SERVER_FIXTURES.items():
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(marker)
        if any(item.get_closest_marker(name) for name in MARKERS) and not item.get_closest_marker("realstack"):
            item.add_marker("realstack")
    if hasattr(config, "workerinput"):
        items.sort(key=lambda item: (item.get_closest_marker("celery") is None,
                                     item.get_closest_marker("realstack") is None))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item):
    _current.append(item)
    try:
        yield
    finally:
        _current.pop()
