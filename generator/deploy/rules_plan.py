"""Deciding what deploy does with alert rules: normalize, compare, classify. Pure: no I/O.

Given the generated rule groups (bodies for ``PUT .../rule-groups/<title>``, as
`compile/rules.py` builds them) and what Grafana holds (every rule of the
organisation, and the intervals of the groups that exist), `plan_rules` decides
for each rule one of the dashboards' outcomes (added, updated, unchanged,
conflict, and for rules of queuedash's no longer generated: stale, or deleted with
--prune), and for each group whether it is written: one whole-group PUT, which
Grafana turns into the creates, updates and deletes that match the body.

**What queuedash deployed.** Each rule it writes carries the annotation
``__queuedash__`` (`MARKER`) with the same value as a dashboard's marker
(`plan.Marker`): ``sha256:<hex>`` of the rule's normalized content as written,
and ``project=<id>``, the project that deployed it. Grafana leaves ``__...__``
annotations out of notifications. Rules have provenance ``api``
(grafana/alerting.py): the UI does not edit them, so a change found here was
made through the API by something else:

* no rule with the uid: added;
* another project's marker: conflict, even with --force: never written;
* the marker, and the live rule still hashes to it: unchanged when the generated
  rule hashes the same, sits in its group and records this project, else updated
  (a marker from a queuedash that did not record projects is claimed);
* the live rule no longer hashes to its marker, or has none (another tool's rule
  uses the uid): conflict, not written; --force writes it;
* a group that holds rules without the marker (someone else's) or another
  project's rules is not written at all: a whole-group PUT would delete them or
  take them over. Its rules are conflicts, --force or not, until those rules
  move to another group;
* rules of this project's no longer generated: stale, or deleted with --prune
  (one without a recorded project only with --force too); another project's are
  neither listed nor deleted.

**Normalization** (both sides): only the fields queuedash sets are compared
(`COMPARED`); the marker annotation is left out; ``for`` is compared in seconds
(Grafana writes ``1m`` back for ``60s``); empty ``labels`` and ``annotations``
equal absent ones (Go's omitempty); a query's empty ``queryType`` equals none.
Grafana stores the queries' models as sent (after adding ``intervalMs`` and
``maxDataPoints``, which queuedash always sets), so every other difference is
real. Group membership and the group's interval are compared apart.

Imports `durations` and `plan` (the outcomes, the canonical JSON).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from queuedash.deploy.plan import (ADDED, CONFLICT, DELETED, STALE, UNCHANGED, UPDATED, Marker, content_hash,
                                   other_project, unified_diff)
from queuedash.durations import DurationError, parse_duration

MARKER = "__queuedash__"
COMPARED = ("uid", "title", "condition", "data", "noDataState", "execErrState", "for", "annotations", "labels",
            "isPaused")
WRITES = (ADDED, UPDATED, DELETED)



# ----- normalization and the marker -----------------------------------------------------------

def _seconds(value) -> object:
    try:
        return parse_duration(str(value))
    except DurationError:
        return value


def _query(item: object) -> object:
    if not isinstance(item, dict):
        return item
    out = {key: item[key] for key in ("refId", "datasourceUid", "relativeTimeRange", "model") if key in item}
    if item.get("queryType"):
        out["queryType"] = item["queryType"]
    return out


def normalize_rule(rule: dict) -> dict:
    """What a rule means, as queuedash sets it (see the module doc)."""
    out = {key: rule[key] for key in COMPARED if key in rule}
    if "for" in out:
        out["for"] = _seconds(out["for"])
    annotations = {k: v for k, v in (rule.get("annotations") or {}).items() if k != MARKER}
    out.pop("annotations", None)
    if annotations:
        out["annotations"] = annotations
    out.pop("labels", None)
    if rule.get("labels"):
        out["labels"] = rule["labels"]
    out["isPaused"] = bool(rule.get("isPaused", False))
    if isinstance(out.get("data"), list):
        out["data"] = [_query(item) for item in out["data"]]
    return out


#: A rule hashes as a dashboard does: its canonical JSON (sorted keys, no whitespace).
rule_hash = content_hash


def marker_of(rule: dict) -> Marker | None:
    """What the rule's marker annotation records, or None when it has none."""
    return Marker.parse((rule.get("annotations") or {}).get(MARKER))


def with_marker(rule: dict, project: str | None = None) -> tuple[dict, str]:
    """The rule as deploy sends it (marker annotation added, recording `project`) and the
    hash the marker records."""
    value = rule_hash(normalize_rule(rule))
    annotations = {k: v for k, v in (rule.get("annotations") or {}).items() if k != MARKER}
    return {**rule, "annotations": {**annotations, MARKER: Marker(value, project=project).value()}}, value


