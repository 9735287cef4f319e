"""Per-queue dashboards, the overview, and the queue templates."""

import json
import textwrap

import pytest

from queuedash.compile.build import build_all
from queuedash.errors import DefinitionError, SettingsError
from queuedash.settings import load


def panel(built_dashboard, title):
    for item in built_dashboard.data["panels"]:
        if item["title"] == title:
            return item
    raise AssertionError(f"no panel {title!r}")


def titles(built_dashboard):
    return [p["title"] for p in built_dashboard.data["panels"]]


def test_one_dashboard_per_queue_with_a_stable_valid_uid(built):
    uids = {name: item.uid for name, item in built.items() if name.startswith("queue-")}
    assert uids["queue-default"] == "queuedash-queue-default"
    # A dot in the queue name cannot go into a uid: the uid is cleaned and keeps a hash of the name.
    assert uids["queue-billing.invoices"].startswith("queuedash-queue-billing-invoice-")
    assert len(set(uids.values())) == 3


def test_names_that_escape_alike_are_refused_with_a_reason(write_settings):
    path = write_settings('queues = ["billing.invoices", "billing_invoices"]\n')
    with pytest.raises(Exception) as caught:
        load(path)
    assert "both become the metric node 'billing_invoices'" in str(caught.value)


def test_per_queue_queries_name_the_queue_itself(built):
    emails = built["queue-emails"]
    backlog = panel(emails, "Backlog: received - processed")
    assert backlog["targets"][0]["target"] == "transformNull(sumSeries(stats_counts.celery.tasks.emails.*.received), 0)"
    assert backlog["targets"][0]["hide"] and backlog["targets"][1]["hide"]
    assert "targetFull" in backlog["targets"][2]
    length = panel(emails, "Queue length now")
    assert length["targets"][0]["target"] == "aliasByNode(stats.gauges.celery.broker.emails.length, 4)"
    variables = emails.data["templating"]["list"]
    assert [v["query"] for v in variables] == ["stats_counts.celery.tasks.emails.*"]


