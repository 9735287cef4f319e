"""Dashboard uids: valid and distinct for distinct identities (stable: pinned in test_dashboards.py
and test_queues.py, and by the golden files)."""

import re

from hypothesis import given
from hypothesis import strategies as st

from queuedash.identity import make_uid

UID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


@given(st.text(min_size=1, max_size=200))
def test_every_identity_gives_a_grafana_uid(identity):
    assert UID.match(make_uid(identity))


@given(st.text(min_size=1, max_size=120), st.text(min_size=1, max_size=120))
def test_distinct_identities_give_distinct_uids(a, b):
    if a != b:
        assert make_uid(a) != make_uid(b)


def test_clean_identities_are_their_own_uid():
    assert make_uid("queuedash-tasks") == "queuedash-tasks"


def test_folded_characters_do_not_collide():
    assert make_uid("queue-a.b") != make_uid("queue-a_b")
    assert make_uid("x" * 41) != make_uid("x" * 42)
