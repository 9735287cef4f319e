"""The deploy and diff runs: built dashboards (JSON dicts) against a connected client.

`open_store` asks `GET /apis` which APIs the server serves and picks the path:
/apis where `dashboard.grafana.app` v1 or v1beta1 and `folder.grafana.app` are
served, the legacy `/api` otherwise (or as the caller forces). `deploy` checks
the data sources, ensures the folders, reads what Grafana holds, plans, then
applies; `diff` reads and compares. Both take the dashboards as JSON (what
`compile` built, or files read from disk) and a store over a client that has
passed its start checks; both return data (`DeployRun`, `DiffRun`) for the
command line to print. A client told to stop (`client.stopping`, set by Ctrl-C)
ends a deploy early: what was done is in the outcomes, the rest is counted as
not started. Nothing here prints or builds.

The alert rules (rule group bodies, `rules_run.py`) go through the same runs,
whichever path the dashboards take: the provisioning API is the same on both.
Deploy reads them, and checks that the credentials may write them, with the
data sources, before anything is written; then writes them after the dashboards
their rules link to.

Imports `queuedash.grafana`, `queuedash.identity`, `queuedash.settings` and this package.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Callable, ContextManager

from queuedash.deploy import rules_run
from queuedash.deploy.apis import ApisStore
from queuedash.deploy.apply import DEFAULT_JOBS, Outcome, apply_plan
from queuedash.deploy.datasources import check_datasources
from queuedash.deploy.legacy import LegacyStore
from queuedash.deploy.plan import (ADDED, CONFLICT, FAILED, UNCHANGED, UPDATED, make_plan, plan_dashboard,
                                   plan_leftover, prepare)
from queuedash.deploy.store import FolderEvent, Store
from queuedash.errors import InputError
from queuedash.grafana import errors
from queuedash.grafana.alerting import AlertingApi
from queuedash.grafana.apis import ApisClient, Served, namespace_for
from queuedash.grafana.client import GrafanaClient
from queuedash.identity import is_valid_uid
from queuedash.settings import API_CHOICES

log = logging.getLogger("queuedash.deploy")


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
class Started:
    """What the start checks learnt: Grafana's health and organisation, and the path to its dashboards."""

    health: dict
    org: dict
    org_id: int
    store: Store


def start(client: GrafanaClient, api: str = "auto") -> Started:
    """The start checks (§13): `GET /api/health` first (is it Grafana, is it up), then the
    credentials (`GET /api/org`) and the API discovery (`GET /apis`) at once, so that a
    Grafana across a network costs two round trips before the work, not three. An error of
    the health check, then of the credentials, is the one reported."""
    health = client.health()
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="queuedash-discover")
    try:
        discovery = pool.submit(_discover, client)
        org = client.org()
        org_id = org.get("id") if isinstance(org.get("id"), int) else 1
        return Started(health, org, org_id, open_store(client, org_id, api, discovery=discovery.result))
    finally:
        pool.shutdown(wait=False)  # when the credentials are refused, say so without waiting for /apis


def _discover(client: GrafanaClient) -> dict | None | errors.GrafanaError:
    """GET /apis, its error as a value: `open_store` decides what a failed discovery means."""
    try:
        return client.discover()
    except errors.GrafanaError as exc:
        return exc


def open_store(client: GrafanaClient, org_id: int, api: str = "auto", *,
               discovery: Callable[[], dict | None | errors.GrafanaError] | None = None) -> Store:
    """The path deploy takes, from what `GET /apis` says the server serves (§11a); `discovery`
    gives its answer (or error) when it was asked already."""
    if api not in API_CHOICES:
        raise ValueError(f"api must be one of {API_CHOICES}, got {api!r}")
    try:
        answer = discovery() if discovery is not None else client.discover()
        if isinstance(answer, errors.GrafanaError):
            raise answer
        served = Served.from_discovery(answer)
    except (errors.GrafanaUnavailable, errors.PermissionDenied) as exc:
        if api == "apis":
            raise
        # The legacy API does not need /apis: a broken or forbidden discovery is not a reason to stop.
        log.warning("GET /apis failed (%s): deploying through the legacy /api", exc)
        served = Served({})
    apis = None
    if served.usable:
        apis = ApisClient(client, namespace_for(org_id), served.dashboard_version, served.folder_version)
    if api == "apis" and apis is None:
        raise errors.GrafanaConfigError(
            f"--api apis: {client.base_url} does not serve dashboard.grafana.app v1 or v1beta1 and "
            f"folder.grafana.app (GET /apis lists {served.describe()}); use --api legacy or auto")
    if api == "legacy" or apis is None:
        return LegacyStore(client, apis)
    return ApisStore(client, apis)


