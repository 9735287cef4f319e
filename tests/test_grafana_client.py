"""The Grafana client (queuedash/grafana/client.py) over real HTTP against the stand-in.

Retries and their limits, error mapping by status then `status`/`messageId`
(never by message text), keep-alive, sub-paths, TLS handling, and redaction.
`requests` is not mocked; waits are recorded by passing the client a `sleep`.
"""

from __future__ import annotations

import base64
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from queuedash.grafana import errors
from queuedash.deploy.legacy import LegacyStore
from queuedash.grafana.client import GrafanaClient, RetryPolicy, base_url
from queuedash.grafana.credentials import Credentials, Redactor
from test_deploy_support import ADMIN_TOKEN, PASSWORD, USER, VIEWER_TOKEN, closed_port
# Fixtures (pytest finds them by name in this module's namespace):
from test_deploy_support import grafana, make_grafana, no_secret_leaks  # noqa: F401


class Sleeps(list):
    """Records the waits the client asks for, instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps():
    return Sleeps()


@pytest.fixture
def connect(grafana, sleeps, no_secret_leaks):
    opened: list[GrafanaClient] = []

    def make(standin=None, credentials=Credentials(token=ADMIN_TOKEN), **options) -> GrafanaClient:
        options.setdefault("retry", RetryPolicy(retries=3, backoff=0.5, max_backoff=4.0))
        options.setdefault("timeout", 2.0)
        client = GrafanaClient((standin or grafana).url, credentials, sleep=sleeps, **options)
        opened.append(client)
        return client

    yield make
    for client in opened:
        no_secret_leaks.add(repr(client), repr(client.credentials), repr(client.session.auth))
        client.close()


def failure(no_secret_leaks, call, kind=errors.GrafanaError):
    with pytest.raises(kind) as caught:
        call()
    no_secret_leaks.add(str(caught.value), repr(caught.value))
    return caught.value


def routes(standin) -> list[str]:
    return [entry["route_path"] for entry in standin.request_log]


# ----- retries ------------------------------------------------------------------------------

def test_503_twice_then_success_backs_off_exponentially(grafana, connect, sleeps):
    grafana.fail_next(2, 503)
    assert connect().health()["database"] == "ok"
    assert routes(grafana) == ["/api/health"] * 3
    assert len(sleeps) == 2
    assert 0.25 <= sleeps[0] <= 0.5 and 0.5 <= sleeps[1] <= 1.0  # doubling, with jitter


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_each_retryable_status_is_retried(status, grafana, connect):
    grafana.fail_next(1, status)
    assert connect().org()["id"] == 1
    assert routes(grafana) == ["/api/org", "/api/org"]


def test_retries_stop_at_the_limit(grafana, connect, sleeps, no_secret_leaks):
    grafana.fail_next(10, 503)
    error = failure(no_secret_leaks, connect(retry=RetryPolicy(retries=2, max_backoff=0.1)).org,
                    errors.GrafanaUnavailable)
    assert error.status == 503 and error.attempts == 3
    assert len(grafana.request_log) == 3
    assert all(wait <= 0.1 for wait in sleeps)  # the cap


def test_the_wait_stays_capped_however_many_retries():
    policy = RetryPolicy(retries=100000, backoff=0.5, max_backoff=10.0)
    assert 5.0 <= policy.wait(1030) <= 10.0  # 2**1029 would overflow a float


def test_retry_after_is_honoured_in_seconds_and_capped(grafana, connect, sleeps):
    grafana.fail_next(1, 429, headers={"Retry-After": "3"})
    grafana.fail_next(1, 429, headers={"Retry-After": "3600"})
    connect(retry=RetryPolicy(retries=3, max_backoff=0.1, max_retry_after=30)).org()
    assert sleeps == [3.0, 30.0]


@pytest.mark.parametrize("status,kind", [
    (400, errors.Rejected), (401, errors.AuthenticationFailed), (403, errors.PermissionDenied),
    (404, errors.NotFound), (409, errors.AlreadyExists), (412, errors.Rejected), (413, errors.Rejected),
    (422, errors.Rejected), (500, errors.GrafanaUnavailable),
])
def test_other_statuses_are_never_retried(status, kind, grafana, connect, sleeps, no_secret_leaks):
    grafana.fail_next(5, status)
    failure(no_secret_leaks, connect().org, kind)
    assert len(grafana.request_log) == 1 and sleeps == []


def test_a_dropped_connection_is_retried(grafana, connect):
    grafana.drop_next(2)
    assert connect().org()["id"] == 1
    assert [e["fault"] for e in grafana.request_log] == ["drop", "drop", None]


def test_a_slow_answer_times_out_then_is_retried(grafana, connect, no_secret_leaks):
    grafana.slow_next(1, 0.6)
    assert connect(timeout=0.2).org()["id"] == 1
    grafana.slow_next(2, 0.6)
    error = failure(no_secret_leaks, connect(timeout=0.2, retry=RetryPolicy(retries=1)).org,
                    errors.GrafanaUnreachable)
    assert "no answer within 0.2 s (2 attempts)" in str(error)


def test_a_closed_port_is_unreachable(connect, grafana, no_secret_leaks):
    client = GrafanaClient(f"http://127.0.0.1:{closed_port()}", Credentials(token=ADMIN_TOKEN),
                           retry=RetryPolicy(retries=1), sleep=lambda s: None)
    error = failure(no_secret_leaks, client.health, errors.GrafanaUnreachable)
    assert "Connection refused" in str(error) and error.status is None


def test_tls_failures_are_not_retried(grafana, connect, no_secret_leaks):
    # https to a plain-HTTP port: the handshake fails, and would fail again.
    client = GrafanaClient(f"https://127.0.0.1:{grafana.port}", Credentials(token=ADMIN_TOKEN),
                           retry=RetryPolicy(retries=3), sleep=lambda s: None)
    error = failure(no_secret_leaks, client.health, errors.GrafanaTLSError)
    assert error.attempts == 1 and "--ca-bundle" in str(error)


# ----- errors: keyed on status, then status / messageId, never on message text --------------

@pytest.mark.parametrize("message_id,words", [
    ("api-key.invalid", "does not know the token"),
    ("api-key.expired", "has expired"),
    ("api-key.revoked", "has been revoked"),
    ("api-key.organization-mismatch", "belongs to another organisation"),
])
def test_401_is_explained_by_its_message_id(message_id, words, grafana, connect, no_secret_leaks):
    grafana.fail_next(1, 401, body={"extra": None, "message": "whatever the text", "messageId": message_id,
                                    "statusCode": 401, "traceID": ""})
    error = failure(no_secret_leaks, connect().org, errors.AuthenticationFailed)
    assert error.message_id == message_id and words in str(error)


def test_real_auth_failures_from_the_standin(make_grafana, connect, no_secret_leaks):
    standin = make_grafana()
    standin.add_token("glsa_expired", expired=True)
    cases = [
        (Credentials(token="glsa_unknown_token_value"), "api-key.invalid"),
        (Credentials(token="glsa_expired"), "api-key.expired"),
        (Credentials(user=USER, password="wrong"), "password-auth.failed"),
        (Credentials(), "auth.unauthorized"),
    ]
    for credentials, message_id in cases:
        error = failure(no_secret_leaks, connect(standin, credentials).org, errors.AuthenticationFailed)
        assert error.message_id == message_id


def test_the_error_class_follows_the_status_text_not_the_message(grafana, connect, no_secret_leaks):
    grafana.fail_next(1, 412, body={"status": "version-mismatch", "message": "A dashboard with the same name"})
    assert failure(no_secret_leaks, connect().org, errors.VersionMismatch).status_text == "version-mismatch"
    grafana.fail_next(1, 412, body={"status": "name-exists", "message": "The dashboard has been changed"})
    failure(no_secret_leaks, connect().org, errors.NameExists)
    grafana.fail_next(1, 404, body={"message": "The dashboard has been changed by someone else"})
    failure(no_secret_leaks, connect().org, errors.NotFound)


def test_rbac_denial_is_a_permission_error(grafana, connect, no_secret_leaks):
    grafana.fail_next(1, 403, body={"accessErrorId": "ACE1", "title": "Access denied",
                                    "message": "You'll need additional permissions. Permissions needed: orgs:read"})
    error = failure(no_secret_leaks, connect().org, errors.PermissionDenied)
    assert "Editor role" in str(error) and "orgs:read" in str(error)


def test_a_proxy_error_page_is_not_mistaken_for_json(grafana, connect, no_secret_leaks):
    grafana.fail_next(5, 502, body="<html><body>Bad Gateway</body></html>")
    error = failure(no_secret_leaks, connect(retry=RetryPolicy(retries=0)).org, errors.GrafanaUnavailable)
    assert "answered 502" in str(error) and "not JSON" in str(error)


def test_a_200_that_is_not_json_is_not_grafana(grafana, connect, no_secret_leaks):
    grafana.fail_next(1, 200, body="<html>a login page</html>")
    error = failure(no_secret_leaks, connect().org, errors.NotGrafana)
    assert "not JSON" in str(error)


def test_search_reads_every_page_of_the_folder(grafana, connect):
    grafana.add_folder("celery", "Celery")
    grafana.add_folder("other", "Other")
    for index in range(5):
        grafana.add_dashboard({"uid": f"d{index}", "title": f"D{index}"}, folder_uid="celery")
    grafana.add_dashboard({"uid": "elsewhere", "title": "Elsewhere"}, folder_uid="other")
    hits = connect().dashboards_in_folder("celery", page_size=2)
    assert sorted(hit["uid"] for hit in hits) == [f"d{index}" for index in range(5)]
    assert [e["query"]["page"] for e in grafana.request_log] == [["1"], ["2"], ["3"]]


def test_missing_things_read_as_none(grafana, connect):
    client = connect()
    assert client.get_dashboard("nope") is None
    assert client.get_folder("nope") is None


def test_a_folder_uid_taken_by_a_dashboard_is_explained(grafana, connect, no_secret_leaks):
    grafana.add_dashboard({"uid": "celery", "title": "A dashboard"})
    error = failure(no_secret_leaks, lambda: LegacyStore(connect()).ensure_folders([("celery", "Celery")]), errors.FolderError)
    assert "a dashboard already uses that uid" in str(error)


def test_a_folder_title_taken_on_grafana_11_2_is_explained(make_grafana, connect, no_secret_leaks):
    old = make_grafana("11.2.0")
    old.add_folder("other-uid", "Celery")
    error = failure(no_secret_leaks, lambda: LegacyStore(connect(old)).ensure_folders([("celery", "Celery")]),
                    errors.FolderError)
    assert "already exists with uid 'other-uid'" in str(error)


def test_the_409_race_itself(grafana, connect):
    """Our GET says missing, another deploy creates it, our POST gets 409: re-read, carry on."""
    client = connect()
    original_get = client.get_folder
    calls = []

    def get_folder_then_lose_the_race(uid):
        found = original_get(uid)
        if not calls:
            calls.append(uid)
            grafana.add_folder(uid, "Celery")  # the other deploy wins between our GET and POST
        return found

    client.get_folder = get_folder_then_lose_the_race
    events = LegacyStore(client).ensure_folders([("celery", "Celery")])
    assert events[0].status == "created"  # from our point of view it now exists
    assert [(e["method"], e["status"]) for e in grafana.request_log] == [
        ("GET", 404), ("POST", 409), ("GET", 200)]


# ----- connections --------------------------------------------------------------------------

def test_one_keep_alive_connection_serves_many_requests(grafana, connect):
    client = connect()
    for _ in range(20):
        client.org()
    assert grafana.connections_accepted == 1
    assert client.request_count == 20


def test_concurrent_requests_share_the_session_pool(grafana, connect):
    client = connect(pool_size=4)
    with ThreadPoolExecutor(4) as pool:
        assert all(pool.map(lambda _: client.org()["id"] == 1, range(40)))
    assert grafana.connections_accepted <= 4


def test_a_sub_path_is_a_prefix_of_every_request(make_grafana, connect):
    standin = make_grafana(sub_path="/grafana/")
    client = connect(standin)
    assert client.base_url.endswith("/grafana")
    client.health()
    client.org()
    assert [entry["path"] for entry in standin.request_log] == ["/grafana/api/health", "/grafana/api/org"]


def test_headers_sent(grafana, connect):
    connect(org_id=1).save_dashboard({"uid": "x", "title": "X"}, "", "queuedash test")
    headers = grafana.request_log[-1]["headers"]
    assert headers["Authorization"] == f"Bearer {ADMIN_TOKEN}"
    assert headers["Content-Type"] == "application/json"
    assert headers["Accept"] == "application/json"
    assert headers["X-Grafana-Org-Id"] == "1"


def test_basic_auth(grafana, connect):
    assert connect(credentials=Credentials(user=USER, password=PASSWORD)).org()["id"] == 1
    assert grafana.request_log[-1]["headers"]["Authorization"].startswith("Basic ")


@pytest.mark.parametrize("url,message", [
    ("", "no Grafana URL"),
    ("grafana.example.com", "must start with http:// or https://"),
    ("http://", "must start with http:// or https://"),
    ("http://host:notaport", "not a valid URL"),
    ("https://user:secret@host", "carries credentials"),
    ("https://host/?x=1", "query or fragment"),
])
def test_bad_urls_are_refused_up_front(url, message, no_secret_leaks):
    error = failure(no_secret_leaks, lambda: base_url(url), errors.GrafanaConfigError)
    assert message in str(error)
    assert "secret" not in str(error)


def test_base_url_keeps_the_sub_path_and_drops_trailing_slashes():
    assert base_url(" https://host:3000/grafana// ") == "https://host:3000/grafana"


def test_tls_verification_is_on_unless_turned_off(tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    assert GrafanaClient("https://grafana.example").session.verify is True
    assert GrafanaClient("https://grafana.example", verify_tls=False).session.verify is False
    assert GrafanaClient("https://grafana.example", ca_bundle=str(bundle)).session.verify == str(bundle)
    with pytest.raises(errors.GrafanaConfigError, match="no such file"):
        GrafanaClient("https://grafana.example", ca_bundle=str(tmp_path / "missing.pem"))


# ----- redaction ----------------------------------------------------------------------------

def test_the_redactor_masks_every_form_of_a_secret():
    redact = Redactor.for_credentials(Credentials(token=ADMIN_TOKEN))
    encoded = base64.b64encode(f"api_key:{ADMIN_TOKEN}".encode()).decode()
    text = f"Authorization: Bearer {ADMIN_TOKEN}; raw {ADMIN_TOKEN}; basic {encoded}"
    assert redact(text) == "Authorization: ***; raw ***; basic ***"
    password = Redactor.for_credentials(Credentials(user=USER, password=PASSWORD))
    assert PASSWORD not in password(f"{USER}:{PASSWORD} and {PASSWORD.replace('-', '%2D')}")
    assert Redactor()("nothing to hide") == "nothing to hide"


def test_no_repr_shows_a_credential(connect):
    client = connect(credentials=Credentials(user=USER, password=PASSWORD))
    token_client = connect()
    for text in (repr(client), repr(client.credentials), repr(client.session.auth), repr(client.redact),
                 repr(token_client), repr(token_client.credentials), repr(token_client.session.auth)):
        assert PASSWORD not in text and ADMIN_TOKEN not in text


def test_a_server_echoing_the_token_does_not_leak_it(grafana, connect, no_secret_leaks):
    grafana.fail_next(1, 400, body={"message": f"bad header Bearer {ADMIN_TOKEN}"})
    error = failure(no_secret_leaks, connect().org, errors.Rejected)
    assert ADMIN_TOKEN not in str(error) and "bad header ***" in str(error)


def test_credentials_come_from_the_environment():
    assert Credentials.from_environment({"GRAFANA_TOKEN": " t0ken-value ", "GRAFANA_USER": "u"}).kind == "token"
    basic = Credentials.from_environment({"GRAFANA_USER": "u", "GRAFANA_PASSWORD": "p4ss"})
    assert (basic.kind, basic.source) == ("basic", "GRAFANA_USER/GRAFANA_PASSWORD")
    assert Credentials.from_environment({}).kind == "none"


def test_threads_see_one_request_counter(grafana, connect):
    client = connect()
    threads = [threading.Thread(target=client.org) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert client.request_count == 8


def test_viewer_can_read(grafana, connect):
    grafana.add_folder("celery", "Celery")
    viewer = connect(credentials=Credentials(token=VIEWER_TOKEN))
    assert viewer.get_folder("celery")["canSave"] is False
