"""`queuedash agent ...` through click's CliRunner: help, and every user mistake
as one line with the right exit status (servers are not needed for these)."""

from __future__ import annotations

from generator.cli import cli


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
                 "SIGTERM"):
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
    for argv, message in cases:
        result = runner.invoke(cli, argv)
        assert result.exit_code == 2, (argv, result.output)
        assert message in result.output, (argv, result.output)


def test_the_prefix_comes_from_the_queuedash_settings(runner, write_settings, in_tmp):
    from queuedash_agent import cli as agent_cli

    seen = {}
    path = write_settings("""
        [naming]
        prefix = "from_file"
    """)

    @agent_cli.agent.command("show-naming")
    def show_naming():
        seen["prefix"] = agent_cli.naming_of_context().prefix

    try:
        assert runner.invoke(cli, ["--config", str(path), "agent", "show-naming"]).exit_code == 0
        assert seen["prefix"] == "from_file"
        assert runner.invoke(cli, ["--prefix", "flag", "agent", "show-naming"]).exit_code == 0
        assert seen["prefix"] == "flag"
    finally:
        agent_cli.agent.commands.pop("show-naming")
