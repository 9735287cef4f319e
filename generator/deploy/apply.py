"""Running deploy against Grafana: ensure the folders, read the live dashboards,
carry out a plan. The I/O half of deploy; `plan.py` is the deciding half.

Work on dashboards runs on `jobs` threads over the client's one keep-alive
session. One dashboard's failure never stops the others: it becomes a `failed`
outcome. Once the client is stopping (Ctrl-C), no dashboard starts: the ones in
flight finish, the others are left out of the results. Results are data
(`Outcome`, `FolderEvent`), returned in a stable order (by uid) whatever order
the threads finish in; nothing here prints.

Imports `client`, `errors` and `plan` of this package; never the model.
"""

from __future__ import annotations

import threading
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Callable, Iterable, TypeVar

from queuedash.grafana import errors
from queuedash.grafana.client import GrafanaClient
from queuedash.deploy.plan import ADDED, CONFLICT, DELETED, FAILED, Live, Step, content_hash, marker_of, normalize

DEFAULT_JOBS = 4

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Outcome:
    """What happened to one dashboard."""

    uid: str
    title: str
    status: str  # one of plan.OUTCOMES
    detail: str = ""
    #: For conflicts: the unified diff live -> generated (shown on request).
    diff: str = ""


@dataclass(frozen=True)
class FolderEvent:
    uid: str
    title: str
    status: str  # "exists", "created", "missing" (dry run: would be created)
    detail: str = ""


def run_parallel(items: Iterable[T], work: Callable[[T], R], jobs: int,
                 on_done: Callable[[R], None] | None = None, stop: threading.Event | None = None) -> list[R | None]:
    """`work` over `items` on `jobs` threads; results in the items' order. `on_done` is
    called in the calling thread as each finishes (for a progress bar).

    Once `stop` is set, no item starts: those running finish, the others' results are
    None. A KeyboardInterrupt in the calling thread cancels what has not started too,
    and waits for what runs, before it goes on up.
    """
    items = list(items)
    results: list[R | None] = [None] * len(items)
    stopped = stop.is_set if stop is not None else (lambda: False)
    if jobs <= 1:
        for index, item in enumerate(items):
            if stopped():
                break
            results[index] = work(item)
            if on_done:
                on_done(results[index])
        return results
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="queuedash-deploy") as pool:
        futures = {pool.submit(work, item): index for index, item in enumerate(items)}
        pending = set(futures)
        try:
            while pending:
                # A short wait, so a stop is seen while long requests run.
                done, pending = wait(pending, timeout=0.1 if stop is not None else None,
                                     return_when=FIRST_COMPLETED)
                for future in done:
                    if future.cancelled():
                        continue
                    results[futures[future]] = future.result()
                    if on_done:
                        on_done(results[futures[future]])
                if stopped():
                    for future in pending:
                        future.cancel()
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return results


# ----- folders ------------------------------------------------------------------------------

def ensure_folders(client: GrafanaClient, chain: list[tuple[str, str]], *, create: bool = True,
                   need_write: bool = True) -> list[FolderEvent]:
    """Make sure each folder of `chain` ((uid, title), outermost first) exists, each inside
    the previous one (§13 "Ensure folder"). With `create` False (dry run, diff) missing
    folders are only reported. With `need_write`, a folder the credentials cannot save into
    is an error here, before any dashboard is written."""
    events: list[FolderEvent] = []
    parent = ""
    for uid, title in chain:
        found = client.get_folder(uid)
        if found is None and not create:
            events.append(FolderEvent(uid, title, "missing", "would be created"))
            parent = uid
            continue
        if found is None:
            found = _create_folder(client, uid, title, parent)
            events.append(FolderEvent(uid, title, "created", f"inside {parent!r}" if parent else ""))
        else:
            events.append(FolderEvent(uid, title, "exists", _placement_note(found, parent)))
        if need_write and found.get("canSave") is False:
            # §5.2: the folder DTO says what the caller may do; a Viewer cannot save into it.
            raise errors.PermissionDenied(
                f"the credentials may not save dashboards in folder {uid!r} ({found.get('title', title)}): "
                "deploy needs a service account with the Editor role")
        parent = uid
    return events


def _create_folder(client: GrafanaClient, uid: str, title: str, parent: str) -> dict:
    try:
        return client.create_folder(uid, title, parent)
    except errors.AlreadyExists:
        # §5.4/§13: 409 = the uid is taken. Another deploy may have just created it (a race):
        # read it again. If it is still not a folder, a dashboard holds the uid, or (<= 11.2)
        # another folder has the title.
        found = client.get_folder(uid)
        if found is not None:
            return found
        raise errors.FolderError(_taken_explanation(client, uid, title)) from None
    except errors.Rejected as exc:
        where = f" inside folder {parent!r}" if parent else ""
        raise errors.FolderError(f"cannot create folder {uid!r} ({title}){where}: {exc}") from None


def _taken_explanation(client: GrafanaClient, uid: str, title: str) -> str:
    same_title = [hit for hit in client.search_folders(title)
                  if str(hit.get("title", "")).lower() == title.lower()]
    if same_title:
        other = same_title[0].get("uid")
        return (f"cannot create folder {uid!r}: a folder titled {title!r} already exists with uid {other!r} "
                f"(Grafana up to 11.2 wants unique folder titles); set [grafana] folder_uid to {other!r} "
                "or choose another folder_title")
    return f"cannot create folder {uid!r}: a dashboard already uses that uid; choose another [grafana] folder_uid"


