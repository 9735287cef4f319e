"""Everything the command prints goes through here: streams that mask secrets.

`redacted_output` replaces stdout and stderr, for the run of one command, by
streams that pass each write through a `queuedash.secrets.Redactor`: click's
echo, the progress bar, log handlers, warnings, --debug tracebacks. Nothing
printed during the command can go around it, so a secret that reaches a
message by a path nobody thought of is still masked. Only text goes through
(a text stream's interface; no `buffer` to write bytes around it).

Imports `queuedash.secrets`.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Iterator, TextIO

from queuedash.secrets import Redactor


class RedactingStream:
    """A text stream writing to `stream` with every secret of `redact` masked."""

    def __init__(self, stream: TextIO, redact: Redactor):
        self._stream = stream
        self._redact = redact

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            # As a text stream would: click then knows not to write bytes here.
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        self._stream.write(self._redact(text))
        return len(text)

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str):
        if name == "buffer":  # writing bytes there would go around the redaction
            raise AttributeError(name)
        return getattr(self._stream, name)


@contextmanager
def redacted_output(redact: Redactor) -> Iterator[None]:
    """stdout and stderr masked with `redact` inside the block."""
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = RedactingStream(out, redact), RedactingStream(err, redact)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = out, err
