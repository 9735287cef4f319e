"""Broker queue gauges: length, unacked and consumers per queue, every N seconds.

* Redis: a queue is a list; kombu emulates priorities with more lists,
  ``<queue>\\x06\\x16<step>`` for steps 3, 6 and 9, so the length is the sum
  of LLEN over all of them (one pipelined round trip), with the transport's
  ``global_keyprefix`` in front of every key. Without ``--queue``, the queues
  are found in kombu's binding sets (``_kombu.binding.*``), never with KEYS.
  Redis knows nothing of consumers, so the workers are asked, as Flower does:
  Celery's ``inspect().active_queues()`` broadcast, answered within
  `inspect_timeout` seconds, says which queues each worker consumes (`Consumers`).
  When the broadcast cannot be made, or asking is turned off, no ``consumers``
  gauge is sent: an unknown count must never read as zero consumers. Unacked
  messages per queue stay unknown on Redis.
* RabbitMQ: the management API, ``GET /api/queues/<vhost>``: length =
  ``messages_ready``, unacked = ``messages_unacknowledged``, consumers.

Celery's own plumbing (``celeryev.*`` event queues, ``*.pidbox`` remote
control, ``amq.*``) is never reported. A queue asked for and absent is
reported empty: RabbitMQ deletes idle auto-delete queues, and Redis deletes
an empty list.

Imports `keys`, `lifecycle`, redis-py and Celery (Redis only) and the standard library.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request

from queuedash.agent.keys import Keys
from queuedash.agent.lifecycle import Stopper

log = logging.getLogger(__name__)

#: kombu's Redis transport defaults (kombu.transport.redis).
REDIS_PRIORITY_STEPS = (0, 3, 6, 9)
REDIS_SEP = "\x06\x16"
RABBITMQ_MANAGEMENT_PORT = 15672

REDIS_SCHEMES = ("redis", "rediss")
RABBITMQ_SCHEMES = ("amqp", "amqps", "pyamqp", "librabbitmq")


class BrokerError(Exception):
    """The broker could not be asked (down, refused, wrong credentials...)."""


def is_internal(queue: str) -> bool:
    """Celery's event and remote-control queues, RabbitMQ's own."""
    return queue.startswith(("celeryev.", "amq.")) or queue.endswith(".pidbox")


def redact(url: str) -> str:
    """A broker URL without its password, for logs."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


class Consumers:
    """Consumers per queue from the workers' own answer to Celery's ``active_queues``.

    Every worker that answers says which queues it consumes; a queue's count is the number of
    workers consuming it. A worker that answered once and is silent now (a solo-pool worker
    busy on a long task cannot answer) is still counted for `memory` seconds after its last
    answer. No answer at all, with nobody remembered, is an answer too: no worker consumes
    anything (what Flower shows). Only a broadcast that fails makes the counts unknown (None).
    """

    def __init__(self, url: str, *, timeout: float = 1.0, memory: float = 60.0, clock=time.monotonic):
        from celery import Celery

        self.app = Celery("queuedash-poller", broker=url, set_as_current=False)
        self.timeout = timeout
        self.memory = memory
        self.clock = clock
        #: worker -> (when it last answered, the queues it consumes)
        self.workers: dict[str, tuple[float, frozenset[str]]] = {}
        self.failures = 0

    def count(self) -> dict[str, int] | None:
        """queue -> number of workers consuming it; None when the workers could not be asked."""
        try:
            answers = self.app.control.inspect(timeout=self.timeout).active_queues() or {}
        except Exception as exc:      # kombu's connection errors, a broker that refuses...
            self.failures += 1
            log.debug("active_queues broadcast failed: %s: %s", type(exc).__name__, exc)
            return None
        now = self.clock()
        for worker, queues in answers.items():
            names = frozenset(q.get("name") for q in queues or () if isinstance(q, dict) and q.get("name"))
            self.workers[worker] = (now, names)
        for worker, (seen, _) in list(self.workers.items()):
            if now - seen > self.memory:
                del self.workers[worker]
        counts: dict[str, int] = {}
        for _, names in self.workers.values():
            for name in names:
                counts[name] = counts.get(name, 0) + 1
        return counts

    def close(self) -> None:
        self.app.close()


class RedisQueues:
    """Queue lengths from a Redis broker; consumers from the workers' answers."""

    kind = "redis"

    def __init__(self, url: str, queues=(), *, global_keyprefix: str = "", sep: str = REDIS_SEP,
                 priority_steps=REDIS_PRIORITY_STEPS, timeout: float = 5.0, inspect_timeout: float = 1.0,
                 consumers: Consumers | None = None):
        import redis

        #: None when asking the workers is turned off (inspect_timeout 0): consumers unknown.
        self.consumers = consumers or (Consumers(url, timeout=inspect_timeout) if inspect_timeout > 0 else None)

        self.url = url
        self.queues = list(queues)
        self.prefix = global_keyprefix or ""
        self.sep = sep
        self.priority_steps = sorted(set(int(s) for s in priority_steps) | {0})
        self._errors = (redis.RedisError, OSError)
        self._client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)

    def keys_of(self, queue: str) -> list[str]:
        """The lists holding a queue's messages, one per priority step."""
        return [self.prefix + (queue if step == 0 else f"{queue}{self.sep}{step}") for step in self.priority_steps]

    def discover(self) -> list[str]:
        """Queues bound to any exchange, from kombu's ``_kombu.binding.*`` sets."""
        found = set()
        for key in self._client.scan_iter(match=f"{self.prefix}_kombu.binding.*", count=500):
            for member in self._client.smembers(key):
                queue = member.decode("utf-8", "replace").split(self.sep)[-1]
                if queue and not is_internal(queue):
                    found.add(queue)
        return sorted(found)

    def measure(self) -> dict[str, dict[str, int]]:
        try:
            queues = self.queues or self.discover()
            pipe = self._client.pipeline(transaction=False)
            for queue in queues:
                for key in self.keys_of(queue):
                    pipe.llen(key)
            lengths = pipe.execute(raise_on_error=False)
        except self._errors as exc:
            raise BrokerError(f"redis {redact(self.url)}: {exc}") from None
        consumers = self.consumers.count() if self.consumers is not None else None
        found, per_queue = {}, len(self.priority_steps)
        for index, queue in enumerate(queues):
            values = lengths[index * per_queue:(index + 1) * per_queue]
            # A key of another type (WRONGTYPE) is not a queue: count it as empty.
            found[queue] = {"length": sum(v for v in values if isinstance(v, int))}
            if consumers is not None:
                found[queue]["consumers"] = consumers.get(queue, 0)
        return found

    def close(self) -> None:
        self._client.close()
        if self.consumers is not None:
            self.consumers.close()


