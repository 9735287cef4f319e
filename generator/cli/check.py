"""`queuedash check` and `discover`: every dashboard's queries evaluated against a Graphite.

Prints, for each dashboard, its template variables and panels, one line each:
``OK``, ``EMPTY <expected metric path>`` or ``ERROR <Graphite's message>``; then
each alert rule, evaluated as Grafana's alerting would now: ``OK``, ``FIRING``,
``NODATA`` (its noDataState pages) or ``ERROR``; then one summary line. Exit
status 1 on any ERROR, a panel's or a rule's (with --strict, on any EMPTY too);
2 when it could not check (bad settings or definitions, an unreachable or silent
Graphite, a server that is not graphite-web): one line, so a CI job can tell a
broken dashboard from an outage. The evaluations themselves are
`queuedash.check.evaluate` and `queuedash.check.alerting`.

Also `queuedash discover`: the queues Graphite has metrics for, against the
inventory.
"""

from __future__ import annotations

import click

from queuedash.check import alerting
from queuedash.check.discover import add_queues
from queuedash.check.discover import discover as discover_queues
from queuedash.check.evaluate import ALL, FOUND, OK, DashboardCheck, Summary, TimeRange, check_all
from queuedash.cli.app import EXIT_COULD_NOT, SECONDS, App, exit_status, pass_app, plural
from queuedash.compile import rules
from queuedash.compile.build import build_all
from queuedash.errors import QueuedashError
from queuedash.graphite.client import GraphiteClient


def panel_line(dashboard: DashboardCheck, panel) -> str:
    line = f"{panel.status:<5}  {dashboard.uid}  {panel.label}"
    if panel.status == "EMPTY":
        line += "  " + "; ".join(e.describe() for e in panel.expected)
    elif panel.status == "ERROR":
        line += "  " + panel.message
    return line


def variable_line(dashboard: DashboardCheck, variable) -> str:
    line = f"{variable.status:<5}  {dashboard.uid}  ${variable.name}"
    if variable.status == OK:
        shown = ", ".join(variable.values[:5]) + (", ..." if len(variable.values) > 5 else "")
        return f"{line}  {plural(len(variable.values), 'value')}: {shown}"
    if variable.message:
        return f"{line}  {variable.message}"
    return f"{line}  nothing matches {variable.query}"


def rule_line(check: alerting.RuleCheck) -> str:
    return f"{check.status:<6} {check.uid}  {check.title}  {check.describe()}"


def summary_line(summary: Summary, url: str, rule_counts: dict | None = None) -> str:
    def counts(by_status):
        return ", ".join(f"{by_status[s]} {s}" for s in by_status)

    line = (f"checked {plural(summary.dashboards, 'dashboard')} against {url}: "
            f"panels {counts(summary.panels)}; variables {counts(summary.variables)}")
    return line + (f"; rules {counts(rule_counts)}" if rule_counts is not None else "")


@click.command()
@click.option("--graphite", "graphite_url", required=True, envvar="QUEUEDASH_GRAPHITE_URL", show_envvar=True,
              metavar="URL", help="graphite-web's base URL, e.g. http://graphite:8080 (credentials for a login in "
                                  "front of it: http://user:password@graphite:8080; never shown).")
@click.option("--from", "from_", default="-1h", show_default=True, metavar="TIME",
              help="Start of the time range, as Graphite or Grafana write it (-1h, now-6h, -15m).")
@click.option("--until", default="now", show_default=True, metavar="TIME", help="End of the time range.")
@click.option("--strict", is_flag=True, help="Fail on EMPTY panels and variables too, not only on ERROR.")
@click.option("--only", metavar="NAME", help="Check only this dashboard (name or uid).")
@click.option("--found-values", is_flag=True,
              help="Fill variables with every value Graphite finds for them ({a,b,c}) instead of their All (*).")
@click.option("--timeout", type=SECONDS, default=10.0, show_default=True,
              metavar="SECONDS", help="Seconds each request may take, the whole answer included.")
