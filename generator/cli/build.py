"""`queuedash build`, `list` and `validate`: compiling the definitions (dashboards and
their alert rules)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from queuedash.cli.app import App, pass_app, plural
from queuedash.compile import export, rules
from queuedash.compile.build import build_all, write
from queuedash.compile.encode import encode
from queuedash.compile.validate import problems
from queuedash.errors import QueuedashError
from queuedash.files import json_files, owned_files, read_json_object, replace_folder, write_text

#: What to do about a rules folder holding files of someone else's.
RULES_REMEDY = "move them, or choose the rules' folder with --rules-out"


@click.command()
@click.option("--out", "-o", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Output folder. Default: the settings' `output` (build/dashboards); build/import with --for-import.")
@click.option("--only", metavar="NAME", help="Build only this dashboard (name or uid); other files stay.")
@click.option("--for-import", is_flag=True,
              help="Write JSON for Grafana's Import screen: a DS_GRAPHITE datasource input, __requires, no id.")
@click.option("--provisioning", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Write DIR/dashboards/<folder uid>/*.json, DIR/provisioning/dashboards/queuedash.yaml and "
                   "DIR/provisioning/alerting/queuedash.yaml (the alert rules).")
@click.option("--provisioning-path", metavar="PATH",
              help="The dashboards folder as Grafana sees it, for the YAML's `path` "
                   "(default: DIR/dashboards/<folder uid>, absolute).")
@click.option("--rules-out", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Folder for the alert rules, one JSON file per rule group. Default: `rules` beside the "
                   "dashboards' folder (build/rules).")
@click.option("--grafana-version", metavar="VERSION",
              help="The Grafana version the alert rules are for (it decides the threshold evaluators). "
                   "Default: [alerting] grafana_version in the settings file (10.4).")
@pass_app
def build(app: App, out: Path | None, only: str | None, for_import: bool, provisioning: Path | None,
          provisioning_path: str | None, rules_out: Path | None, grafana_version: str | None):
    """Compile every dashboard definition to Grafana JSON, with its alert rules.

    Three ways to get the dashboards into Grafana: the default JSON is ready
    for the HTTP API (`queuedash deploy`); --for-import writes files for
    Dashboards > New > Import; --provisioning writes files and a provisioning
    YAML for Grafana to load from disk.

    Files are named <uid>.json; the alert rules go in the folder `rules` beside
    theirs (build/rules; --rules-out), one file per rule group (with
    --provisioning, in provisioning/alerting/queuedash.yaml; none with
    --for-import or --only). An output folder is replaced only when every
    dashboard and rule built: a failed build leaves the previous one as it was.
    """
    if for_import and provisioning:
        raise click.UsageError("--for-import and --provisioning are different outputs: choose one")
    if provisioning_path and not provisioning:
        raise click.UsageError("--provisioning-path goes with --provisioning")
    if rules_out and (for_import or provisioning or only):
        raise click.UsageError("--rules-out goes with the API-ready build: --for-import and --only write no "
                               "rules, --provisioning writes them in its alerting file")
    settings = app.settings
    built = build_all(settings, only=only)
    groups = [] if only or for_import else rules.rule_groups(settings, built, _version(settings, grafana_version))
    if for_import:
        built = [_for_import(item, settings.datasource.name) for item in built]
        target = out or settings.output.parent / "import"
    elif provisioning:
        target = provisioning / "dashboards" / settings.grafana.folder.uid
    else:
        target = out or settings.output
    rules_target = None
    if not (only or for_import or provisioning):
        # Beside the dashboards, not among them: their folder holds dashboards only.
        rules_target = rules_out or rules.rules_folder(target)
        if rules_target.resolve() == target.resolve():
            raise click.UsageError(f"the alert rules would go in the dashboards' own folder {target}: choose "
                                   "another one with --rules-out")
    # Both output folders are checked before either is written: a refusal writes nothing.
    owned_files(target)
    if rules_target is not None:
        owned_files(rules_target, legacy=rules.is_rule_group_file, remedy=RULES_REMEDY)
        if groups or rules_target.exists():  # no empty folder beside dashboards that have no rules
            replace_folder(rules_target, {group.filename: group.text() for group in groups},
                           legacy=rules.is_rule_group_file, remedy=RULES_REMEDY)
    paths = write(built, target, replace_all=only is None)
    for item, path in zip(built, paths):
        click.echo(f"{path}  {item.title} ({item.panel_count} panels)")
    if rules_target is not None:
        for group in groups:
            click.echo(f"{rules_target / group.filename}  rule group {group.title!r} "
                       f"({plural(len(group.rules), 'rule')})")
    if provisioning:
        folder = settings.grafana.folder
        yaml_path = provisioning / "provisioning" / "dashboards" / "queuedash.yaml"
        write_text(yaml_path, export.provisioning_yaml(
            folder.uid, folder.title, provisioning_path or str(target.resolve()), settings.grafana.org_id or 1,
        ))
        click.echo(f"{yaml_path}  provisioning for folder {folder.title!r}")
        if groups:
            alerting_path = provisioning / "provisioning" / "alerting" / "queuedash.yaml"
            document = rules.provisioning_document(groups, folder.title, settings.grafana.org_id or 1)
            write_text(alerting_path, export.alerting_provisioning_yaml(document))
            click.echo(f"{alerting_path}  {plural(sum(len(g.rules) for g in groups), 'alert rule')} in "
                       f"{plural(len(groups), 'group')}")
    click.echo(f"built {len(built)} dashboard{'s' if len(built) != 1 else ''} into {target}")


def _version(settings, option: str | None) -> str:
    """The Grafana version rules are written for: the option, else the settings'."""
    version = option or settings.alerting.grafana_version
    try:
        rules.version_tuple(version)
    except ValueError:
        raise click.BadParameter(f"expected a version such as 11.6, got {version!r}",
                                 param_hint="--grafana-version") from None
    return version


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
@click.option("--grafana-version", metavar="VERSION",
              help="Lint the alert rules for this Grafana version. Default: [alerting] grafana_version (10.4).")
