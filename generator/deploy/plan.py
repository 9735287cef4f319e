"""Deciding what deploy does: normalize, compare, classify. Pure: no I/O.

Given the generated dashboards (JSON dicts) and what Grafana holds (`Live`,
read through either API), `make_plan` decides for each dashboard one of added,
updated, unchanged or conflict, and for dashboards in queuedash's folder that
are no longer generated, deleted (with --prune) or stale.

**How queuedash knows what it last deployed.** Each dashboard it pushes carries
a hidden constant template variable named `queuedash` (`MARKER_NAME`) whose
value records, in the dashboard itself:

* `sha256:<hex>`: the hash of the canonical, normalized JSON queuedash generated;
* `stored=sha256:<hex>`, when Grafana stores something else than it was sent:
  the /apis API migrates a dashboard to schemaVersion 42 on save (§11a), so the
  hash of the stored form, learnt from a dry-run save, is recorded too;
* `project=<id>`: which project (repository) deployed it.

On the next deploy, for the live copy:

* absent → added;
* another project's marker → conflict, even with `force`: never touched;
* stored as a dynamic dashboard (schema v2, a person's save on Grafana 13) →
  conflict; `force` replaces it and says its v2 layout is lost;
* the live copy hashes to one of the marker's hashes → nobody changed it since
  queuedash saved it: unchanged when the generated hash equals the marker's too,
  else updated, sending the live version (never `overwrite: true`), so a save in
  between is caught by Grafana (412 or 409) and re-planned;
* otherwise (a person saved it in the UI), or no marker at all (someone else's
  dashboard has our uid) → conflict: not written; `force` turns it into an update.

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
import functools
import hashlib
import json
import re
from dataclasses import dataclass, field

#: The name of the hidden variable that marks a dashboard as queuedash's and records
#: the hash of what it deployed.
MARKER_NAME = "queuedash"
MARKER_PREFIX = "sha256:"
_STORED_KEY = "stored="
_PROJECT_KEY = "project="

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


@dataclass(frozen=True)
class Marker:
    """What the marker variable records (see the module doc)."""

    #: The hash of the normalized JSON queuedash generated and sent.
    generated: str
    #: The hash of what Grafana stored, when that differs (the /apis API migrates on save).
    stored: str | None = None
    #: The project that deployed it; None from queuedash versions that did not record it.
    project: str | None = None

    @property
    def hashes(self) -> tuple[str, ...]:
        """The hashes an untouched live copy can have."""
        return (self.generated,) + ((self.stored,) if self.stored else ())

    def value(self) -> str:
        parts = [self.generated]
        if self.stored and self.stored != self.generated:
            parts.append(_STORED_KEY + self.stored)
        if self.project:
            parts.append(_PROJECT_KEY + self.project)
        return " ".join(parts)

    @classmethod
    def parse(cls, value: object) -> "Marker | None":
        if not isinstance(value, str):
            return None
        first, *rest = value.split(" ") if value else [""]
        if not first.startswith(MARKER_PREFIX):
            return None
        stored = project = None
        for part in rest:
            if part.startswith(_STORED_KEY) and part[len(_STORED_KEY):].startswith(MARKER_PREFIX):
                stored = part[len(_STORED_KEY):]
            elif part.startswith(_PROJECT_KEY) and part[len(_PROJECT_KEY):]:
                project = part[len(_PROJECT_KEY):]
        return cls(first, stored, project)


def marker_of(dashboard: dict) -> Marker | None:
    """What the marker variable records, or None when the dashboard has none."""
    for variable in _variables(dashboard):
        if is_marker(variable):
            return Marker.parse(variable.get("query"))
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


def with_marker(dashboard: dict, min_refresh: str = DEFAULT_MIN_REFRESH, *,
                project: str | None = None) -> tuple[dict, str]:
    """The dashboard as deploy sends it: the marker appended to its variables. Returns the
    dashboard (a new dict, sharing unchanged nested values with the input) and the hash
    the marker records (of the normalized result)."""
    data = dict(dashboard)
    data.pop("id", None)  # §3.4: a stable uid and no id; Grafana keeps its own id
    data.pop("version", None)
    templating = data.get("templating") if isinstance(data.get("templating"), dict) else {}
    variables = [v for v in templating.get("list") or [] if not is_marker(v)]
    # Hash what Grafana will hold, minus the marker: normalization drops it again.
    data["templating"] = {**templating, "list": variables}
    value = content_hash(normalize(data, min_refresh))
    marker = Marker(value, project=project)
    data["templating"] = {**templating, "list": variables + [marker_variable(marker.value())]}
    return data, value


def with_stored_hash(payload: dict, stored: str) -> dict:
    """`payload` (from `with_marker`) whose marker also records `stored`, the hash of the
    form Grafana stores it in. Normalization drops the marker, so the stored form of the
    result still hashes to `stored`."""
    recorded = marker_of(payload)
    if recorded is None:
        raise ValueError("with_stored_hash needs a dashboard that carries the marker")
    value = Marker(recorded.generated, stored, recorded.project).value()
    templating = payload["templating"]
    variables = [marker_variable(value) if is_marker(v) else v for v in templating["list"]]
    return {**payload, "templating": {**templating, "list": variables}}


# §3.2 step 5 parses `refresh` with gtime.ParseDuration: "<n>d|w|M|y", else Go's time.ParseDuration.
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_GRAFANA_UNITS = {"d": 86400.0, "w": 7 * 86400.0, "M": 30 * 86400.0, "y": 365 * 86400.0}
_GO_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


@functools.lru_cache(maxsize=256)  # a pure function of a few distinct strings, called per dashboard
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


def unified_diff(name: str, live: dict | None, generated: dict | None) -> str:
    """A unified diff live (remote) -> generated (local) of normalized JSON (a dashboard, or an
    alert rule), between grafana/<name>.json and generated/<name>.json."""
    before = pretty(live).splitlines(keepends=True) if live is not None else []
    after = pretty(generated).splitlines(keepends=True) if generated is not None else []
    return "".join(difflib.unified_diff(
        before, after,
        fromfile=f"grafana/{name}.json" if live is not None else "/dev/null",
        tofile=f"generated/{name}.json" if generated is not None else "/dev/null",
    ))


# ----- what Grafana holds -----------------------------------------------------------------

@dataclass(frozen=True)
class Live:
    """One dashboard as Grafana holds it, through either API.

    `version` is what an update must send back, read, never computed: the legacy
    `version` (§4.1) or the /apis `metadata.resourceVersion`; None when it could
    not be read. `stored_version` is the API version Grafana stored it in when it
    says (`meta.apiVersion`, `status.conversion.storedVersion`; §11a): one starting
    with "v2" is a dynamic dashboard."""

    dashboard: dict
    version: int | str | None
    folder_uid: str | None  # None when the answer does not say (older 10.x builds, §4.1)
    updated_by: str = ""
    updated: str = ""
    stored_version: str = ""
    #: The version as people see it ("version 3", "generation 3"), for messages.
    label: str = ""

    @classmethod
    def from_answer(cls, answer: dict) -> "Live":
        """From GET /api/dashboards/uid/:uid (§4.1)."""
        dashboard = answer.get("dashboard") or {}
        meta = answer.get("meta") if isinstance(answer.get("meta"), dict) else {}
        # §4.1: meta.version == dashboard.version; it is what a non-overwrite update sends back.
        version = meta.get("version", dashboard.get("version", 0))
        folder_uid = meta.get("folderUid")
        api_version = meta.get("apiVersion")
        version = version if isinstance(version, int) and not isinstance(version, bool) else 0
        return cls(
            dashboard=dashboard,
            version=version,
            folder_uid=folder_uid if isinstance(folder_uid, str) else None,
            updated_by=str(meta.get("updatedBy") or ""),
            updated=str(meta.get("updated") or ""),
            stored_version=api_version.rsplit("/", 1)[-1] if isinstance(api_version, str) else "",
            label=f"version {version}",
        )

    @property
    def title(self) -> str:
        return str(self.dashboard.get("title") or "")

    @property
    def stored_as_v2(self) -> bool:
        return self.stored_version.startswith("v2")

    def who_and_when(self) -> str:
        who = f" by {self.updated_by}" if self.updated_by else ""
        when = f" at {self.updated}" if self.updated else ""
        return who + when


# ----- the plan -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Step:
    """What deploy will do with one dashboard, and why."""

    uid: str
    title: str
    action: str  # one of OUTCOMES
    reason: str = ""
    #: For added/updated: the dashboard to save (marker included, no `version`).
    payload: dict | None = None
    #: The hash `payload`'s marker records.
    marker: str = ""
    #: For updates: the live version to send back (legacy `version` or /apis resourceVersion).
    base_version: int | str | None = None
    #: The live version as people see it ("version 3", "generation 3").
    base_label: str = ""
    #: Normalized live and generated JSON, for --show-diff and `diff`.
    live: dict | None = field(default=None, repr=False)
    generated: dict | None = field(default=None, repr=False)
    #: The generated dashboard as planned (no marker), to plan it again after a conflict.
    source: dict | None = field(default=None, repr=False)
    #: What the user must hear about even when it works (a forced replace loses a v2 layout).
    warning: str = ""

    @property
    def writes(self) -> bool:
        return self.action in (ADDED, UPDATED, DELETED)

    def diff(self) -> str:
        return unified_diff(self.uid, self.live, self.generated)


@dataclass(frozen=True)
class Prepared:
    """The half of a dashboard's plan that needs nothing from Grafana: what deploy would send,
    its marker's hash and its normalized form. Worked out while Grafana's answers travel."""

    payload: dict
    marker: str
    wanted: dict


def prepare(dashboard: dict, min_refresh: str = DEFAULT_MIN_REFRESH, *, project: str | None = None) -> Prepared:
    payload, marker = with_marker(dashboard, min_refresh, project=project)
    return Prepared(payload, marker, normalize(payload, min_refresh))


def make_plan(generated: list[dict], live: dict[str, Live | None], folder_uid: str, *,
              others: dict[str, Live] | None = None, project: str | None = None, force: bool = False,
              prune: bool = False, min_refresh: str = DEFAULT_MIN_REFRESH,
              prepared: dict[str, Prepared] | None = None) -> list[Step]:
    """Decide every dashboard's fate, sorted by uid.

    `generated`: the dashboards to deploy (each with a `uid`). `live`: for each of
    their uids, what Grafana holds (None = absent). `others`: dashboards found in the
    folder that are not generated (for prune). Dashboards whose live copy could not
    be read are left out of `live` by the caller, which reports them as failed.
    `project`: the id recorded in the markers, whose dashboards these are.
    `prepared`: `prepare` of the generated dashboards by uid, when done already
    (with the same `min_refresh` and `project`).
    """
    prepared = prepared or {}
    steps = [plan_dashboard(dashboard, live.get(dashboard["uid"]), folder_uid, project=project, force=force,
                            min_refresh=min_refresh, prepared=prepared.get(dashboard["uid"]))
             for dashboard in generated if dashboard["uid"] in live]
    wanted = {dashboard["uid"] for dashboard in generated}
    for uid, other in sorted((others or {}).items()):
        if uid not in wanted:
            step = plan_leftover(uid, other, project=project, prune=prune, force=force, min_refresh=min_refresh)
            if step is not None:
                steps.append(step)
    return sorted(steps, key=lambda step: step.uid)


def other_project(recorded: Marker | None, project: str | None) -> str | None:
    """The project recorded in a marker when it is not `project` (None: ours, or unknown)."""
    if recorded is None or not recorded.project or not project or recorded.project == project:
        return None
    return recorded.project


def plan_dashboard(dashboard: dict, live: Live | None, folder_uid: str, *, project: str | None = None,
                   force: bool = False, min_refresh: str = DEFAULT_MIN_REFRESH,
                   prepared: Prepared | None = None) -> Step:
    uid = dashboard["uid"]
    title = str(dashboard.get("title") or "")
    if has_own_variable_named_marker(dashboard):
        return Step(uid, title, FAILED, f"it has a variable named {MARKER_NAME!r}, the name deploy "
                                        "reserves for its marker; rename the variable")
    prepared = prepared or prepare(dashboard, min_refresh, project=project)
    payload, marker, wanted = prepared.payload, prepared.marker, prepared.wanted
    if live is None:
        return Step(uid, title, ADDED, "new", payload=payload, marker=marker, generated=wanted, source=dashboard)

    current = normalize(live.dashboard, min_refresh)
    current_hash = content_hash(current)
    recorded = marker_of(live.dashboard)
    in_folder = live.folder_uid is None or live.folder_uid == folder_uid
    common = dict(uid=uid, title=title, marker=marker, live=current, generated=wanted, source=dashboard)
    update = dict(payload=payload, base_version=live.version, base_label=live.label, **common)

    theirs = other_project(recorded, project)
    if theirs is not None:
        return Step(action=CONFLICT, reason=f"deployed by another project ({theirs}), not this one ({project}): "
                                            "not written, even with --force; deploy it from that project, or "
                                            "delete it in Grafana first", **common)
    if live.stored_as_v2:
        why = (f"saved in Grafana as a dynamic dashboard (schema {live.stored_version}){live.who_and_when()} "
               "since queuedash deployed it" if recorded else
               f"a dynamic dashboard (schema {live.stored_version}) queuedash did not deploy has this uid")
        if force:
            return Step(action=UPDATED, reason=f"forced: {why}; replaced, its v2 layout is lost",
                        warning=f"{uid}: replaces a dynamic dashboard (schema {live.stored_version}) with the "
                                "generated one; its v2 layout is lost", **update)
        return Step(action=CONFLICT, reason=f"{why}: not written; --force replaces it with the generated "
                                            "dashboard (its v2 layout is lost)", **common)

    intact = recorded is not None and current_hash in recorded.hashes
    if intact and recorded.generated == marker:  # Grafana holds what we would send
        if in_folder and recorded.project == project:
            return Step(action=UNCHANGED, **common)
        reason = (f"moved back to folder {folder_uid!r} from {live.folder_uid or 'General'!r}" if not in_folder
                  else f"same content; recording the project {project!r}")
        return Step(action=UPDATED, reason=reason, **update)
    if current_hash == marker:  # the same content, without (our current) marker
        reason = (f"moved back to folder {folder_uid!r} from {live.folder_uid or 'General'!r}" if not in_folder
                  else "same content; recording queuedash's marker")
        return Step(action=UPDATED, reason=reason, **update)
    if intact:  # untouched since queuedash saved it
        reason = "definition changed"
        if not in_folder:
            reason += f"; moved back to folder {folder_uid!r}"
        return Step(action=UPDATED, reason=reason, **update)

    if recorded is None:
        why = "a dashboard queuedash did not deploy (no queuedash marker) has this uid"
    else:
        seen = f" ({live.label})" if live.label else ""
        why = f"changed in Grafana{live.who_and_when()}{seen} since queuedash deployed it"
    if force:
        return Step(action=UPDATED, reason=f"forced: {why}", **update)
    return Step(action=CONFLICT, reason=f"{why}: not written; --force overwrites it", **common)


def plan_leftover(uid: str, live: Live, *, prune: bool, project: str | None = None, force: bool = False,
                  min_refresh: str = DEFAULT_MIN_REFRESH) -> Step | None:
    """A dashboard in queuedash's folder that is no longer generated. Only dashboards that
    carry this project's marker are queuedash's: any other is left alone and not even listed."""
    recorded = marker_of(live.dashboard)
    if recorded is None or other_project(recorded, project) is not None:
        return None
    current = normalize(live.dashboard, min_refresh)
    common = dict(uid=uid, title=live.title, live=current)
    if not prune:
        return Step(action=STALE, reason="no longer generated; --prune deletes it", **common)
    if project and recorded.project is None and not force:
        return Step(action=STALE, reason="no longer generated, but deployed by a queuedash that did not record "
                                         "its project: not deleted (--force deletes it)", **common)
    if (live.stored_as_v2 or content_hash(current) not in recorded.hashes) and not force:
        return Step(action=CONFLICT, reason="no longer generated, but changed in Grafana since queuedash "
                                            "deployed it: not deleted (--force deletes it)", **common)
    return Step(action=DELETED, reason="no longer generated", **common)
