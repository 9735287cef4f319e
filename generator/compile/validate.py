"""queuedash's own lint of built dashboard JSON (plain dicts).

Checks the properties Grafana 10.4-12 and queuedash rely on, without needing
Grafana's JSON Schemas: schemaVersion, panel types, datasource references,
threshold steps, ids, grid placement, and Graphite target sanity (balanced
parentheses and quotes, known function names, ``#X`` references that exist,
``targetFull`` equal to Grafana's expansion). Each problem is one line naming
the panel.

Imports `graphite_functions`, `identity`, `model`, `queries`.
"""

from __future__ import annotations

import re

from queuedash.graphite.functions import KNOWN_FUNCTIONS
from queuedash.identity import is_valid_uid
from queuedash.authoring.layout import GRID_COLUMNS
from queuedash.authoring.model import SCHEMA_VERSION
from queuedash.graphite.targets import expand_references, references_in

PANEL_TYPES = {"timeseries", "stat", "table", "row", "text"}
LEGACY_DASHBOARD_KEYS = {"style", "rows", "sharedCrosshair", "hideControls", "gnetId"}
LEGACY_PANEL_KEYS = {"span", "height", "error", "minSpan", "editable", "columns", "fontSize", "styles"}
STAT_OPTIONS = {"colorMode", "graphMode", "justifyMode", "orientation", "percentChangeColorMode",
                "reduceOptions", "showPercentChange", "textMode", "wideLayout"}
REF_ID = re.compile(r"^[A-Z]$")
# "(", spaces, then a name, in reversed text: a name followed by "(" read backwards.
# The name starts at the first letter or "_" of its run of word characters.
CALLED_NAME_REVERSED = re.compile(r"\(\s*([A-Za-z0-9_]*[A-Za-z_])")
STRUCTURE = re.compile(r"""[(){}\[\]'"]""")
PAIRS = {")": "(", "}": "{", "]": "["}


def problems(dashboard: dict) -> list[str]:
    """Every problem found in one dashboard, each as one line. Any JSON object can be
    given: one not shaped like a dashboard gets the `shape_problems` alone."""
    found = shape_problems(dashboard)
    if found:
        return found
    _check_dashboard(dashboard, found)
    panels = list(_all_panels(dashboard.get("panels", [])))
    _check_ids(panels, found)
    _check_grid(dashboard.get("panels", []), found)
    for panel in panels:
        _check_panel(panel, found)
    for variable in dashboard.get("templating", {}).get("list", []):
        _check_datasource(variable.get("datasource"), f"variable {variable.get('name')!r}", found)
    return found


def shape_problems(dashboard: dict) -> list[str]:
    """What makes a JSON object no dashboard Grafana can show: the skeleton has other types
    (`panels` not a list of objects, a target that is not an object...)."""
    if not isinstance(dashboard, dict):
        return ["not a dashboard (expected a JSON object)"]
    found: list[str] = []
    panels = dashboard.get("panels", [])
    if not _objects(panels):
        return ["`panels` must be a list of objects"]
    for key in ("templating", "annotations"):
        value = dashboard.get(key, {})
        if not isinstance(value, dict) or not _objects(value.get("list", [])):
            found.append(f"`{key}` must be an object with a list of objects")
    for panel in panels:
        if panel.get("type") == "row" and not _objects(panel.get("panels", [])):
            found.append(f"{_label(panel)}: a row's `panels` must be a list of objects")
    if found:
        return found
    for panel in _all_panels(panels):
        label = _label(panel)
        for key, kind in (("gridPos", dict), ("options", dict), ("fieldConfig", dict)):
            if key in panel and not isinstance(panel[key], kind):
                found.append(f"{label}: `{key}` must be an object")
        if "targets" in panel and not _objects(panel["targets"]):
            found.append(f"{label}: `targets` must be a list of objects")
        config = panel.get("fieldConfig")
        if isinstance(config, dict) and "defaults" in config:
            defaults = config["defaults"]
            if not isinstance(defaults, dict):
                found.append(f"{label}: fieldConfig.defaults must be an object")
            elif isinstance(defaults.get("thresholds"), dict) and "steps" in defaults["thresholds"] \
                    and not _objects(defaults["thresholds"]["steps"]):
                found.append(f"{label}: threshold steps must be a list of objects")
    return found


def _objects(value) -> bool:
    return isinstance(value, list) and all(isinstance(item, dict) for item in value)


def _all_panels(panels):
    for panel in panels:
        yield panel
        if panel.get("type") == "row":
            yield from panel.get("panels", [])