@pass_app
def validate(app: App, paths: tuple[Path, ...], grafana_version: str | None):
    """Lint dashboards and alert rules: the definitions' output, or the JSON files given
    (a folder: every *.json in it and its subfolders, so the --provisioning
    output too).

    Dashboards: schemaVersion 39, panel types (timeseries, stat, table, row),
    datasource references, thresholds, ids, grid placement, and every Graphite
    target: balanced brackets and quotes, known functions, #X references that
    exist and a matching targetFull. Rule groups (among the files given, as
    build/rules holds them): required fields, uid format, an interval that is a
    multiple of 10 s, queries without #X or variables, a dashboard/panel link
    that exists among the dashboards checked, threshold evaluators the Grafana
    version knows. Exit 1 if anything is wrong.
    """
    version = _version(app.settings, grafana_version)
    if paths:
        files = json_files(paths, recursive=True)
        if not files:
            raise QueuedashError(f"no JSON files in {', '.join(map(str, paths))} (nor in its subfolders)")
        loaded = [(str(p), read_json_object(p)) for p in files]
        checked = [(where, data) for where, data in loaded if not rules.is_rule_group(data)]
        groups = [(where, data) for where, data in loaded if rules.is_rule_group(data)]
    else:
        built = build_all(app.settings, lint=False)
        checked = [(f"{b.source}: dashboard {b.name!r}", b.data) for b in built]
        groups = [(f"rule group {g.title!r}", g.body()) for g in rules.rule_groups(app.settings, built, version)]
    failures = 0
    for where, data in checked:
        for problem in problems(data):
            click.echo(f"{where}: {problem}", err=True)
            failures += 1
    dashboards = {data.get("uid"): data for _, data in checked}
    found = [(where, problem) for where, body in groups for problem in rules.problems(body, version, dashboards)]
    found += [("rules", problem) for problem in rules.duplicate_problems([body for _, body in groups])]
    for where, problem in found:
        click.echo(f"{where}: {problem}", err=True)
    failures += len(found)
    counted = plural(len(checked), "dashboard") + (f" and {plural(len(groups), 'rule group')}" if groups else "")
    if failures:
        raise click.ClickException(f"{plural(failures, 'problem')} in {counted}")
    click.echo(f"{counted} OK")
