"""The `wait` timer: from a task being sent (or its ETA, when that is later) to
its start on a worker. One rule for the signal hook and the event monitor, so
both paths report the same figure.

Imports the standard library only.
"""

from __future__ import annotations

from datetime import datetime


def eta_seconds(eta) -> float | None:
    """A task's ETA as Celery gives it (a datetime on the request, ISO 8601 text in
    an event, or nothing) in POSIX seconds; None when absent or unreadable (an
    unreadable ETA only costs the wait timer)."""
    if not eta:
        return None
    if isinstance(eta, datetime):
        return eta.timestamp()
    try:
        return datetime.fromisoformat(eta).timestamp()
    except (TypeError, ValueError):
        return None


def wait_seconds(sent: float, started: float, eta: float | None = None) -> float:
    """Seconds a task waited: a task held for its ETA only waits from the ETA on.
    Never negative: clocks of producers and workers differ."""
    since = sent if eta is None else max(sent, eta)
    return max(0.0, started - since)
