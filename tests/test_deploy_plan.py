"""The deploy plan (queuedash/deploy/plan.py): normalization, the marker, classification.

Pure functions on JSON dicts: no server needed.
"""

from __future__ import annotations

import copy

import pytest

from queuedash.deploy.plan import (ADDED, CONFLICT, DELETED, FAILED, MARKER_NAME, STALE, UNCHANGED, UPDATED,
                                    Live, Marker, content_hash, duration_seconds, effective_refresh, make_plan,
                                    marker_of, normalize, plan_dashboard, plan_leftover, with_marker,
                                    with_stored_hash)

GENERATED = {
    "uid": "queuedash-tasks", "title": "Celery tasks", "refresh": "1m", "schemaVersion": 39,
    "panels": [{"id": 1, "type": "stat", "title": "Failed"}],
    "templating": {"list": [{"name": "queue", "type": "query"}]},
}


def stored(dashboard: dict, version: int = 1, row_id: int = 7, folder_uid: str = "celery", by: str = "sa") -> Live:
    """What Grafana answers after storing `dashboard` (§4.1): id and version written in."""
    data = copy.deepcopy(dashboard)
    data.update(id=row_id, version=version)
    meta = {"version": version, "folderUid": folder_uid, "updatedBy": by, "updated": "2026-01-01T00:00:00Z"}
    return Live.from_answer({"dashboard": data, "meta": meta})


def deployed(dashboard: dict = GENERATED, **kwargs) -> Live:
    return stored(with_marker(dashboard)[0], **kwargs)


def edited(live: Live, **changes) -> Live:
    data = copy.deepcopy(live.dashboard)
    data.update(changes)
    return stored(data, version=live.version + 1, by="alice")


# ----- normalization ------------------------------------------------------------------------

def test_normalize_drops_what_grafana_writes_on_save():
    live = deployed()
    assert normalize(live.dashboard) == normalize(with_marker(GENERATED)[0])
    assert "id" not in normalize(live.dashboard) and "version" not in normalize(live.dashboard)
    assert all(v["name"] != MARKER_NAME for v in normalize(live.dashboard)["templating"]["list"])


def test_normalize_trims_title_and_uid_like_grafana():
    assert normalize({"title": "  Tasks ", "uid": " t "}) == {"title": "Tasks", "uid": "t"}


def test_normalize_keeps_everything_else():
    data = {"panels": [{"id": 3}], "description": "x", "editable": True, "timepicker": {}}
    assert normalize(data) == data


@pytest.mark.parametrize("refresh,stored_as", [
    ("1m", "1m"), ("5s", "5s"), ("1s", "5s"), ("500ms", "5s"), ("nonsense", "5s"), ("", ""), ("auto", "auto"),
    ("1h30m", "1h30m"), ("1d", "1d"),
])
def test_a_refresh_below_the_minimum_reads_as_grafana_stores_it(refresh, stored_as):
    # §3.2 step 5: silently replaced by min_refresh_interval (default 5s).
    assert effective_refresh(refresh) == stored_as
    assert normalize({"refresh": refresh})["refresh"] == stored_as


def test_durations_parse_like_grafana():
    assert duration_seconds("1m") == 60 and duration_seconds("1.5h") == 5400
    assert duration_seconds("2w") == 14 * 86400 and duration_seconds("0") == 0
    assert duration_seconds("1x") is None and duration_seconds("m") is None and duration_seconds("") is None


def test_with_marker_records_the_hash_of_what_it_sends():
    original = copy.deepcopy(GENERATED)
    payload, marker = with_marker(GENERATED)
    assert GENERATED == original  # the input is not changed
    assert marker_of(payload).generated == marker == content_hash(normalize(payload))
    assert payload["templating"]["list"][0] == GENERATED["templating"]["list"][0]
    variable = payload["templating"]["list"][-1]
    assert (variable["name"], variable["type"], variable["hide"], variable["query"]) == (
        MARKER_NAME, "constant", 2, marker)
    assert with_marker(payload) == (payload, marker)  # idempotent


