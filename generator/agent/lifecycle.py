"""Running until told to stop: a stop flag that signals set, and reconnection backoff.

`Stopper` is a `threading.Event` with the SIGTERM/SIGINT handlers that set it:
every loop of the agent waits on it instead of sleeping, so a stop request
ends a wait at once. `Backoff` is the delay between reconnection attempts:
doubling from `start` up to `maximum`, reset by a success.

Imports the standard library only.
"""

from __future__ import annotations

import logging
import signal
import threading

log = logging.getLogger(__name__)


class Stopper(threading.Event):
    """Set when the agent must stop; `on_stop` callbacks run when it is."""

    def __init__(self):
        super().__init__()
        self._callbacks = []

    def on_stop(self, callback) -> None:
        self._callbacks.append(callback)

    def stop(self, reason: str = "asked to stop") -> None:
        if not self.is_set():
            log.info("stopping: %s", reason)
        self.set()
        for callback in list(self._callbacks):
            callback()

    def handle_signals(self, *signums: int) -> None:
        """Stop on these signals (default SIGTERM and SIGINT). Main thread only."""
        for signum in signums or (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda number, _frame: self.stop(signal.Signals(number).name))


class Backoff:
    """Seconds to wait before the next attempt: start, 2 x start, ... maximum."""

    def __init__(self, start: float = 1.0, maximum: float = 30.0):
        self.start = start
        self.maximum = maximum
        self._next = start

    def next(self) -> float:
        delay = self._next
        self._next = min(self.maximum, self._next * 2)
        return delay

    def reset(self) -> None:
        self._next = self.start
