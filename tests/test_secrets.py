"""No secret ever shows: tokens and passwords with every awkward character, through every command
and every failure path, at every verbosity; and the redactor they all go through.

A secret "shows" when any 8-character window of it appears in anything a run produced: stdout,
stderr, the exception and its traceback, every log record. Secrets a header cannot carry (a line
break, a carriage return, a tab, a NUL, a character outside ASCII in a token) are refused when read,
with one line naming the variable; the others go on the wire, to the Grafana stand-in (which
refuses them: 401, or takes them as a Viewer's: 403 at the folder), to a closed port, to a server
answering 500, and to a proxy that quotes the Authorization header in its error message at every
offset around the cut at 300 characters. On a Grafana 13 that takes them as an Admin's, they go
through both deploy paths (/apis and the legacy /api) and each of their failures: Kubernetes
`Status` bodies over several lines (403 on the list, 409 and 422 on a save, and one quoting the
header around the cut), 406 on a legacy read, 409 on a legacy save, 413, each quoting the
secret; and the alert rules' own requests: the permission check answering 401 or 403, a rule
group PUT refused (400, 403, 500) or echoed around the cut, the rules' list refused to `diff`.
Graphite URL passwords go through `check` and `discover`, broker passwords through
`agent poll`. Nothing is mocked: every request is real HTTP.
"""

from __future__ import annotations

import logging
import random
import string
import textwrap
import traceback
from urllib.parse import quote

import pytest
from click.testing import CliRunner

from grafana_standin import GrafanaStandin
from queuedash import secrets
from queuedash.cli.main import cli
from queuedash.grafana.client import GrafanaClient, RetryPolicy
from queuedash.grafana.credentials import Credentials
from queuedash.grafana.errors import GrafanaConfigError, GrafanaError
from test_deploy_support import closed_port

WINDOW = 8
_random = random.Random(12)


def _letters(count: int) -> str:
    return "".join(_random.choice(string.ascii_letters + string.digits) for _ in range(count))


#: Refused when read: a header cannot carry them (a token goes into it as is). A NUL cannot be
#: in an environment variable at all: it is tried where credentials are read, below.
REFUSED_TOKENS = {
    "line break": f"glsa_{_letters(12)}\n{_letters(20)}",
    "carriage return": f"glsa_{_letters(12)}\r{_letters(20)}",
    "tab": f"glsa_{_letters(12)}\t{_letters(20)}",
    "non-Latin-1": f"glsa_{_letters(12)}€{_letters(20)}",
    "Latin-1 but not ASCII": f"glsa_{_letters(12)}é{_letters(20)}",
    "space": f"glsa_{_letters(12)} {_letters(20)}",
    "control character": f"glsa_{_letters(12)}\x1b{_letters(20)}",
}
REFUSED_PASSWORDS = {
    "line break": f"{_letters(10)}\n{_letters(14)}",
    "tab": f"{_letters(10)}\t{_letters(14)}",
    "control character": f"{_letters(10)}\x7f{_letters(14)}",
}
#: Sent: Grafana (or a proxy) gets them, and answers.
SENT_TOKENS = {
    "10 KB": "glsa_" + "".join(_random.choice(string.ascii_letters + string.digits + "-_.~+/=")
                               for _ in range(10 * 1024)),
    "URL-special": f"glsa_{_letters(10)}%2F?#&=+;@:/\\\"'<>{_letters(10)}",
}
SENT_PASSWORDS = {
    "non-Latin-1": f"pässwörd€{_letters(14)}Ω",
    "URL-special": f"p@ss:w/rd?#%&=+ {_letters(14)}\\\"'",
    "10 KB": _letters(10 * 1024),
}
USER = "deployer"

#: Where a proxy quotes the header in its message: around the cut at 300 characters.
ECHO_AT = {0: 400, 250: 401, 290: 403, 296: 500, 299: 400, 300: 401}


def windows(secret: str) -> set[str]:
    if len(secret) <= WINDOW:
        return {secret}
    return {secret[index:index + WINDOW] for index in range(len(secret) - WINDOW + 1)}


