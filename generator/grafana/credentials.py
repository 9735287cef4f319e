"""Credentials for Grafana, checked when read and kept out of every piece of text.

`Credentials` holds a service-account token (sent as Bearer) or a user name and
password (Basic auth). Its repr never shows them. `secrets()` lists every form a
secret takes on the wire (the raw value, the `Authorization` header value, the
base64 of `user:password` and of `api_key:<token>`, contract §2.1), for
`queuedash.secrets.Redactor`, which masks them (and their escaped forms) with
`***`; the client passes every message it builds from a request, a response or
an exception through it, and the CLI passes every byte it prints through one.

Credentials come only from the environment (GRAFANA_TOKEN, or GRAFANA_USER and
GRAFANA_PASSWORD); the settings file refuses them. A value that cannot work (a
token with a line break or a character outside ASCII, a user name with `:`) is
one `GrafanaConfigError` naming the variable and the kind of character, never
the value.

Imports `queuedash.secrets` and this package's `errors`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from queuedash.grafana.errors import GrafanaConfigError
from queuedash.secrets import MASK, Redactor as _Redactor, basic_value, header_problem, text_problem

__all__ = ["MASK", "Credentials", "Redactor", "basic_value"]


@dataclass(frozen=True)
class Credentials:
    """One way to authenticate. Secret fields are left out of repr and comparison output."""

    token: str = field(default="", repr=False)
    user: str = ""
    password: str = field(default="", repr=False)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> "Credentials":
        """GRAFANA_TOKEN wins over GRAFANA_USER/GRAFANA_PASSWORD; empty values count as unset.

        The token loses the blanks around it (a copy-paste from a terminal ends in a line
        break); what is left must be printable ASCII, as a header carries it. A user name
        and a password are typed into Grafana's one-line login form: no control characters,
        and no `:` in the user name (Basic auth splits at the first one).
        """
        token = environ.get("GRAFANA_TOKEN", "").strip()
        if token:
            _refuse("GRAFANA_TOKEN", header_problem(token), "a token is one line of printable ASCII")
            return cls(token=token)
        user, password = environ.get("GRAFANA_USER", ""), environ.get("GRAFANA_PASSWORD", "")
        _refuse("GRAFANA_USER", text_problem(user), "a user name is one line")
        if ":" in user:
            _refuse("GRAFANA_USER", "holds a ':'", "Basic auth cannot carry one in a user name")
        _refuse("GRAFANA_PASSWORD", text_problem(password), "a password is one line")
        if password and not user:
            raise GrafanaConfigError("GRAFANA_PASSWORD is set but GRAFANA_USER is not: set both, or GRAFANA_TOKEN")
        return cls(user=user, password=password)

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
            forms += [self.token, f"Bearer {self.token}", basic_value("api_key", self.token)]
        if self.password:
            forms += [self.password, basic_value(self.user, self.password)]
        # Even a short password is masked: unreadable output beats a leaked secret.
        return tuple(sorted({value for value in forms if value}, key=len, reverse=True))


def _refuse(variable: str, problem: str, rule: str) -> None:
    if problem:
        raise GrafanaConfigError(f"{variable} {problem}: {rule}; set it again (the value is not shown)")


class Redactor(_Redactor):
    """`queuedash.secrets.Redactor`, made from credentials."""

    @classmethod
    def for_credentials(cls, credentials: Credentials) -> "Redactor":
        return cls(credentials.secrets())
