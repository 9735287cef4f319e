"""Deploying and diffing alert rules: read what Grafana holds, plan, write per group.

The I/O half of rule deploy; `rules_plan.py` is the deciding half. Reading is
one request for every rule of the organisation, plus one per generated group that
exists (its interval is only in the group's own answer). Writing is one
whole-group PUT per group that changes, groups that receive moved rules first (so
a rule moving between two groups of queuedash's is moved, not deleted and made
again); rules of a group queuedash no longer generates are deleted one by one
(with --prune). A group whose write fails fails its rules, never the others.
Once the client is stopping (Ctrl-C) no write starts: a rule whose write never
left is counted as not started, as a dashboard is.

Grafana's provisioning API has no version check on rules: a change made through
the API between this read and the write is overwritten (the UI cannot edit them).

Works on rule JSON (`compile/rules.py`'s bodies, or files); never the model.
Imports `queuedash.grafana` and this package.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from queuedash.deploy.apply import Outcome
from queuedash.deploy.plan import DELETED, FAILED
from queuedash.deploy.rules_plan import GroupPlan, normalize_rule, plan_rules, rule_diff, with_marker
from queuedash.errors import InputError
from queuedash.grafana import errors
from queuedash.grafana.alerting import PERMISSIONS_PATH, AlertingApi, may_write_rules
from queuedash.identity import is_valid_uid


@dataclass(frozen=True)
class GroupEvent:
    """A change to a group itself (its interval), or why it was not written."""

    folder_uid: str
    title: str
    status: str  # "interval", "failed"
    detail: str = ""


@dataclass(frozen=True)
class RulesRun:
    groups: list[GroupEvent]
    #: One per rule touched, sorted by uid (an Outcome, as for dashboards).
    outcomes: list[Outcome]
    #: Rules whose write never started: the client was stopping (Ctrl-C).
    not_started: int = 0


def checked_groups(found: list[tuple[str, dict]]) -> list[dict]:
    """The rule group bodies to deploy, from ``(where, JSON)`` pairs: each needs a title, a
    folder uid, an interval and rules with valid, unique uids."""
    seen: dict[str, str] = {}
    for where, body in found:
        if not isinstance(body, dict) or not isinstance(body.get("rules"), list) or not body["rules"]:
            raise InputError(f"{where}: not a rule group (expected title, folderUid, interval and rules)")
        if not isinstance(body.get("title"), str) or not body["title"].strip():
            raise InputError(f"{where}: the rule group needs a title")
        if not isinstance(body.get("folderUid"), str) or not is_valid_uid(body["folderUid"]):
            raise InputError(f"{where}: folderUid {body.get('folderUid')!r} is not 1-40 characters of [A-Za-z0-9_-]")
        if not isinstance(body.get("interval"), int):
            raise InputError(f"{where}: the rule group needs an interval in seconds")
        for rule in body["rules"]:
            uid = rule.get("uid") if isinstance(rule, dict) else None
            if not isinstance(uid, str) or not is_valid_uid(uid):
                raise InputError(f"{where}: rule uid {uid!r} is not 1-40 characters of [A-Za-z0-9_-]")
            if uid in seen:
                raise InputError(f"{where}: rule uid {uid!r} is also in {seen[uid]}")
            seen[uid] = where
    return sorted((body for _, body in found), key=lambda body: (body["folderUid"], body["title"]))


def check_may_write(api: AlertingApi, folders: list[tuple[str, str]]) -> list[str]:
    """Before any write: raise `PermissionDenied` in one line unless the credentials may write
    rule groups in the last folder of `folders` ((uid, title), outermost first). Reading the
    rules proves nothing (from Grafana 11 a Viewer may read them), so Grafana is asked what
    the credentials may do. Returns warnings: a Grafana that does not say cannot be checked."""
    permissions = api.permissions()
    if permissions is None:
        return [f"cannot verify that the credentials may provision alert rules: GET {PERMISSIONS_PATH} "
                "answered 404; deploying without checking"]
    uid, title = folders[-1]
    if not may_write_rules(permissions, [folder_uid for folder_uid, _ in folders]):
        raise errors.PermissionDenied(
            f"the credentials ({api.client.credentials.source}) may not provision alert rules in folder {uid!r} "
            f"({title}): nothing was written; deploy with a service account with the Admin role, or with "
            "--no-rules for the dashboards alone (Grafana's alerting provisioning API needs "
            "alert.provisioning:write, or from Grafana 11 the Editor role's alert rule permissions on the folder "
            "with alert.provisioning.provenance:write)")
    return []


def read(api: AlertingApi, generated: list[dict]) -> tuple[list[dict], dict[tuple[str, str], int]]:
    """Every rule Grafana holds, and the interval of each generated group that exists."""
    live = api.rules()
    existing = {(str(rule.get("folderUID") or ""), str(rule.get("ruleGroup") or "")) for rule in live}
    intervals = {}
    for body in generated:
        key = (body["folderUid"], body["title"])
        if key in existing:
            group = api.group(*key)
            if group is not None and isinstance(group.get("interval"), int):
                intervals[key] = group["interval"]
    return live, intervals


def deploy_rules(api: AlertingApi, generated: list[dict], folder_uid: str, *, project: str | None = None,
                 dry_run: bool = False, force: bool = False, prune: bool = False,
                 reading: tuple[list[dict], dict[tuple[str, str], int]] | None = None) -> RulesRun:
    """Plan and write the rules, recording `project` in their markers; another project's
    rules are never written. `reading` is what `read` returned, when the caller read first
    (deploy does, before writing any dashboard: a missing permission stops it there)."""
    live, intervals = reading if reading is not None else read(api, generated)
    plans = plan_rules(generated, live, intervals, folder_uid, project=project, force=force, prune=prune)
    events: list[GroupEvent] = []
    outcomes: list[Outcome | None] = []
    # Groups that receive a moved rule first: the rule moves instead of being deleted and re-made.
    for plan in sorted(plans, key=lambda plan: not plan.receives_moved_rules):
        if plan.interval_changes and not plan.foreign:
            events.append(GroupEvent(plan.folder_uid, plan.title, "interval",
                                     f"{plan.live_interval} s -> {plan.interval} s"))
        if dry_run or not plan.writes:
            outcomes += [_outcome(step) for step in plan.steps]
            continue
        outcomes += _write(api, plan, events)
    done = [outcome for outcome in outcomes if outcome is not None]
    return RulesRun(events, sorted(done, key=lambda outcome: outcome.uid), not_started=len(outcomes) - len(done))


def _outcome(step, status: str | None = None, detail: str | None = None) -> Outcome:
    reason = step.reason if detail is None else detail
    where = f"group {step.group!r}"
    text = f"{where}; {reason}" if reason else where
    return Outcome(step.uid, step.title, status or step.action, text, step.diff() if step.action == "conflict" else "")


def _write(api: AlertingApi, plan: GroupPlan, events: list[GroupEvent]) -> list[Outcome | None]:
    """The group's outcomes; None for a rule whose write never left (the client was stopping)."""
    body = plan.body()
    if plan.generated and body["rules"]:
        try:
            api.replace_group(body)
        except errors.Interrupted as exc:
            if exc.attempts:
                events.append(GroupEvent(plan.folder_uid, plan.title, "failed", str(exc)))
                return [_outcome(step, FAILED, str(exc)) if step.writes else _outcome(step) for step in plan.steps]
            return [None if step.writes else _outcome(step) for step in plan.steps]
        except errors.GrafanaError as exc:
            events.append(GroupEvent(plan.folder_uid, plan.title, "failed", str(exc)))
            return [_outcome(step, FAILED, str(exc)) if step.writes else _outcome(step) for step in plan.steps]
        return [_outcome(step) for step in plan.steps]
    # A group left with no rule: Grafana reads an empty rules list as "interval only",
    # so its rules are deleted one by one.
    outcomes = []
    for step in plan.steps:
        if step.action != DELETED:
            outcomes.append(_outcome(step))
            continue
        try:
            gone = not api.delete_rule(step.uid)
        except errors.Interrupted as exc:
            outcomes.append(_outcome(step, FAILED, str(exc)) if exc.attempts else None)
            continue
        except errors.GrafanaError as exc:
            outcomes.append(_outcome(step, FAILED, str(exc)))
            continue
        outcomes.append(_outcome(step, detail="already gone" if gone else None))
    return outcomes


