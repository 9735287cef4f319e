"""The three ways into Grafana besides the API: import JSON, provisioning files."""

import json

from queuedash.cli.main import cli
from queuedash.compile.export import IMPORT_PLACEHOLDER, for_import
from test_schema import schema_errors


def graphite_refs(value):
    if isinstance(value, dict):
        if isinstance(value.get("datasource"), dict) and value["datasource"].get("type") != "grafana":
            yield value["datasource"]
        for item in value.values():
            yield from graphite_refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from graphite_refs(item)


def test_import_json_wires_every_datasource_to_the_input(built):
    for item in built.values():
        exported = for_import(item.data, "Graphite (test)")
        assert exported["__inputs"] == [{
            "name": "DS_GRAPHITE", "label": "Graphite (test)",
            "description": "The Graphite datasource that holds your Celery metrics",
            "type": "datasource", "pluginId": "graphite", "pluginName": "Graphite",
        }]
        refs = list(graphite_refs(exported))
        assert refs, item.name
        assert all(ref == {"type": "graphite", "uid": IMPORT_PLACEHOLDER} for ref in refs)
        assert "graphite-test" not in json.dumps(exported)
        assert "id" not in exported
        required = {(r["type"], r["id"]) for r in exported["__requires"]}
        assert {("grafana", "grafana"), ("datasource", "graphite")} <= required
        kinds = {p["type"] for p in item.data["panels"]} - {"row"}
        assert {("panel", kind) for kind in kinds} <= required


def test_import_json_is_still_a_valid_dashboard(built):
    exported = for_import(built["queue-emails"].data)
    inner = {k: v for k, v in exported.items() if not k.startswith("__")}
    assert schema_errors(inner) == []


def test_the_default_build_stays_api_ready(built):
    assert "__inputs" not in built["tasks"].data
    assert all(ref["uid"] == "graphite-test" for ref in graphite_refs(built["tasks"].data))


def test_build_for_import_writes_files(runner, repo, tmp_path, monkeypatch):
    monkeypatch.chdir(repo)
    result = runner.invoke(cli, ["build", "--for-import", "--out", str(tmp_path / "import")])
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "import" / "queuedash-tasks.json").read_text())
    assert data["__inputs"][0]["name"] == "DS_GRAPHITE"


def test_build_for_provisioning_writes_dashboards_and_yaml(runner, repo, tmp_path, monkeypatch):
    monkeypatch.chdir(repo)
    out = tmp_path / "grafana"
    result = runner.invoke(cli, ["build", "--provisioning", str(out),
                                 "--provisioning-path", "/var/lib/grafana/dashboards/queuedash"])
    assert result.exit_code == 0, result.output
    files = sorted(p.name for p in (out / "dashboards" / "queuedash").iterdir())
    assert "queuedash-tasks.json" in files and "queuedash-queue-emails.json" in files
    yaml = (out / "provisioning" / "dashboards" / "queuedash.yaml").read_text()
    assert yaml.count("apiVersion: 1") == 1
    for line in ('- name: "queuedash-queuedash"', 'folder: "Celery queues"', 'folderUid: "queuedash"',
                 "type: file", 'path: "/var/lib/grafana/dashboards/queuedash"'):
        assert line in yaml


def test_for_import_and_provisioning_do_not_mix(runner, repo, monkeypatch, tmp_path):
    monkeypatch.chdir(repo)
    result = runner.invoke(cli, ["build", "--for-import", "--provisioning", str(tmp_path)])
    assert result.exit_code == 2
