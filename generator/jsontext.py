"""JSON read as Python's `json` module reads it, at orjson's speed.

A deploy reads every dashboard file and every page of dashboards Grafana lists:
megabytes of JSON, which the stdlib parses at a fraction of orjson's speed.
What is read must be the same values the stdlib reads (they are hashed, compared
and deployed), so `loads` hands to the stdlib what orjson reads differently:

* integers beyond 64 bits, which orjson reads as floats: text with 19 digits in
  a row (the shortest that may not fit) is read by the stdlib;
* what orjson refuses and the stdlib reads: NaN and the infinities, numbers too
  large for a float, lone surrogates, deep nesting; and what is not JSON at all,
  so that the error is the stdlib's, with its message and line.

Imports nothing of queuedash.
"""

from __future__ import annotations

import json

import orjson

#: Every digit as "0", everything else as " ": 19 zeros in a row are 19 digits in a row, found at
#: the speed of `bytes.translate` (a regular expression is twenty times slower on a dashboard).
_DIGITS_AS_ZERO = bytes(ord("0") if chr(byte).isdigit() and byte < 128 else ord(" ") for byte in range(256))
_LONG_NUMBER = b"0" * 19


def loads(data: bytes):
    """``json.loads(data.decode("utf-8"))``: the same values, or the same `UnicodeDecodeError` or
    `json.JSONDecodeError`."""
    if _LONG_NUMBER not in data.translate(_DIGITS_AS_ZERO):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass  # the stdlib's verdict, and its message, or what it reads that orjson does not
    return json.loads(data.decode("utf-8"))
