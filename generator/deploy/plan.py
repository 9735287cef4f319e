"""Deciding what deploy does: normalize, compare, classify. Pure: no I/O.

Given the generated dashboards (JSON dicts) and what Grafana holds (the answers
of GET /api/dashboards/uid/:uid), `make_plan` decides for each dashboard one of
added, updated, unchanged or conflict, and for dashboards in queuedash's folder
that are no longer generated, deleted (with --prune) or stale.

**How queuedash knows what it last deployed.** Each dashboard it pushes carries
a hidden constant template variable named `queuedash` whose value is
`sha256:<hex>` of the canonical, normalized JSON it pushed (`MARKER_NAME`).
On the next deploy, for the live copy:

* absent → added;
* it has the marker, and the hash of the live copy (normalized, marker left out)
  equals the marker → nobody changed it since queuedash saved it: unchanged
  when the generated hash equals the marker too, else updated, sending the
  live `version` (never `overwrite: true`), so a save in between is caught by
  Grafana's own 412 `version-mismatch` (§3.2 step 7g) and reported as conflict;
* the hash differs from the marker (a person saved it in the UI), or there is
  no marker (someone else's dashboard has our uid) → conflict: not written;
  `force` turns it into an update (still with the live version).

**Normalization** (both sides, before comparing and hashing): drop `id` and
`version` (Grafana writes both on every save, §3.2 step 11, §4.1), the marker
variable, and nothing else but what the legacy endpoint rewrites: `title` and
`uid` are trimmed (§3.1), and a `refresh` shorter than the server's minimum (or
unparseable) becomes that minimum (§3.2 step 5; default 5s). Keys are sorted.
Every other key is stored verbatim (§3.1), so every other difference is real.

Imports nothing from the package (no I/O, never the model).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from dataclasses import dataclass, field

#: The name of the hidden variable that marks a dashboard as queuedash's and records
#: the hash of what it deployed.
MARKER_NAME = "queuedash"
MARKER_PREFIX = "sha256:"

#: Grafana's default `[dashboards] min_refresh_interval` (§3.2 step 5).
DEFAULT_MIN_REFRESH = "5s"

# The outcomes. Each dashboard ends as exactly one of them (plus FAILED, decided by apply).
ADDED = "added"
UPDATED = "updated"
UNCHANGED = "unchanged"
CONFLICT = "conflict"
FAILED = "failed"
DELETED = "deleted"
STALE = "stale"

OUTCOMES = (ADDED, UPDATED, UNCHANGED, CONFLICT, FAILED, DELETED, STALE)


# ----- normalization and the marker ---------------------------------------------------------

def canonical(data: dict) -> str:
    """The one text a dashboard hashes as: sorted keys, no whitespace, UTF-8 as is."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_hash(normalized: dict) -> str:
    return MARKER_PREFIX + hashlib.sha256(canonical(normalized).encode("utf-8")).hexdigest()


def is_marker(variable: object) -> bool:
    return (isinstance(variable, dict) and variable.get("name") == MARKER_NAME
            and variable.get("type") == "constant")


def marker_of(dashboard: dict) -> str | None:
    """The hash the marker variable records, or None when the dashboard has none."""
    for variable in _variables(dashboard):
        if is_marker(variable):
            value = variable.get("query")
            if isinstance(value, str) and value.startswith(MARKER_PREFIX):
                return value
    return None


def has_own_variable_named_marker(dashboard: dict) -> bool:
    """A generated dashboard must not use the marker's name for a variable of its own."""
    return any(isinstance(v, dict) and v.get("name") == MARKER_NAME for v in _variables(dashboard))


def _variables(dashboard: dict) -> list:
    templating = dashboard.get("templating")
    if isinstance(templating, dict) and isinstance(templating.get("list"), list):
        return templating["list"]
    return []


def marker_variable(value: str) -> dict:
    """A constant variable, hidden (hide 2 = variable hidden, §8.12), out of the URL."""
    return {
        "current": {"selected": False, "text": value, "value": value},
        "description": "Set by queuedash deploy: the hash of what it deployed. "
                       "Edit the dashboard's definition, not this dashboard.",
        "hide": 2,
        "label": "",
        "name": MARKER_NAME,
        "options": [{"selected": True, "text": value, "value": value}],
        "query": value,
        "skipUrlSync": True,
        "type": "constant",
    }


def normalize(dashboard: dict, min_refresh: str = DEFAULT_MIN_REFRESH) -> dict:
    """What a dashboard means, without what Grafana writes on save (see the module doc).

    Returns a new dict; nested values it does not change are shared with the input
    (copying all of them is most of a no-change deploy's time), and never modified."""
    data = dict(dashboard)
    data.pop("id", None)  # §3.2 step 11: the row's id, written into the stored JSON
    data.pop("version", None)  # §4.1: the DB version, bumped on every save
    for key in ("title", "uid"):  # §3.1: trimmed of spaces on save
        if isinstance(data.get(key), str):
            data[key] = data[key].strip()
    refresh = data.get("refresh")
    if isinstance(refresh, str):
        data["refresh"] = effective_refresh(refresh, min_refresh)
    templating = data.get("templating")
    if isinstance(templating, dict) and isinstance(templating.get("list"), list):
        data["templating"] = {**templating, "list": [v for v in templating["list"] if not is_marker(v)]}
    return data


