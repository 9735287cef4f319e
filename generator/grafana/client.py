"""Grafana's HTTP API: the transport, and the legacy /api URLs (`apis.py` has the /apis ones).

One `GrafanaClient` holds one keep-alive `requests.Session` (shared by the
deploy threads; its connection pool is sized for them), the credentials
(Bearer token or Basic auth, §2.1), the optional `X-Grafana-Org-Id` (§1.3), TLS
verification (on unless turned off explicitly; a CA bundle for private CAs) and
a timeout that is a deadline for each request (`queuedash.deadline`), and a
`stopping` event (Ctrl-C): once set, no request or retry starts. The configured
URL is a prefix: a sub-path such as `https://host/grafana` works (§1.1).

Retries (`RetryPolicy`): exponential backoff with a cap, only for what a later
attempt can fix: connection errors, timeouts, 429 (its `Retry-After` honoured),
502, 503, 504. Never for another 4xx: a second try of a refused request gets
the same answer.

Errors become the domain exceptions of `errors.py`, chosen by HTTP status and
then the body's `status` / `messageId` (§1.2) or a Kubernetes `Status` body's
`reason` (/apis, §11a); `message` is only shown, never matched, and always on one
line. Every text built from a request, response or exception goes through the
`Redactor`, so no credential reaches a message or a log line.

The legacy `/api` calls deploy needs are methods here; `call` is the same
request/retry/error machinery for any other endpoint (`apis.py` builds the
/apis API on it, `alerting.py` the alerting provisioning API).

Imports `errors` and `credentials` of this package, and `jsontext`; never the dashboard model.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote, urlsplit, urlunsplit

import requests

from queuedash import jsontext
from queuedash.deadline import DeadlineSession, transport_reason
from queuedash.grafana import errors
from queuedash.grafana.credentials import Credentials, Redactor, basic_value

log = logging.getLogger("queuedash.grafana")

#: Statuses a later attempt can get past: rate limiting and a proxy or Grafana that is
#: restarting or overloaded. 500 is not here: Grafana answers it for errors that repeat.
RETRY_STATUSES = frozenset({429, 502, 503, 504})

USER_AGENT = "queuedash-deploy"
SEARCH_PAGE_SIZE = 5000  # §6.1: the largest page Grafana serves (422 above it)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry. `retries` extra attempts after the first;
    waits double from `backoff` up to `max_backoff` (with jitter, so parallel
    jobs do not come back in step); a `Retry-After` is honoured up to
    `max_retry_after` seconds."""

    retries: int = 4
    backoff: float = 0.5
    max_backoff: float = 10.0
    max_retry_after: float = 60.0

    def wait(self, retry: int) -> float:
        """Seconds before retry number `retry` (1-based)."""
        # The doubling stops mattering long before 2**1023 overflows a float (--retries 99999).
        ceiling = min(self.max_backoff, self.backoff * 2.0 ** min(retry - 1, 64))
        return ceiling * random.uniform(0.5, 1.0)

    def wait_after(self, retry_after: str | None, retry: int) -> float:
        seconds = _retry_after_seconds(retry_after)
        if seconds is None:
            return self.wait(retry)
        return min(max(seconds, 0.0), self.max_retry_after)


