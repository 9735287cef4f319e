"""What a Grafana stat panel shows, asked of Grafana's own display code.

`tests/grafana_display/stat.cjs` runs `@grafana/data` (pinned in tests/grafana_display/package.json,
installed by ``make test`` with ``npm ci``) on Node: the Graphite datasource's conversion to data
frames, the field config (thresholds, mappings, noValue, unit) and the stat panel's reduction and
formatting. This module keeps one such Node process per test session and asks it, one JSON line per
question, what a panel shows for the series graphite-web returned.

In CI (CI=true) a missing Node or a missing install fails the test; elsewhere it is skipped with the
command that installs it.
"""

from __future__ import annotations

import atexit
import json
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from realstack import in_ci

HERE = Path(__file__).resolve().parent / "grafana_display"
SCRIPT = HERE / "stat.cjs"
INSTALL = "make grafana-display (npm ci --prefix tests/grafana_display)"


@dataclass(frozen=True)
class Shown:
    """One value of a stat panel as Grafana draws it: the series' title, the text, the background
    colour's name (e.g. "green"), and the number behind the text (None when there is none)."""

    name: str | None
    text: str
    color: str
    numeric: float | None


def _unavailable(message: str) -> None:
    if in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


class GrafanaDisplay:
    """A Node process running stat.cjs; `shown` asks it about one panel and its series."""

    def __init__(self):
        node = shutil.which("node")
        if node is None:
            _unavailable(f"node is not installed: Grafana's display code needs Node 20 or newer ({INSTALL})")
        if not (HERE / "node_modules" / "@grafana" / "data").is_dir():
            _unavailable(f"@grafana/data is not installed: {INSTALL}")
        self._lock = threading.Lock()
        self._process = subprocess.Popen([node, str(SCRIPT)], cwd=HERE, stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def shown(self, panel: dict, series) -> list[Shown]:
        """What `panel` shows for `series`: graphite-web's JSON series (dicts with ``target`` and
        ``datapoints``) or `queuedash.graphite.client.Series`."""
        request = {"panel": panel, "series": [_as_graphite_json(s) for s in series]}
        with self._lock:
            self._process.stdin.write(json.dumps(request) + "\n")
            self._process.stdin.flush()
            answer = self._process.stdout.readline()
        if not answer:
            raise RuntimeError(f"Grafana's display code stopped: {self._process.stderr.read()[-2000:]}")
        return [Shown(v["title"], v["text"], v["color"], v["numeric"]) for v in json.loads(answer)]

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.stdin.close()
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(5)
        self._process.stdout.close()
        self._process.stderr.close()


def _as_graphite_json(series) -> dict:
    if isinstance(series, dict):
        return series
    return {"target": series.target, "datapoints": [[value, ts] for value, ts in series.points]}


_display: GrafanaDisplay | None = None


def display() -> GrafanaDisplay:
    """The session's Node process, started on first use."""
    global _display
    if _display is None:
        _display = GrafanaDisplay()
        atexit.register(_display.close)
    return _display


@pytest.fixture(scope="session")
def grafana_display() -> GrafanaDisplay:
    return display()
