"""A small graphite-web HTTP client: ``/metrics/find`` and ``/render``.

Asks the way Grafana's Graphite datasource does (form-encoded POSTs,
``format=json``) and turns every way a request can go wrong into one line:
Graphite unreachable, too slow, not graphite-web at all (a `GraphiteError`,
which stops whatever asked), or Graphite refusing one target or find query (a
`QueryError`, which is about that query only). graphite-web answers a bad
target with HTTP 400 and a text body, and a function that raises with HTTP 500
and an HTML page holding the Python traceback; the message is the useful line
of either.

The only module that knows graphite-web's URLs. Imports `errors`.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

import requests

from queuedash.errors import QueuedashError


class GraphiteError(QueuedashError):
    """Graphite could not be reached or did not answer like graphite-web."""


class QueryError(GraphiteError):
    """graphite-web refused one query or target (HTTP 400 or 500): about that query only."""


@dataclass(frozen=True)
class Series:
    """One series of a ``/render`` answer: its name and ``(value, timestamp)`` points."""

    target: str
    points: tuple[tuple[float | None, int], ...]

    @property
    def values(self) -> list[float | None]:
        return [value for value, _ in self.points]

    @property
    def has_data(self) -> bool:
        return any(value is not None for value, _ in self.points)

    def value_at(self, timestamp: int) -> float | None:
        for value, ts in self.points:
            if ts == timestamp:
                return value
        return None


_TRACEBACK = re.compile(r"<pre>(.*?)</pre>", re.DOTALL)
_TAGS = re.compile(r"<[^>]+>")


def error_message(status: int, body: str) -> str:
    """The one line that says what went wrong in a graphite-web error answer."""
    match = _TRACEBACK.search(body)
    text = html.unescape(match.group(1) if match else _TAGS.sub(" ", body))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return f"HTTP {status}"
    # A traceback ends with "ValueError: ..."; a 400 is one "Invalid parameters (...)" line.
    line = lines[-1] if match else lines[0]
    return line if len(line) <= 300 else line[:297] + "..."


class GraphiteClient:
    """graphite-web at `url`; every request gives up after `timeout` seconds."""

    def __init__(self, url: str, timeout: float = 10.0):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()

    def _post(self, endpoint: str, data: dict) -> requests.Response:
        try:
            return self.session.post(f"{self.url}/{endpoint}", data=data, timeout=self.timeout)
        except requests.Timeout:
            raise GraphiteError(f"{self.url}: Graphite did not answer within {self.timeout:g} s") from None
        except requests.RequestException as exc:
            raise GraphiteError(f"{self.url}: cannot reach Graphite ({type(exc).__name__})") from None

    def _json(self, response: requests.Response, endpoint: str):
        try:
            return response.json()
        except ValueError:
            raise GraphiteError(f"{self.url}: {endpoint} did not answer JSON: is this graphite-web?") from None

    def _list(self, response, endpoint: str) -> list:
        """The JSON list graphite-web answers; `QueryError` when it refuses the query
        (400, or 500 with a traceback page), `GraphiteError` for anything else odd."""
        if response.status_code in (400, 500):
            raise QueryError(error_message(response.status_code, response.text))
        if response.status_code != 200:
            raise GraphiteError(f"{self.url}: {endpoint} answered HTTP {response.status_code}")
        answer = self._json(response, endpoint)
        if not isinstance(answer, list):
            raise GraphiteError(f"{self.url}: {endpoint} did not answer a list: is this graphite-web?")
        return answer

    def find(self, query: str) -> list[str]:
        """Node names matching `query`, sorted (metrics/find, as Grafana's variables ask)."""
        nodes = self._list(self._post("metrics/find", {"query": query}), "metrics/find")
        return sorted({node["text"] for node in nodes if isinstance(node, dict) and "text" in node})

    def render(self, targets: list[str], from_: str = "-1h", until: str = "now",
               max_data_points: int | None = None) -> list[Series]:
        """Evaluate `targets` over the time range; `QueryError` if Graphite refuses them."""
        data = {"target": list(targets), "format": "json", "from": from_, "until": until}
        if max_data_points:
            data["maxDataPoints"] = str(max_data_points)
        answer = self._list(self._post("render", data), "render")
        return [
            Series(target=str(item.get("target", "")),
                   points=tuple((value, int(ts)) for value, ts in item.get("datapoints", [])))
            for item in answer if isinstance(item, dict)
        ]
