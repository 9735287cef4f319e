"""The `queuedash` group: its options, its error handling, and `main()`.

Settings are merged once in the group (options, their `QUEUEDASH_*`
environment variables, the settings file, defaults) and passed down. Every
`QueuedashError` becomes one line on stderr and exit status 1; a usage
mistake is click's exit status 2. No traceback for a user's mistake.
"""

from __future__ import annotations

import click

from queuedash import settings as settings_module
from queuedash.cli.agent import agent
from queuedash.cli.app import App
from queuedash.cli.build import build, list_, validate
from queuedash.cli.check import check, discover
from queuedash.cli.deploy import deploy, diff
from queuedash.errors import QueuedashError


class QueuedashGroup(click.Group):
    """Turns queuedash errors raised by any command into one line and exit 1."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except QueuedashError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=QueuedashGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "-c", envvar="QUEUEDASH_CONFIG", metavar="FILE",
              help=f"Settings file (TOML). Default: ./{settings_module.DEFAULT_SETTINGS_FILE} when it exists.")
@click.option("--definitions", envvar="QUEUEDASH_DEFINITIONS", metavar="DIR",
              help="Folder of dashboard definitions (*.py). Default: dashboards/ beside the settings file "
                   "when it exists, else queuedash's standard definitions.")
@click.option("--datasource-uid", envvar="QUEUEDASH_DATASOURCE_UID", metavar="UID",
              help="Uid of the Graphite datasource in Grafana.")
@click.option("--namespace", envvar="QUEUEDASH_NAMESPACE", type=click.Choice(["legacy", "modern"]),
              help="StatsD Graphite namespace: legacy (stats_counts.*) or modern (stats.counters.*).")
@click.option("--prefix", envvar="QUEUEDASH_PREFIX", metavar="PREFIX",
              help="StatsD key prefix the dashboards query (default: celery; the agent's own --prefix must match).")
@click.option("--per-host/--no-per-host", envvar="QUEUEDASH_PER_HOST", default=None,
              help="Task keys carry the host that counted them, and every query sums the hosts: for a "
                   "StatsD per host (default: [naming] per_host, false; the agent's own QUEUEDASH_PER_HOST "
                   "must match).")
@click.version_option(package_name="queuedash")
@click.pass_context
def cli(ctx, config, definitions, datasource_uid, namespace, prefix, per_host):
    """Grafana dashboards for Celery task queues, as code.

    Definitions in dashboards/ compile to Grafana dashboard JSON over Graphite
    metrics named by the StatsD naming scheme in the settings file.
    """
    ctx.obj = App(config, {
        "definitions": definitions,
        "datasource.uid": datasource_uid,
        "naming.namespace": namespace,
        "naming.prefix": prefix,
        "naming.per_host": per_host,
    })


def main():
    cli(prog_name="queuedash")


for _command in (build, list_, validate, discover, check, deploy, diff, agent):
    cli.add_command(_command)
