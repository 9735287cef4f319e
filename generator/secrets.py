"""Where secrets meet text: every secret queuedash holds, masked in every form it can take.

A secret is a Grafana token or password, or the password in a URL (a Graphite,
broker or proxy URL with ``user:password@`` in it). `Redactor` replaces each of
them with `***` wherever it shows in a text: as is, and in every form a
message can carry it in (URL-encoded, JSON- or Python-escaped, HTML-escaped,
and each piece of one broken by a line break or other control character).
`Redactor.cut` shortens a text only after masking it, so a secret that
straddles the cut is never half shown.

`from_environment` collects what the process was given: GRAFANA_TOKEN,
GRAFANA_PASSWORD, and the password of every URL in any environment variable
or command-line argument. The command line builds one redactor from it and
every byte it writes goes through it (`cli.main`); the HTTP clients add the
forms a credential takes on the wire (`Authorization` values, base64).

`header_problem` says, without the value, why a text cannot be sent in an
HTTP header.

Imports nothing from the package.
"""

from __future__ import annotations

import base64
import functools
import html
import json
import re
from collections.abc import Iterable, Mapping
from urllib.parse import quote, quote_plus, unquote

MASK = "***"

#: Environment variables whose whole value is a secret.
SECRET_VARIABLES = ("GRAFANA_TOKEN", "GRAFANA_PASSWORD")

#: The shortest text masked: shorter, it would mask letters of every word. Grafana refuses
#: passwords under 4 characters; tokens are far longer.
SHORTEST = 4
#: Pieces of a secret broken by a control character are masked on their own from this length.
_PIECE = 4
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
@functools.lru_cache(maxsize=64)  # URL-encoding a 10 KB token is slow, and commands ask often
def forms(secret: str) -> frozenset[str]:
    """`secret` as it can appear in a message: raw, URL-encoded, escaped, and its pieces."""
    if not secret:
        return frozenset()
    found = {secret, secret.strip(), quote(secret, safe=""), quote(secret), quote_plus(secret),
             html.escape(secret), json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1],
             repr(secret)[1:-1], secret.encode("unicode_escape").decode("ascii"),
             repr(secret.encode("utf-8", "surrogateescape"))[2:-1]}
    try:
        found.add(repr(secret.encode("latin-1"))[2:-1])
    except UnicodeEncodeError:
        pass
    # A secret split by a line break may be printed one line at a time.
    found.update(piece for piece in _CONTROL.split(secret) if len(piece) >= _PIECE)
    # Blanks alone are no secret's form (a variable holding a line break is an unset one), and
    # one of under 4 characters would mask letters of every word (no Grafana password is).
    return frozenset(form for form in found if len(form.strip()) >= SHORTEST)


def _userinfo_spans(text: str):
    """(start, end) of the password of each `scheme://user:password@host` in `text`.

    The authority runs from `://` to the next `/`, `?` or `#`; its userinfo is what comes
    before its last `@` (as urllib splits it), the password what follows the first `:`.
    """
    for match in re.finditer(r"://", text):
        start = match.end()
        ends = [index for index in (text.find(mark, start) for mark in "/?#") if index >= 0]
        authority = text[start:min(ends) if ends else len(text)]
        userinfo, at, _ = authority.rpartition("@")
        if at and ":" in userinfo:
            begin = start + userinfo.index(":") + 1
            yield begin, start + len(userinfo)


def passwords_in(text: str) -> list[str]:
    """The password of every `scheme://user:password@` in `text`: as written, decoded, and
    as urllib reads it (without tabs and line breaks)."""
    found = []
    for begin, end in _userinfo_spans(text):
        raw = text[begin:end]
        found += [raw, unquote(raw), re.sub(r"[\t\r\n]", "", raw)]
    return [password for password in found if password]


def without_password(url: str) -> str:
    """`url` with the password of its `user:password@` replaced by `***`, for messages."""
    for begin, end in reversed(list(_userinfo_spans(url))):
        url = url[:begin] + MASK + url[end:]
    return url


def from_environment(environ: Mapping[str, str], arguments: Iterable[str] = ()) -> tuple[str, ...]:
    """Every secret the process was given: the secret variables, and the password of any
    URL in an environment variable or a command-line argument."""
    found = [environ.get(name, "") for name in SECRET_VARIABLES]
    for text in list(environ.values()) + list(arguments):
        found += passwords_in(text)
    return tuple(secret for secret in found if secret)


class Redactor:
    """Replaces every form of every known secret in a text with `***`. Safe with any object."""

    def __init__(self, secrets: Iterable[str] = ()):
        self._secrets = tuple(dict.fromkeys(secret for secret in secrets if secret))
        every = set()
        for secret in self._secrets:
            every |= forms(secret)
        # Longest first, so "Bearer <token>" is masked whole, not as "Bearer ***" plus leftovers.
        # Plain replacements, not one regular expression: compiling one from a 10 KB token
        # takes longer than every replacement a command makes.
        self._forms = tuple(sorted(every, key=lambda form: (-len(form), form)))

    def adding(self, secrets: Iterable[str]) -> "Redactor":
        """A redactor for these secrets as well."""
        return Redactor(self._secrets + tuple(secrets))

    def __call__(self, text: object) -> str:
        value = text if isinstance(text, str) else str(text)
        for form in self._forms:
            if form in value:
                value = value.replace(form, MASK)
        return value

    def cut(self, text: object, limit: int) -> str:
        """The text masked, then shortened to `limit` characters (masking first: a secret
        cut in two would not be recognised)."""
        value = self(text)
        return value if len(value) <= limit else value[:limit - 3] + "..."

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def __repr__(self) -> str:
        return f"Redactor({len(self._secrets)} secrets)"


# -- on the wire ------------------------------------------------------------------------------


def basic_value(user: str, password: str) -> str:
    """The Basic auth credentials: base64 of `user:password` in UTF-8 (RFC 7617's charset,
    what Grafana and graphite-web's proxies decode; requests would send Latin-1, or fail)."""
    return base64.b64encode(f"{user}:{password}".encode("utf-8")).decode("ascii")


# -- what a header can carry ---------------------------------------------------------------


def character_name(char: str) -> str:
    """A character described without showing it (it belongs to a secret)."""
    names = {"\n": "a line break", "\r": "a carriage return", "\t": "a tab", "\x00": "a NUL character",
             " ": "a space"}
    if char in names:
        return names[char]
    if ord(char) < 0x20 or ord(char) == 0x7F:
        return "a control character"
    return "a character outside ASCII"


def header_problem(value: str) -> str:
    """Why `value` cannot be sent as a token in an HTTP header, without showing it; "" if it can.

    A token travels as is (`Authorization: Bearer <token>`): printable ASCII, no spaces.
    """
    for index, char in enumerate(value):
        if not "\x21" <= char <= "\x7e":
            return f"holds {character_name(char)} (character {index + 1} of {len(value)})"
    return ""


def text_problem(value: str) -> str:
    """Why `value` cannot be a user name or password typed into Grafana, without showing it."""
    for index, char in enumerate(value):
        if ord(char) < 0x20 or ord(char) == 0x7F:
            return f"holds {character_name(char)} (character {index + 1} of {len(value)})"
    return ""
