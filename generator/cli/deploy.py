"""`queuedash deploy` and `queuedash diff`: the command-line half of deploy.

Connection settings come from options with `envvar=` (GRAFANA_URL,
GRAFANA_ORG_ID, ...), then the settings file's `[grafana]` table, then
defaults; credentials only from the environment (GRAFANA_TOKEN, or
GRAFANA_USER and GRAFANA_PASSWORD), read here with `os.environ` so no secret
ever shows in `--help`. The dashboards are built here (or read with --from)
and handed to `queuedash.deploy` as JSON. Every line printed, and every log
line, goes through the client's redactor.

The alert rules are built here too, for the version of the Grafana deploy talks
to (or, with --from DIR, read from the `rules` folder beside DIR, or --rules-from,
and linted for it), and handed to
`run.deploy` and `run.diff` with the dashboards; --no-rules leaves them out,
--only too.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import sys
import threading
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import click

from queuedash.cli.app import EXIT_COULD_NOT, EXIT_FAILED, EXIT_INTERRUPTED, SECONDS, App, exit_status, plural
from queuedash.compile import rules
from queuedash.compile.build import build_all
from queuedash.compile.validate import shape_problems
from queuedash.deploy import rules_run, run
from queuedash.deploy.apply import DEFAULT_JOBS, Outcome
from queuedash.deploy.plan import ADDED, CONFLICT, DELETED, FAILED, STALE, UNCHANGED, UPDATED
from queuedash.deploy.store import Store
from queuedash.errors import InputError, SettingsError
from queuedash.files import json_files, read_json_object
from queuedash.grafana.alerting import AlertingApi
from queuedash.grafana.client import GrafanaClient, RetryPolicy
from queuedash.grafana.errors import Interrupted
from queuedash.identity import chosen
from queuedash.grafana.credentials import Credentials, Redactor
from queuedash.project import project_id
from queuedash.settings import API_CHOICES, apply_overrides

SUMMARY_ORDER = (ADDED, UPDATED, UNCHANGED, CONFLICT, FAILED)


def common_options(command):
    """The options deploy and diff share: where Grafana is, how to talk to it, which dashboards."""
    options = [
        click.option("--url", envvar="GRAFANA_URL", show_envvar=True, metavar="URL",
                     help="Grafana's base URL, sub-path included (https://host/grafana). "
                          "Default: [grafana] url in the settings file."),
        click.option("--org-id", envvar="GRAFANA_ORG_ID", show_envvar=True, type=click.IntRange(min=1), metavar="ID",
                     help="Send X-Grafana-Org-Id (only needed for a user in several organisations)."),
        click.option("--ca-bundle", envvar="GRAFANA_CA_BUNDLE", show_envvar=True, type=click.Path(dir_okay=False), metavar="FILE",
                     help="CA certificates (PEM) to verify Grafana's TLS certificate with."),
        click.option("--insecure", is_flag=True,
                     help="Do not verify Grafana's TLS certificate (warned about; for tests only)."),
        click.option("--timeout", envvar="GRAFANA_TIMEOUT", show_envvar=True, type=SECONDS,
                     metavar="SECONDS", help="Seconds each request may take, the whole answer included (default 10)."),
        click.option("--retries", type=click.IntRange(min=0), default=RetryPolicy.retries, show_default=True,
                     help="Retries of a request after a connection error, a timeout, 429, 502, 503 or 504."),
        click.option("--max-backoff", type=click.FloatRange(min=0), default=RetryPolicy.max_backoff,
                     show_default=True, metavar="SECONDS",
                     help="Longest wait between retries (waits double from 0.5 s up to this)."),
        click.option("--jobs", "-j", type=click.IntRange(1, 64), default=DEFAULT_JOBS, show_default=True,
                     help="Dashboards handled at once, over one keep-alive connection pool."),
        click.option("--api", envvar="GRAFANA_API", show_envvar=True, type=click.Choice(API_CHOICES),
                     help="The API to use for dashboards and folders: the /apis API where Grafana serves it "
                          "(12 and 13), else the legacy /api (auto, the default); or force one. Alert rules "
                          "always go through the provisioning API. Default: [grafana] api."),
        click.option("--project", envvar="QUEUEDASH_PROJECT", show_envvar=True, metavar="ID",
                     help="The project id recorded in every dashboard and alert rule deployed; another "
                          "project's are never touched. Default: [grafana] project, else derived from this git "
                          "repository's origin remote."),
        click.option("--from", "from_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
                     metavar="DIR", help="Take the dashboards from the JSON files in DIR (queuedash build's output) "
                                         "instead of building the definitions, and the alert rules from the "
                                         "folder `rules` beside DIR, where queuedash build writes them."),
        click.option("--rules-from", type=click.Path(exists=True, file_okay=False, path_type=Path),
                     metavar="DIR", help="With --from: take the rule groups from the JSON files in DIR instead "
                                         "(queuedash build --rules-out)."),
        click.option("--only", metavar="NAME", help="Only this dashboard (name, uid or file name); no alert rules."),
        click.option("--no-rules", is_flag=True, help="Leave the alert rules out: dashboards only."),
        click.option("--verbose", "-v", count=True, help="-v: retries; -vv: every request. Never credentials."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


class Connection:
    """The options of `common_options`, turned into settings, dashboards and a client."""

    def __init__(self, app: App, url, org_id, ca_bundle, insecure, timeout, retries, max_backoff, jobs, api, project,
                 from_dir, rules_from, only, no_rules, verbose):
        if rules_from is not None and from_dir is None:
            raise click.UsageError("--rules-from goes with --from: without it, the rules are built")
        self.app = app
        self.jobs = jobs
        self.from_dir = from_dir
        self.rules_from = rules_from
        self.only = only
        self.no_rules = no_rules
        self.verbose = verbose
        #: The connected Grafana's version (from /api/health), once connected.
        self.grafana_version = ""
        self.retry = RetryPolicy(retries=retries, max_backoff=max_backoff, backoff=min(0.5, max_backoff))
        self.credentials = Credentials.from_environment(os.environ)
        self.redact = Redactor.for_credentials(self.credentials)
        # These options take precedence over the settings file's [grafana] table.
        self.overrides = {
            "grafana.url": url,
            "grafana.org_id": org_id,
            "grafana.ca_bundle": ca_bundle,
            "grafana.verify_tls": False if insecure else None,
            "grafana.timeout": timeout,
            "grafana.api": api,
            "grafana.project": project,
        }
        self.org_id = 1

    @functools.cached_property
    def settings(self):
        return apply_overrides(self.app.settings, self.overrides)

    def echo(self, text: str = "", err: bool = False) -> None:
        click.echo(self.redact(text), err=err)

    def client(self) -> GrafanaClient:
        grafana = self.settings.grafana
        if not grafana.verify_tls and not grafana.ca_bundle:
            self.echo("warning: TLS certificate verification is off: anyone between here and Grafana can read "
                      "the credentials and change what is deployed", err=True)
        return GrafanaClient(grafana.url, self.credentials, org_id=grafana.org_id, verify_tls=grafana.verify_tls,
                             ca_bundle=grafana.ca_bundle, timeout=grafana.timeout, retry=self.retry,
                             pool_size=self.jobs)

    def folder_chain(self) -> list[tuple[str, str]]:
        grafana = self.settings.grafana
        return [(f.uid, f.title) for f in grafana.parents] + [(grafana.folder.uid, grafana.folder.title)]

    @functools.cached_property
    def built(self):
        return build_all(self.settings, only=self.only)

    def dashboards(self) -> list[dict]:
        """The generated dashboards, as JSON dicts, sorted by uid."""
        if self.from_dir is not None:
            found = _read_folder(self.from_dir, self.only)
        else:
            found = [(f"{b.source}: dashboard {b.name!r}", b.data) for b in self.built]
        return run.checked_dashboards(found)

    @property
    def with_rules(self) -> bool:
        return not self.no_rules and self.only is None

    def rule_groups(self, dashboards: list[dict]) -> list[dict]:
        """The rule group bodies, for the connected Grafana's version: built, or with --from
        read from the folder build wrote them to (--rules-from) and linted for that version
        (an evaluator it does not know would fail at every evaluation)."""
        version = self.grafana_version or self.settings.alerting.grafana_version
        if self.from_dir is None:
            return [group.body() for group in rules.rule_groups(self.settings, self.built, version)]
        folder = self.rules_from or rules.rules_folder(self.from_dir)
        found = [(str(path), read_json_object(path)) for path in json_files([folder])] if folder.is_dir() else []
        by_uid = {dashboard["uid"]: dashboard for dashboard in dashboards}
        folder_uid = self.settings.grafana.folder.uid
        for where, body in found:
            problems = rules.problems(body, version, by_uid)
            if problems:
                more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
                raise InputError(f"{where}: {problems[0]}{more}")
            if body.get("folderUid") != folder_uid:
                # Deploy makes, checks and prunes one folder: a group for another would land where
                # nothing was checked.
                raise InputError(f"{where}: the rule group is for folder {body.get('folderUid')!r}, deploy's folder "
                                 f"is {folder_uid!r} ([grafana] folder_uid): build the rules with these settings")
        return rules_run.checked_groups(found)

    def connect(self, out_err: bool = False) -> tuple[GrafanaClient, Store]:
        """A client that has passed the start checks (§13): /api/health, then /api/org; and
        the path to Grafana's dashboards, from GET /apis (§11a) or as --api forces it."""
        client = self.client()
        try:
            started = run.start(client, self.settings.grafana.api)
        except BaseException:
            client.close()
            raise
        health, org, store, self.org_id = started.health, started.org, started.store, started.org_id
        self.grafana_version = str(health.get("version") or "")
        version = health.get("version") or "version hidden"
        self.echo(f"grafana: {client.base_url} (Grafana {version}, org {org.get('id')} {org.get('name', '')!s})"
                  .rstrip() + f" through {store.describe()}", err=out_err)
        return client, store

    def project(self, required: bool = True) -> str | None:
        """The project id of these dashboards (queuedash.project); for `diff`, None when it
        cannot be derived (diff then counts every marker as ours)."""
        source = self.app.settings.source
        base = source.resolve().parent if source is not None else Path.cwd()
        where = str(source) if source is not None else "queuedash.toml"
        try:
            return project_id(self.settings.grafana.project, base, where)
        except SettingsError:
            if required:
                raise
            return None

    @contextmanager
    def logging(self):
        """-v shows retries, -vv every request, on stderr, redacted."""
        logger = logging.getLogger("queuedash")
        handler = _EchoHandler(self.redact)
        level = logging.DEBUG if self.verbose >= 2 else logging.INFO if self.verbose == 1 else logging.WARNING
        handler.setLevel(level)
        previous = logger.level
        logger.addHandler(handler)
        logger.setLevel(min(level, previous) if previous else level)
        try:
            yield
        finally:
            logger.removeHandler(handler)
            logger.setLevel(previous)


