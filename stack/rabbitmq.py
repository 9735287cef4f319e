"""rabbitmq-server with its management plugin, isolated from the machine's RabbitMQ.

The domain knowledge: a node name, ports, HOME (the Erlang cookie) and epmd port of its own, an
empty rabbitmq-env.conf so /etc/rabbitmq is not read, the management plugin on loopback, and
`rabbitmqctl await_startup` before anyone uses the node. epmd daemonizes out of our process group;
it carries mirakuru's mark all the same, so stopping the server stops it (stack/base.py).

Imports stack.base, mirakuru and requests.
"""

from __future__ import annotations

import base64
import itertools
import os
import secrets
from pathlib import Path

import requests
from mirakuru import HTTPExecutor

from stack.base import LOOPBACK, Server, StackError, accepts_tcp, free_ports, marked_processes, not_installed, \
    rabbitmq_bin_dir

_node_counter = itertools.count(1)
_PORTS = ("port", "dist_port", "epmd_port", "management_port")


class _RabbitMQExecutor(HTTPExecutor):
    """rabbitmq-server, ready when AMQP accepts connections and the management API answers."""

    def __init__(self, command, *, amqp_port: int, **kwargs):
        super().__init__(command, **kwargs)
        self.amqp_port = amqp_port

    def after_start_check(self) -> bool:
        # the cheap probe first: each HTTP probe costs the booting node more than a TCP connect
        return accepts_tcp(self.amqp_port) and super().after_start_check()


class RabbitMQ(Server):
    """rabbitmq-server with the management plugin, with its own node name, epmd, ports and HOME."""

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
        # RabbitMQ 3.10 spends 5 s of every graceful stop waiting on the management agent
        # (fixed upstream in 3.13, rabbitmq-server PR 11070). A throwaway node is not worth that
        # wait in every test run, so it is killed; a node with kept data (root given) is stopped.
        self.graceful_stop = root is not None

    @property
    def amqp_url(self) -> str:
        return f"amqp://{self.user}:{self.password}@{LOOPBACK}:{self.port}//"

    @property
    def management_url(self) -> str:
        return f"http://{LOOPBACK}:{self.management_port}"

    def api(self, path: str, method: str = "GET", body: object = None) -> object:
        """Call the management HTTP API (path like '/api/queues'); returns parsed JSON or None."""
        answer = requests.request(method, f"{self.management_url}{path}", json=body, timeout=10,
                                  auth=(self.user, self.password))
        if answer.status_code >= 300:
            raise StackError(f"rabbitmq: {method} {path} answered {answer.status_code}: {answer.text[:500]!r}")
        return answer.json() if answer.content else None

    def _basic_auth(self) -> str:
        return "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()

    def epmd_pids(self) -> list[int]:
        """The epmd daemon(s) the node started, found by mirakuru's mark."""
        return [p.pid for p in marked_processes(self._marks.values()) if p.name() == "epmd"]

    # -- Server hooks

    def check_installed(self) -> None:
        for tool in ("rabbitmq-server", "rabbitmqctl"):
            if not (self.bin_dir / tool).exists():
                raise not_installed("rabbitmq", f"{self.bin_dir}/{tool}", "rabbitmq")

    def _choose_ports(self) -> None:
        fixed = [p for p in self._fixed.values() if p is not None]
        unset = [name for name in _PORTS if self._fixed[name] is None]
        chosen = dict(zip(unset, free_ports(len(unset), exclude=fixed), strict=True))
        for name in _PORTS:
            setattr(self, name, self._fixed[name] if self._fixed[name] is not None else chosen[name])

    def _env(self) -> dict[str, str]:
        r = self.root
        return {
            "HOME": str(r / "home"),                    # keeps the Erlang cookie out of the real HOME
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": LOOPBACK,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "ERL_EPMD_ADDRESS": LOOPBACK,
            "ERL_EPMD_PORT": str(self.epmd_port),
            "RABBITMQ_CONF_ENV_FILE": str(r / "rabbitmq-env.conf"),   # not /etc/rabbitmq's
            "RABBITMQ_CONFIG_FILE": str(r / "rabbitmq"),              # rabbit appends .conf
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(r / "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(r / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(r / "mnesia"),
            "RABBITMQ_LOG_BASE": str(r / "log" / "rabbitmq"),
            "RABBITMQ_LOGS": "-",                       # to stdout, i.e. our log file
            "RABBITMQ_PID_FILE": str(r / "rabbitmq.pid"),
        }

    def _write_config(self) -> None:
        for d in ("home", "mnesia", "log/rabbitmq"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        (self.root / "rabbitmq-env.conf").write_text("# empty: isolates this node from /etc/rabbitmq\n")
        (self.root / "enabled_plugins").write_text("[rabbitmq_management].\n")
        (self.root / "rabbitmq.conf").write_text(
            "# written by queuedash stack/rabbitmq.py\n"
            f"listeners.tcp.default = {LOOPBACK}:{self.port}\n"
            f"management.tcp.ip = {LOOPBACK}\n"
            f"management.tcp.port = {self.management_port}\n"
            "loopback_users.guest = true\n")

    def _launch(self) -> None:
        self._write_config()
        env = self._env()
        self._start("rabbitmq", _RabbitMQExecutor, [self.bin_dir / "rabbitmq-server"], env=env,
                    amqp_port=self.port, url=f"{self.management_url}/api/overview", method="GET", status="200",
                    headers={"Authorization": self._basic_auth()})
        self._run_step("await_startup", [self.bin_dir / "rabbitmqctl", "-n", self.node, "await_startup",
                                         "--timeout", "60"], env, timeout=90)

    def _stop_process(self, executor) -> None:
        if self.graceful_stop:
            super()._stop_process(executor)
        else:
            executor.kill()             # the whole process group and everything marked, with SIGKILL
