"""Credentials for Grafana, and keeping them out of every piece of text.

`Credentials` holds a service-account token (sent as Bearer) or a user name and
password (Basic auth). Its repr never shows them. `Redactor` replaces every form
a secret can take on the wire (the raw value, the `Authorization` header value,
the base64 of `user:password` and of `api_key:<token>`, contract §2.1) with
`***`; the client passes every message it builds from a request, a response or
an exception through it, and the CLI passes every line it prints through it.

Credentials come only from the environment (GRAFANA_TOKEN, or GRAFANA_USER and
GRAFANA_PASSWORD); the settings file refuses them.

Imports nothing from the package.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote

MASK = "***"


@dataclass(frozen=True)
class Credentials:
    """One way to authenticate. Secret fields are left out of repr and comparison output."""

    token: str = field(default="", repr=False)
    user: str = ""
    password: str = field(default="", repr=False)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> "Credentials":
        """GRAFANA_TOKEN wins over GRAFANA_USER/GRAFANA_PASSWORD; empty values count as unset."""
        token = environ.get("GRAFANA_TOKEN", "").strip()
        if token:
            return cls(token=token)
        return cls(user=environ.get("GRAFANA_USER", ""), password=environ.get("GRAFANA_PASSWORD", ""))

    @property
    def kind(self) -> str:
        if self.token:
            return "token"
        if self.user or self.password:
            return "basic"
        return "none"

    @property
    def source(self) -> str:
        """Where these came from, for messages: the variable names, never the values."""
        return {"token": "GRAFANA_TOKEN", "basic": "GRAFANA_USER/GRAFANA_PASSWORD",
                "none": "no credentials (GRAFANA_TOKEN is not set)"}[self.kind]

    def secrets(self) -> tuple[str, ...]:
        """The secret values, in every form they travel in (§2.1)."""
        forms: list[str] = []
        if self.token:
            forms += [self.token, f"Bearer {self.token}", _b64(f"api_key:{self.token}")]
        if self.password:
            forms += [self.password, _b64(f"{self.user}:{self.password}")]
        # URL-encoded forms too: a secret can end up inside a logged URL or query.
        forms += [quote(value, safe="") for value in list(forms)]
        # Even a short password is masked: unreadable output beats a leaked secret.
        return tuple(sorted({value for value in forms if value}, key=len, reverse=True))


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


class Redactor:
    """Replaces every known secret in a text with `***`. Safe to call with any object."""

    def __init__(self, secrets: tuple[str, ...] = ()):
        self._secrets = tuple(secret for secret in secrets if secret)
        # Longest first, so "Bearer <token>" is masked whole, not as "Bearer ***" plus leftovers.
        self._pattern = (re.compile("|".join(re.escape(s) for s in sorted(self._secrets, key=len, reverse=True)))
                         if self._secrets else None)

    @classmethod
    def for_credentials(cls, credentials: Credentials) -> "Redactor":
        return cls(credentials.secrets())

    def __call__(self, text: object) -> str:
        value = text if isinstance(text, str) else str(text)
        if self._pattern is None:
            return value
        return self._pattern.sub(MASK, value)

    def __repr__(self) -> str:
        return f"Redactor({len(self._secrets)} secrets)"