def shown(secret: str, texts) -> list[str]:
    """The windows of `secret` found in `texts`."""
    wanted = windows(secret)
    found = set()
    for text in texts:
        found |= {text[i:i + WINDOW] for i in range(max(len(text) - WINDOW + 1, 0))} & wanted
        if len(secret) <= WINDOW and secret in text:
            found.add(secret)
    return sorted(found)


class Runs:
    """Runs the CLI in process and keeps everything each run produced."""

    def __init__(self, caplog):
        self.caplog = caplog
        self.runner = CliRunner()

    def __call__(self, args, env, secret):
        self.caplog.clear()
        result = self.runner.invoke(cli, args, env=env)
        texts = [result.output, result.stdout, result.stderr, repr(result.exception)]
        if result.exc_info is not None:
            texts.append("".join(traceback.format_exception(*result.exc_info)))
        texts += [record.getMessage() for record in self.caplog.records]
        leaked = shown(secret, texts)
        assert not leaked, f"{args}: {len(leaked)} windows of the secret shown, e.g. {leaked[0]!r}:\n{result.output}"
        assert "Traceback" not in result.output or "--debug" in args, result.output
        return result


@pytest.fixture
def runs(caplog):
    caplog.set_level(logging.DEBUG)  # the most verbose logging there is
    return Runs(caplog)


DEFINITION = '''
from queuedash.authoring.alerts import NOT_ZERO, Alert, attach
from queuedash.authoring.dashboard import dashboard
from queuedash.authoring.layout import Row
from queuedash.authoring.panels import Presets


def build(settings):
    stat = Presets(settings).stat("Answer", ["sumSeries(stats_counts.celery.tasks.*.*.failed)"])
    rule = Alert(name="answer-failed", title="Answer failed", condition=NOT_ZERO, reducer="sum")
    return dashboard(settings, name="answer", title="Answer", rows=[Row("Numbers", [attach(stat, rule)])])
'''


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A small project (one definition, with an alert rule) and its build, for deploy --from."""
    root = tmp_path_factory.mktemp("secrets")
    (root / "dashboards").mkdir()
    (root / "dashboards" / "answer.py").write_text(textwrap.dedent(DEFINITION))
    # A project id of its own: deploy asks for one before any request, and the folder is no git clone.
    (root / "queuedash.toml").write_text('queues = ["default"]\n[grafana]\nproject = "github.com/acme/secrets"\n')
    return root


@pytest.fixture
def in_project(project, monkeypatch):
    monkeypatch.chdir(project)
    for name in ("GRAFANA_URL", "GRAFANA_TOKEN", "GRAFANA_USER", "GRAFANA_PASSWORD", "QUEUEDASH_GRAPHITE_URL",
                 "QUEUEDASH_CONFIG", "QUEUEDASH_DEFINITIONS"):
        monkeypatch.delenv(name, raising=False)
    return project


@pytest.fixture(scope="module")
def standins():
    """`viewer`: knows every sent secret as a Viewer's; `stranger`: knows none of them; `admin`, a
    Grafana 13 (/apis), knows them as an Admin's, so deploy gets as far as its saves."""
    viewer, stranger, admin = GrafanaStandin(), GrafanaStandin(), GrafanaStandin(version="13.0.0")
    for standin, role in ((viewer, "Viewer"), (admin, "Admin")):
        for token in SENT_TOKENS.values():
            standin.add_token(token, role=role)
        for password in SENT_PASSWORDS.values():
            standin.add_user(USER + str(len(password)), password, orgs={1: role})
        standin.add_datasource(1, "graphite", "Graphite")  # the default [datasource] uid
    for standin in (viewer, stranger, admin):
        standin.start()
    yield {"viewer": viewer, "stranger": stranger, "admin": admin}
    for standin in (viewer, stranger, admin):
        standin.stop()
        assert not standin.errors, standin.errors[0]


GRAFANA_COMMANDS = (["deploy"], ["deploy", "--dry-run"], ["diff"])
VERBOSITY = ([], ["-v"], ["-vv"])
FAST = ["--retries", "1", "--max-backoff", "0.01", "--timeout", "5"]


def grafana_runs(command, verbosity):
    group = ["--debug"] if verbosity == ["-vv"] else []  # the tracebacks too, at the most verbose
    return group + command + ["--from", "build"] + FAST + verbosity


