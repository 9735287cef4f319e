"""pytest fixtures that run the real servers of stack/servers.py for a test session.

Session-scoped fixtures: ``graphite`` (carbon + graphite-web), ``statsd`` (flushing into that
Graphite), ``redis_server`` and ``rabbitmq``. Each yields a started server (see stack/servers.py for
the attributes: ``graphite.web_url``, ``statsd.port``, ``redis_server.url``, ``rabbitmq.amqp_url``...).

When a server cannot start, the fixture fails the test with the StackError message in CI (CI=true)
and skips it otherwise, so a laptop without RabbitMQ still runs everything else. Install the servers
with ``stack/install.sh`` (``make stack-install``).

The StatsD flush interval equals the finest whisper retention: 10 s unless
QUEUEDASH_TEST_FLUSH_SECONDS says otherwise (it must divide 60; a faster flush with the same
retention step keeps counts correct, only gives finer points).

Import the fixtures from tests/conftest.py (``from realstack import graphite, statsd, ...``). Importing
them in more than one place is harmless: the servers are shared per process, not per fixture definition.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:            # makes `stack` (stack/servers.py) importable
    sys.path.insert(0, str(REPO_ROOT))

from stack.servers import Graphite, RabbitMQ, Redis, Server, StackError, StatsD  # noqa: E402

S = TypeVar("S", bound=Server)

__all__ = ["graphite", "statsd", "redis_server", "rabbitmq", "running", "require_installed", "in_ci",
           "flush_seconds", "graphite_retention", "Graphite", "StatsD", "Redis", "RabbitMQ", "StackError"]


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


def assert_nothing_left(server: Server, pids: list[int]) -> None:
    left = server.leftover_pids(pids)
    if left:
        pytest.fail(f"{server.name}: processes still alive after stop: {left}", pytrace=False)


@contextlib.contextmanager
def running(server: S) -> Iterator[S]:
    """Start `server` for a with block (fail in CI / skip otherwise if it cannot), stop it after,
    and fail if any of its processes survived."""
    try:
        server.start()
    except StackError as error:
        server_unavailable(str(error))
    pids = list(server.pids.values())
    try:
        yield server
    finally:
        server.stop()
    assert_nothing_left(server, pids)


# One server per name and process, however many fixture definitions (conftest, test modules)
# hand it out; stopped when the last of them is torn down. name -> [server, users]
_shared_servers: dict[str, list] = {}


@contextlib.contextmanager
def _shared(name: str, make: Callable[[], S]) -> Iterator[S]:
    entry = _shared_servers.get(name)
    if entry is None:
        server = make()
        try:
            server.start()
        except StackError as error:
            server_unavailable(str(error))
        entry = _shared_servers[name] = [server, 0, list(server.pids.values())]
    entry[1] += 1
    try:
        yield entry[0]
    finally:
        entry[1] -= 1
        if entry[1] == 0:
            del _shared_servers[name]
            entry[0].stop()
            assert_nothing_left(entry[0], entry[2])


@pytest.fixture(scope="session")
def graphite() -> Iterator[Graphite]:
    """carbon-cache + graphite-web on free loopback ports, whisper step = StatsD flush (10 s)."""
    with _shared("graphite", lambda: Graphite(retention=graphite_retention(flush_seconds()))) as server:
        yield server


@pytest.fixture(scope="session")
def statsd(graphite: Graphite) -> Iterator[StatsD]:
    """etsy statsd (legacy namespace: stats_counts.<key>, stats.<key>) flushing into `graphite`."""
    with _shared("statsd", lambda: StatsD(graphite, flush_ms=flush_seconds() * 1000)) as server:
        yield server


@pytest.fixture(scope="session")
def redis_server() -> Iterator[Redis]:
    """redis-server without persistence; `.url` is redis://127.0.0.1:PORT/0."""
    with _shared("redis", Redis) as server:
        yield server


@pytest.fixture(scope="session")
def rabbitmq() -> Iterator[RabbitMQ]:
    """rabbitmq-server with the management plugin; `.amqp_url`, `.management_url`, guest/guest."""
    with _shared("rabbitmq", RabbitMQ) as server:
        yield server
