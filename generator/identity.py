"""Stable dashboard uids from a dashboard's identity.

Grafana accepts uids of at most 40 characters of ``[A-Za-z0-9_-]``. An identity
that already is one is used as it is; any other is cut and suffixed with a hash
of the whole identity, so two identities that differ only in characters the
cleaning folds together (``a.b`` and ``a_b``) still get different uids.

Imports nothing from the package.
"""

from __future__ import annotations

import hashlib
import re

MAX_UID = 40
_VALID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_HASH = 8


def is_valid_uid(uid: str) -> bool:
    return bool(_VALID.match(uid or ""))


def make_uid(identity: str) -> str:
    if not identity:
        raise ValueError("a dashboard identity must not be empty")
    if is_valid_uid(identity):
        return identity
    digest = hashlib.sha1(identity.encode("utf-8")).hexdigest()[:_HASH]
    cleaned = _UNSAFE.sub("-", identity).strip("-")[: MAX_UID - _HASH - 1]
    return f"{cleaned}-{digest}" if cleaned else digest


def chosen(only: str, candidates: dict[str, tuple[str, ...]]) -> list[str]:
    """The keys of `candidates` (key -> its names: name, uid, file name) that `--only` names.

    A name matches whole; failing that, a short name matches the one candidate with
    a name ending in ``-<only>`` (``emails`` for ``queue-emails``). Several such
    candidates, or none: an empty list (the caller says which exist).
    """
    exact = [key for key, names in candidates.items() if only in names]
    if exact:
        return exact
    ending = [key for key, names in candidates.items() if any(name.endswith(f"-{only}") for name in names)]
    return ending if len(ending) == 1 else []