class _EchoHandler(logging.Handler):
    def __init__(self, redact: Redactor):
        super().__init__()
        self.redact = redact

    def emit(self, record: logging.LogRecord) -> None:
        click.echo(self.redact(f"{record.levelname.lower()}: {record.getMessage()}"), err=True)


def _read_folder(folder: Path, only: str | None) -> list[tuple[str, dict]]:
    files = json_files([folder])
    if only is not None:
        names = {str(f): (f.stem, f.name) for f in files}
        files = [f for f in files if str(f) in chosen(only, names)] or [f for f in files if _uid_in(f) == only]
        if not files:
            raise InputError(f"{folder}: no dashboard {only!r} (by file name or uid)")
    if not files:
        raise InputError(f"{folder}: no dashboard JSON files (*.json) in it")
    found = [(str(path), read_json_object(path)) for path in files]
    for where, data in found:
        # What Grafana would store but could not show (panels that are not a list...).
        for problem in shape_problems(data)[:1]:
            raise InputError(f"{where}: {problem}")
    return found


def _uid_in(path: Path) -> str | None:
    try:
        return read_json_object(path).get("uid")
    except InputError:
        return None


def _as_click_errors(command, status: int = EXIT_FAILED):
    """Errors are one line (the group prints them, through the redacting output) and exit
    with `status`."""
    return exit_status(status)(command)


