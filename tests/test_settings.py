"""Settings: the TOML file, its errors, and the CLI/environment overrides."""

import pytest

from queuedash.errors import SettingsError
from queuedash.settings import DEFAULT_MUST_BE_ZERO, load


def test_the_example_at_the_repo_root_loads(repo):
    settings = load(repo / "queuedash.toml")
    assert [q.name for q in settings.queues] == ["default", "emails", "reports.daily"]
    assert settings.queue("emails").title == "Outgoing e-mail"
    assert settings.queue("default").must_be_zero == DEFAULT_MUST_BE_ZERO
    assert "backlog" in settings.queue("emails").must_be_zero
    assert settings.definitions == repo / "dashboards"
    assert settings.naming.namespace == "legacy"


def test_grafana_connection_settings(write_settings):
    path = write_settings('''
        [grafana]
        url = "https://example.invalid/grafana"
        org_id = 2
        folder_uid = "celery"
        folder_title = "Celery"
        parent_folders = [{ uid = "ops", title = "Operations" }]
    ''')
    grafana = load(path, {"grafana.url": "http://127.0.0.1:3000"}).grafana
    assert grafana.url == "http://127.0.0.1:3000"
    assert grafana.org_id == 2 and grafana.verify_tls and grafana.timeout == 10.0
    assert [f.uid for f in grafana.parents] == ["ops"] and grafana.folder.title == "Celery"


def test_no_file_means_defaults():
    settings = load(None)
    assert settings.queues == ()
    assert settings.datasource.ref() == {"type": "graphite", "uid": "graphite"}


def test_defaults_apply_to_queues_without_overrides(write_settings):
    path = write_settings('''
        queues = ["a", "b"]
        [defaults]
        must_be_zero = ["failed"]
        [queue.b]
        must_be_zero = ["backlog", "failed"]
    ''')
    settings = load(path)
    assert settings.queue("a").must_be_zero == ("failed",)
    assert settings.queue("b").must_be_zero == ("backlog", "failed")
    assert [q.name for q in settings.queues_where_zero("backlog")] == ["b"]


@pytest.mark.parametrize("body, message", [
    ('colour = "red"', "colour: unknown key"),
    ('[datasource]\nuid = 3', "datasource.uid: expected a string, got int 3"),
    ('[datasource]\nkind = "x"', "datasource.kind: unknown key"),
    ('[naming]\nnamespace = "flat"', "naming: namespace must be one of legacy, modern"),
    ('[dashboards]\nexpected_workers = true', "dashboards.expected_workers: expected a whole number, got True"),
    ('queues = ["a"]\n[queue.b]\ntitle = "B"', "queue.b: overrides a queue that is not in `queues`"),
    ('queues = ["a"]\n[queue.a]\ntittle = "A"', "queue.a.tittle: unknown key"),
    ('queues = ["a"]\n[queue.a]\nmust_be_zero = ["fail"]', "queue.a.must_be_zero: unknown condition 'fail'"),
    ('queues = ["a", "a"]', "queues: queue 'a' is listed twice"),
    ('queues = ["a.b", "a_b"]', "queues: queues 'a.b' and 'a_b' both become the metric node 'a_b'"),
    ('queues = [""]', "queues: expected a list of non-empty strings"),
    ('[[zero_metrics]]\ntitle = "x"', "zero_metrics[0].target: must not be empty"),
    ('[[zero_metrics]]\ntitle = "x"\ntarget = "a.b"\ndashboard = " "', "zero_metrics[0].dashboard: must not be empty"),
    ('[[zero_metrics]]\ntitle = "x"\ntarget = "a.b"\nreduce = "median"', "zero_metrics[0].reduce: must be one of"),
    ('queues = [', "not valid TOML"),
    ('[grafana]\ntoken = "glsa_x"', "grafana.token: credentials do not belong in the settings file"),
    ('[grafana]\nfolder_uid = "a b"', "grafana.folder_uid: folder uid 'a b' is not"),
    ('[grafana]\nparent_folders = [{uid = "ops"}]', "each parent folder needs a uid and a title"),
    ('[grafana]\ntimeout = 0', "grafana.timeout: must be a positive number of seconds, at most 86400"),
])
def test_a_wrong_key_is_one_clear_error_naming_key_and_file(write_settings, body, message):
    path = write_settings(body)
    with pytest.raises(SettingsError) as caught:
        load(path)
    text = str(caught.value)
    assert text.startswith(str(path) + ":")
    assert message in text
    assert "\n" not in text


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(SettingsError, match="settings file not found"):
        load(tmp_path / "nope.toml")


def test_overrides_beat_the_file(write_settings):
    path = write_settings('''
        [datasource]
        uid = "from-file"
        [naming]
        namespace = "legacy"
    ''')
    settings = load(path, {"datasource.uid": "from-cli", "naming.namespace": "modern", "naming.prefix": None})
    assert settings.datasource.uid == "from-cli"
    assert settings.naming.namespace == "modern"
    assert settings.naming.prefix == "celery"


def test_a_bad_override_is_an_error(write_settings):
    with pytest.raises(SettingsError, match="naming.prefix"):
        load(None, {"naming.prefix": "bad prefix"})


def test_settings_are_frozen():
    settings = load(None)
    with pytest.raises(AttributeError):
        settings.output = "x"


def test_the_per_host_mode_comes_from_the_file_or_an_override(write_settings):
    path = write_settings('''
        [naming]
        per_host = true
    ''')
    assert load(path).naming.per_host is True
    assert load(path, {"naming.per_host": False}).naming.per_host is False
    assert load(None).naming.per_host is False


def test_a_per_host_that_is_not_a_boolean_is_refused(write_settings):
    path = write_settings('''
        [naming]
        per_host = "yes"
    ''')
    with pytest.raises(SettingsError, match=r"naming.per_host: expected true or false, got str 'yes'"):
        load(path)
