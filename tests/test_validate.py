"""The lint's quick paths say exactly what the plain reading of the rules says.

The grid check compares bit masks per grid line and looks cell by cell only
when two panels overlap; the target check visits quotes and brackets only and
reads function names backwards. Both are held here against the straightforward
version of the same rule (every cell; every character), on generated layouts
and targets.
"""

import re

from hypothesis import given, settings, strategies as st

from queuedash.compile import validate
from queuedash.graphite.functions import KNOWN_FUNCTIONS


def cell_by_cell(panels):
    """Each cell of each panel, in order: the first overlap of a panel names the panel it hits."""
    found, cells = [], {}
    for panel in panels:
        pos = panel.get("gridPos")
        label = validate._label(panel)
        if not isinstance(pos, dict) or not all(isinstance(pos.get(k), int) for k in "xywh"):
            found.append(f"{label}: gridPos must have whole numbers x, y, w, h")
            continue
        x, y, w, h = pos["x"], pos["y"], pos["w"], pos["h"]
        if w < 1 or h < 1 or x < 0 or y < 0 or x + w > validate.GRID_COLUMNS:
            found.append(f"{label}: gridPos {pos} is outside the {validate.GRID_COLUMNS}-column grid")
            continue
        for cx in range(x, x + w):
            for cy in range(y, y + h):
                other = cells.get((cx, cy))
                if other is not None:
                    found.append(f"{label}: overlaps {other}")
                    break
                cells[(cx, cy)] = label
            else:
                continue
            break
    return found


def character_by_character(text):
    """Brackets and quotes read one character at a time; names before "(" outside quotes."""
    found, stack, quote, outside = [], [], None, []
    pairs = {")": "(", "}": "{", "]": "["}
    for char in text:
        if quote:
            if char == quote:
                quote = None
            outside.append(" ")
            continue
        outside.append(char)
        if char in "'\"":
            quote = char
        elif char in "({[":
            stack.append(char)
        elif char in pairs and (not stack or stack.pop() != pairs[char]):
            return found + [f"unbalanced {char!r}"]
    if quote:
        found.append(f"unclosed {quote} quote")
    if stack:
        found.append(f"unclosed {stack[-1]!r}")
    names = re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(", "".join(outside))
    return found + [f"unknown Graphite function {name!r}" for name in names if name not in KNOWN_FUNCTIONS]


SMALL = st.integers(min_value=-1, max_value=26)
POSITIONS = st.fixed_dictionaries({"x": SMALL, "y": st.integers(0, 12), "w": SMALL, "h": st.integers(-1, 6)})
PANELS = st.lists(st.builds(lambda pos, n: {"id": n, "title": f"p{n}", "gridPos": pos},
                            POSITIONS | st.just({"x": 0}) | st.just(None), st.integers(1, 99)), max_size=12)


@settings(max_examples=300, deadline=None)
@given(PANELS)
def test_the_grid_check_finds_what_a_cell_by_cell_walk_finds(panels):
    found = []
    validate._check_grid(panels, found)
    assert found == cell_by_cell(panels)


def test_an_overlap_names_both_panels():
    panels = [{"id": 1, "title": "a", "gridPos": {"x": 0, "y": 0, "w": 12, "h": 8}},
              {"id": 2, "title": "b", "gridPos": {"x": 6, "y": 4, "w": 12, "h": 8}}]
    found = []
    validate._check_grid(panels, found)
    assert found == ["panel 'b' (id 2): overlaps panel 'a' (id 1)"]


# Pieces of targets: names known and unknown, brackets, quotes, digits and separators.
TARGET_TEXT = st.lists(st.sampled_from(list("ab_19 \t\u00a0.,#(){}[]'\"") + ["sumSeries", "alias", "nosuch", "x("]),
                       max_size=30).map("".join)


@settings(max_examples=500, deadline=None)
@given(TARGET_TEXT)
def test_the_target_check_finds_what_a_character_by_character_reading_finds(text):
    assert validate.target_problems(text) == character_by_character(text)
