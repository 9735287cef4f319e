"""etsy StatsD (node) as the tests run it, flushing into a started Graphite's carbon (or a relay),
and StatsD's cluster proxy in front of several of them.

Their configuration is the reference's (fleet/statsd.js, statsd-node.js, statsd-proxy.js, through
stack.reference): only the addresses and the flush interval are the test's. The rule kept here: the
flush interval must not be shorter than Graphite's finest retention.

Imports stack.base, stack.graphite, stack.reference and mirakuru.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

from mirakuru import TCPExecutor

from stack import reference
from stack.base import LOOPBACK, Server, StackError, accepts_tcp, busy_ports, executable, free_ports, \
    free_udp_port, not_installed, statsd_package_dir, udp_port_is_free
from stack.graphite import Graphite


class _StatsDExecutor(TCPExecutor):
    """node stats.js, ready when the management console accepts connections and the UDP socket
    is bound (StatsD binds it asynchronously, after it prints "server is up")."""

    def __init__(self, command, *, mgmt_port: int, udp_port: int, **kwargs):
        super().__init__(command, host=LOOPBACK, port=mgmt_port, **kwargs)
        self.udp_port = udp_port

    def after_start_check(self) -> bool:
        return accepts_tcp(self.port) and not udp_port_is_free(self.udp_port)


class StatsD(Server):
    """etsy statsd 0.9.0 (node) flushing to a started Graphite's carbon plaintext port.

    `graphite` is a started `Graphite`, or anything else that takes carbon's plaintext protocol and
    says its step (`carbon_port`, `finest_retention`, `pids`: a `stack.relay.CarbonRelay`).
    `flush_ms` must not be shorter than the Graphite's finest retention: several flushes in one
    whisper slot overwrite each other and counts are lost. `legacy_namespace=True` (statsd's
    default) names counters stats.<key> (rate) and stats_counts.<key> (count). `config` is the
    reference file it starts from: fleet/statsd.js, or statsd-node.js behind a proxy.
    """

    name = "statsd"

    def __init__(self, graphite: Graphite, flush_ms: int = 10000, legacy_namespace: bool = True, root=None, *,
                 port: int | None = None, mgmt_port: int | None = None, node: str | None = None,
                 package_dir: str | os.PathLike | None = None, start_timeout: float = 30.0,
                 config: str = "statsd.js"):
        super().__init__(root, start_timeout)
        self.config = config
        if flush_ms < graphite.finest_retention * 1000:
            raise ValueError(f"statsd flush {flush_ms} ms is shorter than the Graphite's finest retention "
                             f"({graphite.finest_retention} s): flushes would overwrite each other")
        self.graphite = graphite
        self.flush_ms = flush_ms
        self.legacy_namespace = legacy_namespace
        self.host = LOOPBACK
        self._fixed = dict(port=port, mgmt_port=mgmt_port)
        self.port, self.mgmt_port = port, mgmt_port
        self.node = node or executable("QUEUEDASH_NODE", "node")
        self.package_dir = Path(package_dir) if package_dir else statsd_package_dir()

    def send(self, *lines: str) -> None:
        """Send metric lines ('key:1|c', 'key:12|ms', ...) in one UDP datagram."""
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto("\n".join(lines).encode(), (self.host, self.port))

    def health(self) -> str:
        """The management console's answer to `health` ('health: up')."""
        with socket.create_connection((LOOPBACK, self.mgmt_port), timeout=2) as console:
            console.sendall(b"health\n")
            return console.recv(4096).decode().strip()

    def check_installed(self) -> None:
        if not self.node:
            raise not_installed("statsd", "node", "statsd")
        if not (self.package_dir / "stats.js").exists():
            raise not_installed("statsd", f"{self.package_dir}/stats.js", "statsd")

    def _choose_ports(self) -> None:
        if self.graphite.carbon_port is None or not self.graphite.pids:
            raise StackError("statsd: start its Graphite first")
        self.port, self.mgmt_port = self._fixed["port"], self._fixed["mgmt_port"]
        busy = [] if self.port is None or udp_port_is_free(self.port) else [f"udp {self.port}"]
        busy += [] if self.mgmt_port is None else busy_ports({"tcp": self.mgmt_port})
        if busy:
            raise StackError(f"statsd: ports already in use: {', '.join(busy)}")
        if self.mgmt_port is None:
            self.mgmt_port = free_ports(1, exclude=[p for p in (self.port,) if p])[0]
        if self.port is None:
            self.port = free_udp_port(exclude=[self.mgmt_port])

    def _launch(self) -> None:
        config = self.root / "statsd-config.js"
        config.write_text(json.dumps(reference.statsd_config(
            self.config, listen=(LOOPBACK, self.port), mgmt=(LOOPBACK, self.mgmt_port),
            carbon=(LOOPBACK, self.graphite.carbon_port), flush_ms=self.flush_ms,
            legacy_namespace=self.legacy_namespace), indent=2))
        # the backends are named relative to the package dir, which must be the working directory
        self._start("statsd", _StatsDExecutor, [self.node, "stats.js", config], cwd=self.package_dir,
                    mgmt_port=self.mgmt_port, udp_port=self.port)


class StatsDProxy(Server):
    """StatsD's cluster proxy (proxy.js of the same npm package) in front of started StatsD nodes.

    Each metric name goes to one node (a consistent-hash ring over the nodes), so a key's counts
    are aggregated by one StatsD. The nodes must run fleet/statsd-node.js (deleteIdleStats).
    """

    name = "statsd-proxy"

    def __init__(self, nodes, root=None, *, port: int | None = None, mgmt_port: int | None = None,
                 node: str | None = None, package_dir: str | os.PathLike | None = None,
                 start_timeout: float = 30.0, config: str = "statsd-proxy.js"):
        super().__init__(root, start_timeout)
        self.nodes = list(nodes)
        self.config = config
        self.host = LOOPBACK
        self._fixed = dict(port=port, mgmt_port=mgmt_port)
        self.port, self.mgmt_port = port, mgmt_port
        self.node = node or executable("QUEUEDASH_NODE", "node")
        self.package_dir = Path(package_dir) if package_dir else statsd_package_dir()

    send = StatsD.send
    health = StatsD.health

    def check_installed(self) -> None:
        if not self.node:
            raise not_installed("statsd-proxy", "node", "statsd")
        if not (self.package_dir / "proxy.js").exists():
            raise not_installed("statsd-proxy", f"{self.package_dir}/proxy.js", "statsd")

    def _choose_ports(self) -> None:
        if any(not node.pids for node in self.nodes):
            raise StackError("statsd-proxy: start its StatsD nodes first")
        self.port, self.mgmt_port = self._fixed["port"], self._fixed["mgmt_port"]
        if self.mgmt_port is None:
            self.mgmt_port = free_ports(1, exclude=[p for p in (self.port,) if p])[0]
        if self.port is None:
            self.port = free_udp_port(exclude=[self.mgmt_port])

    def _launch(self) -> None:
        config = self.root / "proxy-config.js"
        config.write_text(json.dumps(reference.proxy_config(
            self.config, listen=(LOOPBACK, self.port), mgmt=(LOOPBACK, self.mgmt_port),
            nodes=[(LOOPBACK, node.port, node.mgmt_port) for node in self.nodes]), indent=2))
        # proxy.js loads its UDP server (./servers/udp) relative to the package dir
        self._start("statsd-proxy", _StatsDExecutor, [self.node, "proxy.js", config], cwd=self.package_dir,
                    mgmt_port=self.mgmt_port, udp_port=self.port)
