"""The layers of the code hold: import-linter's contracts (pyproject.toml,
[tool.importlinter]) and, at run time, the agent's light imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_the_import_contracts_are_kept():
    """No cycles; deploy and check never import the model; the agent and the naming
    module import none of the compiler's dependencies; only the CLI imports click."""
    result = subprocess.run([str(Path(sys.executable).parent / "lint-imports"), "--no-cache"], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_the_agent_and_the_naming_module_load_nothing_heavy():
    code = ("import sys, queuedash_agent, queuedash.naming.metrics, queuedash.agent.keys; "
            "print(sorted(m for m in ('grafanalib', 'jinja2', 'orjson', 'requests', 'click', 'tomlkit', 'celery', 'attr') "
            "if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_code_cannot_be_imported_under_a_second_name():
    """From the repository root, generator/ is importable as `generator`: the guard refuses,
    so no second copy of queuedash's classes (and no clash with a user's generator.py)."""
    result = subprocess.run([sys.executable, "-c", "import generator"], capture_output=True, text=True,
                            timeout=60, cwd=REPO)
    assert result.returncode == 1
    assert "ImportError: this is the queuedash package, imported here as 'generator'" in result.stderr
