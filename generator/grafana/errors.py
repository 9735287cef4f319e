"""What can go wrong talking to Grafana, as domain errors.

Every class subclasses `queuedash.errors.QueuedashError`, so the CLI turns any
of them into one line and exit status 1. The client (`client.py`) chooses the
class from the HTTP status first and then from the body's `status` or
`messageId` (contract §1.2), or the `reason` of a Kubernetes `Status` body (the
/apis API, §11a), never from the human `message` text. Messages are
redacted before they get here: no credential ever reaches an exception.

Imports `queuedash.errors` only.
"""

from __future__ import annotations

from queuedash.errors import QueuedashError


class GrafanaError(QueuedashError):
    """Base of every Grafana failure. Carries what the answer said, for callers
    that must tell cases apart (never the message text)."""

    def __init__(self, message: str, *, status: int | None = None, status_text: str = "",
                 message_id: str = "", attempts: int = 1, reason: str = ""):
        super().__init__(message)
        #: HTTP status, or None when no answer came (connection refused, timeout).
        self.status = status
        #: The body's `status` string (family B, e.g. "version-mismatch").
        self.status_text = status_text
        #: The body's `messageId` (family C, e.g. "api-key.invalid").
        self.message_id = message_id
        #: How many times the request was sent (more than 1 after retries).
        self.attempts = attempts
        #: The `reason` of a Kubernetes `Status` body (the /apis API, e.g. "Conflict").
        self.reason = reason


class Interrupted(GrafanaError):
    """The client was told to stop (Ctrl-C): this request was not sent (`attempts` 0), or not
    sent again after a failed attempt."""


class GrafanaConfigError(GrafanaError):
    """The connection settings cannot work: a malformed URL, a missing CA bundle."""


class GrafanaUnreachable(GrafanaError):
    """No HTTP answer: connection refused, DNS, dropped connections, timeouts (after retries)."""


class GrafanaTLSError(GrafanaUnreachable):
    """The TLS handshake failed (certificate not trusted, wrong host name). Never retried."""


class NotGrafana(GrafanaError):
    """Something answered, but not the way Grafana does (HTML, no /api/health): usually a
    wrong URL or a missing sub-path."""


class GrafanaUnavailable(GrafanaError):
    """Grafana kept answering 429, 502, 503 or 504 (after retries), or answered 5xx."""


class AuthenticationFailed(GrafanaError):
    """401 (and the 400s of a malformed Basic header): the credentials were refused (§2.3)."""


class PermissionDenied(GrafanaError):
    """403: authenticated, but the role may not do this (§2.3, §1.2 D)."""


class NotFound(GrafanaError):
    """404: no such dashboard or folder."""


class Conflict(GrafanaError):
    """409 on a write: someone saved first. From /apis, a stale `metadata.resourceVersion`
    (k8s reason "Conflict"); from a Grafana 13 `POST /api/dashboards/db`, a stale `version`
    ("Dashboard already exists. Use overwrite flag to update.", §11a)."""


class AlreadyExists(Conflict):
    """409: a folder (or dashboard) already has this uid, or, up to 11.2, this title (§5.4);
    on /apis, a create of a name that exists (k8s reason "AlreadyExists")."""


class UnsupportedApiVersion(GrafanaError):
    """406 on `GET /api/dashboards/uid/:uid`: the dashboard is stored in a version the legacy
    API does not serve (a dynamic dashboard, schema v2, §11a)."""


class VersionMismatch(GrafanaError):
    """412 `version-mismatch`: someone saved the dashboard since we read it (§3.2 step 7g)."""


class NameExists(GrafanaError):
    """412 `name-exists`: up to Grafana 11.2, another dashboard in the folder has this title."""


class PluginDashboard(GrafanaError):
    """412 `plugin-dashboard`: the dashboard belongs to a plugin (§3.2 step 7h)."""


class Rejected(GrafanaError):
    """Any other 4xx: Grafana refused the request as it was (400 folder not found, 422...)."""


class TooLarge(Rejected):
    """413: the dashboard is larger than Grafana stores ("Dashboard is too large, max is N MB")."""


class FolderError(GrafanaError):
    """The folder (or a parent) cannot be found or created where the settings say."""


class DatasourceError(GrafanaError):
    """The dashboards' data source is missing in Grafana, or is not a Graphite data source."""
