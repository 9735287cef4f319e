"""`queuedash agent ...` through click's CliRunner: help, and every user mistake
as one line with the right exit status (servers are not needed for these)."""

from __future__ import annotations

import click
import pytest
from agent_support import wait_for

from queuedash.cli.main import cli


def test_the_agent_group_is_registered_and_explains_itself(runner):
    result = runner.invoke(cli, ["agent", "--help"])
    assert result.exit_code == 0
    assert "events" in result.output and "poll" in result.output
    assert "queuedash_agent.install(app)" in result.output
    assert "<prefix>.tasks.<queue>.<task>.<state>" in result.output


def test_events_help_names_its_environment_and_sources(runner):
    result = runner.invoke(cli, ["agent", "events", "--help"])
    assert result.exit_code == 0
    for text in ("--broker", "task_send_sent_event", "--route", "--default-queue", "--max-tasks", "--statsd-host",
                 "SIGTERM", "--per-host", "[naming] per_host"):
        assert text in result.output


def test_poll_help(runner):
    result = runner.invoke(cli, ["agent", "poll", "--help"])
    assert result.exit_code == 0
    assert "global_keyprefix" in result.output and "messages_ready" in result.output


def test_the_broker_is_required(runner, in_tmp):
    result = runner.invoke(cli, ["agent", "poll", "--once"])
    assert result.exit_code == 2
    assert "Missing option '--broker'" in result.output


def test_the_broker_can_come_from_the_environment(runner, in_tmp, monkeypatch):
    monkeypatch.setenv("QUEUEDASH_BROKER_URL", "sqs://")
    result = runner.invoke(cli, ["agent", "poll", "--once"])
    assert result.exit_code == 2
    assert "cannot poll a sqs broker" in result.output


def test_an_unresolvable_statsd_host_is_one_line(runner, in_tmp):
    result = runner.invoke(cli, ["agent", "poll", "--broker", "redis://127.0.0.1:1/0", "--once",
                                 "--statsd-host", "no-such-host.invalid"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: cannot resolve StatsD host 'no-such-host.invalid'")
    assert "Traceback" not in result.output


def test_a_broker_that_does_not_answer_is_one_line(runner, in_tmp):
    result = runner.invoke(cli, ["agent", "poll", "--broker", "redis://127.0.0.1:1/0", "--queue", "q", "--once"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: redis redis://127.0.0.1:1/0:")


def test_bad_options_are_usage_errors(runner, in_tmp):
    cases = [
        (["agent", "poll", "--broker", "redis://x/0", "--priority-steps", "0,high", "--once"], "--priority-steps"),
        (["agent", "events", "--broker", "redis://x/0", "--route", "no-queue"], "PATTERN=QUEUE"),
        (["agent", "events", "--broker", "redis://x/0", "--app", "no_such_module:app"], "cannot import"),
        (["agent", "events", "--broker", "redis://x/0", "--app", "json:dumps"], "is not a Celery app"),
        (["agent", "events", "--broker", "redis://x/0", "--max-tasks", "0"], "--max-tasks"),
    ]
    result = runner.invoke(cli, ["agent", "events", "--broker", "redis://x/0"], env={"QUEUEDASH_PER_HOST": "maybe"})
    assert result.exit_code == 2 and "'maybe' is not a valid boolean" in result.output, result.output
    for argv, message in cases:
        result = runner.invoke(cli, argv)
        assert result.exit_code == 2, (argv, result.output)
        assert message in result.output, (argv, result.output)


@pytest.mark.realstack
def test_the_prefix_is_the_agents_own_never_the_settings_file(runner, in_tmp, redis_server, capture,
                                                              monkeypatch):
    """A queuedash.toml in the working directory is the dashboards' business: the agent
    takes its prefix from --prefix or QUEUEDASH_PREFIX only."""
    (in_tmp / "queuedash.toml").write_text('[naming]\nprefix = "from_file"\n', encoding="utf-8")
    def sent_keys(*argv):
        before = set(capture.keys())
        result = runner.invoke(cli, ["agent", "poll", "--broker", redis_server.url, "--queue", "q", "--once",
                                     "--statsd-port", str(capture.port), *argv])
        assert result.exit_code == 0, result.output
        wait_for(lambda: set(capture.keys()) - before, 5)
        return set(capture.keys()) - before

    def gauges(prefix):
        return {f"{prefix}.broker.q.length", f"{prefix}.broker.q.consumers"}

    assert sent_keys() == gauges("celery")
    assert sent_keys("--prefix", "flag") == gauges("flag")
    monkeypatch.setenv("QUEUEDASH_PREFIX", "env")
    assert sent_keys() == gauges("env")


def test_a_bad_prefix_is_a_usage_error(runner, in_tmp):
    result = runner.invoke(cli, ["agent", "poll", "--broker", "redis://127.0.0.1:1/0", "--once", "--prefix", "a..b"])
    assert result.exit_code == 2
    assert "--prefix" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("spec", ["no_such_module:app", ".", "..", "os:path"])
def test_an_app_that_is_none_is_one_line(runner, in_tmp, spec):
    result = runner.invoke(cli, ["agent", "events", "--broker", "redis://127.0.0.1:9/0", "--app", spec])
    assert result.exit_code == 2
    assert "Invalid value for --app" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("command, option", [
    ("poll", "--interval"), ("poll", "--inspect-timeout"), ("events", "--poll-interval"),
    ("events", "--task-ttl"), ("events", "--heartbeat-interval"), ("events", "--worker-expiry"),
    ("events", "--reconnect-max"), ("events", "--inspect-timeout"),
])
@pytest.mark.parametrize("value", ["1e999", "inf", "1e12"])
def test_a_wait_beyond_what_the_clock_takes_is_a_usage_error(command, option, value):
    """`agent poll --interval 1e999` slept into an OverflowError traceback on its second poll.
    The options are parsed only (the commands themselves run until stopped)."""
    agent_command = cli.commands["agent"].commands[command]
    with pytest.raises(click.BadParameter) as caught:
        agent_command.make_context(command, ["--broker", "redis://127.0.0.1:1/0", option, value])
    assert option in caught.value.format_message() or option in str(caught.value.param.opts)
