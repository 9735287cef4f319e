"""The build as it was before it was made faster: the benchmark's baseline.

`install()` puts back, in this process, each step the speed work replaced,
verbatim: the model -> JSON walk that asks every value for ``to_json_data``,
the stdlib's ``json.dumps`` (pure Python once it indents), the lint's
cell-by-cell grid check that labels every cell, its character-by-character
target scan and its expansion of every panel's references, ``attr.evolve``
(a second ``__init__``) to place each panel, the presets' expansion of every
panel's references, Jinja2 checking each template file on every render, and
Python's garbage collector running throughout the build. Everything else (the
model and its checks, the definitions, the settings, writing the files) is
shared with the current path, so the two differ only by what was changed.
"""

from __future__ import annotations

import contextlib
import json
import re

import string

import attr

from queuedash.authoring import layout, model, panels, text
from queuedash.compile import build, validate
from queuedash.errors import DefinitionError
from queuedash.graphite.targets import expand_references, references_in


FUNCTION_CALL = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(")


def _plain(value):
    """The model as plain JSON values: dicts, lists, strings, numbers, None."""
    to_json = getattr(value, "to_json_data", None)
    if to_json is not None:
        return _plain(to_json())
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def encode(data: dict) -> str:
    """Deterministic JSON: sorted keys, indent 2, a trailing newline."""
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def compile_dashboard(dashboard, source: str, lint: bool = True, path=None):
    name = dashboard.name or dashboard.uid or ""
    where = f"{source}: dashboard {name!r}"
    if not str(dashboard.title or "").strip():
        raise DefinitionError(f"{where}: the title is empty")
    try:
        data = _plain(dashboard)
    except Exception as exc:
        raise DefinitionError(f"{where}: cannot encode: {build._describe(exc)}") from None
    found = validate.problems(data) if lint else []
    if found:
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise DefinitionError(f"{where}: {found[0]}{more}")
    return build.Built(name=name, uid=data["uid"], title=data["title"], source=source, data=data,
                       text=encode(data), alerts=build._alerts_of(dashboard), path=path)


def _check_grid(panels: list[dict], found: list[str]) -> None:
    _label, GRID_COLUMNS = validate._label, validate.GRID_COLUMNS
    cells: dict[tuple[int, int], str] = {}
    for panel in panels:
        pos = panel.get("gridPos")
        if not isinstance(pos, dict) or not all(isinstance(pos.get(k), int) for k in "xywh"):
            found.append(f"{_label(panel)}: gridPos must have whole numbers x, y, w, h")
            continue
        x, y, w, h = pos["x"], pos["y"], pos["w"], pos["h"]
        if w < 1 or h < 1 or x < 0 or y < 0 or x + w > GRID_COLUMNS:
            found.append(f"{_label(panel)}: gridPos {pos} is outside the {GRID_COLUMNS}-column grid")
            continue
        for cx in range(x, x + w):
            for cy in range(y, y + h):
                other = cells.get((cx, cy))
                if other is not None:
                    found.append(f"{_label(panel)}: overlaps {other}")
                    break
                cells[(cx, cy)] = _label(panel)
            else:
                continue
            break


def target_problems(text: str) -> list[str]:
    """Syntax problems in one Graphite target: quotes, brackets, function names."""
    found = []
    stack: list[str] = []
    quote = None
    pairs = {")": "(", "}": "{", "]": "["}
    outside_quotes = []
    for char in text:
        if quote:
            if char == quote:
                quote = None
            outside_quotes.append(" ")
            continue
        outside_quotes.append(char)
        if char in "'\"":
            quote = char
        elif char in "({[":
            stack.append(char)
        elif char in pairs:
            if not stack or stack.pop() != pairs[char]:
                found.append(f"unbalanced {char!r}")
                return found
    if quote:
        found.append(f"unclosed {quote} quote")
    if stack:
        found.append(f"unclosed {stack[-1]!r}")
    for name in FUNCTION_CALL.findall("".join(outside_quotes)):
        if name not in validate.KNOWN_FUNCTIONS:
            found.append(f"unknown Graphite function {name!r}")
    return found


def _check_targets(panel: dict, label: str, found: list[str]) -> None:
    REF_ID, _check_datasource = validate.REF_ID, validate._check_datasource
    targets = panel.get("targets")
    if not isinstance(targets, list) or not targets:
        found.append(f"{label}: no targets")
        return
    refs = [t.get("refId") for t in targets]
    for ref in refs:
        if not isinstance(ref, str) or not REF_ID.match(ref):
            found.append(f"{label}: refId {ref!r} must be one capital letter to be referenceable")
    if len(set(refs)) != len(refs):
        found.append(f"{label}: refIds repeat: {refs}")
    expanded = expand_references([(t.get("refId"), t.get("target", "")) for t in targets])
    for target in targets:
        text = target.get("target", "")
        where = f"{label}, target {target.get('refId')}"
        if not isinstance(text, str) or not text.strip():
            found.append(f"{where}: empty target")
            continue
        if "datasource" in target:
            _check_datasource(target["datasource"], where, found)
        for problem in target_problems(text):
            found.append(f"{where}: {problem}")
        references = references_in(text)
        for ref in references:
            if ref not in refs:
                found.append(f"{where}: #{ref} refers to no target of this panel")
            elif ref == target.get("refId"):
                found.append(f"{where}: #{ref} refers to itself")
        if references:
            want = expanded.get(target.get("refId"))
            if target.get("targetFull") != want:
                found.append(f"{where}: targetFull must be the expanded target {want!r}")
        elif "targetFull" in target:
            found.append(f"{where}: targetFull without any #X reference")


def _placed(panel, panel_id, grid_pos):
    return attr.evolve(panel, id=panel_id, gridPos=grid_pos)


def targets(self, items) -> list[model.GraphiteTarget]:
    queries = [panels._as_query(i) for i in items]
    if len(queries) > len(string.ascii_uppercase):
        raise ValueError("a panel takes at most 26 targets")
    refs = []
    for index, query in enumerate(queries):
        refs.append(query.ref or string.ascii_uppercase[index])
    if len(set(refs)) != len(refs):
        raise ValueError(f"duplicate refIds in {refs}")
    expanded = expand_references(list(zip(refs, (q.target for q in queries))))
    targets = []
    for ref, query in zip(refs, queries):
        full = expanded[ref] if references_in(query.target) else ""
        targets.append(
            model.GraphiteTarget(refId=ref, target=query.target, targetFull=full, hide=query.hidden)
        )
    return targets


_environment = text.environment


def environment(user_folder: str | None = None):
    env = _environment(user_folder)
    env.auto_reload = True  # Jinja2's default: stat the template file on every render
    return env


def install() -> None:
    """Make this process build the way it did before."""
    build.compile_dashboard = compile_dashboard
    build.collector_paused = contextlib.nullcontext
    validate._check_grid = _check_grid
    validate._check_targets = _check_targets
    validate.target_problems = target_problems
    layout._placed = _placed
    panels.Presets.targets = targets
    text.environment = environment