def _retry_after_seconds(value: str | None) -> float | None:
    """Retry-After is delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return when.timestamp() - time.time()


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any
    attempts: int


class _BearerAuth(requests.auth.AuthBase):
    """`Authorization: Bearer <token>` (§2.1), with a repr that does not show the token."""

    def __init__(self, token: str):
        self._token = token

    def __call__(self, request):
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "_BearerAuth(***)"


class _BasicAuth(requests.auth.HTTPBasicAuth):
    """Basic auth in UTF-8 (Grafana decodes it so), with a repr that does not show the password."""

    def __call__(self, request):
        request.headers["Authorization"] = f"Basic {basic_value(self.username, self.password)}"
        return request

    def __repr__(self) -> str:
        return f"_BasicAuth({self.username!r}, ***)"


def base_url(url: str) -> str:
    """Check and normalize the configured URL: http(s), a host, no credentials in it,
    no query; trailing slashes dropped so paths append cleanly (§1.1 sub-paths)."""
    raw = (url or "").strip()
    if not raw:
        raise errors.GrafanaConfigError(
            "no Grafana URL: set GRAFANA_URL (or --url, or [grafana] url in the settings file)")
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        raise errors.GrafanaConfigError(f"the Grafana URL {_without_userinfo(raw)!r} is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise errors.GrafanaConfigError(
            f"the Grafana URL {_without_userinfo(raw)!r} must start with http:// or https:// and name a host")
    if parts.username is not None or parts.password is not None:
        raise errors.GrafanaConfigError(
            f"the Grafana URL {_without_userinfo(raw)!r} carries credentials: put them in GRAFANA_TOKEN "
            "(or GRAFANA_USER and GRAFANA_PASSWORD), never in the URL")
    if parts.query or parts.fragment:
        raise errors.GrafanaConfigError(f"the Grafana URL {raw!r} must not have a query or fragment")
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def _without_userinfo(url: str) -> str:
    """The URL with any `user:password@` replaced, for messages about a URL we refuse."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url.split("@", 1)[-1] if "@" in url else url
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        authority = "***@" + authority.rsplit("@", 1)[1]
    return f"{scheme}{sep}{authority}{slash}{path}"


