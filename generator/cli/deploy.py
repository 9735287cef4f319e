"""`queuedash deploy` and `queuedash diff`: the command-line half of deploy.

Connection settings come from options with `envvar=` (GRAFANA_URL,
GRAFANA_ORG_ID, ...), then the settings file's `[grafana]` table, then
defaults; credentials only from the environment (GRAFANA_TOKEN, or
GRAFANA_USER and GRAFANA_PASSWORD), read here with `os.environ` so no secret
ever shows in `--help`. The dashboards are built here (or read with --from)
and handed to `queuedash.deploy` as JSON. Every line printed, and every log
line, goes through the client's redactor.
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

from queuedash.cli.app import EXIT_COULD_NOT, EXIT_FAILED, EXIT_INTERRUPTED, App, exit_status
from queuedash.compile.build import build_all
from queuedash.compile.validate import shape_problems
from queuedash.deploy import run
from queuedash.deploy.apply import DEFAULT_JOBS
from queuedash.deploy.plan import ADDED, CONFLICT, DELETED, FAILED, STALE, UNCHANGED, UPDATED
from queuedash.deploy.store import Store
from queuedash.errors import InputError, SettingsError
from queuedash.files import json_files, read_json_object
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
        click.option("--timeout", envvar="GRAFANA_TIMEOUT", show_envvar=True, type=click.FloatRange(min=0, min_open=True),
                     metavar="SECONDS", help="Seconds each request may take, the whole answer included (default 10)."),
        click.option("--retries", type=click.IntRange(min=0), default=RetryPolicy.retries, show_default=True,
                     help="Retries of a request after a connection error, a timeout, 429, 502, 503 or 504."),
        click.option("--max-backoff", type=click.FloatRange(min=0), default=RetryPolicy.max_backoff,
                     show_default=True, metavar="SECONDS",
                     help="Longest wait between retries (waits double from 0.5 s up to this)."),
        click.option("--jobs", "-j", type=click.IntRange(1, 64), default=DEFAULT_JOBS, show_default=True,
                     help="Dashboards handled at once, over one keep-alive connection pool."),
        click.option("--api", envvar="GRAFANA_API", show_envvar=True, type=click.Choice(API_CHOICES),
                     help="The API to use: the /apis API where Grafana serves it (12 and 13), else the "
                          "legacy /api (auto, the default); or force one. Default: [grafana] api."),
        click.option("--project", envvar="QUEUEDASH_PROJECT", show_envvar=True, metavar="ID",
                     help="The project id recorded in every dashboard deployed; another project's dashboards "
                          "are never touched. Default: [grafana] project, else derived from this git "
                          "repository's origin remote."),
        click.option("--from", "from_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
                     metavar="DIR", help="Take the dashboards from the JSON files in DIR (queuedash build's "
                                         "output) instead of building the definitions."),
        click.option("--only", metavar="NAME", help="Only this dashboard (name, uid or file name)."),
        click.option("--verbose", "-v", count=True, help="-v: retries; -vv: every request. Never credentials."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


class Connection:
    """The options of `common_options`, turned into settings, dashboards and a client."""

    def __init__(self, app: App, url, org_id, ca_bundle, insecure, timeout, retries, max_backoff, jobs, api, project,
                 from_dir, only, verbose):
        self.app = app
        self.jobs = jobs
        self.from_dir = from_dir
        self.only = only
        self.verbose = verbose
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

    def dashboards(self) -> list[dict]:
        """The generated dashboards, as JSON dicts, sorted by uid."""
        if self.from_dir is not None:
            found = _read_folder(self.from_dir, self.only)
        else:
            found = [(f"{b.source}: dashboard {b.name!r}", b.data) for b in build_all(self.settings, only=self.only)]
        return run.checked_dashboards(found)

    def connect(self, out_err: bool = False) -> tuple[GrafanaClient, Store]:
        """A client that has passed the start checks (§13): /api/health, then /api/org; and
        the path to Grafana's dashboards, from GET /apis (§11a) or as --api forces it."""
        client = self.client()
        try:
            health = client.health()
            org = client.org()
            self.org_id = org.get("id") if isinstance(org.get("id"), int) else 1
            store = run.open_store(client, self.org_id, self.settings.grafana.api)
        except BaseException:
            client.close()
            raise
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
                                            "dynamic dashboards included (their v2 layout is lost); with "
                                            "--prune, delete them.")
@click.option("--prune", is_flag=True, help="Delete queuedash's own dashboards in its folder that are no longer "
                                            "generated (never one queuedash did not create).")