def with_marker(dashboard: dict, min_refresh: str = DEFAULT_MIN_REFRESH) -> tuple[dict, str]:
    """The dashboard as deploy sends it: the marker appended to its variables. Returns the
    dashboard (a new dict, sharing unchanged nested values with the input) and the
    marker's value (the hash of the normalized result)."""
    data = dict(dashboard)
    data.pop("id", None)  # §3.4: a stable uid and no id; Grafana keeps its own id
    data.pop("version", None)
    templating = data.get("templating") if isinstance(data.get("templating"), dict) else {}
    variables = [v for v in templating.get("list") or [] if not is_marker(v)]
    # Hash what Grafana will hold, minus the marker: normalization drops it again.
    data["templating"] = {**templating, "list": variables}
    value = content_hash(normalize(data, min_refresh))
    data["templating"] = {**templating, "list": variables + [marker_variable(value)]}
    return data, value


# §3.2 step 5 parses `refresh` with gtime.ParseDuration: "<n>d|w|M|y", else Go's time.ParseDuration.
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_GRAFANA_UNITS = {"d": 86400.0, "w": 7 * 86400.0, "M": 30 * 86400.0, "y": 365 * 86400.0}
_GO_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def duration_seconds(text: str) -> float | None:
    """Seconds of a Grafana duration, or None when Grafana could not parse it."""
    match = re.fullmatch(r"(\d+)([dwMy])", text)
    if match:
        return int(match.group(1)) * _GRAFANA_UNITS[match.group(2)]
    sign = -1.0 if text.startswith("-") else 1.0
    body = text[1:] if text[:1] in "+-" else text
    if body == "0":
        return 0.0
    if not body:
        return None
    total, position = 0.0, 0
    for part in _GO_PART.finditer(body):
        if part.start() != position:
            return None
        total += float(part.group(1)) * _GO_UNITS[part.group(2)]
        position = part.end()
    return sign * total if position == len(body) else None


def effective_refresh(refresh: str, min_refresh: str = DEFAULT_MIN_REFRESH) -> str:
    """The refresh Grafana stores: "" and "auto" as they are; too short or unparseable
    becomes the minimum (§3.2 step 5)."""
    if refresh in ("", "auto"):
        return refresh
    minimum = duration_seconds(min_refresh)
    if minimum is None:
        return refresh
    seconds = duration_seconds(refresh)
    if seconds is None or seconds < minimum:
        return min_refresh
    return refresh


