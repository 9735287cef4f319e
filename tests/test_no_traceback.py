"""No traceback for a user's mistake, anywhere: properties over generated settings files and options.

Hypothesis writes settings files from the repository's own (every key of it) with values of the
wrong type, unknown and misspelt keys, keys taken away and odd strings (blank, control characters,
Jinja2 and Graphite syntax, very long, non-ASCII) in every field, and sometimes no TOML at all;
and it gives every command odd option values. Whatever it makes, a run ends with exit status 0, 1
or 2; a run that fails says so in a few lines, one of them the error, with no traceback, and the
previous build is untouched; a run that succeeds builds what Grafana reads. Examples are
derandomized (the same ones every run, so CI is stable); `NO_TRACEBACK_EXAMPLES=500
NO_TRACEBACK_RANDOM=1` searches further.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tomllib
from pathlib import Path

import pytest
import tomlkit
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from queuedash.cli.main import cli
from queuedash.compile.validate import problems

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = int(os.environ.get("NO_TRACEBACK_EXAMPLES", "40"))
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, derandomize=os.environ.get("NO_TRACEBACK_RANDOM") != "1",
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large])

#: Strings a careless user (or a copy-paste) puts anywhere.
ODD_STRINGS = st.one_of(
    st.sampled_from(["", " ", "   ", "\t", "\n", "a\nb", "€", "é", "{{", "{{ queue.nam }}", "{% if %}", "}}",
                     "a.b", "a b", "-", "*", "#A", "sumSeries(", "'", '"', "\\", "0", "-1", "1e999", "nan", "true",
                     "now-", "1 minute", "../x", "x" * 300, "queuedash", "celery", "💥", "\u200b", "\x7f"]),
    st.text(max_size=12),
)
#: TOML can hold these; a setting expects one of them, and gets another.
ANY_VALUE = st.recursive(
    st.one_of(ODD_STRINGS, st.integers(-10 ** 6, 10 ** 6), st.floats(allow_nan=True), st.booleans()),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(ODD_STRINGS.filter(bool), inner,
                                                                          max_size=3)),
    max_leaves=6,
)


def _paths(table: dict, prefix=()) -> list[tuple]:
    """Every key path of a settings table, nested tables included."""
    found = []
    for key, value in table.items():
        found.append(prefix + (key,))
        if isinstance(value, dict):
            found += _paths(value, prefix + (key,))
    return found


BASE = tomllib.loads((REPO / "queuedash.toml").read_text())
BASE.pop("definitions", None)  # the standard definitions, wherever the file is
KEY_PATHS = _paths(BASE) + [("queue", "emails", key) for key in ("links", "runbook_url", "tags", "expected_workers",
                                                                   "failure_ratio_alert", "runbook_template")]
# Keys the repository's file leaves commented out: the alert rules' among them, for every queue and one.
ALERT_KEYS = ("alert_for", "alert_window", "alert_interval", "alert_no_data", "alert_severity", "alert_labels",
              "alert_group", "backlog_growing_for", "alerts")
KEY_PATHS += [("grafana", "project")] + [(table, *rest, key) for table, *rest in (("defaults",),
                                                                                  ("queue", "emails"))
                                         for key in ALERT_KEYS]
assert ("grafana", "api") in KEY_PATHS and ("alerting", "grafana_version") in KEY_PATHS
#: Paths a value must not point outside the project with (the property writes where they say).
PATH_KEYS = {("output",), ("templates",), ("definitions",)}


def _misspelt(key: str, draw) -> str:
    index = draw(st.integers(0, max(len(key) - 1, 0)))
    return draw(st.sampled_from([key[:index] + key[index + 1:], key[:index] + key[index:index + 2][::-1]
                                 + key[index + 2:], key + "s", key.upper()])) or "x"


@st.composite
def settings_files(draw) -> str:
    """A settings file: the repository's, mistaken in one to three places (or no TOML at all)."""
    if draw(st.integers(0, 19)) == 0:
        return draw(st.sampled_from(["queues = [", "[queue.a\n", "a = 1\na = 2\n", "\x00", "queues = ['a']]"]))
    data = json.loads(json.dumps(BASE))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(KEY_PATHS))
        *parents, key = path
        table = data
        for parent in parents:
            if not isinstance(table.get(parent), dict):
                table[parent] = {}
            table = table[parent]
        mistake = draw(st.sampled_from(["value", "value", "odd string", "unknown key", "misspelt key", "remove"]))
        if mistake == "remove":
            table.pop(key, None)
        elif mistake == "unknown key":
            table[draw(ODD_STRINGS.filter(bool))] = draw(ANY_VALUE)
        elif mistake == "misspelt key":
            table[_misspelt(key, draw)] = table.pop(key, draw(ANY_VALUE))
        elif tuple(path) in PATH_KEYS:
            table[key] = draw(st.sampled_from(["out put", "a\tb", "é", "build/x", "-", "x" * 100]))
        else:
            table[key] = draw(ODD_STRINGS if mistake == "odd string" else ANY_VALUE)
    return tomlkit.dumps(data)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A project with the repository's settings (standard definitions) and a build of it."""
    root = tmp_path_factory.mktemp("no-traceback")
    settings_text = (REPO / "queuedash.toml").read_text().replace('definitions = "dashboards"\n', "")
    (root / "queuedash.toml").write_text(settings_text)
    previous = os.getcwd()
    os.chdir(root)
    try:
        result = CliRunner().invoke(cli, ["build"])
    finally:
        os.chdir(previous)
    assert result.exit_code == 0, result.output
    return root


