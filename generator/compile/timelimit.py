"""A time limit for the code of a definition: a build never hangs on a loop that never ends.

Python cannot stop a thread from outside, but a signal interrupts the main
thread between two bytecodes, and a blocking system call: `time_limit` arms
SIGALRM (`setitimer`) and raises `OutOfTime` where the code was when the time
ran out. `OutOfTime` is a BaseException, so a definition's own `except
Exception` does not swallow it. Only the main thread can receive signals: a
build run from another thread (a library caller's) runs without a limit.

Imports nothing from the package.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator


class OutOfTime(BaseException):
    """The time limit passed; raised where the limited code was running."""


def _can_limit() -> bool:
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise `OutOfTime` inside the block once `seconds` have passed."""
    if not _can_limit():
        yield
        return

    def ring(signum, frame):
        raise OutOfTime(seconds)

    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
