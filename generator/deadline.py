"""HTTP sessions whose timeout is a deadline for the whole request.

requests' `timeout` limits each wait for the next bytes, not the request: a
server (or proxy) that sends one byte a second keeps a request alive as long as
it likes. `DeadlineSession` makes a number `timeout` a deadline: a watchdog
shuts the request's socket down when it passes, whatever stage the request is
in (sending, waiting, reading headers or body), and the request fails with
`requests.exceptions.ReadTimeout` at the deadline. Every attempt of a retried
request gets a deadline of its own.

How: the session's connection pools make connections that register their socket
with the request's deadline (held per thread, as a request runs on one thread)
when they send; one watchdog thread for the whole process waits for the
earliest deadline. A request that ends in time cancels its watch.

The HTTP clients (`graphite/client.py`, `grafana/client.py`) use it, and
`transport_reason` to say why a request failed. Imports requests and urllib3 only.
"""

from __future__ import annotations

import heapq
import itertools
import socket
import threading
import time

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool


class _Deadline:
    """One request's deadline and the socket it runs on."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.expired = False
        self.done = False
        self.connection: HTTPConnection | None = None
        self.lock = threading.Lock()

    def watch(self, connection: HTTPConnection) -> None:
        with self.lock:
            self.connection = connection
            if self.expired:
                _shut(connection)

    def expire(self) -> None:
        with self.lock:
            if self.done:
                return
            self.expired = True
            if self.connection is not None:
                _shut(self.connection)

    def finish(self) -> None:
        with self.lock:
            self.done = True


def _shut(connection: HTTPConnection) -> None:
    """Wake whatever blocks on the connection's socket: shut it down (not close: the
    owning thread still holds it, and closes it as a broken connection)."""
    sock = connection.sock
    if sock is None:
        return
    try:
        # socket.socket's own shutdown: an SSL socket's would drop its TLS state under
        # the thread reading it.
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass


class _Watchdog:
    """One thread for the process: expires deadlines as they pass."""

    def __init__(self):
        self._heap: list[tuple[float, int, _Deadline]] = []
        self._order = itertools.count()
        self._condition = threading.Condition()
        self._thread: threading.Thread | None = None

    def watch(self, deadline: _Deadline) -> None:
        with self._condition:
            earliest = not self._heap or deadline.at < self._heap[0][0]
            heapq.heappush(self._heap, (deadline.at, next(self._order), deadline))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="queuedash-deadline", daemon=True)
                self._thread.start()
            elif earliest:
                # Only a deadline before all the others changes how long the thread waits: with
                # one timeout for every request, that is rare, and the thread sleeps through.
                self._condition.notify()

    def _run(self) -> None:
        while True:
            with self._condition:
                while self._heap and self._heap[0][2].done:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._condition.wait()
                    continue
                at, _, deadline = self._heap[0]
                wait = at - time.monotonic()
                if wait > 0:
                    self._condition.wait(wait)
                    continue
                heapq.heappop(self._heap)
            deadline.expire()


_watchdog = _Watchdog()
_current = threading.local()


class _Watched:
    """A connection that hands its socket to the running request's deadline."""

    def connect(self) -> None:
        super().connect()
        self._register()

    def request(self, *args, **kwargs):
        self._register()
        return super().request(*args, **kwargs)

    def _register(self) -> None:
        deadline = getattr(_current, "deadline", None)
        if deadline is not None:
            deadline.watch(self)


class _HTTPConnection(_Watched, HTTPConnection):
    pass


class _HTTPSConnection(_Watched, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


_POOLS = {"http": _HTTPPool, "https": _HTTPSPool}


class _Adapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOLS)

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if hasattr(manager, "pool_classes_by_scheme"):
            manager.pool_classes_by_scheme = dict(_POOLS)
        return manager


class DeadlineSession(requests.Session):
    """A `requests.Session` where a number `timeout` bounds the whole request.

    `pool_size`: connections kept alive per host (one per thread that shares the session).
    Retries are the caller's (the adapters never retry).
    """

    def __init__(self, pool_size: int = 10):
        super().__init__()
        adapter = _Adapter(pool_connections=1, pool_maxsize=max(pool_size, 1), max_retries=0)
        self.mount("http://", adapter)
        self.mount("https://", adapter)

    def request(self, method, url, *args, timeout=None, **kwargs):
        if not isinstance(timeout, (int, float)) or isinstance(timeout, bool):
            return super().request(method, url, *args, timeout=timeout, **kwargs)
        deadline = _Deadline(float(timeout))
        _current.deadline = deadline
        _watchdog.watch(deadline)
        try:
            # Connecting and each wait for bytes keep their own limit too.
            response = super().request(method, url, *args, timeout=(timeout, timeout), **kwargs)
        except OSError as exc:  # requests' exceptions are OSErrors too
            if deadline.expired and not isinstance(exc, requests.exceptions.Timeout):
                raise requests.exceptions.ReadTimeout(
                    f"no complete answer within {timeout:g} s", request=getattr(exc, "request", None)) from None
            raise
        else:
            # A socket shut down mid-answer can read as a short answer (a status line cut
            # after its code, no body): what arrived after the deadline is not an answer.
            if deadline.expired:
                response.close()
                raise requests.exceptions.ReadTimeout(f"no complete answer within {timeout:g} s",
                                                      request=response.request)
            return response
        finally:
            deadline.finish()
            _current.deadline = None


def transport_reason(exc: BaseException) -> str:
    """The innermost cause of a transport error (refused, reset, timed out...), in its own words.
    Not redacted: the caller redacts."""
    inner: BaseException = exc
    while True:
        nested = inner.args[0] if inner.args and isinstance(inner.args[0], BaseException) else None
        nested = nested or getattr(inner, "reason", None) or inner.__cause__ or inner.__context__
        if not isinstance(nested, BaseException) or nested is inner:
            break
        inner = nested
    text = str(inner) or type(inner).__name__
    # urllib3 repeats the connection object's repr; keep the readable tail.
    return text.split("Failed to establish a new connection:", 1)[-1].strip()