def snapshot(root: Path) -> dict:
    """The previous build: the dashboards, and their alert rules beside them."""
    return {f"{folder}/{path.name}": path.read_bytes() for folder in ("dashboards", "rules")
            for path in sorted((root / "build" / folder).iterdir())}


def check_run(result, root: Path, before: dict, debug: bool = False, report: bool = False) -> None:
    """The property of one run. `debug`: --debug asked for the traceback behind an error; a
    `report` lists lines before its error (validate's problems, -v's retries)."""
    assert result.exit_code in (0, 1, 2), (result.exit_code, result.output)
    assert "internal error" not in result.output, result.output
    if not debug:
        assert "Traceback" not in result.output, result.output
    if result.exit_code == 0:
        return
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    # The error is one line, the last: a line break in a value or key never splits it.
    assert errors and errors[-1].startswith("Error:"), result.output
    assert sum(line.startswith("Error:") for line in errors) == 1, result.output
    if not debug and not report:
        assert len(errors) <= 4, result.output  # click's usage error is 3 lines; a TLS warning adds one
    assert snapshot(root) == before, "the previous build changed"


@pytest.fixture
def in_project(project, monkeypatch):
    monkeypatch.chdir(project)
    for name in list(os.environ):
        if name.startswith(("QUEUEDASH_", "GRAFANA_")):
            monkeypatch.delenv(name)
    return project


def _restore(root: Path, before: dict) -> None:
    """After a build that succeeded (with settings of its own), the baseline build again."""
    for folder in ("dashboards", "rules"):
        shutil.rmtree(root / "build" / folder, ignore_errors=True)
        (root / "build" / folder).mkdir(parents=True)
    for name, data in before.items():
        (root / "build" / name).write_bytes(data)
    for path in root.iterdir():
        if path.name not in ("build", "queuedash.toml", "mistaken.toml"):
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink()


@PROPERTY
@given(text=settings_files())
def test_any_settings_file_gives_a_build_or_one_line(in_project, text):
    before = snapshot(in_project)
    (in_project / "mistaken.toml").write_text(text, encoding="utf-8", errors="surrogatepass")
    result = CliRunner().invoke(cli, ["--config", "mistaken.toml", "build", "--out", "build/dashboards"])
    check_run(result, in_project, before)
    if result.exit_code == 0:
        for path in (in_project / "build" / "dashboards").glob("*.json"):
            assert problems(json.loads(path.read_text())) == []
    _restore(in_project, before)


# ----- option values, every command -----------------------------------------------------------------

