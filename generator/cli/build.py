"""`queuedash build`, `list` and `validate`: compiling the definitions."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from queuedash.cli.app import App, pass_app, plural
from queuedash.compile import export
from queuedash.compile.build import build_all, write
from queuedash.compile.encode import encode
from queuedash.compile.validate import problems
from queuedash.errors import QueuedashError
from queuedash.files import json_files, read_json_object, write_text


@click.command()
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
        write_text(yaml_path, export.provisioning_yaml(
            folder.uid, folder.title, provisioning_path or str(target.resolve()), settings.grafana.org_id or 1,
        ))
        click.echo(f"{yaml_path}  provisioning for folder {folder.title!r}")
    click.echo(f"built {len(built)} dashboard{'s' if len(built) != 1 else ''} into {target}")


def _for_import(item, datasource_label: str):
    data = export.for_import(item.data, datasource_label)
    return dataclasses.replace(item, data=data, text=encode(data))


@click.command(name="list")
@pass_app
def list_(app: App):
    """List the dashboards the definitions produce: name, uid, panels, title."""
    built = build_all(app.settings)
    rows = [(b.name, b.uid, str(b.panel_count), b.title, b.source) for b in built]
    headers = ("NAME", "UID", "PANELS", "TITLE", "DEFINITION")
    widths = [max(len(r[i]) for r in rows + [headers]) for i in range(len(headers))]
    for row in [headers] + rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@pass_app
def validate(app: App, paths: tuple[Path, ...]):
    """Lint dashboards: the definitions' output, or the JSON files given
    (a folder: every *.json in it and its subfolders, so the --provisioning
    output too).

    Checks schemaVersion 39, panel types (timeseries, stat, table, row),
    datasource references, thresholds, ids, grid placement, and every Graphite
    target: balanced brackets and quotes, known functions, #X references that
    exist and a matching targetFull. Exit 1 if anything is wrong.
    """
    if paths:
        files = json_files(paths, recursive=True)
        if not files:
            raise QueuedashError(f"no JSON files in {', '.join(map(str, paths))} (nor in its subfolders)")
        checked = [(str(p), read_json_object(p)) for p in files]
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