class GrafanaClient:
    """Typed calls for the parts of Grafana's API deploy needs (§3-§7). Thread-safe
    for concurrent calls: the session is shared, each call is one request (plus retries)."""

    def __init__(self, url: str, credentials: Credentials | None = None, *, org_id: int | None = None,
                 verify_tls: bool = True, ca_bundle: str = "", timeout: float = 10.0,
                 retry: RetryPolicy | None = None, pool_size: int = 4,
                 sleep: Callable[[float], None] = time.sleep):
        self.base_url = base_url(url)
        self.credentials = credentials or Credentials()
        self.redact = Redactor.for_credentials(self.credentials)
        self.org_id = org_id
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._count_lock = threading.Lock()
        self.request_count = 0
        #: Set to stop: no request (or retry) starts after it; those in flight finish.
        self.stopping = threading.Event()
        # One pool connection per job: threads beyond the pool would open and drop
        # connections instead of keeping them alive. Retries are ours. `timeout` is a
        # deadline for each request (deadline.py), not only for each wait for bytes.
        self.session = DeadlineSession(pool_size)
        self.session.headers.update({"Accept": "application/json", "User-Agent": USER_AGENT})
        if org_id is not None:
            self.session.headers["X-Grafana-Org-Id"] = str(org_id)  # §1.3: only when configured
        if self.credentials.kind == "token":
            self.session.auth = _BearerAuth(self.credentials.token)
        elif self.credentials.kind == "basic":
            self.session.auth = _BasicAuth(self.credentials.user, self.credentials.password)
        if ca_bundle:
            if not Path(ca_bundle).is_file():
                raise errors.GrafanaConfigError(f"CA bundle {ca_bundle!r}: no such file")
            self.session.verify = ca_bundle
        else:
            self.session.verify = bool(verify_tls)

    def __repr__(self) -> str:
        return f"GrafanaClient({self.base_url!r}, auth={self.credentials.kind})"

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> "GrafanaClient":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # ----- the API calls -------------------------------------------------------------------

    def call(self, method: str, path: str, *, params: dict | None = None, body: Any = None) -> Reply:
        """One request to `path` (after the base URL) with this client's credentials, retries
        and error mapping; a JSON answer in `Reply.body`, an error as an `errors` exception."""
        return self._request(method, path, params=params, body=body)

    def health(self) -> dict:
        """GET /api/health (§7.1): reachability and version; needs no credentials."""
        try:
            reply = self._request("GET", "/api/health")
        except errors.NotFound as exc:
            raise errors.NotGrafana(
                f"{self.base_url} does not look like Grafana: GET /api/health answered 404; "
                "is the URL right, sub-path included?", status=404, attempts=exc.attempts) from None
        except errors.GrafanaUnavailable as exc:
            raise errors.GrafanaUnavailable(f"Grafana at {self.base_url} is not healthy: {exc}",
                                            status=exc.status, attempts=exc.attempts) from None
        if not isinstance(reply.body, dict) or "database" not in reply.body:
            raise errors.NotGrafana(
                f"{self.base_url} does not look like Grafana: GET /api/health did not answer "
                "Grafana's health JSON; is the URL right, sub-path included?", status=reply.status)
        return reply.body

    def org(self) -> dict:
        """GET /api/org (§7.2): proves the credentials and names the organisation."""
        return self._json_object(self._request("GET", "/api/org"), "GET /api/org")

    def discover(self) -> dict | None:
        """GET /apis (§11a): Kubernetes discovery, the API groups and versions served
        (an `APIGroupList`); None when the server has no /apis (Grafana before 11, or a
        proxy that answers the path with a page of its own)."""
        try:
            return self._json_object(self._request("GET", "/apis"), "GET /apis")
        except (errors.NotFound, errors.NotGrafana):
            return None

    def get_datasource(self, uid: str) -> dict | None:
        """GET /api/datasources/uid/:uid (§7.3); None when Grafana has no such data source."""
        try:
            return self._json_object(self._request("GET", f"/api/datasources/uid/{_segment(uid)}"),
                                     "GET data source")
        except errors.NotFound:
            return None

    def get_folder(self, uid: str) -> dict | None:
        """GET /api/folders/:uid (§5.2); None when there is no such folder."""
        try:
            return self._json_object(self._request("GET", f"/api/folders/{_segment(uid)}"), "GET folder")
        except errors.NotFound:
            return None

    def create_folder(self, uid: str, title: str, parent_uid: str = "") -> dict:
        """POST /api/folders (§5.3). 409 (`AlreadyExists`) when the uid is taken."""
        body = {"uid": uid, "title": title}
        if parent_uid:
            body["parentUid"] = parent_uid
        return self._json_object(self._request("POST", "/api/folders", body=body), "POST /api/folders")

    def search_folders(self, title: str) -> list[dict]:
        """Folders whose title contains `title` (§6, type=dash-folder)."""
        return self._search({"type": "dash-folder", "query": title})

    def dashboards_in_folder(self, folder_uid: str, page_size: int = SEARCH_PAGE_SIZE) -> list[dict]:
        """Search hits of every dashboard directly in the folder, all pages (§6)."""
        return self._search({"type": "dash-db", "folderUIDs": folder_uid}, page_size)

    def get_dashboard(self, uid: str) -> dict | None:
        """GET /api/dashboards/uid/:uid (§4.1): {"dashboard", "meta"}; None when absent.
        A dashboard stored as a dynamic dashboard (schema v2) is `UnsupportedApiVersion` (406)."""
        try:
            reply = self._request("GET", f"/api/dashboards/uid/{_segment(uid)}")
        except errors.NotFound:
            return None
        body = self._json_object(reply, "GET dashboard")
        if not isinstance(body.get("dashboard"), dict):
            raise errors.NotGrafana(f"GET /api/dashboards/uid/{uid}: the answer has no dashboard object")
        return body

    def save_dashboard(self, dashboard: dict, folder_uid: str, message: str, overwrite: bool = False) -> dict:
        """POST /api/dashboards/db (§3). Without `overwrite`, `dashboard["version"]` must be
        the live version (an update) or absent (a create): a stale one is a 412."""
        body = {"dashboard": dashboard, "folderUid": folder_uid, "message": message, "overwrite": overwrite}
        return self._json_object(self._request("POST", "/api/dashboards/db", body=body), "POST /api/dashboards/db")

    def delete_dashboard(self, uid: str) -> dict:
        """DELETE /api/dashboards/uid/:uid (§4.2)."""
        reply = self._request("DELETE", f"/api/dashboards/uid/{_segment(uid)}")
        return reply.body if isinstance(reply.body, dict) else {}

    # ----- plumbing ------------------------------------------------------------------------

    def _search(self, params: dict, page_size: int = SEARCH_PAGE_SIZE) -> list[dict]:
        hits: list[dict] = []
        page = 1
        while True:
            reply = self._request("GET", "/api/search", params={**params, "limit": page_size, "page": page})
            if not isinstance(reply.body, list):
                raise errors.NotGrafana("GET /api/search: expected a JSON array")
            hits.extend(hit for hit in reply.body if isinstance(hit, dict))
            if len(reply.body) < page_size:  # a short page is the last one
                return hits
            page += 1

    def _json_object(self, reply: Reply, what: str) -> dict:
        if not isinstance(reply.body, dict):
            raise errors.NotGrafana(f"{what}: Grafana's answer is not a JSON object", status=reply.status)
        return reply.body

    def _count(self) -> None:
        with self._count_lock:
            self.request_count += 1

    def _request(self, method: str, path: str, *, params: dict | None = None, body: Any = None) -> Reply:
        url = self.base_url + path
        data = None
        headers = {}
        if body is not None:
            # §1.1: Grafana binds a body only with a JSON Content-Type.
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = "application/json"
        where = f"{method} {path}"
        attempt = 0
        while True:
            if self.stopping.is_set():
                said = f"not retried after {attempt} attempt{'s' if attempt > 1 else ''}" if attempt else "not sent"
                raise errors.Interrupted(f"{where}: {said}: interrupted", attempts=attempt)
            attempt += 1
            started = time.monotonic()
            try:
                self._count()
                response = self.session.request(method, url, params=params, data=data, headers=headers,
                                                timeout=self.timeout)
            except requests.exceptions.SSLError as exc:
                raise errors.GrafanaTLSError(
                    f"TLS with {self.base_url} failed: {self._reason(exc)}; pass --ca-bundle for a private CA",
                    attempts=attempt) from None
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                    requests.exceptions.ChunkedEncodingError) as exc:
                if attempt <= self.retry.retries:
                    wait = self.retry.wait(attempt)
                    log.info(self.redact(f"{where}: {self._reason(exc)}; retry {attempt} in {wait:.2f} s"))
                    self._sleep(wait)
                    continue
                raise self._unreachable(where, exc, attempt) from None
            except requests.exceptions.RequestException as exc:
                raise errors.GrafanaError(self.redact(f"{where}: {self._reason(exc)}"), attempts=attempt) from None
            elapsed = (time.monotonic() - started) * 1000
            log.debug(self.redact(f"{where} -> {response.status_code} ({elapsed:.0f} ms)"))
            if response.status_code in RETRY_STATUSES and attempt <= self.retry.retries:
                wait = self.retry.wait_after(response.headers.get("Retry-After"), attempt)
                log.info(self.redact(f"{where}: answered {response.status_code}; retry {attempt} in {wait:.2f} s"))
                response.close()
                self._sleep(wait)
                continue
            parsed = _parse_body(response)
            if response.status_code >= 400:
                raise self._error(method, path, response, parsed, attempt)
            if parsed is _NOT_JSON:
                raise errors.NotGrafana(
                    self.redact(f"{where} answered {response.status_code} with "
                                f"{response.headers.get('Content-Type') or 'no content type'}, not JSON: "
                                f"is {self.base_url} Grafana's address, sub-path included?"),
                    status=response.status_code, attempts=attempt)
            return Reply(response.status_code, parsed, attempt)

    def _reason(self, exc: Exception) -> str:
        """A short cause of a transport error, redacted."""
        return self.redact(transport_reason(exc))

    def _unreachable(self, where: str, exc: Exception, attempts: int) -> errors.GrafanaUnreachable:
        tries = f" ({attempts} attempts)" if attempts > 1 else ""
        if isinstance(exc, requests.exceptions.Timeout):
            what = f"no answer within {self.timeout:g} s"
        else:
            what = self._reason(exc)
        return errors.GrafanaUnreachable(
            self.redact(f"cannot reach Grafana at {self.base_url}: {where}: {what}{tries}"), attempts=attempts)

    def _error(self, method: str, path: str, response: requests.Response, parsed: Any,
               attempts: int) -> errors.GrafanaError:
        body = parsed if isinstance(parsed, dict) else {}
        status = response.status_code
        reason = ""
        if body.get("kind") == "Status":
            # A Kubernetes Status (/apis): its `status` is just "Failure"; `reason` says what.
            reason = body.get("reason") if isinstance(body.get("reason"), str) else ""
            status_text = ""
        else:
            status_text = body.get("status") if isinstance(body.get("status"), str) else ""
        message_id = body.get("messageId") if isinstance(body.get("messageId"), str) else ""
        said = body.get("message") if isinstance(body.get("message"), str) else ""
        if not said and parsed is _NOT_JSON:
            said = f"{response.headers.get('Content-Type') or 'a body'} that is not JSON"
        # Masked before it is put on one line and cut: a secret echoed with a line break in it, or
        # across the cut, would not be recognised after. (k8s validation messages span lines.)
        said = " ".join(self.redact(said).split())
        key = " ".join(part for part in (str(status), status_text or message_id or reason) if part)
        answer = f"{method} {path} answered {key}" + (f": {self.redact.cut(said, 300)}" if said else "")
        kind, summary = _classify(status, status_text, message_id, reason, self.credentials)
        text = f"{summary} ({answer})" if summary else answer
        return kind(self.redact(text), status=status, status_text=status_text, message_id=message_id,
                    attempts=attempts, reason=reason)