def credentials_env(kind: str, secret: str, url: str) -> dict:
    if kind == "token":
        return {"GRAFANA_URL": url, "GRAFANA_TOKEN": secret}
    return {"GRAFANA_URL": url, "GRAFANA_USER": USER + str(len(secret)), "GRAFANA_PASSWORD": secret}


@pytest.fixture(scope="module")
def built(project):
    result = CliRunner().invoke(cli, ["--config", str(project / "queuedash.toml"), "build", "--out",
                                      str(project / "build")])
    assert result.exit_code == 0, result.output


# ----- refused when read ---------------------------------------------------------------------

@pytest.mark.parametrize("kind, name, secret",
                         [("token", n, s) for n, s in REFUSED_TOKENS.items()]
                         + [("password", n, s) for n, s in REFUSED_PASSWORDS.items()])
def test_a_secret_a_header_cannot_carry_is_one_line_naming_the_variable(kind, name, secret, in_project, built,
                                                                        standins, runs):
    variable = "GRAFANA_TOKEN" if kind == "token" else "GRAFANA_PASSWORD"
    for command in GRAFANA_COMMANDS:
        for verbosity in VERBOSITY:
            result = runs(grafana_runs(command, verbosity), credentials_env(kind, secret, standins["viewer"].url),
                          secret)
            expected_status = 2 if command == ["diff"] else 1
            assert result.exit_code == expected_status, result.output
            error = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
            assert len(error) == 1 and error[0].startswith(f"Error: {variable} holds "), result.output
            assert "(the value is not shown)" in error[0]
    assert standins["viewer"].request_log == [] or all(
        secret not in str(entry["headers"]) for entry in standins["viewer"].request_log)


def test_the_refusal_says_which_character_and_where_never_the_value():
    with pytest.raises(GrafanaConfigError) as caught:
        Credentials.from_environment({"GRAFANA_TOKEN": "glsa_abc\ndef"})
    assert str(caught.value) == ("GRAFANA_TOKEN holds a line break (character 9 of 12): a token is one line of "
                                 "printable ASCII; set it again (the value is not shown)")
    with pytest.raises(GrafanaConfigError, match="GRAFANA_USER holds a ':'"):
        Credentials.from_environment({"GRAFANA_USER": "a:b", "GRAFANA_PASSWORD": "x"})
    with pytest.raises(GrafanaConfigError, match="GRAFANA_PASSWORD is set but GRAFANA_USER is not"):
        Credentials.from_environment({"GRAFANA_PASSWORD": "x"})
    # A copy-paste from a terminal ends in a line break: the blanks around a token go.
    assert Credentials.from_environment({"GRAFANA_TOKEN": " glsa_abc\n"}).token == "glsa_abc"
    for variables in ({"GRAFANA_TOKEN": "glsa_0123456789\x00abcdefghij"},
                      {"GRAFANA_USER": "u", "GRAFANA_PASSWORD": "0123456789\x00abcdefghij"}):
        with pytest.raises(GrafanaConfigError, match="holds a NUL character") as caught:
            Credentials.from_environment(variables)
        assert not shown("0123456789\x00abcdefghij", [str(caught.value)])


def test_a_client_given_a_token_no_header_can_carry_says_so_masked():
    """Past the check (a library caller building Credentials itself), the transport's own error
    quotes the header: masked in every form, NUL included."""
    token = f"glsa_{_letters(12)}\x00{_letters(20)}"
    client = GrafanaClient(f"http://127.0.0.1:{closed_port()}", Credentials(token=token),
                           retry=RetryPolicy(retries=0))
    with pytest.raises(GrafanaError) as caught:
        client.health()
    assert not shown(token, [str(caught.value), repr(caught.value)])


# ----- sent, and refused or echoed --------------------------------------------------------------

def grafana_paths(standins):
    """(name, Grafana URL, arm the faults) for each failure path."""
    viewer = standins["viewer"]

    def nothing():
        pass

    paths = [("closed port", f"http://127.0.0.1:{closed_port()}", nothing),
             ("401 (unknown credentials)", standins["stranger"].url, nothing),
             ("403 (a Viewer's)", viewer.url, nothing),
             ("500", viewer.url, lambda: viewer.fail_next(1, 500, path_prefix="/api/org"))]
    for offset, status in ECHO_AT.items():
        paths.append((f"echo at {offset} ({status})", viewer.url,
                      lambda offset=offset, status=status: viewer.echo_next(1, status, offset=offset)))
    return paths


