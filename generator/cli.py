"""The `queuedash` command: the only module that prints.

Settings are merged once in the group (options, their `QUEUEDASH_*`
environment variables, the settings file, defaults) and passed down. Every
`QueuedashError` becomes one line on stderr and exit status 1; a usage
mistake is click's exit status 2. No traceback for a user's mistake.
"""

from __future__ import annotations

import dataclasses
import json
from functools import cached_property
from pathlib import Path

import click

from . import export
from . import settings as settings_module
from .build import build_all, encode, write
from .discover import add_queues
from .discover import discover as discover_queues
from .errors import QueuedashError
from .validate import problems


class App:
    """What the group hands to commands: settings, loaded on first use."""

    def __init__(self, config: str | None, overrides: dict):
        self.config = config
        self.overrides = overrides

    @cached_property
    def settings(self) -> settings_module.Settings:
        path = self.config
        if path is None and Path(settings_module.DEFAULT_SETTINGS_FILE).is_file():
            path = settings_module.DEFAULT_SETTINGS_FILE
        return settings_module.load(path, self.overrides)


pass_app = click.make_pass_decorator(App)


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
              help="Folder of dashboard definitions (*.py). Default: dashboards/ beside the settings file.")
@click.option("--datasource-uid", envvar="QUEUEDASH_DATASOURCE_UID", metavar="UID",
              help="Uid of the Graphite datasource in Grafana.")
@click.option("--namespace", envvar="QUEUEDASH_NAMESPACE", type=click.Choice(["legacy", "modern"]),
              help="StatsD Graphite namespace: legacy (stats_counts.*) or modern (stats.counters.*).")
@click.option("--prefix", envvar="QUEUEDASH_PREFIX", metavar="PREFIX",
              help="StatsD key prefix the agent uses (default: celery).")
@click.version_option(package_name="queuedash")
@click.pass_context
def cli(ctx, config, definitions, datasource_uid, namespace, prefix):
    """Grafana dashboards for Celery task queues, as code.

    Definitions in dashboards/ compile to Grafana dashboard JSON over Graphite
    metrics named by the StatsD naming scheme in the settings file.
    """
    ctx.obj = App(config, {
        "definitions": definitions,
        "datasource.uid": datasource_uid,
        "naming.namespace": namespace,
        "naming.prefix": prefix,
    })