def _url(draw) -> str:
    port = closed_port()
    return draw(st.sampled_from([f"http://127.0.0.1:{port}", f"http://u:p@127.0.0.1:{port}", f"127.0.0.1:{port}",
                                 "ftp://127.0.0.1/", "http://:0", "http://[::1", f"https://127.0.0.1:{port}/x?y=1",
                                 "", " ", "http://127.0.0.1:notaport", "\u20ac://x"]))


def _number(draw) -> str:
    return draw(st.one_of(st.sampled_from(["0", "-1", "1e999", "nan", "inf", "0.0001", "soon", "", "1,5", "99999"]),
                          st.integers(-3, 3).map(str)))


ODD = lambda draw: draw(ODD_STRINGS.filter(lambda text: "\x00" not in text))  # noqa: E731


def either(valid, odd=ODD):
    """Mostly a value that works (so the run goes on to what comes after it), sometimes an odd one."""
    def value(draw) -> str:
        if draw(st.integers(0, 3)):
            return draw(st.sampled_from(valid)) if isinstance(valid, list) else valid(draw)
        return odd(draw)
    return value


def _closed_url(scheme="http") -> str:
    return f"{scheme}://127.0.0.1:{closed_port()}"


GROUP = {"--config": either(["queuedash.toml"]), "--definitions": ODD, "--datasource-uid": either(["graphite", "g-1"]),
         "--namespace": either(["legacy", "modern"]), "--prefix": either(["celery", "jobs"]),
         "--definition-timeout": either(["5", "30"], _number), "--debug": None, "--per-host": None,
         "--no-per-host": None}


def _options(draw, table: dict, rarely: bool = False) -> list[str]:
    args = []
    for option, values in table.items():
        if draw(st.integers(0, 4 if rarely else 1)):
            continue
        args += [option] if values is None else [option, values(draw)]
    return args


#: The options deploy and diff share. The project folder is no git clone: without --project (or an
#: odd one), deploy stops at the project id, before any request.
GRAFANA_OPTIONS = {
    "--url": either(lambda d: _closed_url(), _url), "--org-id": either(["1", "2"], _number),
    "--ca-bundle": ODD, "--insecure": None, "--timeout": either(["0.5", "2"], _number),
    "--retries": either(["0", "1"], _number), "--max-backoff": either(["0.01"], _number),
    "--jobs": either(["1", "4"], _number),
    "--api": either(["auto", "legacy", "apis"]), "--project": either(["github.com/acme/ops", "ops-1"]),
    "--from": either(["build/dashboards"], lambda d: d(st.sampled_from(["build", "queuedash.toml", "no"]))),
    "--only": either(["tasks", "emails"]), "-v": None,
    "--rules-from": either(["build/rules"], lambda d: d(st.sampled_from(["build/dashboards", "queuedash.toml", "no"]))),
    "--no-rules": None,
}