def rule_diff(uid: str, live: dict | None, generated: dict | None) -> str:
    """A unified diff live (Grafana) -> generated of normalized rules."""
    return unified_diff(f"rules/{uid}", live, generated)


# ----- the plan -------------------------------------------------------------------------------

@dataclass(frozen=True)
class RuleStep:
    """What deploy does with one rule, and why."""

    uid: str
    title: str
    group: str
    action: str
    reason: str = ""
    #: For the group's PUT: the rule to send (generated, marker included), or the live
    #: rule sent back as it is (a conflict or a stale rule kept in its group). None: left out.
    body: dict | None = field(default=None, repr=False)
    #: The rule lives in another group or folder now; the PUT moves it here.
    moved: bool = False
    live: dict | None = field(default=None, repr=False)
    generated: dict | None = field(default=None, repr=False)

    @property
    def writes(self) -> bool:
        return self.action in WRITES

    def diff(self) -> str:
        return rule_diff(self.uid, self.live, self.generated)


@dataclass(frozen=True)
class GroupPlan:
    """One rule group: its steps and whether (and how) it is written.

    `generated` groups are written with one PUT of `body()`; a group queuedash no
    longer generates only loses its deleted rules, one DELETE each."""

    folder_uid: str
    title: str
    interval: int | None
    live_interval: int | None
    steps: tuple[RuleStep, ...]
    generated: bool = True
    #: Rules in the live group that are not this project's (no marker, or another
    #: project's): the group is not written.
    foreign: tuple[str, ...] = ()

    @property
    def interval_changes(self) -> bool:
        return self.generated and self.live_interval is not None and self.interval != self.live_interval

    @property
    def writes(self) -> bool:
        return any(step.writes for step in self.steps) or (self.interval_changes and not self.foreign)

    def body(self) -> dict:
        rules = sorted((step.body for step in self.steps if step.body is not None), key=lambda rule: rule["uid"])
        return {"folderUid": self.folder_uid, "interval": self.interval, "rules": rules, "title": self.title}

    @property
    def receives_moved_rules(self) -> bool:
        return any(step.moved and step.writes for step in self.steps)


def _where(rule: dict) -> tuple[str, str]:
    return str(rule.get("folderUID") or ""), str(rule.get("ruleGroup") or "")


def plan_rules(generated: list[dict], live: list[dict], live_intervals: dict[tuple[str, str], int], folder_uid: str,
               *, project: str | None = None, force: bool = False, prune: bool = False) -> list[GroupPlan]:
    """Every group's plan: the generated groups by title, then the groups in `folder_uid`
    that hold rules of this project's no longer generated.

    `generated`: rule group bodies. `live`: every rule Grafana holds (each with `uid`,
    `folderUID`, `ruleGroup`). `live_intervals`: the interval of each live group that
    matters, by (folder uid, title). `project`: the id the markers record, whose rules
    these are (None: every marker counts as ours, as for `diff` without a project).
    """
    by_uid = {rule["uid"]: rule for rule in live if isinstance(rule.get("uid"), str)}
    members: dict[tuple[str, str], list[dict]] = {}
    for rule in live:
        members.setdefault(_where(rule), []).append(rule)
    wanted = {rule["uid"]: (group["folderUid"], group["title"]) for group in generated for rule in group["rules"]}
    plans = []
    for group in sorted(generated, key=lambda g: (g["folderUid"], g["title"])):
        key = (group["folderUid"], group["title"])
        steps = [_plan_rule(rule, by_uid.get(rule["uid"]), key, force, project) for rule in group["rules"]]
        hand_made, theirs = [], {}
        for rule in members.get(key, []):
            uid, recorded = str(rule.get("uid")), marker_of(rule)
            other = other_project(recorded, project)
            if other is not None:
                theirs[uid] = other  # generated here or not, the group is not ours alone
                continue
            if uid in wanted:
                continue  # generated here (planned above) or in another group (moved there)
            if recorded is None:
                hand_made.append(uid)
                continue
            steps.append(_leftover(rule, group["title"], prune=prune, force=force, keep=True, project=project))
        if hand_made or theirs:
            steps = [_blocked(step, group["title"], sorted(hand_made), theirs) for step in steps]
        plans.append(GroupPlan(group["folderUid"], group["title"], group["interval"], live_intervals.get(key),
                               tuple(sorted(steps, key=lambda step: step.uid)),
                               foreign=tuple(sorted(hand_made + list(theirs)))))
    generated_keys = {(g["folderUid"], g["title"]) for g in generated}
    for key in sorted(k for k in members if k not in generated_keys and k[0] == folder_uid):
        steps = [_leftover(rule, key[1], prune=prune, force=force, keep=False, project=project)
                 for rule in members[key] if rule.get("uid") not in wanted and _ours(rule, project)]
        if steps:
            plans.append(GroupPlan(key[0], key[1], None, live_intervals.get(key),
                                   tuple(sorted(steps, key=lambda step: step.uid)), generated=False))
    return plans