def _placement_note(found: dict, parent: str) -> str:
    actual = found.get("parentUid") or ""
    if "parentUid" not in found and not parent:
        return ""
    if actual != parent:
        where = f"inside {actual!r}" if actual else "at the top level"
        wanted = f"inside {parent!r}" if parent else "at the top level"
        return f"is {where}, the settings say {wanted}; left where it is"
    return ""


# ----- reading ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Reading:
    uid: str
    live: Live | None = None
    error: str = ""


def read_live(client: GrafanaClient, uids: Iterable[str], *, jobs: int = DEFAULT_JOBS,
              on_done: Callable[[Reading], None] | None = None) -> list[Reading]:
    """GET each dashboard (§4.1); absent ones read as None, failures as an error text."""

    def read(uid: str) -> Reading:
        try:
            answer = client.get_dashboard(uid)
        except errors.GrafanaError as exc:
            return Reading(uid, error=f"cannot read it: {exc}")
        return Reading(uid, Live.from_answer(answer) if answer is not None else None)

    # Once the client is stopping, the dashboards not read yet are left out.
    return [reading for reading in run_parallel(uids, read, jobs, on_done, stop=client.stopping) if reading]


def leftover_uids(client: GrafanaClient, folder_uid: str, wanted: set[str]) -> list[str]:
    """Dashboards directly in the folder that are not generated (candidates for prune)."""
    return sorted({hit["uid"] for hit in client.dashboards_in_folder(folder_uid)
                   if isinstance(hit.get("uid"), str) and hit["uid"] not in wanted})


# ----- applying -----------------------------------------------------------------------------

def save_message(step: Step) -> str:
    """The version-history message (§3.1, at most 500 characters from 11.6)."""
    return f"queuedash deploy {step.marker}"


def apply_plan(client: GrafanaClient, steps: list[Step], folder_uid: str, *, jobs: int = DEFAULT_JOBS,
               dry_run: bool = False, on_done: Callable[[Outcome], None] | None = None) -> list[Outcome]:
    """Carry the steps out; returns one outcome per step, sorted by uid. Once the client
    is stopping, writes not started are left out (nothing was done to them); steps that
    write nothing still have their outcome."""

    def carry_out(step: Step) -> Outcome:
        if dry_run or not step.writes:
            return _without_writing(step)
        try:
            if step.action == DELETED:
                return _delete(client, step)
            return _save(client, step, folder_uid)
        except errors.GrafanaError as exc:
            return Outcome(step.uid, step.title, FAILED, str(exc))

    writing = [step for step in steps if step.writes and not dry_run]
    outcomes = [carry_out(step) for step in steps if not (step.writes and not dry_run)]
    if on_done:
        for outcome in outcomes:
            on_done(outcome)
    outcomes += [o for o in run_parallel(writing, carry_out, jobs, on_done, stop=client.stopping) if o]
    return sorted(outcomes, key=lambda outcome: outcome.uid)


def _without_writing(step: Step) -> Outcome:
    diff = step.diff() if step.action == CONFLICT else ""
    return Outcome(step.uid, step.title, step.action, step.reason, diff)


def _save(client: GrafanaClient, step: Step, folder_uid: str) -> Outcome:
    assert step.payload is not None
    try:
        answer = client.save_dashboard(step.payload, folder_uid, save_message(step), overwrite=False)
    except errors.VersionMismatch as exc:
        if exc.attempts > 1 and _landed(client, step):
            # A retried save: the first attempt was applied but its answer was lost, so the
            # retry found the version bumped. Grafana holds what we sent: it worked.
            return Outcome(step.uid, step.title, step.action, f"{step.reason} (confirmed after a retry)")
        return Outcome(step.uid, step.title, CONFLICT,
                       "changed in Grafana during this deploy (412 version-mismatch): not written; run "
                       "deploy again to see the change", _fresh_diff(client, step))
    except errors.NameExists as exc:
        return Outcome(step.uid, step.title, FAILED,
                       f"another dashboard in the folder has the title {step.title!r} (Grafana up to 11.2 "
                       f"wants unique titles per folder): {exc}")
    except errors.PluginDashboard as exc:
        return Outcome(step.uid, step.title, CONFLICT, f"it belongs to a plugin; not overwritten: {exc}")
    saved_uid = answer.get("uid")
    if saved_uid not in (None, step.uid):
        # §13: trust the answer's uid. Only an overwrite can take over another uid (<= 11.2),
        # and deploy never overwrites, so this is a Grafana we do not understand.
        return Outcome(step.uid, step.title, FAILED, f"Grafana saved it under the uid {saved_uid!r}")
    version = answer.get("version")
    if step.action == ADDED:
        detail = f"version {version}" if isinstance(version, int) else "new"
    else:
        detail = f"{step.reason}; version {step.payload.get('version')} -> {version}"
    return Outcome(step.uid, step.title, step.action, detail)


def _landed(client: GrafanaClient, step: Step) -> bool:
    try:
        answer = client.get_dashboard(step.uid)
    except errors.GrafanaError:
        return False
    if answer is None:
        return False
    live = Live.from_answer(answer)
    return marker_of(live.dashboard) == step.marker and content_hash(normalize(live.dashboard)) == step.marker


def _fresh_diff(client: GrafanaClient, step: Step) -> str:
    try:
        answer = client.get_dashboard(step.uid)
    except errors.GrafanaError:
        return step.diff()
    live = normalize(Live.from_answer(answer).dashboard) if answer else None
    return Step(step.uid, step.title, CONFLICT, live=live, generated=step.generated).diff()


def _delete(client: GrafanaClient, step: Step) -> Outcome:
    try:
        client.delete_dashboard(step.uid)
    except errors.NotFound:
        return Outcome(step.uid, step.title, DELETED, "already gone")
    return Outcome(step.uid, step.title, DELETED, step.reason)

