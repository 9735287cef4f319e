"""redis-server for tests that start, stop and restart a Redis of their own (the broker going away).

The session's shared Redis is pytest-redis's (`redis_proc`, in tests/realstack.py); this class runs
the same executor, pytest-redis's `RedisExecutor`, under the interface of the other servers.

Imports stack.base and pytest-redis's executor.
"""

from __future__ import annotations

import socket

from pytest_redis.executor import RedisExecutor

from stack.base import LOOPBACK, Server, StackError, busy_ports, executable, free_ports, not_installed


def redis_server_executable() -> str | None:
    """$QUEUEDASH_REDIS_SERVER, else redis-server on PATH (Debian's, from stack/install.sh)."""
    return executable("QUEUEDASH_REDIS_SERVER", "redis-server")


def redis_url(host: str, port: int, db: int = 0) -> str:
    return f"redis://{host}:{port}/{db}"


#: Redis's own defaults where pytest-redis has others: 16 databases (the tests use every one, /0 to /15) and
#: no idle-client timeout (a broker connection idle between polls must not be cut).
REDIS_DATABASES = 16
REDIS_CLIENT_TIMEOUT = 0


class Redis(Server):
    """redis-server bound to 127.0.0.1, its data in the server's folder."""

    name = "redis"

    def __init__(self, root=None, *, port: int | None = None, executable: str | None = None,
                 start_timeout: float = 20.0):
        super().__init__(root, start_timeout)
        self.host = LOOPBACK
        self._fixed_port = port
        self.port = port
        self.executable = executable or redis_server_executable()

    @property
    def url(self) -> str:
        return redis_url(self.host, self.port)

    def ping(self) -> bool:
        """PING in the Redis protocol over a raw socket (no client library needed)."""
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5) as connection:
                connection.sendall(b"PING\r\n")
                return connection.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def check_installed(self) -> None:
        if not self.executable:
            raise not_installed("redis", "redis-server", "redis")

    def _choose_ports(self) -> None:
        self.port = self._fixed_port
        if self.port is None:
            self.port = free_ports(1)[0]
        elif busy_ports({"port": self.port}):
            raise StackError(f"redis: port {self.port} already in use")

    def _launch(self) -> None:
        executor = RedisExecutor(self.executable, databases=REDIS_DATABASES, redis_timeout=REDIS_CLIENT_TIMEOUT,
                                 loglevel="notice", host=self.host, port=self.port, datadir=self.root,
                                 startup_timeout=int(self.start_timeout))
        self._start_executor("redis", executor, self.root / f"redis-server.{self.port}.log")