def _ours(rule: dict, project: str | None) -> bool:
    """The rule carries a marker, and it is not another project's."""
    recorded = marker_of(rule)
    return recorded is not None and other_project(recorded, project) is None


def _plan_rule(rule: dict, live: dict | None, key: tuple[str, str], force: bool, project: str | None) -> RuleStep:
    uid, title, group = rule["uid"], str(rule.get("title") or ""), key[1]
    payload, marker = with_marker(rule, project)
    wanted = normalize_rule(payload)
    if live is None:
        return RuleStep(uid, title, group, ADDED, "new", body=payload, generated=wanted)
    current = normalize_rule(live)
    current_hash, recorded = rule_hash(current), marker_of(live)
    moved = _where(live) != key
    common = dict(uid=uid, title=title, group=group, live=current, generated=wanted, moved=moved)
    theirs = other_project(recorded, project)
    if theirs is not None:
        return RuleStep(action=CONFLICT, reason=f"deployed by another project ({theirs}), not this one ({project}): "
                                                "not written, even with --force; deploy it from that project, or "
                                                "delete it in Grafana first",
                        body=None if moved else live, **common)
    live_folder, live_group = _where(live)
    whence = f"moved from group {live_group!r}" + (f" of folder {live_folder!r}" if live_folder != key[0] else "")
    intact = recorded is not None and recorded.generated == current_hash
    if current_hash == marker:  # Grafana holds what we would send
        if intact and recorded.project == project and not moved:
            return RuleStep(action=UNCHANGED, body=payload, **common)
        reason = (whence if moved else f"same content; recording the project {project!r}" if intact
                  else "same content; recording queuedash's marker")
        return RuleStep(action=UPDATED, reason=reason, body=payload, **common)
    if intact:  # untouched since queuedash wrote it
        reason = "definition changed" + (f"; {whence}" if moved else "")
        return RuleStep(action=UPDATED, reason=reason, body=payload, **common)
    if recorded is None:
        why = "a rule queuedash did not deploy (no __queuedash__ marker) has this uid"
    else:
        why = "changed through Grafana's API since queuedash deployed it"
    if force:
        return RuleStep(action=UPDATED, reason=f"forced: {why}", body=payload, **common)
    return RuleStep(action=CONFLICT, reason=f"{why}: not written; --force overwrites it",
                    body=None if moved else live, **common)


def _leftover(rule: dict, group: str, *, prune: bool, force: bool, keep: bool, project: str | None) -> RuleStep:
    """A rule of this project's (it has the marker, not another project's) that is no longer generated."""
    uid, title = str(rule.get("uid")), str(rule.get("title") or "")
    current = normalize_rule(rule)
    recorded = marker_of(rule)
    common = dict(uid=uid, title=title, group=group, live=current)
    if not prune:
        return RuleStep(action=STALE, reason="no longer generated; --prune deletes it",
                        body=rule if keep else None, **common)
    if project and recorded.project is None and not force:
        return RuleStep(action=STALE, reason="no longer generated, but deployed by a queuedash that did not record "
                                             "its project: not deleted (--force deletes it)",
                        body=rule if keep else None, **common)
    if rule_hash(current) != recorded.generated and not force:
        return RuleStep(action=CONFLICT, reason="no longer generated, but changed through Grafana's API since "
                                                "queuedash deployed it: not deleted (--force deletes it)",
                        body=rule if keep else None, **common)
    return RuleStep(action=DELETED, reason="no longer generated", **common)


def _blocked(step: RuleStep, group: str, hand_made: list[str], theirs: dict[str, str]) -> RuleStep:
    """A step in a group that also holds someone else's rules, or another project's: nothing is written."""
    if not step.writes:
        return step
    held = []
    if hand_made:
        held.append(f"rules queuedash did not deploy ({_some(hand_made)})")
    if theirs:
        held.append(f"rules another project deployed ({_some(sorted(theirs))}: {', '.join(sorted(set(theirs.values())))})")
    reason = (f"rule group {group!r} also holds {' and '.join(held)}: a whole-group write would delete them; not "
              "written; move them to another group" + (", or give each project a folder or rule group of its own"
                                                        if theirs else ""))
    return RuleStep(step.uid, step.title, step.group, CONFLICT, reason, body=None, moved=step.moved, live=step.live,
                    generated=step.generated)


def _some(uids: list[str]) -> str:
    return ", ".join(uids[:3]) + (f" and {len(uids) - 3} more" if len(uids) > 3 else "")