@pytest.mark.parametrize("kind, name, secret",
                         [("token", n, s) for n, s in SENT_TOKENS.items()]
                         + [("password", n, s) for n, s in SENT_PASSWORDS.items()])
def test_a_secret_on_the_wire_never_shows_whatever_the_answer(kind, name, secret, in_project, built, standins,
                                                              runs):
    for path, url, arm in grafana_paths(standins):
        # The echo comes back on the first request, which every command makes the same way.
        commands = GRAFANA_COMMANDS[:1] if path.startswith("echo") else GRAFANA_COMMANDS
        for command in commands:
            for verbosity in VERBOSITY:
                arm()
                result = runs(grafana_runs(command, verbosity), credentials_env(kind, secret, url), secret)
                assert result.exit_code in (0, 1, 2), (path, result.output)
                standins["viewer"].clear_request_log()


DASHBOARDS = "/apis/dashboard.grafana.app/v1/namespaces/default/dashboards"


def apis_paths(standin, secret: str):
    """(name, --api, arm the faults) for each failure of the two deploy paths on Grafana 13; each
    answer quotes the secret (a server that echoes what it was sent)."""

    def status(code: int, reason: str, message: str) -> dict:
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": message, "reason": reason, "code": code}

    said = f"what was sent:\n{secret}\n(end)"
    paths = [
        ("k8s 403 on the list", "auto", lambda: standin.fail_next(
            1, 403, status(403, "Forbidden", f"dashboards is forbidden: {said}"), methods="GET",
            path_prefix=DASHBOARDS)),
        ("k8s 409 on a save", "auto", lambda: standin.fail_next(
            1, 409, status(409, "Conflict", f"the object has been modified: {said}"), methods="POST",
            path_prefix=DASHBOARDS)),
        ("k8s 422 on a save", "auto", lambda: standin.fail_next(
            2, 422, status(422, "Invalid", f"Dashboard is invalid:\n* spec: {said}"), methods="POST",
            path_prefix=DASHBOARDS)),
        ("413 on a save", "auto", lambda: standin.fail_next(
            2, 413, {"message": f"Dashboard is too large, max is 10 MB: {said}"}, methods="POST",
            path_prefix=DASHBOARDS)),
        ("406 on a legacy read", "legacy", lambda: standin.fail_next(
            1, 406, {"message": f"dashboard api version not supported: {said}"}, methods="GET",
            path_prefix="/api/dashboards/uid/")),
        ("409 on a legacy save", "legacy", lambda: standin.fail_next(
            2, 409, {"message": f"Dashboard already exists. Use overwrite flag to update. {said}"},
            methods="POST", path_prefix="/api/dashboards/db")),
        ("413 on a legacy save", "legacy", lambda: standin.fail_next(
            1, 413, {"message": f"Dashboard is too large, max is 10 MB: {said}"}, methods="POST",
            path_prefix="/api/dashboards/db")),
    ]
    for offset, code in ECHO_AT.items():
        paths.append((f"k8s echo at {offset} ({code})", "auto",
                      lambda offset=offset, code=code: standin.echo_next(1, code, offset=offset, reason="BadRequest",
                                                                         path_prefix=DASHBOARDS)))
    return paths


@pytest.mark.parametrize("kind, name, secret",
                         [("token", n, s) for n, s in SENT_TOKENS.items()]
                         + [("password", n, s) for n, s in SENT_PASSWORDS.items()])
def test_a_secret_never_shows_on_either_deploy_path_whatever_grafana_13_answers(kind, name, secret, in_project,
                                                                                built, standins, runs):
    admin = standins["admin"]
    for path, api, arm in apis_paths(admin, secret):
        for command in GRAFANA_COMMANDS:
            for verbosity in VERBOSITY:
                arm()
                result = runs(grafana_runs(command, verbosity) + ["--api", api],
                              credentials_env(kind, secret, admin.url), secret)
                assert result.exit_code in (0, 1, 2), (path, result.output)
                assert "through /apis" in result.output or "through the legacy /api" in result.output, \
                    (path, result.output)
                # Each run starts from an empty Grafana, so that deploy saves, with no fault left over.
                admin.clear_faults()
                for dashboard in admin.dashboards():
                    admin.remove_dashboard(dashboard["uid"])
                admin.clear_request_log()


