"""Golden JSON for the fixed test inventory (tests/fixtures/inventory.toml).

A change in what a dashboard or an alert rule looks like must show up here as a
reviewed diff: regenerate with UPDATE_GOLDEN=1 and commit the files.
"""

import os
from pathlib import Path

import pytest

from queuedash.compile.encode import encode
from queuedash.compile.rules import rule_groups

GOLDEN = Path(__file__).resolve().parent / "golden"


@pytest.mark.parametrize("name", [
    "tasks", "broker", "workers", "overview", "queue-default", "queue-emails", "queue-billing.invoices",
])
def test_dashboard_matches_its_golden_file(built, name):
    item = built[name]
    path = GOLDEN / item.filename
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(item.text, encoding="utf-8")
    assert path.exists(), f"{path} missing: run UPDATE_GOLDEN=1 pytest tests/test_golden.py"
    assert item.text == path.read_text(encoding="utf-8")


def test_rule_groups_match_their_golden_files(inventory_settings, built):
    """The rules `queuedash build` writes for the inventory (the default target version)."""
    groups = rule_groups(inventory_settings, list(built.values()), inventory_settings.alerting.grafana_version)
    assert [g.title for g in groups] == ["Celery queues"]
    for group in groups:
        path = GOLDEN / "rules" / group.filename
        if os.environ.get("UPDATE_GOLDEN") == "1":
            path.parent.mkdir(exist_ok=True)
            path.write_text(encode(group.body()), encoding="utf-8")
        assert path.exists(), f"{path} missing: run UPDATE_GOLDEN=1 pytest tests/test_golden.py"
        assert group.text() == encode(group.body()) == path.read_text(encoding="utf-8")
