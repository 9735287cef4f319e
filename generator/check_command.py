"""`queuedash check`: every dashboard's queries evaluated against a Graphite.

Prints, for each dashboard, its template variables and panels, one line each:
``OK``, ``EMPTY <expected metric path>`` or ``ERROR <Graphite's message>``, then
one summary line. Exit status 1 on any ERROR (with --strict, on any EMPTY too);
an unreachable or silent Graphite is one line and exit 1, like every other
queuedash error. The evaluation itself is `generator.check`.

Registered on the `queuedash` group at the end of `cli.py`. Imports `build`,
`check`, `cli` (its App), `graphite`.
"""

from __future__ import annotations

import click

from .build import build_all
from .check import ALL, FOUND, OK, DashboardCheck, Summary, TimeRange, check_all
from .cli import App, pass_app
from .graphite import GraphiteClient


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


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
        return f"{line}  {_plural(len(variable.values), 'value')}: {shown}"
    if variable.message:
        return f"{line}  {variable.message}"
    return f"{line}  nothing matches {variable.query}"


def summary_line(summary: Summary, url: str) -> str:
    def counts(by_status):
        return ", ".join(f"{by_status[s]} {s}" for s in by_status)

    return (f"checked {_plural(summary.dashboards, 'dashboard')} against {url}: "
            f"panels {counts(summary.panels)}; variables {counts(summary.variables)}")


@click.command()
@click.option("--graphite", "graphite_url", required=True, envvar="QUEUEDASH_GRAPHITE_URL", metavar="URL",
              help="graphite-web's base URL, e.g. http://graphite:8080.")
@click.option("--from", "from_", default="-1h", show_default=True, metavar="TIME",
              help="Start of the time range, as Graphite or Grafana write it (-1h, now-6h, -15m).")
@click.option("--until", default="now", show_default=True, metavar="TIME", help="End of the time range.")
@click.option("--strict", is_flag=True, help="Fail on EMPTY panels and variables too, not only on ERROR.")
@click.option("--only", metavar="NAME", help="Check only this dashboard (name or uid).")
@click.option("--found-values", is_flag=True,
              help="Fill variables with every value Graphite finds for them ({a,b,c}) instead of their All (*).")
@click.option("--timeout", type=float, default=10.0, show_default=True, help="Seconds to wait for each answer.")
@pass_app
def check(app: App, graphite_url: str, from_: str, until: str, strict: bool, only: str | None,
          found_values: bool, timeout: float):
    """Evaluate every panel's queries against Graphite, as Grafana would.

    Run it before the first deploy, and after changing the naming settings: a
    Graphite target that is wrong shows in Grafana as an empty panel, not an
    error. Each panel is OK (data), EMPTY (valid, no data: most likely a metric
    named differently from what the dashboards expect; the line names the path
    and where it stops matching) or ERROR (Graphite refused the query). Repeated
    panels and rows are checked once per value of their variable.

    Exit status 1 on any ERROR; with --strict, on any EMPTY too.
    """
    built = build_all(app.settings, only=only)
    client = GraphiteClient(graphite_url, timeout)
    results = check_all(built, client, TimeRange(from_, until), FOUND if found_values else ALL)
    for dashboard in results:
        for variable in dashboard.variables:
            click.echo(variable_line(dashboard, variable))
        for panel in dashboard.panels:
            click.echo(panel_line(dashboard, panel))
    summary = Summary.of(results)
    line = summary_line(summary, client.url)
    if summary.failed(strict):
        raise click.ClickException(line)
    click.echo(line)
