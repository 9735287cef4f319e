"""Other ways out of the build: JSON for Grafana's Import screen, and files
plus provisioning YAML (dashboards, alert rules) for teams that deploy by files.

Works on plain JSON dicts (the build's output), like deploy; never imports the
model.

Imports `errors`, `text`; PyYAML writes the alerting file.
"""

from __future__ import annotations

import copy

import yaml

from queuedash.authoring.text import render

#: The name Grafana's importer shows for the datasource input; ${DS_GRAPHITE}
#: in every datasource reference is replaced by the datasource the user picks.
IMPORT_INPUT = "DS_GRAPHITE"
IMPORT_PLACEHOLDER = "${" + IMPORT_INPUT + "}"
MINIMUM_GRAFANA = "10.4.0"
PANEL_NAMES = {"timeseries": "Time series", "stat": "Stat", "table": "Table", "text": "Text"}


def _graphite_refs(value):
    """Every Graphite datasource reference (dict) inside a JSON value."""
    if isinstance(value, dict):
        ref = value.get("datasource")
        if isinstance(ref, dict) and ref.get("type") == "graphite":
            yield ref
        for item in value.values():
            yield from _graphite_refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _graphite_refs(item)


def _panel_types(data: dict) -> list[str]:
    kinds = set()
    for panel in data.get("panels", []):
        kinds.add(panel.get("type"))
        kinds.update(p.get("type") for p in panel.get("panels", []))
    kinds.discard("row")
    return sorted(k for k in kinds if k)


def for_import(data: dict, datasource_label: str = "Graphite") -> dict:
    """The dashboard as Grafana's Import screen takes it.

    ``__inputs`` declares one datasource input, every Graphite reference points
    at its placeholder, ``__requires`` lists Grafana, Graphite and the panel
    plugins, and there is no ``id``: the importer assigns one.
    """
    out = copy.deepcopy(data)
    out.pop("id", None)
    for ref in _graphite_refs(out):
        ref["uid"] = IMPORT_PLACEHOLDER
    out["__inputs"] = [{
        "name": IMPORT_INPUT,
        "label": datasource_label,
        "description": "The Graphite datasource that holds your Celery metrics",
        "type": "datasource",
        "pluginId": "graphite",
        "pluginName": "Graphite",
    }]
    requires = [
        {"type": "grafana", "id": "grafana", "name": "Grafana", "version": MINIMUM_GRAFANA},
        {"type": "datasource", "id": "graphite", "name": "Graphite", "version": "1.0.0"},
    ]
    requires += [{"type": "panel", "id": kind, "name": PANEL_NAMES.get(kind, kind), "version": ""}
                 for kind in _panel_types(out)]
    out["__requires"] = requires
    out["__elements"] = {}
    return out


def provisioning_yaml(folder_uid: str, folder_title: str, path: str, org_id: int = 1) -> str:
    """A Grafana dashboard provisioning file (apiVersion 1), one provider per folder."""
    return render("provisioning.yaml.j2", providers=[{
        "name": f"queuedash-{folder_uid}",
        "org_id": org_id,
        "folder": folder_title,
        "folder_uid": folder_uid,
        "path": path,
    }]) + "\n"


ALERTING_HEADER = """\
# Grafana alert rule provisioning, written by `queuedash build --provisioning`.
# Copy into Grafana's provisioning/alerting/ folder (beside provisioning/dashboards/).
# Contact points and notification policies are not here: configure them in Grafana.
"""


def alerting_provisioning_yaml(document: dict) -> str:
    """Grafana's alerting provisioning file (`compile.rules.provisioning_document`) as YAML:
    keys sorted, no line folding (a Graphite target stays on one line)."""
    return ALERTING_HEADER + yaml.safe_dump(document, sort_keys=True, allow_unicode=True, default_flow_style=False,
                                            width=2 ** 31 - 1)