@cli.command()
@click.option("--out", "-o", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Output folder. Default: the settings' `output` (build/dashboards); build/import with --for-import.")
@click.option("--only", metavar="NAME", help="Build only this dashboard (name or uid); other files stay.")
@click.option("--for-import", is_flag=True,
              help="Write JSON for Grafana's Import screen: a DS_GRAPHITE datasource input, __requires, no id.")
@click.option("--provisioning", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Write DIR/dashboards/<folder uid>/*.json and DIR/provisioning/dashboards/queuedash.yaml.")
@click.option("--provisioning-path", metavar="PATH",
              help="The dashboards folder as Grafana sees it, for the YAML's `path` "
                   "(default: DIR/dashboards/<folder uid>, absolute).")
@pass_app
def build(app: App, out: Path | None, only: str | None, for_import: bool, provisioning: Path | None,
          provisioning_path: str | None):
    """Compile every dashboard definition to Grafana JSON.

    Three ways to get the dashboards into Grafana: the default JSON is ready
    for the HTTP API (`queuedash deploy`); --for-import writes files for
    Dashboards > New > Import; --provisioning writes files and a provisioning
    YAML for Grafana to load from disk.

    Files are named <uid>.json. An output folder is replaced only when every
    dashboard built: a failed build leaves the previous one as it was.
    """
    if for_import and provisioning:
        raise click.UsageError("--for-import and --provisioning are different outputs: choose one")
    if provisioning_path and not provisioning:
        raise click.UsageError("--provisioning-path goes with --provisioning")
    settings = app.settings
    built = build_all(settings, only=only)
    if for_import:
        built = [_for_import(item, settings.datasource.name) for item in built]
        target = out or settings.output.parent / "import"
    elif provisioning:
        target = provisioning / "dashboards" / settings.grafana.folder.uid
    else:
        target = out or settings.output
    paths = write(built, target, replace_all=only is None)
    for item, path in zip(built, paths):
        click.echo(f"{path}  {item.title} ({item.panel_count} panels)")
    if provisioning:
        folder = settings.grafana.folder
        yaml_path = provisioning / "provisioning" / "dashboards" / "queuedash.yaml"
        export.write_text(yaml_path, export.provisioning_yaml(
            folder.uid, folder.title, provisioning_path or str(target.resolve()), settings.grafana.org_id or 1,
        ))
        click.echo(f"{yaml_path}  provisioning for folder {folder.title!r}")
    click.echo(f"built {len(built)} dashboard{'s' if len(built) != 1 else ''} into {target}")


def _for_import(item, datasource_label: str):
    data = export.for_import(item.data, datasource_label)
    return dataclasses.replace(item, data=data, text=encode(data))


@cli.command(name="list")
@pass_app
def list_(app: App):
    """List the dashboards the definitions produce: name, uid, panels, title."""
    built = build_all(app.settings)
    rows = [(b.name, b.uid, str(b.panel_count), b.title, b.source) for b in built]
    headers = ("NAME", "UID", "PANELS", "TITLE", "DEFINITION")
    widths = [max(len(r[i]) for r in rows + [headers]) for i in range(len(headers))]
    for row in [headers] + rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@pass_app
def validate(app: App, paths: tuple[Path, ...]):
    """Lint dashboards: the definitions' output, or the JSON files given.

    Checks schemaVersion 39, panel types (timeseries, stat, table, row),
    datasource references, thresholds, ids, grid placement, and every Graphite
    target: balanced brackets and quotes, known functions, #X references that
    exist and a matching targetFull. Exit 1 if anything is wrong.
    """
    if paths:
        checked = [(str(p), _read_json(p)) for p in _json_files(paths)]
    else:
        checked = [(f"{b.source}: dashboard {b.name!r}", b.data) for b in build_all(app.settings, lint=False)]
    failures = 0
    for where, data in checked:
        for problem in problems(data):
            click.echo(f"{where}: {problem}", err=True)
            failures += 1
    if failures:
        raise click.ClickException(f"{failures} problem{'s' if failures != 1 else ''} in {len(checked)} dashboards")
    click.echo(f"{len(checked)} dashboard{'s' if len(checked) != 1 else ''} OK")


@cli.command()
@click.option("--graphite", "graphite_url", required=True, envvar="QUEUEDASH_GRAPHITE_URL", metavar="URL",
              help="graphite-web's base URL, e.g. http://graphite:8080.")
@click.option("--write", "write_new", is_flag=True,
              help="Append the new queues to the settings file's `queues` (comments and order kept).")
@click.option("--timeout", type=float, default=10.0, show_default=True, help="Seconds to wait for Graphite.")
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


def _json_files(paths):
    files = []
    for path in paths:
        files.extend(sorted(path.glob("*.json")) if path.is_dir() else [path])
    if not files:
        raise QueuedashError(f"no JSON files in {', '.join(map(str, paths))}")
    return files


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise QueuedashError(f"{path}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise QueuedashError(f"{path}: not JSON: {exc.msg} at line {exc.lineno}") from None
    if not isinstance(data, dict):
        raise QueuedashError(f"{path}: not a dashboard (expected a JSON object)")
    return data


def main():
    cli(prog_name="queuedash")


# Commands that live beside their own code; registered last because they
# import this module's group and App. (`python -m generator` runs main.)
from queuedash_agent.cli import agent  # noqa: E402  (queuedash agent events|poll)

from .check_command import check  # noqa: E402
from .grafana.commands import deploy, diff  # noqa: E402

for _command in (deploy, diff, check, agent):
    cli.add_command(_command)