COMMANDS = {
    "build": {"--out": either(["out", "build/dashboards"], lambda d: d(st.sampled_from(["queuedash.toml", "é", "."]))),
              "--only": either(["tasks", "emails", "queue-emails"]), "--for-import": None,
              "--provisioning": either(["p"], lambda d: d(st.sampled_from(["queuedash.toml", "é"]))),
              "--provisioning-path": ODD,
              "--rules-out": either(["rules", "build/rules"],
                                    lambda d: d(st.sampled_from(["queuedash.toml", "build/dashboards", "é", "."]))),
              "--grafana-version": either(["10.4", "11.6", "13.0.0"])},
    "list": {},
    "validate": {"--grafana-version": either(["10.4", "11.6"])},
    "check": {"--graphite": either(lambda d: _closed_url(), _url), "--from": either(["-1h", "now-6h"]),
              "--until": either(["now"]), "--strict": None, "--only": either(["tasks", "emails"]),
              "--found-values": None, "--timeout": either(["0.5"], _number), "--no-rules": None},
    "discover": {"--graphite": either(lambda d: _closed_url(), _url), "--write": None,
                 "--timeout": either(["0.5"], _number)},
    "deploy": {**GRAFANA_OPTIONS, "--dry-run": None, "--force": None, "--prune": None, "--show-diff": None},
    "diff": GRAFANA_OPTIONS,
    "agent poll": {"--broker": either(lambda d: _closed_url("redis") + "/0", lambda d: d(st.sampled_from([
                       f"amqp://g:p@127.0.0.1:{closed_port()}//", "redis://",
                       "nosuch://x", "", " ", "redis://:pw@127.0.0.1:notaport/0"]))),
                   "--queue": ODD, "--global-keyprefix": ODD, "--priority-steps": either(["0,3,6,9", "0"]),
                   "--management-url": either(lambda d: _closed_url(), _url), "--prefix": either(["celery"]),
                   "--statsd-host": lambda draw: draw(st.sampled_from(["127.0.0.1", "", "::1", "256.0.0.1"])),
                   "--statsd-port": either(["8125"], _number), "--log-level": either(["info", "debug"]),
                   "--inspect-timeout": either(["0", "1"], _number)},
    "agent events": {"--app": lambda draw: draw(ODD_STRINGS.filter(lambda t: t.strip() and "\x00" not in t
                                                                   and "celery" not in t.lower())),
                     "--route": either(["proj.*=emails"]), "--default-queue": either(["unknown"]),
                     "--max-tasks": either(["10"], _number), "--task-ttl": either(["60"], _number),
                     "--heartbeat-interval": either(["2"], _number), "--reconnect-max": either(["1"], _number),
                     "--worker-expiry": either(["300"], _number), "--inspect-timeout": either(["1"], _number),
                     "--poll-interval": either(["0", "10"], _number), "--per-host": None, "--no-per-host": None},
}

#: GRAFANA_TOKEN as it may be set: working, broken by a copy-paste, or anything.
TOKENS = st.one_of(st.sampled_from(["glsa_token_0123456789abcdef", "glsa_€token", "glsa_tok\nen", "glsa tok", "é"]),
                   ODD_STRINGS).filter(lambda text: "\x00" not in text)


#: QUEUEDASH_PER_HOST as it may be set (None: not set), read by the group and by `agent events`.
PER_HOST_VALUES = st.one_of(st.none(), st.sampled_from(["true", "0", "yes"]),
                            ODD_STRINGS.filter(lambda text: "\x00" not in text))


@st.composite
def command_lines(draw, command: str) -> list[str]:
    # deploy: no retry waits unless the options ask for them (a later option wins over these).
    quick = ["--retries", "0", "--max-backoff", "0.01", "--timeout", "2"] if command in ("deploy", "diff") else []
    args = _options(draw, GROUP, rarely=True) + command.split() + quick + _options(draw, COMMANDS[command])
    if command == "validate":
        args += draw(st.lists(st.sampled_from(["build", "build/dashboards", "build/rules", "queuedash.toml", ".",
                                               "nowhere", "é"]),
                              max_size=2))
    if command == "agent poll":
        args += ["--once"] + (["--broker", f"redis://127.0.0.1:{closed_port()}/0"] if "--broker" not in args else [])
    if command == "agent events":
        # Valid options start a monitor that runs until stopped: an --app that cannot be one ends it.
        args += ["--broker", f"redis://127.0.0.1:{closed_port()}/0"] + (
            [] if "--app" in args else ["--app", "no_such_module:app"])
    return args


@pytest.mark.parametrize("command", list(COMMANDS))
def test_any_option_values_give_a_result_or_one_line(in_project, command):
    environment = {"GRAFANA_URL": f"http://127.0.0.1:{closed_port()}", "GRAFANA_TOKEN": "glsa_x"}

    @PROPERTY
    @given(args=command_lines(command), token=TOKENS, per_host=PER_HOST_VALUES)
    def run(args, token, per_host):
        before = snapshot(in_project)
        result = CliRunner().invoke(cli, args, env={**environment, "GRAFANA_TOKEN": token or "glsa_x",
                                                    "QUEUEDASH_PER_HOST": per_host})
        check_run(result, in_project, before, debug="--debug" in args,
                  report=command == "validate" or "-v" in args)
        if result.exit_code == 0 and before != snapshot(in_project):
            _restore(in_project, before)

    run()