def test_overrides_title_team_tags_and_thresholds(built):
    emails = built["queue-emails"]
    assert emails.title == "Celery queue: E-mail"
    assert {"smtp", "team:growth", "queue"} <= set(emails.data["tags"])
    ratio = panel(emails, "Failure ratio")["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [s["value"] for s in ratio] == [None, 2.5, 10.0]
    length = panel(emails, "Queue length now")["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert length[1] == {"color": "orange", "value": 500}
    workers = panel(emails, "Workers consuming")["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert workers == [{"color": "red", "value": None}, {"color": "green", "value": 2}]


def test_should_be_zero_panels_follow_the_queue_settings(built):
    emails = titles(built["queue-emails"])
    assert "Failed tasks" in emails and "Backlog: E-mail" in emails
    assert "Rejected tasks" not in emails and "Waiting with no consumer" not in emails
    invoices = titles(built["queue-billing.invoices"])
    for title in ("Failed tasks", "Rejected tasks", "Retried tasks", "Revoked tasks",
                  "Unknown tasks (NotRegistered)", "Waiting with no consumer", "Backlog: Invoices"):
        assert title in invoices


def test_links_are_rendered_from_templates_per_queue(built):
    emails = built["queue-emails"].data["links"]
    assert [(l["title"], l["url"]) for l in emails] == [
        ("Runbook", "https://runbooks.example.invalid/emails"),
        ("Flower", "https://flower.example.invalid/queues/emails"),
    ]
    invoices = built["queue-billing.invoices"].data["links"]
    assert [l["url"] for l in invoices] == ["https://admin.example.invalid/billing_invoices?team=billing"]


def test_runbook_panel_from_the_default_and_from_a_custom_template(built):
    default = panel(built["queue-default"], "Runbook and ownership")["options"]["content"]
    assert default.startswith("### default")
    assert "nobody yet: set `team`" in default
    assert "Start one with `-Q default`" in default
    custom = panel(built["queue-billing.invoices"], "Runbook and ownership")["options"]["content"]
    assert custom.startswith("### Invoices: paging rules")
    assert "Page **billing**" in custom
    assert "`stats_counts.celery.tasks.billing_invoices.*.received`" in custom


def test_descriptions_come_from_templates(built):
    assert built["queue-emails"].data["description"].startswith("E-mail: the Celery queue `emails`, owned by growth.")
    backlog = panel(built["queue-emails"], "Backlog: received - processed")
    assert "Tasks received by workers on `emails`" in backlog["description"]


def test_the_overview_repeats_a_row_per_queue(built):
    overview = built["overview"].data
    rows = [p for p in overview["panels"] if p["type"] == "row"]
    assert rows[-1]["title"] == "Queue $queue" and rows[-1]["repeat"] == "queue"
    under = overview["panels"][overview["panels"].index(rows[-1]) + 1:]
    assert all("$queue" in json.dumps(p["targets"]) for p in under)
    assert [v["name"] for v in overview["templating"]["list"]] == ["queue"]


@pytest.fixture
def templated(tmp_path, repo):
    """Settings with one queue pointing at a template in tmp_path/templates."""
    (tmp_path / "templates").mkdir()

    def make(template_body, extra=""):
        (tmp_path / "templates" / "mine.md.j2").write_text(textwrap.dedent(template_body))
        path = tmp_path / "queuedash.toml"
        path.write_text(textwrap.dedent(f'''
            queues = ["orders"]
            definitions = "{repo / 'dashboards'}"
            [queue.orders]
            runbook_template = "mine.md.j2"
            {extra}
        '''))
        return load(path)

    return make


def test_a_template_error_names_template_line_and_queue(templated):
    settings = templated("# Orders\n\nOwner: {{ queue.owner }}\n")
    with pytest.raises(DefinitionError) as caught:
        build_all(settings, only="queue-orders")
    message = str(caught.value)
    assert "dashboards/queues.py" in message
    assert "template 'mine.md.j2' line 3" in message
    assert "(queue 'orders')" in message


def test_a_template_syntax_error_names_the_line(templated):
    settings = templated("ok\n{% if %}\n")
    with pytest.raises(DefinitionError, match=r"template 'mine.md.j2' line 2: .*\(queue 'orders'\)"):
        build_all(settings)


def test_a_missing_template_is_named(templated, tmp_path):
    settings = templated("fine")
    (tmp_path / "templates" / "mine.md.j2").unlink()
    with pytest.raises(DefinitionError, match=r"template 'mine.md.j2' not found .*\(queue 'orders'\)"):
        build_all(settings)


def test_a_bad_link_template_is_named(templated):
    """A URL from the settings is the settings file's mistake: the file is named."""
    settings = templated("fine", extra='links = [{ title = "X", url = "https://x/{{ queue.nope }}" }]')
    with pytest.raises(SettingsError, match=r"queuedash.toml: template queue.orders.links\[0\].url line 1: .*nope"):
        build_all(settings)


def test_jinja_renders_text_only_and_html_templates_are_escaped(tmp_path):
    from queuedash.authoring import text

    (tmp_path / "note.html").write_text("<p>{{ team }}</p>")
    (tmp_path / "note.md").write_text("**{{ team }}**")
    assert text.render("note.html", tmp_path, team="<b>ops</b>") == "<p>&lt;b&gt;ops&lt;/b&gt;</p>"
    assert text.render("note.md", tmp_path, team="<b>ops</b>") == "**<b>ops</b>**"


@pytest.mark.parametrize("key, value, message", [
    ("expected_workers", "-1", "must not be negative"),
    ("failure_ratio_warning", "20", "failure_ratio_warning <= failure_ratio_alert"),
    ("links", '[{ title = "x" }]', "each link needs a title and a url"),
    ("tags", '["' + "t" * 51 + '"]', "longer than Grafana's 50 characters"),
])
def test_bad_queue_overrides_are_clear_errors(write_settings, key, value, message):
    path = write_settings(f'queues = ["a"]\n[queue.a]\n{key} = {value}\n')
    with pytest.raises(Exception, match=message):
        load(path)
