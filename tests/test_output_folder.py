"""Where `build` writes: only into folders queuedash owns, with modes another user can read.

`build --out DIR` used to replace DIR wholesale, a user's README and folders with it. A folder is
now replaced only when queuedash wrote everything in it (its record, `.queuedash-output`, lists
what it wrote); anything else in it is named and the folder is left as it was. Files and folders
get the modes of the user's umask (a Grafana running as another user, uid 472 in Grafana's image,
must read what it provisions), not the 0600/0700 of temporary files.
"""

from __future__ import annotations

import json
import os
import stat
import textwrap

import pytest

from queuedash.cli.main import cli
from queuedash.files import OUTPUT_RECORD

DEFINITION = '''
from queuedash.authoring.dashboard import dashboard
from queuedash.authoring.layout import Row
from queuedash.authoring.panels import Presets


def build(settings):
    return [dashboard(settings, name=name, title=name.title(), rows=[
        Row("Numbers", [Presets(settings).stat("Answer", ["constantLine(42)"])]),
    ]) for name in NAMES]

NAMES = {names!r}
'''


def define(root, *names):
    (root / "dashboards").mkdir(exist_ok=True)
    (root / "dashboards" / "some.py").write_text(textwrap.dedent(DEFINITION.format(names=list(names))))


@pytest.fixture
def project(in_tmp):
    (in_tmp / "queuedash.toml").write_text('queues = []\n')
    define(in_tmp, "answer", "second")
    return in_tmp


def tree(folder):
    """Every file and folder under `folder` with its content, to compare before and after."""
    return {str(path.relative_to(folder)): path.read_bytes() if path.is_file() else None
            for path in sorted(folder.rglob("*"))}


def test_a_folder_with_files_of_the_users_is_refused_and_left_as_it_was(runner, project):
    out = project / "mine"
    (out / "notes").mkdir(parents=True)
    (out / "README.md").write_text("my notes\n")
    (out / "notes" / "a.json").write_text("{}\n")
    before = tree(out)
    result = runner.invoke(cli, ["build", "--out", "mine"])
    assert result.exit_code == 1
    assert result.output == ("Error: mine: holds files queuedash did not write (README.md, notes); queuedash "
                             "replaces only a folder it wrote whole: move them, or build into an empty or new "
                             "folder\n")
    assert tree(out) == before
    assert runner.invoke(cli, ["build", "--out", "mine", "--only", "answer"]).exit_code == 1
    assert tree(out) == before


def test_an_empty_or_new_folder_becomes_queuedashs(runner, project):
    (project / "empty").mkdir()
    for folder in ("empty", "new/deeper"):
        result = runner.invoke(cli, ["build", "--out", folder])
        assert result.exit_code == 0, result.output
        record = (project / folder / OUTPUT_RECORD).read_text().splitlines()
        assert record[1:] == ["queuedash-answer.json", "queuedash-second.json"]


def test_its_own_folder_is_replaced_stale_dashboards_go(runner, project):
    assert runner.invoke(cli, ["build"]).exit_code == 0
    define(project, "answer")
    result = runner.invoke(cli, ["build"])
    assert result.exit_code == 0, result.output
    out = project / "build" / "dashboards"
    assert sorted(p.name for p in out.iterdir()) == [OUTPUT_RECORD, "queuedash-answer.json"]


def test_a_file_added_to_its_folder_later_stops_the_next_build(runner, project):
    assert runner.invoke(cli, ["build"]).exit_code == 0
    out = project / "build" / "dashboards"
    (out / "keep-me.txt").write_text("mine\n")
    before = tree(out)
    result = runner.invoke(cli, ["build"])
    assert result.exit_code == 1
    assert "holds files queuedash did not write (keep-me.txt)" in result.output
    assert tree(out) == before