@click.option("--show-diff", is_flag=True, help="Show the diff (Grafana -> generated) of each conflict.")
@common_options
@click.pass_obj
@_as_click_errors
def deploy(app, dry_run, force, prune, show_diff, **options):
    """Deploy the dashboards to Grafana: build, plan, apply.

    Each dashboard ends as added, updated, unchanged, conflict or failed (with
    --prune: deleted; without, dashboards queuedash deployed before and no longer
    generates are listed as stale). A dashboard somebody changed in Grafana since
    queuedash deployed it (on Grafana 13, saved as a dynamic dashboard) is a
    conflict and is not written; --force overwrites it. Dashboards another project
    deployed are never written, even with --force. Nothing is written when the
    dashboards' Graphite data source is missing.

    Exit status 0 when every dashboard is added, updated or unchanged; 1 when
    any failed or conflicted, or nothing could be deployed (one line says why);
    130 after Ctrl-C, which stops what has not started, lets the requests in
    flight finish and prints the outcome of every dashboard touched.

    Credentials come from the environment only: GRAFANA_TOKEN (a service-account
    token, sent as Bearer), or GRAFANA_USER and GRAFANA_PASSWORD (Basic auth).
    """
    connection = Connection(app, **options)
    if prune and connection.only:
        raise click.UsageError("--prune needs every dashboard: it cannot go with --only")
    with connection.logging():
        result = _run_deploy(connection, dry_run=dry_run, force=force, prune=prune)
    for outcome in result.outcomes:
        line = f"{outcome.status:<10}{outcome.uid}  {outcome.title}"
        connection.echo(f"{line}  ({outcome.detail})" if outcome.detail else line)
        if show_diff and outcome.diff:
            connection.echo(outcome.diff.rstrip("\n"))
    for outcome in result.outcomes:
        if outcome.warning:
            connection.echo(f"warning: {outcome.warning}", err=True)
    connection.echo(_summary(result, dry_run=dry_run, prune=prune))
    if result.interrupted:
        connection.echo("Error: interrupted: the requests in flight finished, the outcome of each is above; "
                        f"{result.not_started} not started", err=True)
        raise click.exceptions.Exit(EXIT_INTERRUPTED)
    if any(outcome.status in (CONFLICT, FAILED) for outcome in result.outcomes):
        raise click.exceptions.Exit(1)


def _run_deploy(connection: Connection, *, dry_run: bool, force: bool, prune: bool) -> run.DeployRun:
    dashboards = connection.dashboards()
    project = connection.project()
    client, store = connection.connect()
    with client, _stopping_on_ctrl_c(client):
        try:
            result = run.deploy(client, store, dashboards, connection.folder_chain(), project=project,
                                jobs=connection.jobs, only=connection.only is not None, dry_run=dry_run,
                                force=force, prune=prune, progress=_progress)
        except Interrupted:  # stopped before any dashboard was touched (data sources, folders, the list)
            raise KeyboardInterrupt from None
    for warning in result.warnings:
        connection.echo(f"warning: {warning}", err=True)
    for event in result.folders:
        if event.status != "exists" or event.detail:
            connection.echo(f"folder    {event.uid}  {event.title}  ({event.status}"
                            + (f"; {event.detail})" if event.detail else ")"))
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


def _summary(result: run.DeployRun, *, dry_run: bool, prune: bool) -> str:
    counts = Counter(outcome.status for outcome in result.outcomes)
    parts = [f"{counts[status]} {status}" for status in SUMMARY_ORDER]
    if prune:
        parts.append(f"{counts[DELETED]} deleted")
    if counts[STALE]:
        parts.append(f"{counts[STALE]} stale")
    if result.interrupted:
        parts.append(f"{result.not_started} not started (interrupted)")
    head = "deploy (dry run, nothing written)" if dry_run else "deploy"
    return f"{head}: {', '.join(parts)}"


# ----- diff ---------------------------------------------------------------------------------

@click.command()
@common_options
@click.pass_obj
@exit_status(EXIT_COULD_NOT)
def diff(app, **options):
    """Show how Grafana differs from the generated dashboards.

    A unified diff per dashboard, live (Grafana) -> generated, of normalized
    JSON (sorted keys, without id, version and queuedash's marker). Dashboards
    queuedash deployed that are no longer generated are listed. Writes nothing.

    Exit status, for a CI check: 0 when nothing differs, 1 when something
    does, 2 when it could not check (bad settings or definitions, Grafana
    unreachable, credentials refused, a dashboard that could not be read).

    Credentials come from the environment only: GRAFANA_TOKEN, or GRAFANA_USER
    and GRAFANA_PASSWORD (a Viewer is enough).
    """
    connection = Connection(app, **options)
    with connection.logging():
        differing, only_in_grafana, total, unreadable = _run_diff(connection)
    compared = total - unreadable

    def noun(count: int) -> str:
        return f"dashboard{'s' if count != 1 else ''}"

    summary = (f"diff: {differing} of {total} {noun(total)} differ" if differing
               else f"diff: no differences in {compared} {noun(compared)}")
    if only_in_grafana:
        summary += f", {only_in_grafana} only in Grafana"
    if unreadable:
        summary += f", {unreadable} could not be read"
    connection.echo(summary, err=True)
    if unreadable:
        raise click.exceptions.Exit(EXIT_COULD_NOT)
    if differing or only_in_grafana:
        raise click.exceptions.Exit(1)


def _run_diff(connection: Connection) -> tuple[int, int, int, int]:
    """Prints the differences; returns (differing, only in Grafana, generated count, unreadable)."""
    dashboards = connection.dashboards()
    client, store = connection.connect(out_err=True)
    with client:
        result = run.diff(store, dashboards, connection.settings.grafana.folder.uid,
                          project=connection.project(required=False), jobs=connection.jobs,
                          only=connection.only is not None)
    for line in result.errors:
        connection.echo(line, err=True)
    for text in result.differences:
        connection.echo(text)
    for uid, title in result.only_in_grafana:
        connection.echo(f"only in Grafana: {uid}  {title}  (deployed by queuedash, no longer generated)")
    return len(result.differences), len(result.only_in_grafana), result.total, len(result.errors)
