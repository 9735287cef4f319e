"""The dashboard files are written byte for byte as Python's json module writes them.

`queuedash.compile.encode` writes with orjson for speed; what a user sees in
their files (and in diffs of them) must not change: sorted keys, indent 2,
``ensure_ascii=False``, floats as Python's ``repr``, a trailing newline.
"""

import json
import math
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from queuedash.authoring.dashboard import dashboard
from queuedash.authoring.layout import Row
from queuedash.authoring.panels import Presets
from queuedash.compile.build import compile_dashboard
from queuedash.compile.encode import encode, plain
from queuedash.errors import DefinitionError

GOLDEN = Path(__file__).resolve().parent / "golden"


def stdlib(value) -> str:
    return json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


# Every character, lone surrogates and control characters included.
TEXT = st.text(st.characters(blacklist_categories=()), max_size=12)
SCALARS = (st.none() | st.booleans() | st.integers() | st.integers(min_value=-(2**80), max_value=2**80)
           | st.floats() | st.sampled_from([1e-9, 1e-05, 2.5e-07, 1e16, 1e22, -1.7976931348623157e308, 5e-324, 0.1])
           | TEXT)
JSON_VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
                           max_leaves=30)


@settings(max_examples=200, deadline=None)
@given(JSON_VALUES)
def test_any_json_value_is_written_as_the_stdlib_writes_it(value):
    assert encode(value) == stdlib(value)


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("*.json")), ids=lambda p: p.name)
def test_the_golden_files_come_out_unchanged(path):
    text = path.read_text(encoding="utf-8")
    assert encode(json.loads(text)) == text


def test_non_ascii_text_and_small_floats_keep_their_form(inventory_settings):
    presets = Presets(inventory_settings)
    stat = presets.should_be_zero("Échecs ✗ — 失败", ["a.b"], description="naïve \u2028 \x1f")
    built = compile_dashboard(dashboard(inventory_settings, name="unicode", title="Ünïcode ✓",
                                        rows=[Row("Zeile", [stat])]), "test")
    assert built.text == stdlib(built.data)
    assert '"title": "Ünïcode ✓"' in built.text and '"value": 1e-09' in built.text


def test_plain_keeps_values_and_shares_nothing_with_its_input():
    value = {"a": [1, 2.5, {"b": None}], "c": (True, "x")}
    copy = plain(value)
    assert copy == {"a": [1, 2.5, {"b": None}], "c": [True, "x"]}
    copy["a"][2]["b"] = 1
    assert value["a"][2]["b"] is None
    assert math.isnan(plain(float("nan")))


def test_a_value_json_cannot_hold_is_one_line_naming_the_dashboard(inventory_settings):
    board = dashboard(inventory_settings, name="odd", title="Odd", rows=[])
    board.tags = {"a set"}
    with pytest.raises(DefinitionError) as caught:
        compile_dashboard(board, "dashboards/odd.py")
    assert str(caught.value) == ("dashboards/odd.py: dashboard 'odd': cannot encode: "
                                 "TypeError: Object of type set is not JSON serializable")
