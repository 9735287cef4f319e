"""carbon-c-relay in front of several started carbon-caches, as a cluster of storage nodes is fed.

The relay takes carbon's plaintext protocol (StatsD flushes into it as into a carbon-cache) and
sends each metric to one cache of a consistent-hash ring. Its configuration is the reference's
(fleet/carbon-c-relay.conf, through stack.reference): only the addresses are the test's.

Imports stack.base, stack.reference and mirakuru.
"""

from __future__ import annotations

from collections.abc import Sequence

from mirakuru import TCPExecutor

from stack import reference
from stack.base import LOOPBACK, Server, StackError, busy_ports, executable, free_ports, not_installed


def relay_executable() -> str | None:
    """$QUEUEDASH_CARBON_C_RELAY, else carbon-c-relay on PATH (Debian's, from stack/install.sh)."""
    return executable("QUEUEDASH_CARBON_C_RELAY", "carbon-c-relay")


class CarbonRelay(Server):
    """carbon-c-relay listening on a loopback port, routing to the carbon-caches of `caches`
    (started `stack.graphite.Graphite` storage nodes) by consistent hashing.

    Has what a StatsD needs of the Graphite it flushes to: `carbon_port` (the relay's) and
    `finest_retention` (the caches', which must agree).
    """

    name = "carbon-c-relay"

    def __init__(self, caches: Sequence, root=None, *, port: int | None = None, executable_path: str | None = None,
                 start_timeout: float = 20.0, config: str = "carbon-c-relay.conf"):
        super().__init__(root, start_timeout)
        self.caches = list(caches)
        steps = {cache.finest_retention for cache in self.caches}
        if len(steps) != 1:
            raise ValueError(f"the caches behind one relay keep different steps: {sorted(steps)}")
        (self.finest_retention,) = steps
        self.config = config
        self.carbon_host = LOOPBACK
        self._fixed_port = port
        self.carbon_port = port
        self.executable = executable_path or relay_executable()

    def check_installed(self) -> None:
        if not self.executable:
            raise not_installed("carbon-c-relay", "carbon-c-relay", "relay")

    def _choose_ports(self) -> None:
        if any(cache.carbon_port is None or not cache.pids for cache in self.caches):
            raise StackError("carbon-c-relay: start its carbon-caches first")
        self.carbon_port = self._fixed_port
        if self.carbon_port is not None and busy_ports({"tcp": self.carbon_port}):
            raise StackError(f"carbon-c-relay: port {self.carbon_port} already in use")
        if self.carbon_port is None:
            self.carbon_port = free_ports(1)[0]

    def _launch(self) -> None:
        config = self.root / "carbon-c-relay.conf"
        config.write_text(reference.relay_config(
            self.config, listen=(LOOPBACK, self.carbon_port),
            members=[(LOOPBACK, cache.carbon_port) for cache in self.caches]))
        # -H: the host name in the relay's own statistics (carbon.relays.<name>.*), the same on every machine
        self._start("carbon-c-relay", TCPExecutor, [self.executable, "-f", config, "-H", "queuedash-test"],
                    host=LOOPBACK, port=self.carbon_port)
