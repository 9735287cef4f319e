"""The deploy and diff runs: built dashboards (JSON dicts) against a connected client.

`deploy` ensures the folders, reads what Grafana holds, plans, then applies;
`diff` reads and compares. Both take the dashboards as JSON (what `compile`
built, or files read from disk) and a `GrafanaClient` that has passed its
start checks; both return data (`DeployRun`, `DiffRun`) for the command line
to print. A client told to stop (`client.stopping`, set by Ctrl-C) ends a deploy
early: what was done is in the outcomes, the rest is counted as not started.
Nothing here prints or builds.

Imports `queuedash.grafana`, `queuedash.identity` and this package.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Callable, ContextManager

from queuedash.deploy.apply import (DEFAULT_JOBS, FolderEvent, Outcome, apply_plan, ensure_folders, leftover_uids,
                                    read_live)
from queuedash.deploy.plan import FAILED, Live, make_plan, marker_of, normalize, unified_diff, with_marker
from queuedash.grafana.client import GrafanaClient
from queuedash.errors import InputError
from queuedash.identity import is_valid_uid


class _Silent:
    def update(self, steps: int) -> None:
        pass


#: A progress display: called with a label and a length, gives a context manager
#: whose value has ``update(n)``. The default shows nothing.
Progress = Callable[[str, int], ContextManager]


def no_progress(label: str, length: int) -> ContextManager:
    return nullcontext(_Silent())


def checked_dashboards(found: list[tuple[str, dict]]) -> list[dict]:
    """The dashboards to deploy, sorted by uid, from ``(where, JSON)`` pairs.

    Each needs a valid uid and a title, and uids must be unique (§3.2 step 6);
    `where` (a file, or a definition and dashboard name) names the culprit.
    """
    seen: dict[str, str] = {}
    for where, data in found:
        if not isinstance(data, dict):
            raise InputError(f"{where}: not a dashboard (expected a JSON object)")
        uid = data.get("uid")
        if not isinstance(uid, str) or not is_valid_uid(uid):  # contract §3.2 steps 6e-6f
            raise InputError(f"{where}: needs a uid of 1-40 characters [A-Za-z0-9_-], got {uid!r}")
        if not isinstance(data.get("title"), str) or not data["title"].strip():
            raise InputError(f"{where}: needs a title")
        if uid in seen:
            raise InputError(f"{where}: uid {uid!r} is also the uid of {seen[uid]}")
        seen[uid] = where
    return sorted((data for _, data in found), key=lambda data: data["uid"])


@dataclass(frozen=True)
class DeployRun:
    folders: list[FolderEvent]
    #: One per dashboard touched, sorted by uid.
    outcomes: list[Outcome]
    #: Stopped by `client.stopping` (Ctrl-C): how many dashboards it never started.
    interrupted: bool = False
    not_started: int = 0


def deploy(client: GrafanaClient, dashboards: list[dict], folders: list[tuple[str, str]], *,
           jobs: int = DEFAULT_JOBS, only: bool = False, dry_run: bool = False, force: bool = False,
           prune: bool = False, progress: Progress = no_progress) -> DeployRun:
    """Deploy `dashboards` into the last folder of `folders` ((uid, title), outermost first).

    With `only` (a subset of the dashboards) the rest of the folder is not
    judged: nothing is stale or pruned.
    """
    folder_uid = folders[-1][0]
    events = ensure_folders(client, folders, create=not dry_run, need_write=not dry_run)
    folder_is_new = events[-1].status in ("missing", "created")
    wanted = [dashboard["uid"] for dashboard in dashboards]
    # A new folder holds nothing yet; with `only`, the rest of the folder is not ours to judge.
    leftovers = [] if only or folder_is_new else leftover_uids(client, folder_uid, set(wanted))
    with progress("reading", len(wanted) + len(leftovers)) as bar:
        readings = read_live(client, wanted + leftovers, jobs=jobs, on_done=lambda _: bar.update(1))
    unreadable = [r for r in readings if r.error]
    generated_uids, leftover_set = set(wanted), set(leftovers)
    live = {r.uid: r.live for r in readings if not r.error and r.uid in generated_uids}
    others = {r.uid: r.live for r in readings if not r.error and r.uid in leftover_set and r.live}
    if client.stopping.is_set():  # interrupted while reading: nothing written
        return DeployRun(events, [], interrupted=True, not_started=len(dashboards))
    steps = make_plan(dashboards, live, folder_uid, others=others, force=force, prune=prune)
    with progress("deploying", sum(step.writes for step in steps) if not dry_run else 0) as bar:
        outcomes = apply_plan(client, steps, folder_uid, jobs=jobs, dry_run=dry_run,
                              on_done=lambda outcome: bar.update(1))
    titles = {dashboard["uid"]: dashboard.get("title", "") for dashboard in dashboards}
    outcomes += [Outcome(r.uid, titles.get(r.uid, ""), FAILED, r.error) for r in unreadable]
    interrupted = client.stopping.is_set()
    return DeployRun(events, sorted(outcomes, key=lambda outcome: outcome.uid), interrupted=interrupted,
                     not_started=len(steps) - (len(outcomes) - len(unreadable)) if interrupted else 0)


@dataclass(frozen=True)
class DiffRun:
    #: Unified diffs (live -> generated) and one-line notes, in uid order.
    differences: list[str] = field(default_factory=list)
    #: Dashboards that could not be read: "uid: reason".
    errors: list[str] = field(default_factory=list)
    #: Dashboards queuedash deployed that are no longer generated: (uid, title).
    only_in_grafana: list[tuple[str, str]] = field(default_factory=list)
    total: int = 0

    @property
    def differing(self) -> int:
        return len(self.differences) + len(self.errors)


def diff(client: GrafanaClient, dashboards: list[dict], folder_uid: str, *, jobs: int = DEFAULT_JOBS,
         only: bool = False) -> DiffRun:
    """Compare what Grafana holds with `dashboards`; writes nothing."""
    folder_exists = client.get_folder(folder_uid) is not None
    wanted = [dashboard["uid"] for dashboard in dashboards]
    leftovers = leftover_uids(client, folder_uid, set(wanted)) if folder_exists and not only else []
    readings = {r.uid: r for r in read_live(client, wanted + leftovers, jobs=jobs)}
    run = DiffRun(total=len(dashboards))
    for dashboard in dashboards:
        uid = dashboard["uid"]
        reading = readings[uid]
        if reading.error:
            run.errors.append(f"{uid}: {reading.error}")
            continue
        generated = normalize(with_marker(dashboard)[0])
        current = normalize(reading.live.dashboard) if reading.live else None
        if current != generated:
            run.differences.append(unified_diff(uid, current, generated).rstrip("\n"))
        elif reading.live.folder_uid not in (None, folder_uid):
            run.differences.append(f"{uid}: in folder {reading.live.folder_uid or 'General'!r}, "
                                   f"generated for {folder_uid!r}")
    for uid in leftovers:
        live: Live | None = readings[uid].live
        if live is not None and marker_of(live.dashboard) is not None:
            run.only_in_grafana.append((uid, live.title))
    return run
