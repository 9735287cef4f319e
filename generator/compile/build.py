"""Definitions -> JSON: load dashboards/*.py, build, check, encode, write.

A definition is a Python file in the definitions folder with a function
``build(settings)`` returning one `model.Dashboard` or a list of them. Every
failure (the file raises, returns something else, a duplicate uid, an empty
title, a lint problem) is a `DefinitionError` naming the file and dashboard;
an exception of the definition's own also names the line of the file it came
through, and is the error's cause (what `--debug` shows). A definition that
has not finished after `settings.definition_timeout` seconds is stopped
(`timelimit`).

Writing is all or nothing (`queuedash.files`): a failed build leaves the
previous one as it was.

Alert rules attached to panels (`authoring.alerts`) are collected here with
the panel's id (`Built.alerts`); `compile/rules.py` turns them into rule groups.

Imports `errors`, `files`, `identity`, `model`, `alerts`, `settings`, `encode`, `timelimit`, `validate`.
"""

from __future__ import annotations

import contextlib
import gc
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Iterator

from queuedash.errors import DefinitionError, QueuedashError, SettingsError
from queuedash.files import add_to_folder, replace_folder
from queuedash.identity import chosen
from queuedash.authoring.alerts import Alert
from queuedash.authoring.model import Dashboard
from queuedash.settings import Settings
from queuedash.compile.encode import encode_plain, plain
from queuedash.compile.timelimit import OutOfTime, time_limit
from queuedash.compile.validate import problems


@dataclass(frozen=True)
class PanelAlert:
    """An alert rule on a placed panel."""

    panel_id: int
    panel_title: str
    alert: Alert


@dataclass(frozen=True)
class Built:
    """One compiled dashboard."""

    name: str
    uid: str
    title: str
    source: str
    data: dict
    text: str
    alerts: tuple[PanelAlert, ...] = ()
    #: The definition file (for its rules' errors and time limit); None: `source` names it.
    path: Path | None = None

    @property
    def definition(self) -> Path:
        return self.path or Path(self.source)

    @property
    def filename(self) -> str:
        return f"{self.uid}.json"

    @property
    def panel_count(self) -> int:
        count = 0
        for panel in self.data.get("panels", []):
            if panel.get("type") != "row":
                count += 1
            count += len(panel.get("panels", []))
        return count


def definition_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise DefinitionError(f"{folder}: the definitions folder does not exist")
    files = sorted(p for p in folder.glob("*.py") if not p.name.startswith("_"))
    if not files:
        raise DefinitionError(f"{folder}: no dashboard definitions (*.py) in it")
    return files


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _load(path: Path):
    name = f"queuedash_definitions.{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not callable(getattr(module, "build", None)):
        raise DefinitionError(f"{_display(path)}: defines no build(settings) function")
    return module


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        return f"{type(exc).__name__}: {exc.msg}"
    text = str(exc)
    if isinstance(exc, QueuedashError):
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _line_in(path: Path, exc: BaseException) -> int | None:
    """The line of the definition file the exception came through (the deepest one)."""
    if isinstance(exc, SyntaxError) and exc.filename and _same_file(exc.filename, path):
        return exc.lineno
    line, frame = None, exc.__traceback__
    while frame is not None:
        if _same_file(frame.tb_frame.f_code.co_filename, path):
            line = frame.tb_lineno
        frame = frame.tb_next
    return line


def _same_file(filename: str, path: Path) -> bool:
    return filename == str(path) or Path(filename).resolve() == path.resolve()


@contextlib.contextmanager
def definition_code(path: Path, stage: str, timeout: float) -> Iterator[SimpleNamespace]:
    """Run code of the definition at `path` (loading it, its build(), what the alert rules
    it declared compute): within `timeout` seconds, and with any exception of its own one
    `DefinitionError` naming the file, the line it came through and `stage` (what was being
    done: the block may change `.stage` of what it is given as it goes)."""
    doing = SimpleNamespace(stage=stage)
    try:
        with time_limit(timeout):
            yield doing
    except QueuedashError as exc:
        # A settings mistake the definition found is the settings file's (its message says so).
        if isinstance(exc, SettingsError) or str(exc).startswith(_display(path)):
            raise
        raise DefinitionError(f"{_display(path)}: {doing.stage}: {exc}") from exc
    except OutOfTime as exc:
        raise DefinitionError(
            f"{_where(path, exc)}: {doing.stage}: did not finish within {timeout:g} s "
            "(stopped at this line; raise the limit with --definition-timeout, "
            "QUEUEDASH_DEFINITION_TIMEOUT or definition_timeout in the settings)") from exc
    except (Exception, SystemExit) as exc:  # a user's file: any exception is their mistake to see
        raise DefinitionError(
            f"{_where(path, exc)}: {doing.stage}: {_describe(exc)} (--debug shows the traceback)") from exc


def _dashboards_of(path: Path, settings: Settings) -> list[Dashboard]:
    """Load the definition and call its build(); both within the time limit."""
    with definition_code(path, "cannot load the definition", settings.definition_timeout) as doing:
        module = _load(path)
        doing.stage = f"dashboard {path.stem!r}"
        result = module.build(settings)
    items = result if isinstance(result, (list, tuple)) else [result]
    for item in items:
        if not isinstance(item, Dashboard):
            raise DefinitionError(
                f"{_display(path)}: build() must return queuedash.authoring.model.Dashboard objects, got {type(item).__name__}"
            )
    return list(items)


