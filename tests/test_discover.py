"""Discovery: queues in a real Graphite against the inventory; writing new ones."""

import time

import pytest

from queuedash.cli.main import cli
from queuedash.check.discover import add_queues
from queuedash.naming.metrics import ANY, Naming
from queuedash.settings import load

INVENTORY = '''\
# Our queues. Keep this comment.
queues = [
    "default",   # the catch-all
    "emails",
    "never.used",
]

[queue.emails]
team = "growth"  # owners
'''


def test_new_queues_are_appended_keeping_comments_and_order(tmp_path):
    path = tmp_path / "queuedash.toml"
    path.write_text(INVENTORY)
    add_queues(path, ["reports_weekly", "default"])
    text = path.read_text()
    assert text.startswith("# Our queues. Keep this comment.\n")
    assert '"default",   # the catch-all' in text and 'team = "growth"  # owners' in text
    assert [q.name for q in load(path).queues] == ["default", "emails", "never.used", "reports_weekly"]


def test_a_file_without_queues_gets_the_list_at_the_top(tmp_path):
    path = tmp_path / "queuedash.toml"
    path.write_text('[datasource]\nuid = "g"\n')
    add_queues(path, ["a"])
    settings = load(path)
    assert [q.name for q in settings.queues] == ["a"] and settings.datasource.uid == "g"


@pytest.fixture(scope="module")
def seeded(graphite):
    """Graphite with task counters and broker gauges for a known set of queues."""
    naming = Naming()
    now = int(time.time())
    lines = []
    for queue in ("default", "emails", "reports_weekly"):
        lines.append((naming.task_count(queue, "proj.add", "received"), 3, now - 20))
    lines.append((naming.broker_gauge("dead_letters", "length"), 7, now - 20))
    graphite.send(lines)
    graphite.wait_for_metric(naming.task_count("reports_weekly", "proj.add", "received"))
    graphite.wait_for_metric(naming.broker_gauge("dead_letters", "length"))
    return graphite


def test_discover_lists_new_missing_and_known_queues(runner, seeded, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "queuedash.toml").write_text(INVENTORY)
    result = runner.invoke(cli, ["discover", "--graphite", seeded.web_url])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "new      dead_letters" in lines and "new      reports_weekly" in lines
    assert "missing  never.used" in lines
    assert "known    default" in lines and "known    emails" in lines
    assert lines[-1].endswith("2 new, 1 missing, 2 known")
    assert (tmp_path / "queuedash.toml").read_text() == INVENTORY


def test_discover_write_adds_the_new_queues(runner, seeded, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "queuedash.toml").write_text(INVENTORY)
    result = runner.invoke(cli, ["discover", "--graphite", seeded.web_url, "--write"])
    assert result.exit_code == 0, result.output
    assert "added 2 queues to queuedash.toml" in result.output
    assert [q.name for q in load(tmp_path / "queuedash.toml").queues] == [
        "default", "emails", "never.used", "dead_letters", "reports_weekly",
    ]


def test_an_unreachable_graphite_is_one_line(runner, in_tmp):
    result = runner.invoke(cli, ["discover", "--graphite", "http://127.0.0.1:9"])
    assert result.exit_code == 1
    assert result.output.strip() == "Error: http://127.0.0.1:9: cannot reach Graphite: [Errno 111] Connection refused"


def test_queue_queries_follow_the_naming_scheme():
    from queuedash.check.discover import queue_find_queries

    assert queue_find_queries(Naming()) == ["stats_counts.celery.tasks.*", "stats.gauges.celery.broker.*"]
    assert queue_find_queries(Naming(namespace="modern"))[0] == "stats.counters.celery.tasks.*"
    assert ANY == "*"
