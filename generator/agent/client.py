"""StatsD clients that never block and never grow: UDP on a non-blocking socket.

The `statsd` package (pystatsd, the client of the field) formats the lines and
batches them (`pipeline()`); these classes only replace its transport:

* `UDPClient` sends each packet with one non-blocking ``sendto``. When StatsD
  is down, unreachable, or the socket buffer is full, the packet is dropped
  and counted: a metric is worth less than the task that emits it. The socket
  is made per process, so prefork pool children never share one with their
  parent.
* `BufferedClient` (the event monitor) packs lines into full packets and sends
  a packet as soon as it is full; `flush()` sends the rest. It holds at most
  one packet, whatever StatsD does.

Keys arrive complete from `keys.Keys` (prefix included), so no client prefix.

Imports `statsd` and the standard library.
"""

from __future__ import annotations

import os
import socket
import threading

from statsd.client.base import StatsClientBase
from statsd.client.udp import Pipeline

#: Fits an Ethernet MTU with IP and UDP headers: no fragmentation off-host.
DEFAULT_PACKET_SIZE = 1432


class StatsdAddressError(OSError):
    """The StatsD host name does not resolve."""


def resolve(host: str, port: int) -> tuple[int, tuple]:
    """(address family, socket address) of a StatsD server, resolved once.

    Resolving is the one step that can block (DNS), so it happens when the
    client is made, never on a send.
    """
    try:
        family, _, _, _, address = socket.getaddrinfo(host, port, 0, socket.SOCK_DGRAM)[0]
    except (OSError, UnicodeError) as exc:
        raise StatsdAddressError(f"cannot resolve StatsD host {host!r}: {exc}") from None
    return family, address


class UDPClient(StatsClientBase):
    """statsd's API (incr, timing, gauge, pipeline) over non-blocking UDP."""

    def __init__(self, host: str = "127.0.0.1", port: int = 8125, packet_size: int = DEFAULT_PACKET_SIZE):
        self.host, self.port = host, int(port)
        self._family, self._address = resolve(host, self.port)
        self._prefix = None
        self._maxudpsize = packet_size
        self._sock: socket.socket | None = None
        self._sock_pid: int | None = None
        self.sent_packets = 0
        self.dropped_packets = 0

    def _socket(self) -> socket.socket:
        pid = os.getpid()
        if self._sock is None or self._sock_pid != pid:
            sock = socket.socket(self._family, socket.SOCK_DGRAM)
            sock.setblocking(False)
            self._sock, self._sock_pid = sock, pid
        return self._sock

    def _send(self, data: str) -> None:
        try:
            self._socket().sendto(data.encode("ascii", "replace"), self._address)
            self.sent_packets += 1
        except OSError:
            # EAGAIN (buffer full), ECONNREFUSED (nobody listening), ENETUNREACH...
            self.dropped_packets += 1

    def pipeline(self) -> Pipeline:
        return Pipeline(self)

    def close(self) -> None:
        if self._sock is not None and self._sock_pid == os.getpid():
            self._sock.close()
        self._sock = None


class BufferedClient(StatsClientBase):
    """Lines packed into full packets over a `UDPClient`; thread-safe.

    At most one packet is held: memory stays flat whether StatsD answers or not.
    """

    def __init__(self, transport: UDPClient):
        self.transport = transport
        self._prefix = None
        self._limit = transport._maxudpsize
        self._lines: list[str] = []
        self._size = 0
        self._lock = threading.Lock()

    def _after(self, data: str | None) -> None:
        if data is None:
            return
        with self._lock:
            if self._lines and self._size + len(data) + 1 > self._limit:
                self._send_locked()
            self._lines.append(data)
            self._size += len(data) + 1

    def _send_locked(self) -> None:
        packet = "\n".join(self._lines)
        self._lines = []
        self._size = 0
        self.transport._send(packet)

    def flush(self) -> None:
        """Send the partly filled packet, if any."""
        with self._lock:
            if self._lines:
                self._send_locked()

    @property
    def buffered_lines(self) -> int:
        return len(self._lines)

    def pipeline(self) -> Pipeline:
        return self.transport.pipeline()

    def close(self) -> None:
        self.flush()
        self.transport.close()