def _where(path: Path, exc: BaseException) -> str:
    """`file:line` when the exception came through a line of the file, else the file."""
    line = _line_in(path, exc)
    return f"{_display(path)}:{line}" if line else _display(path)


def compile_dashboard(dashboard: Dashboard, source: str, lint: bool = True, path: Path | None = None) -> Built:
    name = dashboard.name or dashboard.uid or ""
    where = f"{source}: dashboard {name!r}"
    if not str(dashboard.title or "").strip():
        raise DefinitionError(f"{where}: the title is empty")
    try:
        data = plain(dashboard)
    except Exception as exc:
        raise DefinitionError(f"{where}: cannot encode: {_describe(exc)}") from None
    found = problems(data) if lint else []
    if found:
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise DefinitionError(f"{where}: {found[0]}{more}")
    try:
        text = encode_plain(data)
    except (TypeError, ValueError) as exc:  # a value JSON has no form for (a set, an object)
        raise DefinitionError(f"{where}: cannot encode: {_describe(exc)}") from None
    return Built(name=name, uid=data["uid"], title=data["title"], source=source, data=data, text=text,
                 alerts=_alerts_of(dashboard), path=path)


def _alerts_of(dashboard: Dashboard) -> tuple[PanelAlert, ...]:
    found = []
    for panel in dashboard.panels:
        for placed in [panel] + list(getattr(panel, "panels", None) or []):
            for alert in getattr(placed, "alerts", ()):
                found.append(PanelAlert(placed.id, placed.title, alert))
    return tuple(found)


@contextlib.contextmanager
def collector_paused():
    """Python's cyclic garbage collector off while a build runs.

    A build makes millions of small objects (model objects, then JSON dicts
    and lists) and keeps them; the collector walks them all again and again
    as they accumulate, a quarter of a large build's time. None of them is in
    a reference cycle: reference counting frees whatever is dropped, and any
    cycle a definition makes is collected later.

    At the end, what the build made is still in the youngest generation, so
    the first collection after re-enabling would walk all of it once more.
    gc.freeze() then gc.unfreeze() moves it, unexamined, to the oldest
    generation: still collectable, but visited only by a full collection,
    which Python runs once many new long-lived objects have piled up.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.unfreeze()
        if was_enabled:
            gc.enable()


def build_all(settings: Settings, only: str | None = None, lint: bool = True) -> list[Built]:
    """Compile every definition (or only the dashboard named `only`), in name order.

    With `lint` (the default) the first problem `validate.problems` finds in a
    dashboard is an error; `queuedash validate` turns it off to list them all.
    """
    built: list[Built] = []
    with collector_paused():
        for path in definition_files(settings.definitions):
            source = _display(path)
            for dashboard in _dashboards_of(path, settings):
                built.append(compile_dashboard(dashboard, source, lint, path))
    _check_unique(built)
    _check_zero_metrics(settings, built)
    built.sort(key=lambda b: b.name)
    if only is not None:
        keys = chosen(only, {b.name: (b.name, b.uid) for b in built})
        if not keys:
            names = ", ".join(b.name for b in built)
            raise DefinitionError(f"no dashboard named {only!r} (there are: {names})")
        return [b for b in built if b.name in keys]
    return built


def _check_unique(built: list[Built]) -> None:
    by_uid: dict[str, Built] = {}
    by_name: dict[str, Built] = {}
    for item in built:
        if item.uid in by_uid:
            first = by_uid[item.uid]
            raise DefinitionError(
                f"{item.source}: dashboard {item.name!r} has the uid {item.uid!r} of dashboard "
                f"{first.name!r} in {first.source}"
            )
        if item.name in by_name:
            first = by_name[item.name]
            raise DefinitionError(
                f"{item.source}: dashboard name {item.name!r} is also used in {first.source}"
            )
        by_uid[item.uid] = item
        by_name[item.name] = item


def _targets(data: dict) -> set[str]:
    return {target.get("target") for panel in _panels(data.get("panels", [])) for target in panel.get("targets") or []}


def _panels(panels):
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def _check_zero_metrics(settings: Settings, built: list[Built]) -> None:
    """Every [[zero_metrics]] entry must end up on the dashboard it names.

    The settings cannot know which dashboards exist: definitions declare them.
    A name no definition builds, or a dashboard whose definition does not show
    the settings' extra panels (authoring.health.extra), is the settings'
    mistake, reported against the settings file.
    """
    by_name = {item.name: item for item in built}
    for index, metric in enumerate(settings.zero_metrics):
        where = f"{settings.where}: zero_metrics[{index}].dashboard"
        item = by_name.get(metric.dashboard)
        if item is None:
            names = ", ".join(sorted(by_name))
            raise SettingsError(f"{where}: no dashboard named {metric.dashboard!r} (there are: {names})")
        if metric.target not in _targets(item.data):
            raise SettingsError(f"{where}: dashboard {metric.dashboard!r} ({item.source}) does not show "
                                "the settings' zero metrics (its definition does not call health.extra)")


def write(built: list[Built], out: Path, *, replace_all: bool = True) -> list[Path]:
    """Write the dashboards into `out`, all or nothing.

    With `replace_all` the folder ends up holding exactly these files (stale
    dashboards disappear); otherwise only these files are replaced. Either way
    a folder holding files queuedash did not write is refused (`files`).
    """
    texts = {item.filename: item.text for item in built}
    return replace_folder(out, texts) if replace_all else add_to_folder(out, texts)