def pretty(normalized: dict) -> str:
    """Sorted, indented JSON with a trailing newline: what diffs are made of."""
    return json.dumps(normalized, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def unified_diff(uid: str, live: dict | None, generated: dict | None) -> str:
    """A unified diff live (remote) -> generated (local) of normalized dashboards."""
    before = pretty(live).splitlines(keepends=True) if live is not None else []
    after = pretty(generated).splitlines(keepends=True) if generated is not None else []
    return "".join(difflib.unified_diff(
        before, after,
        fromfile=f"grafana/{uid}.json" if live is not None else "/dev/null",
        tofile=f"generated/{uid}.json" if generated is not None else "/dev/null",
    ))


# ----- what Grafana holds -----------------------------------------------------------------

@dataclass(frozen=True)
class Live:
    """One dashboard as GET /api/dashboards/uid/:uid answered it (§4.1)."""

    dashboard: dict
    version: int
    folder_uid: str | None  # None when the answer does not say (older 10.x builds, §4.1)
    updated_by: str = ""
    updated: str = ""

    @classmethod
    def from_answer(cls, answer: dict) -> "Live":
        dashboard = answer.get("dashboard") or {}
        meta = answer.get("meta") if isinstance(answer.get("meta"), dict) else {}
        # §4.1: meta.version == dashboard.version; it is what a non-overwrite update sends back.
        version = meta.get("version", dashboard.get("version", 0))
        folder_uid = meta.get("folderUid")
        return cls(
            dashboard=dashboard,
            version=version if isinstance(version, int) and not isinstance(version, bool) else 0,
            folder_uid=folder_uid if isinstance(folder_uid, str) else None,
            updated_by=str(meta.get("updatedBy") or ""),
            updated=str(meta.get("updated") or ""),
        )

    @property
    def title(self) -> str:
        return str(self.dashboard.get("title") or "")


# ----- the plan -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Step:
    """What deploy will do with one dashboard, and why."""

    uid: str
    title: str
    action: str  # one of OUTCOMES
    reason: str = ""
    #: For added/updated: the dashboard to POST (marker included; `version` set for updates).
    payload: dict | None = None
    #: The marker value `payload` carries.
    marker: str = ""
    #: Normalized live and generated JSON, for --show-diff and `diff`.
    live: dict | None = field(default=None, repr=False)
    generated: dict | None = field(default=None, repr=False)

    @property
    def writes(self) -> bool:
        return self.action in (ADDED, UPDATED, DELETED)

    def diff(self) -> str:
        return unified_diff(self.uid, self.live, self.generated)


def make_plan(generated: list[dict], live: dict[str, Live | None], folder_uid: str, *,
              others: dict[str, Live] | None = None, force: bool = False, prune: bool = False,
              min_refresh: str = DEFAULT_MIN_REFRESH) -> list[Step]:
    """Decide every dashboard's fate, sorted by uid.

    `generated`: the dashboards to deploy (each with a `uid`). `live`: for each of
    their uids, what Grafana holds (None = absent). `others`: dashboards found in the
    folder that are not generated (for prune). Dashboards whose live copy could not
    be read are left out of `live` by the caller, which reports them as failed.
    """
    steps = [plan_dashboard(dashboard, live.get(dashboard["uid"]), folder_uid, force=force,
                            min_refresh=min_refresh)
             for dashboard in generated if dashboard["uid"] in live]
    wanted = {dashboard["uid"] for dashboard in generated}
    for uid, other in sorted((others or {}).items()):
        if uid not in wanted:
            step = plan_leftover(uid, other, prune=prune, force=force, min_refresh=min_refresh)
            if step is not None:
                steps.append(step)
    return sorted(steps, key=lambda step: step.uid)


def plan_dashboard(dashboard: dict, live: Live | None, folder_uid: str, *, force: bool = False,
                   min_refresh: str = DEFAULT_MIN_REFRESH) -> Step:
    uid = dashboard["uid"]
    title = str(dashboard.get("title") or "")
    if has_own_variable_named_marker(dashboard):
        return Step(uid, title, FAILED, f"it has a variable named {MARKER_NAME!r}, the name deploy "
                                        "reserves for its marker; rename the variable")
    payload, marker = with_marker(dashboard, min_refresh)
    wanted = normalize(payload, min_refresh)
    if live is None:
        return Step(uid, title, ADDED, "new", payload=payload, marker=marker, generated=wanted)

    current = normalize(live.dashboard, min_refresh)
    current_hash = content_hash(current)
    recorded = marker_of(live.dashboard)
    update = dict(payload, version=live.version)  # §3.4: the live version, not overwrite
    in_folder = live.folder_uid is None or live.folder_uid == folder_uid
    common = dict(uid=uid, title=title, marker=marker, live=current, generated=wanted)

    if current_hash == marker:  # Grafana holds exactly what we would send
        if recorded == marker and in_folder:
            return Step(action=UNCHANGED, **common)
        reason = (f"moved back to folder {folder_uid!r} from {live.folder_uid or 'General'!r}"
                  if not in_folder else "same content; recording queuedash's marker")
        return Step(action=UPDATED, reason=reason, payload=update, **common)
    if recorded is not None and recorded == current_hash:  # untouched since queuedash saved it
        reason = "definition changed"
        if not in_folder:
            reason += f"; moved back to folder {folder_uid!r}"
        return Step(action=UPDATED, reason=reason, payload=update, **common)

    if recorded is None:
        why = "a dashboard queuedash did not deploy (no queuedash marker) has this uid"
    else:
        who = f" by {live.updated_by}" if live.updated_by else ""
        when = f" at {live.updated}" if live.updated else ""
        why = f"changed in Grafana{who}{when} (version {live.version}) since queuedash deployed it"
    if force:
        return Step(action=UPDATED, reason=f"forced: {why}", payload=update, **common)
    return Step(action=CONFLICT, reason=f"{why}: not written; --force overwrites it", **common)


def plan_leftover(uid: str, live: Live, *, prune: bool, force: bool = False,
                  min_refresh: str = DEFAULT_MIN_REFRESH) -> Step | None:
    """A dashboard in queuedash's folder that is no longer generated. Only dashboards that
    carry the marker are queuedash's: any other is left alone and not even listed."""
    recorded = marker_of(live.dashboard)
    if recorded is None:
        return None
    current = normalize(live.dashboard, min_refresh)
    common = dict(uid=uid, title=live.title, live=current)
    if not prune:
        return Step(action=STALE, reason="no longer generated; --prune deletes it", **common)
    if content_hash(current) != recorded and not force:
        return Step(action=CONFLICT, reason="no longer generated, but changed in Grafana since queuedash "
                                            "deployed it: not deleted (--force deletes it)", **common)
    return Step(action=DELETED, reason="no longer generated", **common)