def _classify(status: int, status_text: str, message_id: str, reason: str,
              credentials: Credentials) -> tuple[type[errors.GrafanaError], str]:
    """Which exception, and a one-line summary, from status then status/messageId (§1.2)
    or a Kubernetes reason (§11a)."""
    if status == 401 or message_id in ("basic-auth.invalid-header", "password-auth.failed"):
        return errors.AuthenticationFailed, _auth_summary(message_id, credentials)
    if status == 403:
        return errors.PermissionDenied, (f"the credentials ({credentials.source}) lack a permission: "
                                         "deploy needs a service account with the Editor role")
    if status == 404:
        return errors.NotFound, ""
    if status == 406:
        return errors.UnsupportedApiVersion, ("stored as a dynamic dashboard (schema v2), which the legacy "
                                              "API does not serve")
    if status == 409:
        # Legacy 409s (a folder uid taken, §5.4) carry no reason; only k8s says "Conflict".
        return (errors.Conflict if reason == "Conflict" else errors.AlreadyExists), ""
    if status == 413:
        return errors.TooLarge, "Grafana refused it as too large"
    if status == 412:
        return {"version-mismatch": errors.VersionMismatch, "name-exists": errors.NameExists,
                "plugin-dashboard": errors.PluginDashboard}.get(status_text, errors.Rejected), ""
    if status in RETRY_STATUSES or status >= 500:
        return errors.GrafanaUnavailable, ""
    return errors.Rejected, ""


