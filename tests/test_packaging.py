"""queuedash as a user installs it: a wheel in fresh virtualenvs, run outside the repository.

* `pip install queuedash[cli]` (plus `[agent]` for the agent commands): every
  command, run from a folder of the user's with only a settings file, builds the
  standard dashboards (shipped in the wheel) and works against a real Graphite, the
  Grafana stand-in and a real Redis;
* `pip install queuedash[agent]` (a worker): none of the compiler's dependencies,
  and `queuedash_agent.install(app)` counts tasks in a Celery app that has its own
  `generator.py`, `dashboards.py`, `templates.py`, `settings.py` and `metrics.py`.

The wheel is built once per session. uv (a pip-compatible installer, from the test
extra) builds it and makes the virtualenvs: what pip would install, in a second
instead of half a minute.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from agent_support import wait_for
from grafana_standin import GrafanaStandin

from queuedash.cli.launch import CLI_IMPORTS

REPO = Path(__file__).resolve().parent.parent
UV = [sys.executable, "-m", "uv"]
TOKEN = "glsa_PackagingTestToken_0123456789abcdef"
#: What the compiler needs and a worker must not get (click too, but Celery's own CLI
#: brings it: the agent itself never imports it).
COMPILER_DEPENDENCIES = ("grafanalib", "jinja2", "orjson", "requests", "click", "tomlkit", "yaml")
NOT_WITH_CELERY = ("grafanalib", "jinja2", "orjson", "requests", "tomlkit", "yaml")

pytestmark = pytest.mark.realstack  # builds a wheel and virtualenvs from the package index


def run(argv, *, cwd: Path, env: dict | None = None, check: bool = True, timeout: float = 300):
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("QUEUEDASH_", "GRAFANA_", "CELERY_", "PYTHON", "VIRTUAL_ENV"))}
    result = subprocess.run([str(a) for a in argv], cwd=cwd, env={**clean, **(env or {})}, capture_output=True,
                            text=True, timeout=timeout)
    if check and result.returncode != 0:
        pytest.fail(f"{argv} exited {result.returncode}:\n{result.stdout}\n{result.stderr}", pytrace=False)
    return result


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    run([*UV, "build", "--quiet", "--wheel", "--out-dir", out, REPO], cwd=out)
    (built,) = out.glob("queuedash-*.whl")
    return built


def venv_with(tmp: Path, name: str, requirement: str) -> Path:
    """A fresh virtualenv (no access to the repository's) with `requirement` installed."""
    home = tmp / name
    run([*UV, "venv", "--quiet", "--python", sys.executable, home], cwd=tmp)
    install(home / "bin", requirement)
    return home / "bin"


def install(bin_dir: Path, *requirements: str) -> None:
    run([*UV, "pip", "install", "--quiet", "--python", bin_dir / "python", *requirements], cwd=bin_dir)


@pytest.fixture(scope="session")
def cli_venv(wheel, tmp_path_factory) -> Path:
    return venv_with(tmp_path_factory.mktemp("venvs"), "cli", f"queuedash[cli] @ {wheel.as_uri()}")


@pytest.fixture(scope="session")
def worker_venv(wheel, tmp_path_factory) -> Path:
    return venv_with(tmp_path_factory.mktemp("venvs"), "worker", f"queuedash[agent] @ {wheel.as_uri()}")


def test_the_wheel_carries_the_standard_definitions_and_templates(wheel):
    import zipfile

    names = set(zipfile.ZipFile(wheel).namelist())
    for module in ("tasks", "broker", "workers", "overview", "queues"):
        assert f"queuedash/definitions/{module}.py" in names
    for template in ("queue-runbook.md.j2", "queue-description.md.j2", "provisioning.yaml.j2",
                     "alert-summary.md.j2", "alert-description.md.j2"):
        assert f"queuedash/templates/{template}" in names
    assert "queuedash_agent/__init__.py" in names
    assert not [n for n in names if n.startswith(("generator/", "dashboards/", "templates/", "tests/"))]


def test_every_command_works_outside_the_repository(cli_venv, wheel, tmp_path, graphite, redis_server):
    """`pip install queuedash[cli]` and a settings file of the user's: the standard dashboards."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "queuedash.toml").write_text('queues = ["alpha", "reports.daily"]\n', encoding="utf-8")
    queuedash = cli_venv / "queuedash"

    built = run([queuedash, "build"], cwd=project)
    files = sorted(p.name for p in (project / "build" / "dashboards").iterdir())
    assert files == [".queuedash-output", "queuedash-broker.json", "queuedash-overview.json", "queuedash-queue-alpha.json",
                     "queuedash-queue-reports-daily-7c97647d.json", "queuedash-tasks.json", "queuedash-workers.json"]
    assert len(list((project / "build" / "rules").glob("*.json"))) == 1
    assert "built 6 dashboards" in built.stdout
    assert "rule group 'Celery queues' (13 rules)" in built.stdout   # alert rules from the packaged templates
    runbook = json.loads((project / "build" / "dashboards" / "queuedash-queue-alpha.json").read_text())
    assert any(p.get("type") == "text" for p in runbook["panels"])   # rendered from the packaged templates

    assert "queue-alpha" in run([queuedash, "list"], cwd=project).stdout
    assert run([queuedash, "validate"], cwd=project).stdout.strip() == "6 dashboards and 1 rule group OK"
    assert run([queuedash, "validate", "build/dashboards", "build/rules"], cwd=project).stdout.strip() == \
        "6 dashboards and 1 rule group OK"
    run([queuedash, "build", "--for-import"], cwd=project)
    run([queuedash, "build", "--provisioning", "provisioned"], cwd=project)
    assert (project / "provisioned" / "provisioning" / "dashboards" / "queuedash.yaml").is_file()
    assert (project / "provisioned" / "provisioning" / "alerting" / "queuedash.yaml").is_file()

    checked = run([queuedash, "check", "--graphite", graphite.web_url], cwd=project, check=False)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.splitlines()[-1].startswith(f"checked 6 dashboards against {graphite.web_url}")
    discovered = run([queuedash, "discover", "--graphite", graphite.web_url], cwd=project)
    assert "missing  alpha" in discovered.stdout

    standin = GrafanaStandin(version="12.0.0")
    standin.add_token(TOKEN, role="Admin", login="sa-queuedash")
    standin.add_datasource(1, "graphite", "Graphite")
    standin.start()
    try:
        env = {"GRAFANA_URL": standin.url, "GRAFANA_TOKEN": TOKEN}
        # Outside a git repository deploy cannot derive whose dashboards these are: one line.
        unnamed = run([queuedash, "deploy"], cwd=project, env=env, check=False)
        assert unnamed.returncode == 1 and standin.write_count() == 0
        assert unnamed.stderr.startswith("Error: cannot tell which project deploys these dashboards: ")
        env["QUEUEDASH_PROJECT"] = "acme/celery-ops"
        deployed = run([queuedash, "deploy"], cwd=project, env=env)
        assert deployed.stdout.splitlines()[-2:] == ["deploy: 6 added, 0 updated, 0 unchanged, 0 conflict, 0 failed",
                                                     "rules: 13 added, 0 updated, 0 unchanged, 0 conflict, 0 failed"]
        same = run([queuedash, "diff"], cwd=project, env=env)
        assert same.stderr.strip().endswith("diff: no differences in 6 dashboards and 13 rules")
    finally:
        standin.stop()

    # The agent commands say what to install, then work once it is there.
    refused = run([queuedash, "agent", "poll", "--broker", redis_server.url, "--once"], cwd=project, check=False)
    assert refused.returncode == 1
    assert refused.stderr == ("Error: queuedash agent needs celery, which comes with the agent extra: "
                              "pip install 'queuedash[cli,agent]'\n")
    install(cli_venv, f"queuedash[cli,agent] @ {wheel.as_uri()}", "redis")
    polled = run([queuedash, "agent", "poll", "--broker", redis_server.url, "--queue", "alpha", "--once"],
                 cwd=project)
    assert polled.stdout == "alpha  length=0\n"


WORKER_APP = '''
import generator, dashboards, templates, settings, metrics   # the project's own modules

from celery import Celery

import queuedash_agent

assert generator.MINE and dashboards.MINE and templates.MINE and settings.MINE and metrics.MINE

app = Celery("proj", broker="memory://", set_as_current=False)


@app.task(name="proj.add")
def add(x, y):
    return x + y


queuedash_agent.install(app, statsd_host="127.0.0.1", statsd_port={port})
# What a worker runs per task: Celery's tracer and its signals (no broker message, so
# no routing key: the queue is "unknown").
assert add.apply(args=(2, 3)).get() == 5

import sys
heavy = sorted(name for name in {heavy!r} if name in sys.modules)
print("heavy modules:", heavy)
'''


def test_the_agent_installs_without_the_compiler_and_in_an_app_with_generic_module_names(worker_venv, tmp_path,
                                                                                      capture):
    python = worker_venv / "python"
    for name in NOT_WITH_CELERY:
        found = run([python, "-c", f"import importlib.util; print(importlib.util.find_spec({name!r}) is None)"],
                    cwd=tmp_path)
        assert found.stdout.strip() == "True", f"{name} is installed with queuedash[agent]"

    app = tmp_path / "proj"
    app.mkdir()
    for module in ("generator", "dashboards", "templates", "settings", "metrics"):
        (app / f"{module}.py").write_text(f"MINE = {module!r}\n", encoding="utf-8")
    (app / "worker.py").write_text(textwrap.dedent(WORKER_APP.format(port=capture.port,
                                                                      heavy=NOT_WITH_CELERY)))
    result = run([python, "worker.py"], cwd=app)
    assert "heavy modules: []" in result.stdout
    assert wait_for(lambda: capture.counters().get("celery.tasks.unknown.proj_add.succeeded") == 1, 5), \
        capture.snapshot()

    # The command is installed with the package, and says what it lacks.
    command = run([worker_venv / "queuedash", "build"], cwd=app, check=False)
    assert command.returncode == 1
    assert command.stderr.startswith("Error: the queuedash command needs ")
    assert command.stderr.rstrip().endswith("which comes with its cli extra: pip install 'queuedash[cli]'")
    assert set(CLI_IMPORTS) == set(COMPILER_DEPENDENCIES)
