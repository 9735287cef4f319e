"""Durations as Grafana's alerting writes them: Prometheus's `model.Duration`.

Alert rules carry durations as text (`for`, a provisioning file's `interval`);
Grafana parses them with Prometheus's `model.ParseDuration` and writes them back
with `Duration.String()` ("1m", "1h30m", "0s"). queuedash reads the settings'
durations the same way and writes the same canonical text, so a rule read back
from Grafana compares equal to the one sent. Whole seconds only: nothing
queuedash sets needs less.

Imports `errors`.
"""

from __future__ import annotations

import re

from queuedash.errors import QueuedashError

#: Prometheus's units, largest first: the order ParseDuration requires them in.
_UNITS = (("y", 365 * 86400), ("w", 7 * 86400), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
_PATTERN = re.compile("".join(rf"(?:(\d+){unit})?" for unit, _ in _UNITS))


class DurationError(QueuedashError):
    """Text that is not a duration Grafana's alerting would accept."""


def parse_duration(text: str) -> int:
    """Seconds of a Prometheus duration such as "90s", "1m30s", "1h" or "0"."""
    value = text.strip()
    if value == "0":
        return 0
    match = _PATTERN.fullmatch(value)
    if not value or match is None or not any(match.groups()):
        raise DurationError(f"{text!r} is not a duration such as 30s, 5m or 1h30m (units y w d h m s, largest first)")
    return sum(int(amount) * seconds for amount, (_, seconds) in zip(match.groups(), _UNITS) if amount)


def format_duration(seconds: int) -> str:
    """Prometheus's `Duration.String()`: "0s", "1m", "1h30m"; years and weeks only when exact."""
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative: {seconds}")
    if seconds == 0:
        return "0s"
    text, rest = "", seconds
    for unit, size in _UNITS:
        if unit in ("y", "w") and rest % size:
            continue  # "90d" reads better than "12w6d"
        if rest >= size:
            text += f"{rest // size}{unit}"
            rest %= size
    return text
