"""Carrying out a plan through a `Store` (either API). The I/O half of deploy;
`plan.py` is the deciding half.

Work on dashboards runs on `jobs` threads over the client's one keep-alive
session. One dashboard's failure never stops the others: it becomes a `failed`
outcome. A save Grafana refuses as stale (412 `version-mismatch`, or 409) is
read again and re-planned: a person's change is a conflict, the same content
saved by another deploy is unchanged, anything else is saved once more. Once
the client is stopping (Ctrl-C), no dashboard starts: the ones in flight
finish, the others are left out of the results. Results are data (`Outcome`),
returned in a stable order (by uid) whatever order the threads finish in;
nothing here prints.

Imports `queuedash.grafana.errors`, and `plan` and `store` of this package;
never the model.
"""

from __future__ import annotations

import threading
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Callable, Iterable, TypeVar

from queuedash.deploy.plan import ADDED, CONFLICT, DELETED, FAILED, UNCHANGED, Live, Step
from queuedash.deploy.store import Store
from queuedash.grafana import errors

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
    #: Said on stderr even when it worked (a forced replace of a dynamic dashboard).
    warning: str = ""


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


# ----- applying -----------------------------------------------------------------------------

#: Re-plans one dashboard from what Grafana holds now: (generated dashboard, live) -> Step.
Replan = Callable[[dict, "Live | None"], Step]


def save_message(step: Step) -> str:
    """The version-history message (§3.1, at most 500 characters from 11.6)."""
    return f"queuedash deploy {step.marker}"


def apply_plan(store: Store, steps: list[Step], folder_uid: str, *, replan: Replan, jobs: int = DEFAULT_JOBS,
               dry_run: bool = False, on_done: Callable[[Outcome], None] | None = None,
               stop: threading.Event | None = None) -> list[Outcome]:
    """Carry the steps out; returns one outcome per step, sorted by uid. Once `stop` is
    set, writes not started are left out (nothing was done to them), and so is a write
    the client did not send because it was stopping (on /apis, after its dry run); steps
    that write nothing still have their outcome."""

    def carry_out(step: Step) -> Outcome | None:
        if dry_run or not step.writes:
            return _without_writing(step)
        try:
            if step.action == DELETED:
                return _delete(store, step)
            return _save(store, step, folder_uid, replan)
        except errors.Interrupted as exc:
            if not exc.attempts:
                return None  # its write never left: nothing was done to it
            return Outcome(step.uid, step.title, FAILED, str(exc))
        except errors.GrafanaError as exc:
            return Outcome(step.uid, step.title, FAILED, str(exc))

    writing = [step for step in steps if step.writes and not dry_run]
    outcomes = [carry_out(step) for step in steps if not (step.writes and not dry_run)]
    if on_done:
        for outcome in outcomes:
            on_done(outcome)
    outcomes += [o for o in run_parallel(writing, carry_out, jobs, on_done, stop=stop) if o]
    return sorted(outcomes, key=lambda outcome: outcome.uid)


def _without_writing(step: Step) -> Outcome:
    diff = step.diff() if step.action == CONFLICT else ""
    return Outcome(step.uid, step.title, step.action, step.reason, diff, step.warning)


def _save(store: Store, step: Step, folder_uid: str, replan: Replan, *, again: bool = True) -> Outcome:
    try:
        detail = store.save(step, folder_uid, save_message(step))
    except (errors.VersionMismatch, errors.Conflict) as exc:
        return _after_conflict(store, step, folder_uid, replan, exc, again)
    except errors.NameExists as exc:
        return Outcome(step.uid, step.title, FAILED,
                       f"another dashboard in the folder has the title {step.title!r} (Grafana up to 11.2 "
                       f"wants unique titles per folder): {exc}")
    except errors.PluginDashboard as exc:
        return Outcome(step.uid, step.title, CONFLICT, f"it belongs to a plugin; not overwritten: {exc}")
    if step.action == ADDED:
        return Outcome(step.uid, step.title, step.action, detail, warning=step.warning)
    return Outcome(step.uid, step.title, step.action, f"{step.reason}; {detail}", warning=step.warning)


def _after_conflict(store: Store, step: Step, folder_uid: str, replan: Replan, exc: errors.GrafanaError,
                    again: bool) -> Outcome:
    """Someone saved between our read and our write (§3.2 step 7g, §11a): read it again and
    decide again, instead of trusting the plan made from the older copy."""
    answered = " ".join(str(part) for part in (exc.status, exc.status_text or exc.reason) if part)
    reading = store.reread(step.uid)
    if reading.error:
        return Outcome(step.uid, step.title, FAILED, f"{exc}; then {reading.error}")
    assert step.source is not None
    fresh = replan(step.source, reading.live)
    if fresh.action == UNCHANGED:
        if exc.attempts > 1:
            # A retried save: the first attempt was applied but its answer was lost, so the
            # retry found the version moved on. Grafana holds what we sent: it worked.
            return Outcome(step.uid, step.title, step.action, f"{step.reason} (confirmed after a retry)")
        return Outcome(step.uid, step.title, UNCHANGED, "saved with the same content by another deploy meanwhile")
    if fresh.action == CONFLICT:
        return Outcome(step.uid, step.title, CONFLICT,
                       f"changed in Grafana during this deploy ({answered}): {fresh.reason}", fresh.diff())
    if fresh.writes and again:
        return _save(store, fresh, folder_uid, replan, again=False)
    if fresh.writes:
        return Outcome(step.uid, step.title, FAILED,
                       f"Grafana refused the save twice as stale although nobody changed the dashboard: {exc}")
    return Outcome(step.uid, step.title, fresh.action, fresh.reason)


def _delete(store: Store, step: Step) -> Outcome:
    try:
        store.delete(step.uid)
    except errors.NotFound:
        return Outcome(step.uid, step.title, DELETED, "already gone")
    return Outcome(step.uid, step.title, DELETED, step.reason)