def _label(panel: dict) -> str:
    return f"panel {panel.get('title', '')!r} (id {panel.get('id')})"


def _check_dashboard(dashboard: dict, found: list[str]) -> None:
    if dashboard.get("schemaVersion") != SCHEMA_VERSION:
        found.append(f"schemaVersion is {dashboard.get('schemaVersion')!r}, expected {SCHEMA_VERSION}")
    if not str(dashboard.get("title", "")).strip():
        found.append("the title is empty")
    uid = dashboard.get("uid")
    if not isinstance(uid, str) or not is_valid_uid(uid):
        found.append(f"uid {uid!r} is not 1-40 characters of [A-Za-z0-9_-]")
    for key in ("templating", "annotations"):
        if not isinstance(dashboard.get(key, {}).get("list") if isinstance(dashboard.get(key), dict) else None, list):
            found.append(f"{key} must be an object with a list")
    for key in sorted(LEGACY_DASHBOARD_KEYS & set(dashboard)):
        found.append(f"legacy key {key!r} at the top level")
    if "id" in dashboard and dashboard["id"] is not None:
        found.append("id must be absent or null: it is instance-local")


def _check_ids(panels: list[dict], found: list[str]) -> None:
    seen = set()
    for panel in panels:
        panel_id = panel.get("id")
        if not isinstance(panel_id, int) or isinstance(panel_id, bool) or panel_id < 1:
            found.append(f"{_label(panel)}: id must be a positive whole number")
        elif panel_id in seen:
            found.append(f"{_label(panel)}: id {panel_id} is used twice")
        seen.add(panel_id)


def _grid_box(panel: dict) -> tuple[tuple[int, int, int, int] | None, str | None]:
    """The panel's (x, y, w, h) on the grid, or what is wrong with its gridPos."""
    pos = panel.get("gridPos")
    if not isinstance(pos, dict) or not all(isinstance(pos.get(k), int) for k in "xywh"):
        return None, "gridPos must have whole numbers x, y, w, h"
    x, y, w, h = pos["x"], pos["y"], pos["w"], pos["h"]
    if w < 1 or h < 1 or x < 0 or y < 0 or x + w > GRID_COLUMNS:
        return None, f"gridPos {pos} is outside the {GRID_COLUMNS}-column grid"
    return (x, y, w, h), None


def _any_overlap(boxes) -> bool:
    """Whether two boxes share a cell: one bit per column, one mask per grid line."""
    lines: dict[int, int] = {}
    for box, _ in boxes:
        if box is None:
            continue
        x, y, w, h = box
        columns = ((1 << w) - 1) << x
        for line in range(y, y + h):
            taken = lines.get(line, 0)
            if taken & columns:
                return True
            lines[line] = taken | columns
    return False


def _check_grid(panels: list[dict], found: list[str]) -> None:
    boxes = [_grid_box(panel) for panel in panels]
    if not _any_overlap(boxes):  # the usual case, checked without visiting every cell
        found.extend(f"{_label(panel)}: {problem}" for panel, (_, problem) in zip(panels, boxes) if problem)
        return
    # Cell by cell, to say which panel each one overlaps first.
    cells: dict[tuple[int, int], int] = {}
    for index, (panel, (box, problem)) in enumerate(zip(panels, boxes)):
        if problem:
            found.append(f"{_label(panel)}: {problem}")
            continue
        x, y, w, h = box
        for cx in range(x, x + w):
            for cy in range(y, y + h):
                other = cells.get((cx, cy))
                if other is not None:
                    found.append(f"{_label(panel)}: overlaps {_label(panels[other])}")
                    break
                cells[(cx, cy)] = index
            else:
                continue
            break


def _check_datasource(ref, where: str, found: list[str]) -> None:
    if not (isinstance(ref, dict) and ref.get("type") == "graphite" and isinstance(ref.get("uid"), str) and ref["uid"]):
        found.append(f"{where}: datasource must be {{\"type\": \"graphite\", \"uid\": ...}}, got {ref!r}")