def test_only_adds_its_file_to_the_record(runner, project):
    assert runner.invoke(cli, ["build", "--out", "out", "--only", "second"]).exit_code == 0
    assert (project / "out" / OUTPUT_RECORD).read_text().splitlines()[1:] == ["queuedash-second.json"]
    assert runner.invoke(cli, ["build", "--out", "out", "--only", "answer"]).exit_code == 0
    assert (project / "out" / OUTPUT_RECORD).read_text().splitlines()[1:] == [
        "queuedash-answer.json", "queuedash-second.json"]
    assert runner.invoke(cli, ["build", "--out", "out"]).exit_code == 0


def test_a_build_from_before_the_record_is_still_queuedashs(runner, project):
    """Dashboard JSON named by its uid, nothing else: what earlier versions wrote."""
    out = project / "build" / "dashboards"
    out.mkdir(parents=True)
    (out / "queuedash-old.json").write_text(json.dumps({"uid": "queuedash-old", "title": "Old"}))
    result = runner.invoke(cli, ["build"])
    assert result.exit_code == 0, result.output
    assert not (out / "queuedash-old.json").exists()


def test_a_file_where_the_folder_should_be_is_refused(runner, project):
    (project / "taken").write_text("a file\n")
    result = runner.invoke(cli, ["build", "--out", "taken"])
    assert result.exit_code in (1, 2) and "taken" in result.output
    assert (project / "taken").read_text() == "a file\n"


def modes(root):
    return {str(path.relative_to(root)): stat.S_IMODE(path.stat().st_mode) for path in [root, *root.rglob("*")]}


@pytest.fixture(params=[0o022, 0o027])
def umask(request):
    previous = os.umask(request.param)
    yield request.param
    os.umask(previous)


def test_build_output_has_the_modes_of_the_umask(runner, project, umask):
    result = runner.invoke(cli, ["build", "--out", "out/dashboards"])
    assert result.exit_code == 0, result.output
    folder, file = 0o777 & ~umask, 0o666 & ~umask
    found = modes(project / "out")
    assert found == {".": folder, "dashboards": folder, f"dashboards/{OUTPUT_RECORD}": file,
                     "dashboards/queuedash-answer.json": file, "dashboards/queuedash-second.json": file}
    # --only writes through a temporary file too.
    assert runner.invoke(cli, ["build", "--out", "out/dashboards", "--only", "answer"]).exit_code == 0
    assert modes(project / "out") == found


def test_provisioning_output_has_the_modes_of_the_umask(runner, project, umask):
    result = runner.invoke(cli, ["build", "--provisioning", "grafana"])
    assert result.exit_code == 0, result.output
    folder, file = 0o777 & ~umask, 0o666 & ~umask
    found = modes(project / "grafana")
    assert found["provisioning/dashboards/queuedash.yaml"] == file
    assert found["dashboards/queuedash/queuedash-answer.json"] == file
    assert {mode for path, mode in found.items() if (project / "grafana" / path).is_dir()} == {folder}
    assert {mode for path, mode in found.items() if (project / "grafana" / path).is_file()} == {file}


def test_the_alert_rules_have_the_modes_of_the_umask(runner, in_tmp, umask):
    """The standard definitions' rules: build/rules, and the alerting provisioning file."""
    (in_tmp / "queuedash.toml").write_text('queues = ["emails"]\n')
    folder, file = 0o777 & ~umask, 0o666 & ~umask
    assert runner.invoke(cli, ["build", "--out", "out/dashboards"]).exit_code == 0
    found = modes(in_tmp / "out")
    assert found["rules"] == folder and len([path for path in found if path.startswith("rules/")]) == 2
    assert {mode for path, mode in found.items() if path.startswith("rules/")} == {file}
    result = runner.invoke(cli, ["build", "--provisioning", "grafana"])
    assert result.exit_code == 0, result.output
    found = modes(in_tmp / "grafana")
    assert found["provisioning/alerting"] == folder
    assert found["provisioning/alerting/queuedash.yaml"] == file