@dataclass(frozen=True)
class RulesDiff:
    #: Unified diffs (live -> generated) and one-line notes, in group and uid order.
    differences: list[str] = field(default_factory=list)
    #: Rules queuedash deployed that are no longer generated: (uid, title).
    only_in_grafana: list[tuple[str, str]] = field(default_factory=list)
    total: int = 0


def diff_rules(api: AlertingApi, generated: list[dict], folder_uid: str, *, project: str | None = None) -> RulesDiff:
    """Compare what Grafana holds with the generated rules; writes nothing. Only in Grafana:
    this project's rules no longer generated (every queuedash rule when `project` is None)."""
    live, intervals = read(api, generated)
    by_uid = {rule.get("uid"): rule for rule in live}
    run = RulesDiff(total=sum(len(body["rules"]) for body in generated))
    for body in generated:
        key = (body["folderUid"], body["title"])
        if key in intervals and intervals[key] != body["interval"]:
            run.differences.append(f"rule group {body['title']!r}: interval {intervals[key]} s in Grafana, "
                                   f"{body['interval']} s generated")
        for rule in sorted(body["rules"], key=lambda rule: rule["uid"]):
            current = by_uid.get(rule["uid"])
            wanted = normalize_rule(with_marker(rule)[0])
            if current is None or normalize_rule(current) != wanted:
                run.differences.append(rule_diff(rule["uid"], normalize_rule(current) if current else None,
                                                 wanted).rstrip("\n"))
            elif (str(current.get("folderUID")), str(current.get("ruleGroup"))) != key:
                run.differences.append(f"{rule['uid']}: in group {current.get('ruleGroup')!r} of folder "
                                       f"{current.get('folderUID')!r}, generated for group {body['title']!r}")
    for plan in plan_rules(generated, live, intervals, folder_uid, project=project):
        run.only_in_grafana.extend((step.uid, step.title) for step in plan.steps if step.action == "stale")
    return run
