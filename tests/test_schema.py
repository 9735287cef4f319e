"""Every built dashboard against Grafana's own JSON Schemas (vendored, strict)."""

import json
from pathlib import Path

import pytest
from jsonschema import Draft7Validator

SCHEMAS = Path(__file__).resolve().parent / "schemas"


def _schema(name):
    return json.loads((SCHEMAS / f"{name}.jsonschema.json").read_text())


DASHBOARD = Draft7Validator(_schema("dashboard"))


def _part(kind, definition):
    definitions = _schema(kind)["definitions"]
    if definition not in definitions:
        return None
    return Draft7Validator({"$ref": f"#/definitions/{definition}", "definitions": definitions})


PARTS = {kind: (_part(kind, "Options"), _part(kind, "FieldConfig")) for kind in ("stat", "timeseries", "table")}


def schema_errors(dashboard):
    errors = [f"dashboard/{'/'.join(map(str, e.path))}: {e.message}" for e in DASHBOARD.iter_errors(dashboard)]
    for panel in dashboard["panels"]:
        if panel["type"] not in PARTS:
            continue
        options, custom = PARTS[panel["type"]]
        errors += [f"{panel['title']} options: {e.message}" for e in options.iter_errors(panel["options"])]
        if custom is not None:
            config = panel["fieldConfig"]["defaults"].get("custom", {})
            errors += [f"{panel['title']} custom: {e.message}" for e in custom.iter_errors(config)]
    return errors


@pytest.mark.parametrize("name", [
    "tasks", "broker", "workers", "overview", "queue-default", "queue-emails", "queue-billing.invoices",
])
def test_dashboards_validate_against_grafanas_schemas(built, name):
    assert schema_errors(built[name].data) == []


def test_the_schema_check_can_fail(built):
    broken = json.loads(built["tasks"].text)
    broken["panels"][1]["options"]["colorMode"] = "rainbow"
    broken["style"] = "dark"
    assert len(schema_errors(broken)) >= 2