class RabbitQueues:
    """Queue gauges from RabbitMQ's management API."""

    kind = "rabbitmq"

    def __init__(self, url: str, queues=(), *, management_url: str | None = None, timeout: float = 5.0):
        parts = urllib.parse.urlsplit(url)
        self.url = url
        self.queues = list(queues)
        self.vhost = urllib.parse.unquote(parts.path[1:]) if parts.path not in ("", "/") else "/"
        default_url = f"http://{parts.hostname or 'localhost'}:{RABBITMQ_MANAGEMENT_PORT}"
        management = urllib.parse.urlsplit((management_url or default_url).rstrip("/"))
        # Credentials in the management URL win over the broker's; urllib cannot send them
        # from the URL itself, so they leave it for the Authorization header.
        login = management if management.username is not None else parts
        user = urllib.parse.unquote(login.username) if login.username else "guest"
        password = urllib.parse.unquote(login.password) if login.password else "guest"
        host = management.netloc.rpartition("@")[2]
        self.management_url = urllib.parse.urlunsplit(management._replace(netloc=host))
        self._auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.timeout = timeout

    @property
    def endpoint(self) -> str:
        vhost = urllib.parse.quote(self.vhost, safe="")
        return f"{self.management_url}/api/queues/{vhost}?columns=name,messages_ready,messages_unacknowledged,consumers"

    def measure(self) -> dict[str, dict[str, int]]:
        request = urllib.request.Request(self.endpoint, headers={"Authorization": self._auth})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                listed = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise BrokerError(f"rabbitmq management API {self.management_url}: HTTP {exc.code} {exc.reason}") from None
        except (OSError, ValueError, http.client.HTTPException) as exc:
            raise BrokerError(f"rabbitmq management API {self.management_url}: {exc}") from None
        by_name = {}
        for item in listed:
            name = item.get("name")
            if isinstance(name, str) and not is_internal(name):
                by_name[name] = {
                    "length": int(item.get("messages_ready") or 0),
                    "unacked": int(item.get("messages_unacknowledged") or 0),
                    "consumers": int(item.get("consumers") or 0),
                }
        if not self.queues:
            return by_name
        empty = {"length": 0, "unacked": 0, "consumers": 0}
        return {queue: by_name.get(queue, dict(empty)) for queue in self.queues}

    def close(self) -> None:
        pass


def broker_source(url: str, queues=(), *, management_url: str | None = None, global_keyprefix: str = "",
                  priority_steps=REDIS_PRIORITY_STEPS, sep: str = REDIS_SEP, timeout: float = 5.0,
                  inspect_timeout: float = 1.0):
    """The queue source for a broker URL: Redis or RabbitMQ."""
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme in REDIS_SCHEMES:
        return RedisQueues(url, queues, global_keyprefix=global_keyprefix, sep=sep,
                           priority_steps=priority_steps, timeout=timeout, inspect_timeout=inspect_timeout)
    if scheme in RABBITMQ_SCHEMES:
        return RabbitQueues(url, queues, management_url=management_url, timeout=timeout)
    raise ValueError(f"cannot poll a {scheme or 'schemeless'} broker: use redis:// or amqp:// "
                     f"(got {redact(url)})")


class Poller:
    """Every `interval` seconds: measure the queues, send the gauges."""

    def __init__(self, source, keys: Keys, client, interval: float = 10.0):
        self.source = source
        self.keys = keys
        self.client = client
        self.interval = interval
        self.polls = 0
        self.failures = 0
        self._failing = False

    def poll_once(self) -> dict[str, dict[str, int]]:
        """One measurement, sent as gauges; raises BrokerError."""
        measured = self.source.measure()
        key = self.keys.broker
        for queue, gauges in measured.items():
            for gauge, value in gauges.items():
                self.client.gauge(key(queue, gauge), value)
        flush = getattr(self.client, "flush", None)
        if flush:
            flush()
        self.polls += 1
        return measured

    def run(self, stopper: Stopper) -> None:
        """Poll until stopped; a failed poll is logged once per outage, then retried."""
        while not stopper.is_set():
            started = time.monotonic()
            try:
                measured = self.poll_once()
            except BrokerError as exc:
                self.failures += 1
                if not self._failing:
                    log.warning("broker poll failed, retrying every %g s: %s", self.interval, exc)
                self._failing = True
            except Exception:
                self.failures += 1
                log.exception("broker poll failed")
            else:
                if self._failing:
                    log.info("broker poll works again: %d queues", len(measured))
                self._failing = False
            stopper.wait(max(0.0, self.interval - (time.monotonic() - started)))