def test_the_echo_reaches_the_message_masked_whole(in_project, built, standins, runs):
    """The proxy's message is shown, cut after masking: the token straddling the cut is gone whole."""
    token = SENT_TOKENS["URL-special"]
    standins["viewer"].echo_next(1, 400, offset=296, path_prefix="/api/health")
    result = runs(["deploy", "--from", "build", "--retries", "0"],
                  credentials_env("token", token, standins["viewer"].url), token)
    assert result.exit_code == 1
    assert "x" * 296 + "***" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_non_latin_1_password_is_sent_as_grafana_reads_it(in_project, built, standins, runs):
    """Basic auth in UTF-8: the Viewer the stand-in knows by this password gets in (and may not
    create the folder, nor provision the rules), where requests would have sent Latin-1 or raised."""
    password = SENT_PASSWORDS["non-Latin-1"]
    env = credentials_env("password", password, standins["viewer"].url)
    result = runs(["deploy", "--from", "build", "--no-rules"], env, password)
    assert result.exit_code == 1
    assert "POST /api/folders answered 403" in result.stderr, result.output
    result = runs(["deploy", "--from", "build"], env, password)
    assert result.exit_code == 1
    assert "may not provision alert rules in folder 'queuedash'" in result.stderr, result.output


PERMISSIONS = "/api/access-control/user/permissions"
RULES = "/api/v1/provisioning/"


def rules_paths(standin, secret: str):
    """(name, arm the faults) for each failure of the alert rules' requests on Grafana 13; each
    answer quotes the secret, or the header around the cut."""
    said = f"what was sent:\n{secret}\n(end)"
    paths = [
        ("permission check 401", lambda: standin.echo_next(1, 401, offset=10, path_prefix=PERMISSIONS)),
        ("permission check 403", lambda: standin.fail_next(1, 403, {"message": f"forbidden: {said}"},
                                                           path_prefix=PERMISSIONS)),
        ("rule list 403", lambda: standin.fail_next(1, 403, {"message": f"forbidden: {said}"}, methods="GET",
                                                    path_prefix=RULES + "alert-rules")),
        ("group PUT 400", lambda: standin.fail_next(1, 400, {"message": f"invalid alert rule: {said}"},
                                                    methods="PUT", path_prefix=RULES)),
        ("group PUT 403", lambda: standin.fail_next(1, 403, {"message": f"forbidden: {said}"}, methods="PUT",
                                                    path_prefix=RULES)),
        ("group PUT 500", lambda: standin.fail_next(2, 500, f"<pre>panic: {said}</pre>", methods="PUT",
                                                    path_prefix=RULES)),
    ]
    for offset, code in ECHO_AT.items():
        paths.append((f"group PUT echo at {offset} ({code})",
                      lambda offset=offset, code=code: standin.echo_next(1, code, offset=offset, methods="PUT",
                                                                         path_prefix=RULES)))
        paths.append((f"rules' read echo at {offset} ({code})",
                      lambda offset=offset, code=code: standin.echo_next(1, code, offset=offset, methods="GET",
                                                                         path_prefix=RULES)))
    return paths


@pytest.mark.parametrize("kind, name, secret",
                         [("token", n, s) for n, s in SENT_TOKENS.items()]
                         + [("password", n, s) for n, s in SENT_PASSWORDS.items()])
def test_a_secret_never_shows_whatever_the_alert_rules_requests_get(kind, name, secret, in_project, built,
                                                                   standins, runs):
    admin = standins["admin"]
    for path, arm in rules_paths(admin, secret):
        # An echo comes back on the rules' first read or write, which deploy makes.
        commands = GRAFANA_COMMANDS[:1] if " echo " in path else GRAFANA_COMMANDS
        for command in commands:
            for verbosity in VERBOSITY:
                arm()
                result = runs(grafana_runs(command, verbosity), credentials_env(kind, secret, admin.url), secret)
                assert result.exit_code in (0, 1, 2), (path, result.output)
                if command == ["deploy"]:  # deploy makes every request the faults wait for
                    assert any(entry["fault"] for entry in admin.request_log), (path, result.output)
                # Each run starts from a Grafana with no rule, so that deploy writes the group.
                admin.clear_faults()
                admin.alerting.remove_rules()
                admin.clear_request_log()


