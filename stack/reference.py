"""The reference configuration of fleet/, made local: the files a team copies are the files the servers start.

fleet/ holds StatsD's, its cluster proxy's, carbon-c-relay's, carbon's and the front graphite-web's
configuration as a team would deploy them, with example host names and standard ports. The servers
of stack/ read those files and change only what must differ on a test machine: every address
becomes a loopback port, the flush interval and the retentions follow the test's step. Anything
else in them (deleteIdleStats, gaugesMaxTTL, the hash ring's type, STORE_FAIL_ON_ERROR...) is
started as written, so a test passing says the reference works.

Each function takes the replacements explicitly and refuses a file whose shape it does not
recognise (a renamed key, a missing member line): the reference and the tests cannot drift apart
silently.

Imports nothing of queuedash.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

from stack.base import REPO_ROOT, StackError

FLEET = REPO_ROOT / "fleet"

Address = tuple[str, int]


def path(name: str) -> Path:
    """A file of the reference configuration."""
    found = FLEET / name
    if not found.is_file():
        raise StackError(f"reference configuration {found} is missing")
    return found


# --------------------------------------------------------------------------- StatsD and its proxy


def read_js_object(name: str) -> dict:
    """A StatsD or proxy configuration: a JSON object, with whole-line // comments (StatsD evals it as JS)."""
    text = path(name).read_text()
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//"))
    try:
        config = json.loads(body)
    except ValueError as error:
        raise StackError(f"{path(name)}: not JSON once its // comment lines are removed: {error}") from None
    if not isinstance(config, dict):
        raise StackError(f"{path(name)}: expected one object")
    return config


def _replace(config: dict, name: str, changes: dict) -> dict:
    """`config` with `changes`; every key changed must already be in the reference (no silent additions)."""
    unknown = sorted(set(changes) - set(config))
    if unknown:
        raise StackError(f"{path(name)} has no {', '.join(unknown)}: the reference and stack/ disagree")
    return {**config, **changes}


def statsd_config(name: str, *, listen: Address, mgmt: Address, carbon: Address, flush_ms: int,
                  legacy_namespace: bool) -> dict:
    """A StatsD configuration of fleet/ (statsd.js, statsd-node.js), listening and flushing where given."""
    config = read_js_object(name)
    graphite = dict(config.get("graphite") or {})
    graphite["legacyNamespace"] = legacy_namespace
    return _replace(config, name, {
        "address": listen[0], "port": listen[1], "mgmt_address": mgmt[0], "mgmt_port": mgmt[1],
        "graphiteHost": carbon[0], "graphitePort": carbon[1], "flushInterval": flush_ms, "graphite": graphite,
    })


def proxy_config(name: str, *, listen: Address, mgmt: Address, nodes: Sequence[tuple[str, int, int]]) -> dict:
    """The proxy configuration (statsd-proxy.js) in front of `nodes`: (host, UDP port, management port) each."""
    config = read_js_object(name)
    if len(config.get("nodes") or []) != len(nodes):
        raise StackError(f"{path(name)} names {len(config.get('nodes') or [])} nodes, the test starts {len(nodes)}")
    return _replace(config, name, {
        "host": listen[0], "port": listen[1], "mgmt_address": mgmt[0], "mgmt_port": mgmt[1],
        "nodes": [{**node, "host": host, "port": port, "adminport": admin}
                  for node, (host, port, admin) in zip(config["nodes"], nodes, strict=True)],
    })


# --------------------------------------------------------------------------- carbon-c-relay

_LISTENER = re.compile(r"^(\s*)\d+ proto tcp\s*$", re.MULTILINE)
_MEMBER = re.compile(r"^(\s*)[\w.-]+:\d+(=\w+)\s*$", re.MULTILINE)


def relay_config(name: str, *, listen: Address, members: Sequence[Address]) -> str:
    """carbon-c-relay.conf listening on `listen`, its cluster's members (in order) at `members`;
    the members keep their instances, so the ring is the reference's."""
    text = path(name).read_text()
    if len(_LISTENER.findall(text)) != 1:
        raise StackError(f"{path(name)}: expected one `<port> proto tcp` listener line")
    found = _MEMBER.findall(text)
    if len(found) != len(members):
        raise StackError(f"{path(name)} has {len(found)} cluster members, the test starts {len(members)}")
    text = _LISTENER.sub(lambda m: f"{m.group(1)}{listen[0]}:{listen[1]} proto tcp", text)
    replacements = iter(members)

    def member(match: re.Match) -> str:
        host, port = next(replacements)
        return f"{match.group(1)}{host}:{port}{match.group(2)}"

    return _MEMBER.sub(member, text)


# --------------------------------------------------------------------------- graphite


def graphite_cluster_settings(name: str, servers: Sequence[Address]) -> dict:
    """The front graphite-web's settings (graphite-web-cluster.py), CLUSTER_SERVERS at `servers`."""
    namespace: dict = {}
    exec(compile(path(name).read_text(), str(path(name)), "exec"), namespace)   # noqa: S102  our own file
    settings = {key: value for key, value in namespace.items() if key.isupper()}
    if len(settings.get("CLUSTER_SERVERS") or []) != len(servers):
        raise StackError(f"{path(name)}: CLUSTER_SERVERS must list {len(servers)} storage nodes")
    settings["CLUSTER_SERVERS"] = [f"{host}:{port}" for host, port in servers]
    return settings


_RETENTIONS = re.compile(r"^retentions = .*$", re.MULTILINE)


def storage_schemas(retention: str) -> str:
    """carbon's storage-schemas.conf with the test's retentions."""
    text = path("storage-schemas.conf").read_text()
    if len(_RETENTIONS.findall(text)) != 1:
        raise StackError(f"{path('storage-schemas.conf')}: expected one `retentions = ` line")
    return _RETENTIONS.sub(f"retentions = {retention}", text)


def storage_aggregation() -> str:
    """carbon's storage-aggregation.conf, as it is."""
    return path("storage-aggregation.conf").read_text()
