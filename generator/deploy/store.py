"""What deploy needs from Grafana, whichever API it goes through.

`legacy.py` (the `/api` endpoints, Grafana 10.4-13) and `apis.py` (the /apis
API, Grafana 12-13) each provide a `Store`: the same folders, the same `Live`
dashboards and the same saves, so `plan.py` and `apply.py` never know which API
is behind them and both paths give the same plan and the same outcomes.

Imports `plan` of this package and `queuedash.grafana.errors`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Protocol

from queuedash.deploy.plan import Live, Step
from queuedash.grafana import errors


@dataclass(frozen=True)
class FolderEvent:
    uid: str
    title: str
    status: str  # "exists", "created", "missing" (dry run: would be created)
    detail: str = ""


@dataclass(frozen=True)
class Reading:
    """One dashboard read by uid: `live` None when Grafana has no such dashboard, `error`
    when it could not be read."""

    uid: str
    live: Live | None = None
    error: str = ""


class Store(Protocol):
    """One way of talking to Grafana about dashboards and folders."""

    #: "legacy" or "apis".
    name: str

    def describe(self) -> str:
        """Which API, in a few words, for the command line."""

    def ensure_folders(self, chain: list[tuple[str, str]], *, create: bool = True,
                       need_write: bool = True) -> list[FolderEvent]:
        """Each folder of `chain` ((uid, title), outermost first) exists inside the previous one.
        With `create` False missing folders are only reported; with `need_write`, a folder the
        credentials cannot save into is an error here, before any dashboard is written."""

    def folder_exists(self, uid: str) -> bool:
        """Whether the folder exists (for `diff`, which creates nothing)."""

    def read_ahead(self, folders: list[tuple[str, str]] = ()) -> None:
        """Start reading what `read` and `leftovers` (and `ensure_folders`, for the `folders`
        of its chain) will need, if that can overlap other work. Nothing is written."""

    def read(self, uids: Iterable[str], *, jobs: int,
             on_done: Callable[[Reading], None] | None = None) -> list[Reading]:
        """The dashboards with these uids, in that order."""

    def reread(self, uid: str) -> Reading:
        """One dashboard again, straight from storage (after a conflict)."""

    def leftovers(self, folder_uid: str, wanted: set[str], *, jobs: int) -> list[Reading]:
        """The dashboards directly in the folder whose uids are not `wanted`, each confirmed
        by its uid to exist and to be in that folder (search indexes lag writes, §11a)."""

    def save(self, step: Step, folder_uid: str, message: str) -> str:
        """Create (no `base_version`) or update the dashboard of `step` in the folder; returns
        a detail for the outcome ("version 1 -> 2"). A stale version raises `VersionMismatch`
        or `Conflict`."""

    def delete(self, uid: str) -> None:
        """Delete the dashboard; `NotFound` when it is already gone."""


def placement_note(actual: str | None, parent: str, says: bool = True) -> str:
    """Where an existing folder is, when that is not where the settings put it."""
    actual = actual or ""
    if not says and not parent:
        return ""
    if actual != parent:
        where = f"inside {actual!r}" if actual else "at the top level"
        wanted = f"inside {parent!r}" if parent else "at the top level"
        return f"is {where}, the settings say {wanted}; left where it is"
    return ""


def cannot_save(uid: str, title: str) -> errors.PermissionDenied:
    return errors.PermissionDenied(
        f"the credentials may not save dashboards in folder {uid!r} ({title}): "
        "deploy needs a service account with the Editor role")
