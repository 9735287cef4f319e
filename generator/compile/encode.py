"""The model as plain JSON values, and those values as the text of a dashboard file.

`plain` walks the model (grafanalib objects, via their ``to_json_data``) into
dicts, lists, strings, numbers, booleans and None. `encode` writes a JSON
value the way ``json.dumps(value, sort_keys=True, indent=2,
ensure_ascii=False)`` plus a newline writes it, byte for byte, but with
orjson: the stdlib encoder runs in pure Python as soon as it indents, which
made encoding the slowest step of a large build.

The one place the two writers differ is floats: orjson writes ``1e-9`` where
Python writes ``1e-09``. `plain` therefore hands floats on as `JSONFloat`, a
float that orjson cannot write by itself, and the encoder writes it as
Python's ``repr`` (an ``orjson.Fragment``). What orjson refuses but the stdlib
writes (integers beyond 64 bits, non-string keys, lone surrogates, nesting
deeper than 255) goes to the stdlib encoder, so the text is the same whatever
the value.

Imports nothing of queuedash.
"""

from __future__ import annotations

import json
import math

import orjson

_OPTIONS = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE
_SCALARS = frozenset({str, int, bool, type(None)})


class JSONFloat(float):
    """A float that is written as Python's json writes it (``repr``), not as orjson would."""

    __slots__ = ()


def plain(value):
    """The model (or any JSON value) as plain JSON values, floats as `JSONFloat`.

    Dicts and lists are copied, so the result shares nothing with the model.
    """
    kind = type(value)
    # Exact types first: most of a dashboard is dicts, lists and strings, and
    # skipping a call for each string is most of this walk's speed.
    if kind is dict:
        return {key: item if type(item) in _SCALARS else plain(item) for key, item in value.items()}
    if kind is list or kind is tuple:
        return [item if type(item) in _SCALARS else plain(item) for item in value]
    if kind in _SCALARS:
        return value
    if kind is float:
        return JSONFloat(value)
    to_json = getattr(value, "to_json_data", None)
    if to_json is not None:
        return plain(to_json())
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, float):
        return JSONFloat(value)
    return value  # str, int and bool subclasses as they are; anything else the encoder refuses


def _float_text(value) -> orjson.Fragment:
    if not isinstance(value, float):
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
    if math.isfinite(value):
        return orjson.Fragment(float.__repr__(value))
    # What the stdlib writes for them (allow_nan, its default): not JSON, but the same text as before.
    return orjson.Fragment("NaN" if value != value else "Infinity" if value > 0 else "-Infinity")


def stdlib_encode(data) -> str:
    """The reference: Python's own encoder, sorted keys, indent 2, a trailing newline."""
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def encode_plain(data) -> str:
    """The text of `data` as `plain` returned it (its floats are `JSONFloat`)."""
    try:
        return orjson.dumps(data, default=_float_text, option=_OPTIONS).decode()
    except orjson.JSONEncodeError:
        return stdlib_encode(data)


def encode(value) -> str:
    """Deterministic JSON of any JSON value (or model object): sorted keys, indent 2, a trailing newline."""
    return encode_plain(plain(value))
