"""The project id deploy records in every marker (queuedash/project.py): from the settings, or
derived from real git repositories made in temporary folders (git runs; nothing is mocked).
"""

from __future__ import annotations

import subprocess

import pytest

from queuedash.errors import SettingsError
from queuedash.project import project_id, remote_id
from queuedash.settings import load


def git(*args: str, cwd) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def commit(repo, message: str = "one") -> None:
    (repo / f"{message}.txt").write_text(message)
    git("add", ".", cwd=repo)
    git("-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-q", "-m", message, cwd=repo)


@pytest.mark.parametrize("url, expected", [
    ("git@github.com:acme/ops.git", "github.com/acme/ops"),
    ("https://github.com/acme/ops", "github.com/acme/ops"),
    ("https://token:secret@GitHub.com:443/acme/ops.git/", "github.com/acme/ops"),
    ("ssh://git@gitlab.example.com:2222/group/sub/ops.git", "gitlab.example.com/group/sub/ops"),
    ("/srv/git/ops.git", ""),
])
def test_a_remote_url_is_reduced_to_host_and_path(url, expected):
    assert remote_id(url) == expected


def test_an_explicit_id_wins_and_a_bad_one_is_refused(tmp_path):
    assert project_id("team-a/queues", tmp_path) == "team-a/queues"
    with pytest.raises(SettingsError, match="project id 'has space'"):
        project_id("has space", tmp_path)


def test_the_origin_remote_names_the_project_in_every_clone(tmp_path):
    upstream = tmp_path / "upstream"
    upstream.mkdir()
    git("init", "-q", cwd=upstream)
    commit(upstream)
    commit(upstream, "two")
    work = tmp_path / "work"
    git("clone", "-q", f"file://{upstream}", str(work), cwd=tmp_path)
    shallow = tmp_path / "shallow"
    git("clone", "-q", "--depth", "1", f"file://{upstream}", str(shallow), cwd=tmp_path)
    for clone in (work, shallow):
        git("remote", "set-url", "origin", "git@github.com:acme/ops.git", cwd=clone)
        assert project_id(None, clone) == "github.com/acme/ops"


def test_without_a_remote_a_whole_history_names_it_by_its_first_commit(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git("init", "-q", cwd=repo)
    commit(repo)
    first = git("rev-list", "--max-parents=0", "HEAD", cwd=repo)
    commit(repo, "two")
    assert project_id(None, repo) == "git-" + first[:12]
    assert project_id(None, repo / ".git" / "..") == "git-" + first[:12]


def test_a_shallow_clone_without_remote_and_no_git_at_all_ask_for_the_setting(tmp_path):
    upstream = tmp_path / "upstream"
    upstream.mkdir()
    git("init", "-q", cwd=upstream)
    commit(upstream)
    commit(upstream, "two")
    shallow = tmp_path / "shallow"
    git("clone", "-q", "--depth", "1", f"file://{upstream}", str(shallow), cwd=tmp_path)
    git("remote", "remove", "origin", cwd=shallow)
    plain = tmp_path / "plain"
    plain.mkdir()
    for base in (shallow, plain):
        with pytest.raises(SettingsError, match=r"cannot tell which project deploys these dashboards: .* set "
                                                r"\[grafana\] project in queuedash.toml"):
            project_id(None, base, "queuedash.toml")


def test_the_settings_file_checks_project_and_api(write_settings):
    assert load(write_settings('[grafana]\nproject = "acme/ops"\napi = "apis"\n')).grafana.project == "acme/ops"
    with pytest.raises(SettingsError, match="grafana.project: 'a b'"):
        load(write_settings('[grafana]\nproject = "a b"\n'))
    with pytest.raises(SettingsError, match="grafana.api: must be one of auto, legacy, apis, got 'k8s'"):
        load(write_settings('[grafana]\napi = "k8s"\n'))
