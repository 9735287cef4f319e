"""The servers of the test stack and their one error, in one import for the suite.

    with Graphite() as graphite, StatsD(graphite) as statsd:
        ...  # graphite.web_url, graphite.carbon_port, statsd.port

Each server is in a module of its own (see stack/__init__.py); this module only gathers them.
"""

from stack.base import LOOPBACK, REPO_ROOT, Server, StackError, free_ports, udp_port_is_free
from stack.graphite import Graphite
from stack.rabbitmq import RabbitMQ
from stack.redis import Redis
from stack.relay import CarbonRelay
from stack.statsd import StatsD, StatsDProxy

__all__ = ["LOOPBACK", "REPO_ROOT", "CarbonRelay", "Graphite", "RabbitMQ", "Redis", "Server", "StackError", "StatsD",
           "StatsDProxy", "free_ports", "udp_port_is_free"]