@dataclass(frozen=True)
class DeployRun:
    folders: list[FolderEvent]
    #: One per dashboard touched, sorted by uid.
    outcomes: list[Outcome]
    #: Things the user should know that did not stop the deploy.
    warnings: list[str] = field(default_factory=list)
    #: The alert rules; None when they were left out.
    rules: rules_run.RulesRun | None = None
    #: Stopped by `client.stopping` (Ctrl-C): how many dashboards it never started (the
    #: rules not started are in `rules`).
    interrupted: bool = False
    not_started: int = 0


def deploy(client: GrafanaClient, store: Store, dashboards: list[dict], folders: list[tuple[str, str]], *,
           rule_groups: list[dict] | None = None, project: str | None = None, jobs: int = DEFAULT_JOBS,
           only: bool = False, dry_run: bool = False, force: bool = False, prune: bool = False,
           progress: Progress = no_progress) -> DeployRun:
    """Deploy `dashboards`, then the alert rules of `rule_groups`, into the last folder of
    `folders` ((uid, title), outermost first).

    With `only` (a subset of the dashboards) the rest of the folder is not
    judged: nothing is stale or pruned. `rule_groups` None leaves the rules out;
    with an empty list (no rule generated) Grafana's rules are read only with
    `prune`, to delete those no longer generated. `project` is recorded in every
    marker; another project's dashboards and rules are never written.
    """
    folder_uid = folders[-1][0]
    alerting = AlertingApi(client)
    store.read_ahead(folders)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="queuedash-checks") as pool:
        checking = pool.submit(_checks_before_writing, client, alerting, dashboards, rule_groups, folders,
                               dry_run=dry_run, prune=prune)
        # What deploy would send, worked out while the checks, the list pages and the folders travel.
        prepared = {dashboard["uid"]: prepare(dashboard, project=project) for dashboard in dashboards}
        warnings, reading = checking.result()
    events = store.ensure_folders(folders, create=not dry_run, need_write=not dry_run)
    folder_is_new = events[-1].status in ("missing", "created")
    wanted = [dashboard["uid"] for dashboard in dashboards]
    with progress("reading", len(wanted)) as bar:
        readings = store.read(wanted, jobs=jobs, on_done=lambda _: bar.update(1))
    # A new folder holds nothing yet; with `only`, the rest of the folder is not ours to judge.
    leftovers = [] if only or folder_is_new else store.leftovers(folder_uid, set(wanted), jobs=jobs)
    unreadable = [r for r in readings + leftovers if r.error]
    live = {r.uid: r.live for r in readings if not r.error}
    others = {r.uid: r.live for r in leftovers if not r.error and r.live}
    if client.stopping.is_set():  # interrupted while reading: nothing written
        return DeployRun(events, [], warnings, _not_started(rule_groups) if reading is not None else None,
                         interrupted=True, not_started=len(dashboards))
    steps = make_plan(dashboards, live, folder_uid, others=others, project=project, force=force, prune=prune,
                      prepared=prepared)
    replan = partial(_replan, folder_uid=folder_uid, project=project, force=force)
    with progress("deploying", sum(step.writes for step in steps) if not dry_run else 0) as bar:
        outcomes = apply_plan(store, steps, folder_uid, replan=replan, jobs=jobs, dry_run=dry_run,
                              on_done=lambda outcome: bar.update(1), stop=client.stopping)
    titles = {dashboard["uid"]: dashboard.get("title", "") for dashboard in dashboards}
    done = len(outcomes)
    outcomes += [Outcome(r.uid, titles.get(r.uid, ""), FAILED, r.error) for r in unreadable]
    not_started = len(steps) - done if client.stopping.is_set() else 0
    rules = None
    if reading is not None:
        # Stopped during the dashboards: no rule group starts (deploy_rules sees the same event).
        rules = rules_run.deploy_rules(alerting, rule_groups, folder_uid, project=project, dry_run=dry_run,
                                       force=force, prune=prune, reading=reading)
    return DeployRun(events, sorted(outcomes, key=lambda outcome: outcome.uid), warnings, rules,
                     interrupted=client.stopping.is_set(), not_started=not_started)