def test_the_hash_ignores_key_order_and_changes_with_content():
    reordered = dict(reversed(list(GENERATED.items())))
    assert with_marker(reordered)[1] == with_marker(GENERATED)[1]
    assert with_marker({**GENERATED, "title": "Other"})[1] != with_marker(GENERATED)[1]


def test_a_dashboard_without_templating_gets_one():
    bare = {"uid": "bare", "title": "Bare"}
    payload, marker = with_marker(bare)
    assert [v["name"] for v in payload["templating"]["list"]] == [MARKER_NAME]
    assert content_hash(normalize(stored(payload).dashboard)) == marker


# ----- classification -----------------------------------------------------------------------

def test_absent_is_added():
    step = plan_dashboard(GENERATED, None, "celery")
    assert step.action == ADDED and "version" not in step.payload


def test_untouched_and_same_is_unchanged():
    assert plan_dashboard(GENERATED, deployed(version=5), "celery").action == UNCHANGED


def test_a_version_bump_without_change_is_unchanged():
    live = deployed()
    assert plan_dashboard(GENERATED, stored(live.dashboard, version=9), "celery").action == UNCHANGED


def test_grafana_rewriting_a_short_refresh_is_not_a_change():
    fast = {**GENERATED, "refresh": "1s"}
    payload, _ = with_marker(fast)
    live = stored({**payload, "refresh": "5s"})  # what Grafana stores (§3.2 step 5)
    assert plan_dashboard(fast, live, "celery").action == UNCHANGED


def test_untouched_and_changed_is_updated_with_the_live_version():
    step = plan_dashboard({**GENERATED, "title": "Tasks"}, deployed(version=3), "celery")
    assert step.action == UPDATED
    assert step.base_version == 3  # §3.4: not overwrite
    assert step.payload["title"] == "Tasks" and marker_of(step.payload).generated == step.marker


def test_edited_in_grafana_is_a_conflict_even_when_the_definition_did_not_change():
    live = edited(deployed(), description="alice was here")
    step = plan_dashboard(GENERATED, live, "celery")
    assert step.action == CONFLICT and step.payload is None
    assert "changed in Grafana by alice" in step.reason and "(version 2)" in step.reason
    assert '-  "description": "alice was here",' in step.diff()


def test_no_marker_is_a_conflict():
    step = plan_dashboard(GENERATED, stored({**GENERATED, "title": "Theirs"}), "celery")
    assert step.action == CONFLICT and "no queuedash marker" in step.reason


def test_force_turns_a_conflict_into_an_update_with_the_live_version():
    step = plan_dashboard(GENERATED, edited(deployed(), description="x"), "celery", force=True)
    assert step.action == UPDATED and step.base_version == 2 and step.reason.startswith("forced")


def test_same_content_without_marker_just_records_the_marker():
    step = plan_dashboard(GENERATED, stored(GENERATED), "celery")
    assert step.action == UPDATED and "recording" in step.reason


def test_a_dashboard_in_another_folder_is_moved_back():
    step = plan_dashboard(GENERATED, deployed(folder_uid="elsewhere"), "celery")
    assert step.action == UPDATED and "moved back to folder 'celery'" in step.reason


def test_the_marker_name_is_reserved():
    own = {**GENERATED, "templating": {"list": [{"name": MARKER_NAME, "type": "textbox"}]}}
    assert plan_dashboard(own, None, "celery").action == FAILED


# ----- leftovers and the whole plan ---------------------------------------------------------

def test_leftovers():
    ours = deployed({**GENERATED, "uid": "old"})
    assert plan_leftover("old", ours, prune=False).action == STALE
    assert plan_leftover("old", ours, prune=True).action == DELETED
    assert plan_leftover("theirs", stored({"uid": "theirs", "title": "T"}), prune=True) is None
    touched = edited(ours, description="in use")
    assert plan_leftover("old", touched, prune=True).action == CONFLICT
    assert plan_leftover("old", touched, prune=True, force=True).action == DELETED


