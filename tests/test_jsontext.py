"""Deploy reads dashboard files and Grafana's answers with orjson, and must read exactly what
Python's json module reads: the values are hashed against the markers recorded in Grafana,
compared and deployed, so a value read differently is a false conflict or a changed dashboard.
"""

import json
import math
import random
import struct

import pytest
from hypothesis import given, settings, strategies as st

from queuedash import jsontext
from queuedash.errors import InputError
from queuedash.files import read_json_object

# Every character, lone surrogates and control characters included; every kind of number.
TEXT = st.text(st.characters(blacklist_categories=()), max_size=12)
SCALARS = (st.none() | st.booleans() | st.integers() | st.integers(min_value=-(2**80), max_value=2**80)
           | st.floats() | st.sampled_from([1e-9, 1e-05, 0.0001, 2.5e-07, 1e15, 1e16, 1e22, -0.0,
                                            -1.7976931348623157e308, 5e-324, 0.1, 100.0, 2**63, -(2**63) - 1])
           | TEXT)
JSON_VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
                           max_leaves=30)


def same(a, b) -> bool:
    """Equal values of equal types (NaN equal to NaN, -0.0 not 0.0): a float read for an integer
    is a difference."""
    if isinstance(a, (list, dict)) or isinstance(b, (list, dict)):
        if type(a) is not type(b) or len(a) != len(b):
            return False
        if isinstance(a, dict):
            return list(a) == list(b) and all(same(a[key], b[key]) for key in a)
        return all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    return type(a) is type(b) and a == b


def read_both(text: str):
    data = text.encode("utf-8", "surrogatepass")
    return jsontext.loads(data), json.loads(data.decode("utf-8", "surrogatepass"))


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES, st.booleans())
def test_any_text_the_stdlib_writes_is_read_as_the_stdlib_reads_it(value, ascii_only):
    text = json.dumps(value, ensure_ascii=ascii_only, sort_keys=True, indent=None if ascii_only else 2)
    if not ascii_only and any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        text = json.dumps(value, sort_keys=True)  # a lone surrogate cannot be UTF-8 as is
    ours, theirs = read_both(text)
    assert same(ours, theirs)


def test_numbers_are_read_as_the_stdlib_reads_them():
    """Floats across the whole range, as Python writes them and as decimals of up to 18 digits
    with any exponent, and integers at the edges of 64 bits."""
    rng = random.Random(20261129)
    floats = [m * 10.0 ** e for e in range(-323, 308) for m in (1.0, 1.5, 9.999999, 1.2345678901234567)]
    floats += [struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0] for _ in range(20_000)]
    texts = [repr(f) for f in floats if math.isfinite(f)]
    texts += [f"{rng.randrange(10 ** rng.randint(1, 18))}.{rng.randrange(10 ** rng.randint(0, 17))}e{rng.randint(-330, 310)}"
              for _ in range(20_000)]
    texts += [str(n) for n in (2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1, 10**18, 10**19, -10**19)]
    # One at a time: a long number sends the whole text to the stdlib.
    mismatched = [(text, *read_both(text)) for text in texts if not same(*read_both(text))]
    assert mismatched == []


@pytest.mark.parametrize("text", [
    "1e400", "-1e400", "NaN", "[Infinity, -Infinity]",       # the stdlib reads them; orjson does not
    "18446744073709551616", "-9223372036854775809", "123456789012345678901234567890",  # orjson: floats
    '"\\ud800"', '{"a": 1, "a": 2}', "-0", "-0.0", "1E5", "[1.0e-7]", '"\\u2028"', '{"é": "✓ 失败"}',
])
def test_what_orjson_reads_differently_is_read_as_the_stdlib_reads_it(text):
    ours, theirs = read_both(text)
    assert same(ours, theirs)


@pytest.mark.parametrize("text", ["", "{", '{"a": 1,}', "[1] x", "\ufeff{}", "{'a': 1}", "[1, 2", "nul"])
def test_what_is_not_json_fails_with_the_stdlibs_error(text):
    with pytest.raises(json.JSONDecodeError) as ours:
        jsontext.loads(text.encode("utf-8"))
    with pytest.raises(json.JSONDecodeError) as theirs:
        json.loads(text)
    assert str(ours.value) == str(theirs.value)


def test_what_is_not_utf8_fails_with_the_stdlibs_error():
    with pytest.raises(UnicodeDecodeError) as ours:
        jsontext.loads(b'{"title": "\xff"}')
    with pytest.raises(UnicodeDecodeError) as theirs:
        b'{"title": "\xff"}'.decode("utf-8")
    assert str(ours.value) == str(theirs.value)


def test_a_file_that_is_not_json_is_one_line_naming_it_as_before(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"uid": "a",\n  "title": }', encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read_json_object(path)
    assert str(caught.value) == f"{path}: not JSON: Expecting value at line 2"
    path.write_bytes(b'{"uid": "\xff"}')
    with pytest.raises(InputError, match=r"broken.json: cannot read: 'utf-8' codec can't decode byte 0xff"):
        read_json_object(path)