@click.option("--no-rules", is_flag=True, help="Check the dashboards only, not the alert rules.")
@pass_app
@exit_status(EXIT_COULD_NOT)
def check(app: App, graphite_url: str, from_: str, until: str, strict: bool, only: str | None,
          found_values: bool, timeout: float, no_rules: bool):
    """Evaluate every panel's queries against Graphite, as Grafana would.

    Run it before the first deploy, and after changing the naming settings: a
    Graphite target that is wrong shows in Grafana as an empty panel, not an
    error. Each panel is OK (data), EMPTY (valid, no data: most likely a metric
    named differently from what the dashboards expect; the line names the path
    and where it stops matching) or ERROR (Graphite refused the query). Zeros
    that transformNull makes of a range without a single point count as no
    data. Repeated panels and rows are checked once per value of their variable.

    Then each alert rule is evaluated as Grafana's alerting would evaluate it
    now (its query over its own time range, its reduce, its threshold): FIRING
    (the condition holds: Grafana pages once it held for the rule's `for`), OK,
    NODATA (no data, and the rule's noDataState pages for it) or ERROR. --from
    and --until do not apply to rules; --only leaves them out.

    Exit status 0 when every panel and rule is OK, FIRING or NODATA (EMPTY
    too, without --strict): a rule that would fire is news, not a failed
    check; 1 on any ERROR, a panel's or a rule's (with --strict, on any EMPTY
    too); 2 when it could not check (a mistake in the settings or
    definitions, Graphite unreachable, too slow, or not graphite-web).
    """
    settings = app.settings
    built = build_all(settings, only=only)
    # Made before any query: a rule the definitions cannot make is their mistake, not Graphite's.
    groups = [] if no_rules or only is not None else [
        group.body() for group in rules.rule_groups(settings, built, settings.alerting.grafana_version)]
    client = GraphiteClient(graphite_url, timeout)
    results = check_all(built, client, TimeRange(from_, until), FOUND if found_values else ALL)
    for dashboard in results:
        for variable in dashboard.variables:
            click.echo(variable_line(dashboard, variable))
        for panel in dashboard.panels:
            click.echo(panel_line(dashboard, panel))
    rule_counts = None
    if not no_rules and only is None:
        checks = alerting.check_rules(client, groups)
        for rule_check in checks:
            click.echo(rule_line(rule_check))
        rule_counts = alerting.counts(checks)
    summary = Summary.of(results)
    line = summary_line(summary, client.url, rule_counts)
    if summary.failed(strict) or (rule_counts or {}).get(alerting.ERROR):
        raise click.ClickException(line)  # exit status 1: the check ran, and failed
    click.echo(line)


@click.command()
@click.option("--graphite", "graphite_url", required=True, envvar="QUEUEDASH_GRAPHITE_URL", show_envvar=True,
              metavar="URL", help="graphite-web's base URL, e.g. http://graphite:8080 (credentials for a login in "
                                  "front of it: http://user:password@graphite:8080; never shown).")
@click.option("--write", "write_new", is_flag=True,
              help="Append the new queues to the settings file's `queues` (comments and order kept).")
@click.option("--timeout", type=SECONDS, default=10.0, show_default=True,
              metavar="SECONDS", help="Seconds each request may take, the whole answer included.")
@pass_app
def discover(app: App, graphite_url: str, write_new: bool, timeout: float):
    """List the queues Graphite has metrics for, against the inventory.

    new: in Graphite, not in the inventory; missing: in the inventory, no
    metrics in Graphite; known: both. Graphite holds escaped names (a dot
    became "_"), so a new queue is added under its metric name.
    """
    settings = app.settings
    result = discover_queues(settings, graphite_url, timeout)
    for status, names in (("new", result.new), ("missing", result.missing), ("known", result.known)):
        for name in names:
            click.echo(f"{status:<8} {name}")
    click.echo(f"{len(result.found)} queues in Graphite: {len(result.new)} new, "
               f"{len(result.missing)} missing, {len(result.known)} known")
    if write_new and result.new:
        if settings.source is None:
            raise QueuedashError("no settings file to write to: pass --config FILE")
        add_queues(settings.source, result.new)
        click.echo(f"added {len(result.new)} queue{'s' if len(result.new) != 1 else ''} to {settings.source}")