def _progress(label: str, length: int):
    """A progress bar on a terminal; nothing in CI logs."""
    if length and sys.stdout.isatty():
        return click.progressbar(length=length, label=label)
    return run.no_progress(label, length)


# ----- deploy -------------------------------------------------------------------------------

@click.command()
@click.option("--dry-run", is_flag=True, help="Plan and print what would happen; write nothing.")
@click.option("--force", is_flag=True, help="Overwrite dashboards changed in Grafana since the last deploy, "
                                            "dynamic dashboards included (their v2 layout is lost), and alert "
                                            "rules changed through its API; with --prune, delete them. Never "
                                            "another project's.")
@click.option("--prune", is_flag=True, help="Delete this project's dashboards and alert rules in its folder that "
                                            "are no longer generated (never one queuedash did not create).")
@click.option("--show-diff", is_flag=True, help="Show the diff (Grafana -> generated) of each conflict.")
@common_options
@click.pass_obj
@_as_click_errors
def deploy(app, dry_run, force, prune, show_diff, **options):
    """Deploy the dashboards and their alert rules to Grafana: build, plan, apply.

    Each dashboard ends as added, updated, unchanged, conflict or failed (with
    --prune: deleted; without, dashboards queuedash deployed before and no longer
    generates are listed as stale). A dashboard somebody changed in Grafana since
    queuedash deployed it (on Grafana 13, saved as a dynamic dashboard) is a
    conflict and is not written; --force overwrites it. Dashboards another project
    deployed are never written, even with --force. Nothing is written when the
    dashboards' Graphite data source is missing. The alert rules follow, the same
    way, one write per rule group (--no-rules leaves them out); credentials that
    may not provision them stop deploy before anything is written.

    Exit status 0 when every dashboard and rule is added, updated or unchanged;
    1 when any failed or conflicted, or nothing could be deployed (one line says
    why); 130 after Ctrl-C, which stops what has not started, lets the requests
    in flight finish and prints the outcome of every dashboard and rule touched.

    Credentials come from the environment only: GRAFANA_TOKEN (a service-account
    token, sent as Bearer), or GRAFANA_USER and GRAFANA_PASSWORD (Basic auth).
    """
    connection = Connection(app, **options)
    if prune and connection.only:
        raise click.UsageError("--prune needs every dashboard: it cannot go with --only")
    with connection.logging():
        result = _run_deploy(connection, dry_run=dry_run, force=force, prune=prune)
    rule_run = result.rules
    rule_outcomes = rule_run.outcomes if rule_run else []
    for outcome in result.outcomes + rule_outcomes:
        line = f"{outcome.status:<10}{outcome.uid}  {outcome.title}"
        connection.echo(f"{line}  ({outcome.detail})" if outcome.detail else line)
        if show_diff and outcome.diff:
            connection.echo(outcome.diff.rstrip("\n"))
    for outcome in result.outcomes + rule_outcomes:
        if outcome.warning:
            connection.echo(f"warning: {outcome.warning}", err=True)
    interrupted = result.interrupted
    connection.echo(_summary(result.outcomes, dry_run=dry_run, prune=prune,
                             not_started=result.not_started if interrupted else None))
    rules_not_started = rule_run.not_started if rule_run else 0
    if rule_run is not None and (rule_outcomes or rule_run.groups or rules_not_started):
        connection.echo(_summary(rule_outcomes, dry_run=dry_run, prune=prune, head="rules",
                                 not_started=rules_not_started if interrupted else None))
    if interrupted:
        left = plural(result.not_started, "dashboard") + (
            f" and {plural(rules_not_started, 'alert rule')}" if rules_not_started else "")
        connection.echo("Error: interrupted: the requests in flight finished, the outcome of each is above; "
                        f"{left} not started", err=True)
        raise click.exceptions.Exit(EXIT_INTERRUPTED)
    if any(outcome.status in (CONFLICT, FAILED) for outcome in result.outcomes + rule_outcomes):
        raise click.exceptions.Exit(1)


