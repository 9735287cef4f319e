"""Shared fixtures: the repository's paths, settings files, a CLI runner."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from queuedash import settings as settings_module
from queuedash.compile.build import build_all

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"
INVENTORY = FIXTURES / "inventory.toml"


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture
def inventory_settings():
    return settings_module.load(INVENTORY)


@pytest.fixture
def built(inventory_settings):
    """The dashboards of the fixed test inventory, by name."""
    return {b.name: b for b in build_all(inventory_settings)}


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def write_settings(tmp_path):
    """Write a settings file (dedented TOML) into tmp_path and return its path."""

    def write(body: str, name: str = "queuedash.toml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(body), encoding="utf-8")
        return path

    return write


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Run in an empty folder, so ./queuedash.toml of the repo is not picked up."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("QUEUEDASH_"):
            monkeypatch.delenv(name)
    return tmp_path


# Plugins of the suite: the real servers (fixtures graphite, statsd, redis_server, rabbitmq, and
# the realstack markers) and the agent tests' UDP `capture` fixture.
pytest_plugins = ["realstack", "agent_support"]
