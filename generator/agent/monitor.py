"""The event monitor: Celery events from the broker -> `translate.Translator`.

Three threads, one stop flag (`lifecycle.Stopper`):

* the receiver (the caller's thread): connects, consumes the ``celeryev``
  exchange with Celery's receiver and hands each event to the translator.
  When the broker goes away it logs one line, waits (doubling backoff, 1 s up
  to 30 s) and connects again, for as long as it runs; a stop request ends any
  wait at once. Consuming wakes at least every second to see the flag.
* the ticker: every `tick_interval` seconds, the worker gauges and a flush of
  the StatsD buffer (so a quiet minute still reaches StatsD at once);
* the poller (optional, `poller.Poller`): broker queue gauges.

A message that cannot be decoded, one that is not a message of the transport
(JSON that is not kombu's envelope), and an event that is not a dict or whose
type is not a string, is counted as malformed and skipped on the same
connection (`TolerantReceiver`): leaving it would lose every event published
until the monitor is back (Redis pub/sub keeps nothing). The translator does
the same for a task event it cannot read. Malformed messages are logged by the
translator's throttle (the first ten, then one in a thousand), never with a
traceback: kombu's own warning for a body that is not JSON is turned into that
count (`KombuUndecodable`).

Imports Celery, kombu, and the agent's `translate`, `poller`, `lifecycle`.
"""

from __future__ import annotations

import logging
import socket
import threading
import traceback
from itertools import count
from queue import Empty

from celery.events.receiver import EventReceiver

from queuedash.agent.lifecycle import Backoff, Stopper
from queuedash.agent.poller import redact
from queuedash.agent.translate import Translator

log = logging.getLogger(__name__)


