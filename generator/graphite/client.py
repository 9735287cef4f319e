"""A small graphite-web HTTP client: ``/metrics/find`` and ``/render``.

Asks the way Grafana's Graphite datasource does (form-encoded POSTs,
``format=json``) and turns every way a request can go wrong into one line:
Graphite unreachable, too slow, not graphite-web at all (a `GraphiteError`,
which stops whatever asked), or Graphite refusing one target or find query (a
`QueryError`, which is about that query only). graphite-web answers a bad
target with HTTP 400 and a text body, and a function that raises with HTTP 500
and an HTML page holding the Python traceback; the message is the useful line
of either. An answer that is not graphite-web's says what the server seems to
be instead (Grafana, or anything else) and what address to give.

The URL may carry credentials (``http://user:password@host``, for a graphite-web
behind an authenticating proxy): they are sent as Basic auth, and the password
never shows in a message (`url` is the address with it masked). `timeout` is a
deadline for each request (`queuedash.deadline`).

The only module that knows graphite-web's URLs. Imports `errors`, `secrets`, `deadline`.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit, urlunsplit

import requests

from queuedash.deadline import DeadlineSession, transport_reason
from queuedash.errors import QueuedashError
from queuedash.secrets import Redactor, basic_value, passwords_in, without_password


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


def error_message(status: int, body: str, redact: Redactor = Redactor()) -> str:
    """The one line that says what went wrong in a graphite-web error answer (masked, then cut)."""
    match = _TRACEBACK.search(body)
    text = html.unescape(match.group(1) if match else _TAGS.sub(" ", body))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return f"HTTP {status}"
    # A traceback ends with "ValueError: ..."; a 400 is one "Invalid parameters (...)" line.
    line = lines[-1] if match else lines[0]
    return redact.cut(line, 300)


def _checked_url(url: str) -> tuple[str, str, str]:
    """(the address to request, user, password) from the URL as given; one line if it cannot work."""
    raw = (url or "").strip()
    shown = without_password(raw)
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        raise GraphiteError(f"the Graphite URL {shown!r} is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise GraphiteError(f"the Graphite URL {shown!r} must start with http:// or https:// and name a host "
                            "(graphite-web's address, e.g. http://graphite:8080)")
    if parts.query or parts.fragment:
        raise GraphiteError(f"the Graphite URL {shown!r} must not have a query or fragment")
    host = parts.netloc.rpartition("@")[2]
    address = urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))
    return address, unquote(parts.username or ""), unquote(parts.password or "")


class GraphiteClient:
    """graphite-web at `url`; every request gives up `timeout` seconds after it started."""

    def __init__(self, url: str, timeout: float = 10.0):
        if not timeout > 0:
            raise GraphiteError(f"the timeout must be a positive number of seconds, got {timeout!r}")
        self._address, user, password = _checked_url(url)
        secrets = passwords_in(url) + ([password, basic_value(user, password)] if password else [])
        self.redact = Redactor(secrets)
        #: The address for messages: the password, if any, masked.
        self.url = without_password(url.strip()).rstrip("/")
        self.timeout = timeout
        self.session = DeadlineSession()
        if user or password:
            self.session.headers["Authorization"] = f"Basic {basic_value(user, password)}"

    def _post(self, endpoint: str, data: dict) -> requests.Response:
        try:
            return self.session.post(f"{self._address}/{endpoint}", data=data, timeout=self.timeout)
        except requests.Timeout:
            raise GraphiteError(f"{self.url}: Graphite did not answer within {self.timeout:g} s") from None
        except requests.RequestException as exc:
            raise GraphiteError(self.redact(f"{self.url}: cannot reach Graphite: {transport_reason(exc)}")) from None

    def _not_graphite(self, response: requests.Response, endpoint: str) -> GraphiteError:
        """What answered instead of graphite-web, and what to do about it."""
        said = f"{self.url}: {endpoint} answered HTTP {response.status_code}"
        if response.status_code in (401, 403):
            return GraphiteError(f"{said}: credentials missing or refused (a graphite-web behind a login "
                                 "takes them in the URL: http://user:password@host)")
        if self._is_grafana():
            return GraphiteError(f"{said}: this is Grafana, not graphite-web: give graphite-web's own "
                                 "address (the URL of Grafana's Graphite datasource)")
        return GraphiteError(f"{said}: not graphite-web; is the URL graphite-web's own address "
                             "(e.g. http://graphite:8080), sub-path included?")

    def _is_grafana(self) -> bool:
        """Does the server answer Grafana's GET /api/health (a common mistake: Grafana's URL)?"""
        try:
            answer = self.session.get(f"{self._address}/api/health", timeout=self.timeout)
            return isinstance(answer.json(), dict) and "database" in answer.json()
        except (requests.RequestException, ValueError):
            return False

    def _json(self, response: requests.Response, endpoint: str):
        try:
            return response.json()
        except ValueError:
            if self._is_grafana():
                raise self._not_graphite(response, endpoint) from None
            raise GraphiteError(f"{self.url}: {endpoint} did not answer JSON: is this graphite-web?") from None

    def _list(self, response, endpoint: str) -> list:
        """The JSON list graphite-web answers; `QueryError` when it refuses the query
        (400, or 500 with a traceback page), `GraphiteError` for anything else odd."""
        if response.status_code in (400, 500):
            raise QueryError(error_message(response.status_code, response.text, self.redact))
        if response.status_code in (401, 403, 404, 405, 501):
            raise self._not_graphite(response, endpoint)
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