def _auth_summary(message_id: str, credentials: Credentials) -> str:
    source = credentials.source
    return {
        "api-key.invalid": f"Grafana does not know the token in {source}",
        "api-key.expired": f"the token in {source} has expired",
        "api-key.revoked": f"the token in {source} has been revoked",
        "api-key.organization-mismatch": f"the token in {source} belongs to another organisation than "
                                         "the org id sent (--org-id / GRAFANA_ORG_ID)",
        "password-auth.failed": f"Grafana refused the user name and password in {source}",
        "basic-auth.invalid-header": "Grafana could not read the Basic auth header (GRAFANA_USER/GRAFANA_PASSWORD)",
        "auth.unauthorized": "Grafana wants credentials: set GRAFANA_TOKEN (or GRAFANA_USER and GRAFANA_PASSWORD)"
        if credentials.kind == "none" else f"Grafana refused the credentials in {source}",
    }.get(message_id, f"Grafana refused the credentials in {source}")


_NOT_JSON = object()


def _parse_body(response: requests.Response) -> Any:
    if not response.content:
        return None
    try:
        return jsontext.loads(response.content)
    except ValueError:
        return _NOT_JSON


def _segment(uid: str) -> str:
    """A uid as one path segment (uids are [A-Za-z0-9_-], but never trust input in a URL)."""
    return quote(uid, safe="")
