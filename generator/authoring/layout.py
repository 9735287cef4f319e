"""Grid placement: rows of panels laid out on Grafana's 24-column grid.

Definitions never write coordinates. Each panel preset carries a size (its
gridPos width and height); `place` packs panels left to right, starting a new
line when the next one would pass column 24, puts a row header above each
titled group, and numbers every panel in order, so ids are stable.

Imports `model` (for the row panel) and grafanalib's GridPos.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from grafanalib.core import GridPos, Repeat

from queuedash.authoring.model import RowPanel

GRID_COLUMNS = 24
ROW_HEIGHT = 1


@dataclass
class Row:
    """A titled group of panels; an empty title puts the panels above any row."""

    title: str
    panels: list = field(default_factory=list)
    #: A variable to repeat the row (and the panels under it) for, e.g. "queue".
    repeat: str | None = None

    def __bool__(self) -> bool:
        return bool(self.panels)


def size(panel) -> tuple[int, int]:
    """(width, height) a preset gave the panel."""
    if panel.gridPos is None:
        raise ValueError(f"panel {panel.title!r} has no size; build it with a preset from queuedash.authoring.panels")
    width, height = panel.gridPos.w, panel.gridPos.h
    if not (1 <= width <= GRID_COLUMNS) or height < 1:
        raise ValueError(f"panel {panel.title!r}: size {width}x{height} does not fit the {GRID_COLUMNS}-column grid")
    return width, height


def _placed(panel, panel_id: int, grid_pos: GridPos):
    """A copy of `panel` with its id and place; the preset's panel stays as it was.

    Not attr.evolve: that runs the class's __init__ again, some fifty
    validators over values that do not change, a tenth of a large build.
    Neither id nor gridPos has a validator to skip.
    """
    placed = copy.copy(panel)
    placed.id = panel_id
    placed.gridPos = grid_pos
    return placed


def place(rows: list[Row]) -> list:
    """Top-level panel list with gridPos and ids set; empty rows are dropped."""
    placed = []
    next_id = 1
    y = 0
    for row in rows:
        if not row:
            continue
        if row.title:
            placed.append(RowPanel(
                title=row.title, id=next_id, gridPos=GridPos(h=ROW_HEIGHT, w=GRID_COLUMNS, x=0, y=y),
                repeat=Repeat(variable=row.repeat) if row.repeat else Repeat(),
            ))
            next_id += 1
            y += ROW_HEIGHT
        x = 0
        line_height = 0
        for panel in row.panels:
            width, height = size(panel)
            # A repeated panel's clones fill whole lines in the browser: give it one.
            alone = bool(getattr(panel, "repeat", None) and panel.repeat.variable)
            if x and (x + width > GRID_COLUMNS or alone):
                y += line_height
                x, line_height = 0, 0
            placed.append(_placed(panel, next_id, GridPos(h=height, w=width, x=x, y=y)))
            next_id += 1
            x += width
            line_height = max(line_height, height)
            if alone:
                y += line_height
                x, line_height = 0, 0
        y += line_height
    return placed