def _run_deploy(connection: Connection, *, dry_run: bool, force: bool, prune: bool) -> run.DeployRun:
    dashboards = connection.dashboards()
    project = connection.project()
    client, store = connection.connect()
    with client, _stopping_on_ctrl_c(client):
        # Rules are made for this Grafana's version: one that cannot be made stops deploy before any write.
        groups = connection.rule_groups(dashboards) if connection.with_rules else None
        try:
            result = run.deploy(client, store, dashboards, connection.folder_chain(), rule_groups=groups,
                                project=project, jobs=connection.jobs, only=connection.only is not None,
                                dry_run=dry_run, force=force, prune=prune, progress=_progress)
        except Interrupted:  # stopped before anything was touched (data sources, permissions, folders, lists)
            raise KeyboardInterrupt from None
    for warning in result.warnings:
        connection.echo(f"warning: {warning}", err=True)
    for event in result.folders:
        if event.status != "exists" or event.detail:
            connection.echo(f"folder    {event.uid}  {event.title}  ({event.status}"
                            + (f"; {event.detail})" if event.detail else ")"))
    for group in result.rules.groups if result.rules else []:
        connection.echo(f"group     {group.title}  ({group.status}: {group.detail})")
    return result


@contextmanager
def _stopping_on_ctrl_c(client: GrafanaClient):
    """While deploying, Ctrl-C (SIGINT) stops the client instead of raising where the main
    thread happens to be: nothing new starts, the requests in flight finish (each within
    --timeout), and the outcomes are printed. Only the main thread can take signals."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: client.stopping.set())
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _summary(outcomes: list[Outcome], *, dry_run: bool, prune: bool, head: str = "deploy",
             not_started: int | None = None) -> str:
    """One summary line; `not_started` is given when Ctrl-C stopped the deploy."""
    counts = Counter(outcome.status for outcome in outcomes)
    parts = [f"{counts[status]} {status}" for status in SUMMARY_ORDER]
    if prune:
        parts.append(f"{counts[DELETED]} deleted")
    if counts[STALE]:
        parts.append(f"{counts[STALE]} stale")
    if not_started is not None:
        parts.append(f"{not_started} not started (interrupted)")
    head = f"{head} (dry run, nothing written)" if dry_run else head
    return f"{head}: {', '.join(parts)}"


# ----- diff ---------------------------------------------------------------------------------

@click.command()
@common_options
@click.pass_obj
@exit_status(EXIT_COULD_NOT)
def diff(app, **options):
    """Show how Grafana differs from the generated dashboards and alert rules.

    A unified diff per dashboard, live (Grafana) -> generated, of normalized
    JSON (sorted keys, without id, version and queuedash's marker), then per
    alert rule (--no-rules leaves them out). Dashboards and rules queuedash
    deployed that are no longer generated are listed. Writes nothing.

    Exit status, for a CI check: 0 when nothing differs, 1 when something
    does, 2 when it could not check (bad settings or definitions, Grafana
    unreachable, credentials refused, a dashboard or the alert rules that
    could not be read).

    Credentials come from the environment only: GRAFANA_TOKEN, or GRAFANA_USER
    and GRAFANA_PASSWORD (a Viewer is enough for the dashboards; on Grafana
    10.x, reading the alert rules needs the Admin role, or --no-rules).
    """
    connection = Connection(app, **options)
    with connection.logging():
        result, rules_total = _run_diff(connection)
    unreadable = len(result.errors)
    rules = result.rules
    differing = result.differing
    only_in_grafana = len(result.only_in_grafana) + (len(rules.only_in_grafana) if rules else 0)
    compared = result.total - unreadable

    def counted(dashboards: int) -> str:
        text = plural(dashboards, "dashboard")
        return f"{text} and {plural(rules.total, 'rule')}" if rules is not None else text

    summary = (f"diff: {differing} of {counted(result.total)} differ" if differing
               else f"diff: no differences in {counted(compared)}")
    if only_in_grafana:
        summary += f", {only_in_grafana} only in Grafana"
    if unreadable:
        summary += f", {unreadable} could not be read"
    if result.rules_error:
        summary += f", {plural(rules_total, 'alert rule')} could not be read"
    connection.echo(summary, err=True)
    if unreadable or result.rules_error:
        raise click.exceptions.Exit(EXIT_COULD_NOT)
    if differing or only_in_grafana:
        raise click.exceptions.Exit(1)


def _run_diff(connection: Connection) -> tuple[run.DiffRun, int]:
    """Prints the differences; returns the run and how many rules were generated."""
    dashboards = connection.dashboards()
    client, store = connection.connect(out_err=True)
    with client:
        groups = connection.rule_groups(dashboards) if connection.with_rules else None
        result = run.diff(store, dashboards, connection.settings.grafana.folder.uid, alerting=AlertingApi(client),
                          rule_groups=groups, project=connection.project(required=False), jobs=connection.jobs,
                          only=connection.only is not None)
    rules_result = result.rules
    for line in result.errors:
        connection.echo(line, err=True)
    if result.rules_error:
        connection.echo(f"alert rules: {result.rules_error}", err=True)
    for text in result.differences + (rules_result.differences if rules_result else []):
        connection.echo(text)
    only = result.only_in_grafana + (rules_result.only_in_grafana if rules_result else [])
    for uid, title in only:
        connection.echo(f"only in Grafana: {uid}  {title}  (deployed by queuedash, no longer generated)")
    return result, sum(len(body["rules"]) for body in groups or [])