class TolerantReceiver(EventReceiver):
    """Celery's event receiver, minus the ways a bad message stops it.

    Celery's own `_receive` raises on a body that is not an event (and, in a
    list of events, drops the rest after one bad one); kombu's decode-error
    handler only logs. Here each of them is counted and skipped.
    """

    #: Connect once per attempt: the monitor's loop does the retrying, with
    #: its own backoff and log line, and can stop between attempts.
    connect_max_retries = 0

    def __init__(self, *args, on_malformed, on_connected=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.on_malformed = on_malformed
        self.on_connected = on_connected

    def _receive(self, body, message, list=list, isinstance=isinstance):
        events = body if isinstance(body, list) else [body]
        for body in events:
            try:
                type_, event = self.event_from_message(body)
                if not isinstance(type_, str):
                    raise TypeError(f"type is not a string: {type_!r:.50}")
            except Exception as exc:
                self.on_malformed(f"not an event ({type(exc).__name__}: {exc}): {body!r:.200}")
                continue
            self.process(type_, event)

    def consume(self, limit=None, timeout=None, safety_interval=1, **kwargs):
        """kombu's ConsumerMixin.consume, except that an error delivering one message is that
        message's fault, not the connection's: it is counted and consuming goes on.

        Anything else (the transport's connection and channel errors, OSError) ends the
        consumer, for the monitor to reconnect.
        """
        elapsed = 0
        with self.consumer_context(**kwargs) as (conn, channel, consumers):
            self._skip_bad_messages_in_reads(channel)
            for _ in limit and range(limit) or count():
                if self.should_stop:
                    break
                self.on_iteration()
                try:
                    conn.drain_events(timeout=safety_interval)
                except socket.timeout:
                    conn.heartbeat_check()
                    elapsed += safety_interval
                    if timeout and elapsed >= timeout:
                        raise
                except Exception as exc:
                    if not _raised_delivering(exc):
                        if self.should_stop:
                            break
                        raise
                    self.on_malformed(f"undeliverable message ({type(exc).__name__}: {exc})")
                else:
                    yield
                    elapsed = 0

    def _skip_bad_messages_in_reads(self, channel) -> None:
        """kombu's Redis transport reads one pub/sub message, then every message already
        received (`Channel._receive`); a bad one among those ends that read with an error, and
        the good messages behind it stay in redis-py's buffer, where the poller never sees
        them: they arrive only with the next message, or never in a quiet spell. Here a bad
        message ends only itself: the read goes on to the next one."""
        receive_one = getattr(channel, "_receive_one", None)
        if receive_one is None or getattr(receive_one, "tolerant", False):
            return  # not the Redis transport, or done already for this channel

        def tolerant_receive_one(client):
            try:
                return receive_one(client)
            except Empty:
                return False  # not JSON: kombu said so in its log line (counted by KombuUndecodable)
            except Exception as exc:
                if not _raised_delivering(exc):
                    raise
                self.on_malformed(f"undeliverable message ({type(exc).__name__}: {exc})")
                return False

        tolerant_receive_one.tolerant = True
        channel._receive_one = tolerant_receive_one

    def on_decode_error(self, message, exc):
        self.on_malformed(f"undecodable message ({message.content_type}): {exc}")

    def on_connection_revived(self):
        if self.on_connected:
            self.on_connected()


def _raised_delivering(exc: BaseException) -> bool:
    """Whether `exc` comes from turning one received message into a kombu Message.

    kombu's virtual transports (Redis among them) hand each raw message to
    ``Transport._deliver``, which builds the Message from kombu's envelope: JSON that is
    not an envelope raises KeyError there. The Redis transport also lists KeyError among
    its connection errors (a closed socket's file descriptor), so the type cannot tell;
    where it was raised can.
    """
    frames = traceback.extract_tb(exc.__traceback__)
    return any(frame.name == "_deliver" and "kombu" in frame.filename and "virtual" in frame.filename
               for frame in frames)


class KombuUndecodable(logging.Filter):
    """kombu's Redis transport logs a warning with a traceback for every pub/sub message that
    is not JSON, and skips it: here each one is counted as malformed instead (and logged by
    the translator's throttle)."""

    LOGGER = "kombu.transport.redis"

    def __init__(self, on_malformed):
        super().__init__()
        self.on_malformed = on_malformed

    def filter(self, record: logging.LogRecord) -> bool:
        if str(record.msg).startswith("Cannot process event on channel"):
            self.on_malformed(f"undecodable message on channel {record.args[0]!r}"
                              if record.args else "undecodable message")
            return False
        return True


class Monitor:
    """Consumes Celery events and sends metrics until stopped."""

    def __init__(self, app, broker_url: str, translator: Translator, client, *, poller=None,
                 stopper: Stopper | None = None, tick_interval: float = 1.0,
                 backoff: Backoff | None = None, wakeup: bool = True):
        self.app = app
        self.broker_url = broker_url
        self.translator = translator
        self.client = client
        self.poller = poller
        self.stopper = stopper or Stopper()
        self.tick_interval = tick_interval
        self.backoff = backoff or Backoff()
        self.wakeup = wakeup
        self.connections = 0
        self.disconnections = 0
        self.connected = threading.Event()
        self._receiver: TolerantReceiver | None = None
        self._lock = threading.Lock()      # translator state: receiver vs ticker
        self.stopper.on_stop(self._stop_receiver)

    # -- threads ----------------------------------------------------------------

    def run(self) -> None:
        """Run until the stopper is set: receive here, tick and poll in threads."""
        threads = [threading.Thread(target=self._tick_loop, name="queuedash-ticker", daemon=True)]
        if self.poller is not None:
            threads.append(threading.Thread(target=self.poller.run, args=(self.stopper,),
                                            name="queuedash-poller", daemon=True))
        for thread in threads:
            thread.start()
        undecodable = KombuUndecodable(self._malformed)
        logging.getLogger(KombuUndecodable.LOGGER).addFilter(undecodable)
        try:
            self._receive_loop()
        finally:
            logging.getLogger(KombuUndecodable.LOGGER).removeFilter(undecodable)
            self.stopper.stop("monitor ended")
            for thread in threads:
                thread.join(timeout=10)
            self._tick()
            log.info("stopped: %d events, %d malformed, %d StatsD packets sent, %d dropped",
                     self.translator.events, self.translator.malformed,
                     getattr(self.client.transport, "sent_packets", 0),
                     getattr(self.client.transport, "dropped_packets", 0))

    def stop(self) -> None:
        self.stopper.stop()

    def _stop_receiver(self) -> None:
        receiver = self._receiver
        if receiver is not None:
            receiver.should_stop = True

    def _tick(self) -> None:
        with self._lock:
            self.translator.tick()
        self.client.flush()

    def _tick_loop(self) -> None:
        while not self.stopper.wait(self.tick_interval):
            try:
                self._tick()
            except Exception:
                log.exception("sending worker gauges failed")

    # -- receiving ----------------------------------------------------------------

    def _handle(self, event) -> None:
        with self._lock:
            self.translator.handle(event)

    def _malformed(self, reason: str) -> None:
        with self._lock:
            self.translator.count_malformed(reason)

    def _on_connected(self) -> None:
        self.connections += 1
        self.backoff.reset()
        self.connected.set()
        log.info("connected to broker %s, receiving events", redact(self.broker_url))

    def _receive_loop(self) -> None:
        while not self.stopper.is_set():
            try:
                with self.app.connection_for_read(self.broker_url) as connection:
                    receiver = TolerantReceiver(
                        connection, handlers={"*": self._handle}, app=self.app,
                        on_malformed=self._malformed, on_connected=self._on_connected)
                    self._receiver = receiver
                    if self.stopper.is_set():
                        break
                    for _ in receiver.consume(limit=None, timeout=None, safety_interval=1.0,
                                              wakeup=self.wakeup):
                        pass
            except Exception as exc:   # any broker failure: log, wait, reconnect
                if self.stopper.is_set():
                    break
                self.connected.clear()
                self.disconnections += 1
                delay = self.backoff.next()
                log.warning("broker connection lost (%s: %s); reconnecting in %.0f s",
                            type(exc).__name__, exc, delay)
                self.stopper.wait(delay)
            finally:
                self._receiver = None