def _not_started(rule_groups: list[dict]) -> rules_run.RulesRun:
    """The rules of a deploy stopped before them: none touched."""
    return rules_run.RulesRun([], [], not_started=sum(len(body["rules"]) for body in rule_groups))


def _checks_before_writing(client: GrafanaClient, alerting: AlertingApi, dashboards: list[dict],
                           rule_groups: list[dict] | None, folders: list[tuple[str, str]], *, dry_run: bool,
                           prune: bool) -> tuple[list[str], tuple[list[dict], dict[tuple[str, str], int]] | None]:
    """Before any write, the folder's included: the data sources, whether the credentials may
    write the rules, then the rules Grafana holds (None when rules are left out). Returns the
    warnings and those rules."""
    warnings = check_datasources(client, dashboards, rule_groups or [])
    reading = None
    if rule_groups is not None and (rule_groups or prune):
        if not dry_run:
            warnings += rules_run.check_may_write(alerting, folders)
        reading = rules_run.read(alerting, rule_groups)
    return warnings, reading


def _replan(dashboard: dict, live, *, folder_uid: str, project: str | None, force: bool):
    return plan_dashboard(dashboard, live, folder_uid, project=project, force=force)


@dataclass(frozen=True)
class DiffRun:
    #: Unified diffs (live -> generated) and one-line notes, in uid order.
    differences: list[str] = field(default_factory=list)
    #: Dashboards that could not be read: "uid: reason".
    errors: list[str] = field(default_factory=list)
    #: Dashboards queuedash deployed that are no longer generated: (uid, title).
    only_in_grafana: list[tuple[str, str]] = field(default_factory=list)
    total: int = 0
    #: The alert rules; None when they were left out, or could not be read.
    rules: rules_run.RulesDiff | None = None
    #: Why the alert rules could not be read (a missing permission, Grafana gone): one line.
    rules_error: str = ""

    @property
    def differing(self) -> int:
        """Dashboards and rules that differ (not those that could not be read)."""
        return len(self.differences) + (len(self.rules.differences) if self.rules else 0)


def diff(store: Store, dashboards: list[dict], folder_uid: str, *, alerting: AlertingApi | None = None,
         rule_groups: list[dict] | None = None, project: str | None = None, jobs: int = DEFAULT_JOBS,
         only: bool = False) -> DiffRun:
    """Compare what Grafana holds with `dashboards`, and with the rules of `rule_groups`
    through `alerting` (None or no groups: rules left out); writes nothing.

    A dashboard differs when deploying would write it (or could not: a conflict),
    shown as a diff of normalized JSON; the same content elsewhere is a one-line note.
    """
    wanted = [dashboard["uid"] for dashboard in dashboards]
    store.read_ahead()
    readings = {r.uid: r for r in store.read(wanted, jobs=jobs)}
    folder_exists = store.folder_exists(folder_uid)
    leftovers = store.leftovers(folder_uid, set(wanted), jobs=jobs) if folder_exists and not only else []
    run = DiffRun(total=len(dashboards))
    for dashboard in dashboards:
        uid = dashboard["uid"]
        reading = readings[uid]
        if reading.error:
            run.errors.append(f"{uid}: {reading.error}")
            continue
        step = plan_dashboard(dashboard, reading.live, folder_uid, project=project)
        if step.action == UNCHANGED:
            continue
        if step.action in (ADDED, UPDATED, CONFLICT) and step.live != step.generated:
            run.differences.append(step.diff().rstrip("\n"))
        elif reading.live is not None and reading.live.folder_uid not in (None, folder_uid):
            run.differences.append(f"{uid}: in folder {reading.live.folder_uid or 'General'!r}, "
                                   f"generated for {folder_uid!r}")
    for reading in leftovers:
        if reading.live is not None and plan_leftover(reading.uid, reading.live, project=project,
                                                      prune=False) is not None:
            run.only_in_grafana.append((reading.uid, reading.live.title))
    if alerting is not None and rule_groups:
        try:
            return replace(run, rules=rules_run.diff_rules(alerting, rule_groups, folder_uid, project=project))
        except errors.GrafanaError as exc:
            # The dashboards' answer still stands; the rules' is "could not check".
            return replace(run, rules_error=str(exc))
    return run
