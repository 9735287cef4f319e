"""Golden JSON for the fixed test inventory (tests/fixtures/inventory.toml).

A change in what a dashboard looks like must show up here as a reviewed diff:
regenerate with UPDATE_GOLDEN=1 and commit the files.
"""

import os
from pathlib import Path

import pytest

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