def test_the_plan_is_sorted_by_uid_and_skips_unread_dashboards():
    b = {**GENERATED, "uid": "b"}
    a = {**GENERATED, "uid": "a"}
    c = {**GENERATED, "uid": "c"}
    steps = make_plan([c, b, a], {"a": None, "c": deployed(c)}, "celery",
                      others={"z": deployed({**GENERATED, "uid": "z"}), "b": deployed(b)}, prune=True)
    assert [(s.uid, s.action) for s in steps] == [("a", ADDED), ("c", UNCHANGED), ("z", DELETED)]


# ----- the marker's record: stored form, project, dynamic dashboards --------------------------

def test_the_marker_value_round_trips_and_old_markers_still_read():
    marker = Marker("sha256:aa", "sha256:bb", "github.com/acme/ops")
    assert marker.value() == "sha256:aa stored=sha256:bb project=github.com/acme/ops"
    assert Marker.parse(marker.value()) == marker
    assert Marker.parse("sha256:aa") == Marker("sha256:aa")  # queuedash before projects
    assert Marker.parse("sha256:aa stored=sha256:aa").value() == "sha256:aa"  # equal hashes: one
    assert Marker.parse("nonsense") is None and Marker.parse(None) is None


def migrated(live: Live) -> Live:
    """What /apis holds after a save: migrated to schemaVersion 42 (§11a)."""
    return stored({**live.dashboard, "schemaVersion": 42})


def test_a_migrated_copy_is_unchanged_when_the_marker_records_its_hash():
    payload, marker = with_marker(GENERATED, project="p")
    saved = migrated(stored(payload))
    assert plan_dashboard(GENERATED, saved, "celery", project="p").action == CONFLICT  # hash unknown
    recorded = with_stored_hash(payload, content_hash(normalize(saved.dashboard)))
    saved = migrated(stored(recorded))
    assert plan_dashboard(GENERATED, saved, "celery", project="p").action == UNCHANGED
    changed = plan_dashboard({**GENERATED, "title": "Tasks"}, saved, "celery", project="p")
    assert changed.action == UPDATED and changed.reason == "definition changed"


def test_another_projects_dashboard_is_a_conflict_even_when_forced():
    theirs = stored(with_marker(GENERATED, project="them")[0])
    for force in (False, True):
        step = plan_dashboard(GENERATED, theirs, "celery", project="us", force=force)
        assert step.action == CONFLICT and step.payload is None
        assert "deployed by another project (them), not this one (us)" in step.reason


def test_a_marker_without_project_is_claimed_by_recording_it():
    old = deployed()  # a marker from before projects
    step = plan_dashboard(GENERATED, old, "celery", project="us")
    assert step.action == UPDATED and step.reason == "same content; recording the project 'us'"
    assert marker_of(step.payload).project == "us"


def test_a_dynamic_dashboard_is_a_conflict_and_force_warns():
    live = stored(with_marker(GENERATED, project="us")[0])
    dynamic = Live(live.dashboard, 4, "celery", "user:alice", "2026-01-02T00:00:00Z", stored_version="v2")
    step = plan_dashboard(GENERATED, dynamic, "celery", project="us")
    assert step.action == CONFLICT
    assert step.reason.startswith("saved in Grafana as a dynamic dashboard (schema v2) by user:alice at "
                                  "2026-01-02T00:00:00Z since queuedash deployed it: not written")
    forced = plan_dashboard(GENERATED, dynamic, "celery", project="us", force=True)
    assert forced.action == UPDATED and forced.base_version == 4
    assert forced.warning.endswith("its v2 layout is lost")


def test_leftovers_of_another_project_are_not_listed_and_unclaimed_ones_not_deleted():
    theirs = stored(with_marker({**GENERATED, "uid": "x"}, project="them")[0])
    assert plan_leftover("x", theirs, prune=True, project="us", force=True) is None
    unclaimed = deployed({**GENERATED, "uid": "y"})
    step = plan_leftover("y", unclaimed, prune=True, project="us")
    assert step.action == STALE and "did not record its project" in step.reason
    assert plan_leftover("y", unclaimed, prune=True, project="us", force=True).action == DELETED
