"""The `queuedash` group: its options, its error handling, and `main()`.

Settings are merged once in the group (options, their `QUEUEDASH_*`
environment variables, the settings file, defaults) and passed down. Every
`QueuedashError` becomes one line on stderr and exit status 1 (or the status
its command gives it: `cli.app.exit_status`); a usage mistake is click's exit
status 2; Ctrl-C is one line and 130. No traceback for a user's mistake;
`--debug` shows the one behind an error.

Every byte a command prints goes through one redactor (`cli.output`) that
knows the secrets of the process: GRAFANA_TOKEN, GRAFANA_PASSWORD and the
password of any URL in the environment or the arguments.
"""

from __future__ import annotations

import gc
import os
import re
import sys
import traceback

import click

from queuedash import secrets
from queuedash import settings as settings_module
from queuedash.cli.agent import agent
from queuedash.cli.app import EXIT_FAILED, EXIT_INTERRUPTED, SECONDS, App
from queuedash.cli.build import build, list_, validate
from queuedash.cli.check import check, discover
from queuedash.cli.deploy import deploy, diff
from queuedash.cli.output import redacted_output
from queuedash.errors import QueuedashError


class QueuedashGroup(click.Group):
    """Turns queuedash errors raised by any command into one line, Ctrl-C into one line
    and 130, and runs every command with its output redacted."""

    def main(self, args=None, prog_name=None, **extra):
        arguments = list(sys.argv[1:] if args is None else args)
        with redacted_output(secrets.Redactor(secrets.from_environment(os.environ, arguments))):
            try:
                return super().main(args=args, prog_name=prog_name, **extra)
            except Exception:  # a bug, not a mistake of the user's: say so, masked like the rest
                traceback.print_exc()
                click.echo("Error: internal error: this is a bug in queuedash; please report it "
                           "with the traceback above", err=True)
            raise SystemExit(EXIT_FAILED)

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.ClickException as exc:  # the group's own options
            exc.message = one_line(exc.message)
            raise

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except QueuedashError as exc:
            if isinstance(ctx.obj, App) and ctx.obj.debug:
                click.echo("".join(traceback.format_exception(exc)).rstrip("\n"), err=True)
            error = click.ClickException(one_line(str(exc)))
            error.exit_code = getattr(exc, "exit_status", EXIT_FAILED)
            raise error from None
        except click.ClickException as exc:  # a command's usage errors, which may quote a value
            exc.message = one_line(exc.message)
            raise
        except KeyboardInterrupt:
            click.echo("Error: interrupted", err=True)
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from None


def one_line(message: str) -> str:
    """The message on one line: a line break (or other control character) in a value it quotes,
    a path or a key, is shown escaped."""
    return _CONTROL.sub(lambda match: match.group(0).encode("unicode_escape").decode("ascii"), message)


_CONTROL = re.compile("[\\x00-\\x1f\\x7f-\\x9f\\u2028\\u2029]")  # what str.splitlines breaks at, and more


@click.group(cls=QueuedashGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "-c", envvar="QUEUEDASH_CONFIG", show_envvar=True, metavar="FILE",
              help=f"Settings file (TOML). Default: ./{settings_module.DEFAULT_SETTINGS_FILE} when it exists.")
@click.option("--definitions", envvar="QUEUEDASH_DEFINITIONS", show_envvar=True, metavar="DIR",
              help="Folder of dashboard definitions (*.py). Default: dashboards/ beside the settings file "
                   "when it exists, else queuedash's standard definitions.")
@click.option("--datasource-uid", envvar="QUEUEDASH_DATASOURCE_UID", show_envvar=True, metavar="UID",
              help="Uid of the Graphite datasource in Grafana.")
@click.option("--namespace", envvar="QUEUEDASH_NAMESPACE", show_envvar=True, type=click.Choice(["legacy", "modern"]),
              help="StatsD Graphite namespace: legacy (stats_counts.*) or modern (stats.counters.*).")
@click.option("--prefix", envvar="QUEUEDASH_PREFIX", show_envvar=True, metavar="PREFIX",
              help="StatsD key prefix the dashboards query (default: celery; the agent's own --prefix must match).")
@click.option("--per-host/--no-per-host", envvar="QUEUEDASH_PER_HOST", show_envvar=True, default=None,
              help="Task keys carry the host that counted them, and every query sums the hosts: for a "
                   "StatsD per host (default: [naming] per_host, false; the agent's own QUEUEDASH_PER_HOST "
                   "must match).")
@click.option("--definition-timeout", envvar="QUEUEDASH_DEFINITION_TIMEOUT", show_envvar=True, metavar="SECONDS",
              type=SECONDS,
              help="Stop a definition that has not finished after this many seconds "
                   "(default: definition_timeout in the settings file, else 60).")
@click.option("--debug", is_flag=True, help="Show the traceback behind an error (a definition that raises).")
@click.version_option(package_name="queuedash")
@click.pass_context
def cli(ctx, config, definitions, datasource_uid, namespace, prefix, per_host, definition_timeout, debug):
    """Grafana dashboards for Celery task queues, as code.

    Definitions in dashboards/ compile to Grafana dashboard JSON over Graphite
    metrics named by the StatsD naming scheme in the settings file.
    """
    if ctx.invoked_subcommand != "agent":
        _collect_cycles_rarely()
    ctx.obj = App(config, {
        "definitions": definitions,
        "datasource.uid": datasource_uid,
        "naming.namespace": namespace,
        "naming.prefix": prefix,
        "naming.per_host": per_host,
        "definition_timeout": definition_timeout,
    }, debug=debug)


def _collect_cycles_rarely() -> None:
    """The one-shot commands build, read and hash megabytes of JSON: hundreds of thousands of
    dicts and lists, none of them in a cycle. At CPython's default thresholds the cycle
    collector walks them over and over (a third of the CPU of a deploy that changes nothing);
    collect rarely instead, as mypy does for the same reason. The objects of the imports are
    frozen out of every collection. Not for the agent's commands, which run for months."""
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)


def main():
    cli(prog_name="queuedash")


for _command in (build, list_, validate, discover, check, deploy, diff, agent):
    cli.add_command(_command)