# ----- Graphite and broker URLs ------------------------------------------------------------------

GRAPHITE_PASSWORDS = {
    "URL-special": f"p@ss:w/rd?#%&=+ {_letters(14)}",
    "non-Latin-1": f"pässwörd€{_letters(14)}",
    "10 KB": _letters(10 * 1024),
}


def graphite_url(password: str, port: int) -> str:
    return f"http://reader:{quote(password, safe='')}@127.0.0.1:{port}"


@pytest.mark.parametrize("name, password", GRAPHITE_PASSWORDS.items())
def test_a_graphite_password_never_shows(name, password, in_project, standins, runs):
    """`check` and `discover` at a closed port, a 401, a 403, a 500, a proxy echoing the
    header, and a server that is not graphite-web; the URL as an option and in the environment."""
    server = standins["stranger"]
    faults = {
        "closed port": (closed_port(), lambda: None),
        "401": (server.port, lambda: server.fail_next(1, 401)),
        "403": (server.port, lambda: server.fail_next(1, 403)),
        "500": (server.port, lambda: server.fail_next(1, 500, body=f"<pre>Traceback\nValueError: {password}</pre>")),
        "echo": (server.port, lambda: server.echo_next(1, 400, offset=10)),
        "not graphite-web": (server.port, lambda: None),
    }
    for fault, (port, arm) in faults.items():
        url = graphite_url(password, port)
        for command in (["check"], ["discover"], ["--debug", "check"], ["--debug", "discover"]):
            for args, env in ((command + ["--graphite", url], {}), (command, {"QUEUEDASH_GRAPHITE_URL": url})):
                arm()
                result = runs(args + ["--timeout", "5"], env, password)
                assert result.exit_code in (1, 2), (fault, result.output)
                assert "reader:***@127.0.0.1" in result.output or "ERROR" in result.output, (fault, result.output)
                server.clear_request_log()


def test_a_broker_password_never_shows(in_project, runs):
    password = SENT_PASSWORDS["URL-special"]
    port = closed_port()
    for broker in (f"redis://:{quote(password, safe='')}@127.0.0.1:{port}/0",
                   f"amqp://guest:{quote(password, safe='')}@127.0.0.1:{port}//"):
        for level in ("info", "debug"):
            result = runs(["agent", "poll", "--once", "--queue", "default", "--broker", broker,
                           "--management-url", f"http://guest:{quote(password, safe='')}@127.0.0.1:{port}",
                           "--log-level", level], {}, password)
            assert result.exit_code == 1, result.output


# ----- the redactor -----------------------------------------------------------------------------

def test_every_form_of_a_secret_is_masked():
    secret = "p@ss wörd/€\n" + "x" * 10
    redact = secrets.Redactor([secret])
    for form in (secret, quote(secret, safe=""), quote(secret), repr(secret)[1:-1], repr(secret.encode())[2:-1],
                 secret.encode("unicode_escape").decode(), "x" * 10):
        assert redact(f"<{form}>") == "<***>", form


def test_masked_before_it_is_cut():
    secret = _letters(40)
    redact = secrets.Redactor([secret])
    for offset in range(260, 301):
        cut = redact.cut("a" * offset + secret + "b" * 50, 300)
        assert not shown(secret, [cut]) and len(cut) <= 300


def test_url_passwords_are_found_wherever_urls_are():
    found = secrets.from_environment({"GRAFANA_TOKEN": "t0ken", "HTTP_PROXY": "http://u:pr0xy@proxy:3128",
                                      "OTHER": "no url here"},
                                     ["--graphite", "http://reader:s%40cret@graphite/x", "--broker=amqp://g:b@r//"])
    assert {"t0ken", "pr0xy", "s%40cret", "s@cret", "b"} <= set(found)
    assert secrets.without_password("http://reader:p@ss@host:8080/x?y") == "http://reader:***@host:8080/x?y"
    assert secrets.without_password("http://host:8080/render") == "http://host:8080/render"
