"""Which project a deploy speaks for: the id every dashboard's marker records.

Two repositories that deploy into the same folder with the same uid prefix
would otherwise overwrite, and prune, each other's dashboards. The id comes
from the settings (`[grafana] project`, `--project`, `QUEUEDASH_PROJECT`); when
none is set, it is derived from the git repository that holds the settings file,
the same in every clone, shallow CI checkouts included:

1. the URL of the `origin` remote, reduced to host and path
   (`git@github.com:acme/ops.git` and `https://github.com/acme/ops` both give
   `github.com/acme/ops`);
2. else, in a clone with its whole history, `git-` and the first 12 hex digits
   of the repository's first commit;
3. else a one-line error asking for `[grafana] project`.

Imports `errors` only.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

from queuedash.errors import SettingsError

#: What a project id may look like: it sits in the marker, a space-separated value.
_PROJECT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,119}$")
_SCP_LIKE = re.compile(r"^(?:[^@/]+@)?([^:/]+):(.+)$")  # git@host:path (no scheme)


def is_valid_project_id(value: str) -> bool:
    return bool(_PROJECT_ID.match(value or ""))


def project_id(explicit: str | None, base: Path, where: str = "the settings file") -> str:
    """The project id: `explicit` when given, else derived from git in `base` (see the module doc)."""
    if explicit:
        if not is_valid_project_id(explicit):
            raise SettingsError(f"project id {explicit!r}: use 1-120 characters of letters, digits and . _ : / @ + -, "
                                "starting with a letter or digit")
        return explicit
    remote = _git(base, "remote", "get-url", "origin")
    if remote:
        reduced = remote_id(remote)
        if reduced:
            return reduced
    if _git(base, "rev-parse", "--is-shallow-repository") == "false":
        roots = sorted((_git(base, "rev-list", "--max-parents=0", "HEAD") or "").split())
        if roots:
            return "git-" + roots[0][:12]
    raise SettingsError(
        f"cannot tell which project deploys these dashboards: {base} is not in a git repository with an origin "
        f"remote or its whole history; set [grafana] project in {where} (or QUEUEDASH_PROJECT), "
        "the same for every checkout of this repository")


def remote_id(url: str) -> str:
    """`host/path` of a git remote URL, without credentials, port, scheme or `.git`."""
    url = url.strip()
    if "://" in url:
        parts = urlsplit(url)
        host, path = parts.hostname or "", parts.path
    else:
        scp = _SCP_LIKE.match(url)
        if not scp:
            return ""  # a local path: nothing that names the repository everywhere
        host, path = scp.group(1), scp.group(2)
    path = path.strip("/")
    if path.endswith(".git"):
        path = path[:-4]
    reduced = f"{host.lower()}/{path}" if host and path else ""
    return reduced if is_valid_project_id(reduced) else ""


def _git(base: Path, *args: str) -> str | None:
    """A git command's output in `base`, or None when git is missing or the command fails."""
    try:
        done = subprocess.run(["git", "-C", str(base), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None