def _check_panel(panel: dict, found: list[str]) -> None:
    label = _label(panel)
    kind = panel.get("type")
    if not isinstance(kind, str) or kind not in PANEL_TYPES:
        found.append(f"{label}: panel type {kind!r} is not one of {', '.join(sorted(PANEL_TYPES))}")
        return
    for key in sorted(LEGACY_PANEL_KEYS & set(panel)):
        found.append(f"{label}: legacy key {key!r}")
    if kind == "row":
        if not isinstance(panel.get("panels"), list) or not isinstance(panel.get("collapsed"), bool):
            found.append(f"{label}: a row needs `panels` (a list) and `collapsed` (true or false)")
        return
    if not str(panel.get("title", "")).strip():
        found.append(f"{label}: the title is empty")
    if kind == "text":
        if not isinstance(panel.get("options", {}).get("content"), str):
            found.append(f"{label}: a text panel needs options.content")
        return
    _check_datasource(panel.get("datasource"), label, found)
    _check_field_config(panel, label, found)
    if kind == "stat":
        missing = STAT_OPTIONS - set(panel.get("options", {}))
        if missing:
            found.append(f"{label}: stat options lack {', '.join(sorted(missing))}")
    _check_targets(panel, label, found)


def _check_field_config(panel: dict, label: str, found: list[str]) -> None:
    config = panel.get("fieldConfig")
    if not isinstance(config, dict) or "defaults" not in config or "overrides" not in config:
        found.append(f"{label}: fieldConfig needs `defaults` and `overrides`")
        return
    thresholds = config["defaults"].get("thresholds")
    if thresholds is None:
        return
    steps = thresholds.get("steps") if isinstance(thresholds, dict) else None
    if not isinstance(steps, list) or not steps:
        found.append(f"{label}: thresholds need a non-empty `steps` list")
        return
    if steps[0].get("value", "missing") is not None:
        found.append(f"{label}: the first threshold step's value must be JSON null, got {steps[0].get('value')!r}")
    values = [s.get("value") for s in steps[1:]]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        found.append(f"{label}: threshold values after the first must be numbers, got {values}")
    elif values != sorted(values):
        found.append(f"{label}: threshold steps must ascend, got {values}")


def _check_targets(panel: dict, label: str, found: list[str]) -> None:
    targets = panel.get("targets")
    if not isinstance(targets, list) or not targets:
        found.append(f"{label}: no targets")
        return
    refs = [t.get("refId") for t in targets]
    for ref in refs:
        if not isinstance(ref, str) or not REF_ID.match(ref):
            found.append(f"{label}: refId {ref!r} must be one capital letter to be referenceable")
    if len(set(map(repr, refs))) != len(refs):
        found.append(f"{label}: refIds repeat: {refs}")
    expanded = None  # Grafana's expansion of the panel's references, when a target has one
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
            if expanded is None:
                expanded = expand_references([(t.get("refId"), t.get("target")) for t in targets
                                              if isinstance(t.get("refId"), str)
                                              and isinstance(t.get("target"), str)])
            want = expanded.get(target.get("refId"))
            if target.get("targetFull") != want:
                found.append(f"{where}: targetFull must be the expanded target {want!r}")
        elif "targetFull" in target:
            found.append(f"{where}: targetFull without any #X reference")


def target_problems(text: str) -> list[str]:
    """Syntax problems in one Graphite target: quotes, brackets, function names."""
    found = []
    stack: list[str] = []
    quote = None
    quoted: list[tuple[int, int]] = []  # spans inside quotes, blanked before looking for function names
    start = 0
    # Only quotes and brackets matter for balance: visit those, not every character.
    for match in STRUCTURE.finditer(text):
        char = match.group()
        if quote:
            if char == quote:
                quote = None
                quoted.append((start, match.end()))
            continue
        if char in "'\"":
            quote = char
            start = match.end()
        elif char in "({[":
            stack.append(char)
        elif not stack or stack.pop() != PAIRS[char]:
            found.append(f"unbalanced {char!r}")
            return found
    if quote:
        found.append(f"unclosed {quote} quote")
        quoted.append((start, len(text)))
    if stack:
        found.append(f"unclosed {stack[-1]!r}")
    outside = text
    if quoted:
        pieces, last = [], 0
        for begin, end in quoted:
            pieces += [text[last:begin], " " * (end - begin)]
            last = end
        outside = "".join(pieces) + text[last:]
    for name in function_names(outside):
        if name not in KNOWN_FUNCTIONS:
            found.append(f"unknown Graphite function {name!r}")
    return found


def function_names(text: str) -> list[str]:
    """The names called in `text`: each name followed by "(", in order.

    Read backwards, every match starts with its "(", which the regular
    expression engine finds by itself; read forwards it would try a name at
    every character of every metric path. The same names either way.
    """
    return [name[::-1] for name in reversed(CALLED_NAME_REVERSED.findall(text[::-1]))]
