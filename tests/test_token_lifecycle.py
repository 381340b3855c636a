"""The token lifecycle (core/tokens.py): its Python and SQL spellings give the same
answer for every state and at every boundary, on the database the tests run on."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from flagpal_dash.core import tokens
from flagpal_dash.core.tokens import EXPIRES_SOON, TokenState
from flagpal_dash.extensions import db
from flagpal_dash.models import ApiToken, utcnow

from .support import issue_token

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
TICK = timedelta(microseconds=1)
SOON = NOW + EXPIRES_SOON

# Each case's columns and the state it is in at NOW.
CASES = [
    ({"expires_at": None}, TokenState.ACTIVE),
    ({"expires_at": NOW + timedelta(days=30)}, TokenState.ACTIVE),
    ({"expires_at": SOON + TICK}, TokenState.ACTIVE),
    ({"expires_at": SOON}, TokenState.EXPIRING),
    ({"expires_at": NOW + TICK}, TokenState.EXPIRING),
    ({"expires_at": NOW + timedelta(seconds=1)}, TokenState.EXPIRING),
    ({"expires_at": NOW}, TokenState.EXPIRED),  # expired at that very moment
    ({"expires_at": NOW - TICK}, TokenState.EXPIRED),
    ({"rotated_at": NOW - timedelta(hours=1), "expires_at": NOW + TICK}, TokenState.ROTATED),
    ({"rotated_at": NOW - timedelta(hours=1), "expires_at": SOON + TICK}, TokenState.ROTATED),
    ({"rotated_at": NOW - timedelta(hours=1), "expires_at": None}, TokenState.ROTATED),
    ({"rotated_at": NOW - timedelta(hours=1), "expires_at": NOW}, TokenState.EXPIRED),
    ({"revoked_at": NOW + timedelta(days=1)}, TokenState.REVOKED),
    ({"revoked_at": NOW, "expires_at": NOW - timedelta(days=1)}, TokenState.REVOKED),
    ({"revoked_at": NOW, "expires_at": NOW + timedelta(days=1)}, TokenState.REVOKED),
    ({"revoked_at": NOW, "rotated_at": NOW, "expires_at": SOON}, TokenState.REVOKED),
]


def cases_in_the_database(project) -> dict[int, TokenState]:
    """Each case as a token of ``project``: its id and the state it should be in."""
    expected = {}
    for n, (fields, state) in enumerate(CASES):
        token, _ = issue_token(project, f"Case {n}", **fields)
        expected[token.id] = state
    db.session.expire_all()
    return expected


def every_token() -> list[ApiToken]:
    return list(db.session.scalars(select(ApiToken)))


def ids_where(condition) -> set[int]:
    return set(db.session.scalars(select(ApiToken.id).where(condition)))


def test_each_case_is_in_the_state_the_table_says(app, team):
    expected = cases_in_the_database(team.project)
    in_python = {token.id: tokens.state(token, NOW) for token in every_token()}
    assert in_python == expected


def test_state_in_sql_is_the_state_in_python(app, team):
    expected = cases_in_the_database(team.project)
    in_sql = dict(db.session.execute(select(ApiToken.id, tokens.state_expression(NOW))).all())
    assert in_sql == {token_id: state.value for token_id, state in expected.items()}


def test_status_in_sql_is_the_status_in_python(app, team):
    expected = cases_in_the_database(team.project)
    in_sql = dict(db.session.execute(select(ApiToken.id, tokens.status_expression(NOW))).all())
    in_python = {token.id: tokens.status(token, NOW) for token in every_token()}
    assert in_sql == in_python == {token_id: state.status for token_id, state in expected.items()}
    assert set(in_python.values()) == {TokenState.ACTIVE, TokenState.EXPIRED, TokenState.REVOKED}


def test_active_in_sql_is_active_in_python(app, team):
    expected = cases_in_the_database(team.project)
    working = {token_id for token_id, state in expected.items() if state.works}
    assert ids_where(tokens.is_active_sql(NOW)) == working
    assert {t.id for t in every_token() if tokens.is_active(t, NOW)} == working
    # The two ranges the list counts apart never overlap and together are the active ones.
    first, second = (ids_where(condition) for condition in tokens.active_ranges(NOW))
    assert not first & second and first | second == working


def test_expiring_in_sql_is_the_expiring_state(app, team):
    expected = cases_in_the_database(team.project)
    expiring = {token_id for token_id, state in expected.items() if state is TokenState.EXPIRING}
    assert expiring, "the table has expiring tokens"
    assert ids_where(tokens.expiring_sql(NOW)) == expiring
    assert {token.id for token in tokens.expiring(NOW, project=team.project)} == expiring


def test_stopped_is_why_a_token_no_longer_works(app, team):
    expected = cases_in_the_database(team.project)
    for token in every_token():
        state = expected[token.id]
        assert tokens.stopped(token, NOW) == (None if state.works else state)


# The name rule lives in issue(): every front door gets it without checking first.


def test_issue_refuses_a_name_an_active_token_has(app, team):
    issue_token(team.project, "Shop backend")
    with pytest.raises(tokens.NameTaken) as taken:
        tokens.issue(team.project, "SHOP Backend", frozenset({"read"}), None, actor=None, now=NOW)
    assert str(taken.value) == (
        'An active token is already named "SHOP Backend". Choose another name, '
        "or revoke the old token first."
    )
    assert [token.name for token in every_token()] == ["Shop backend"]


@pytest.mark.parametrize(
    "fields", [{"revoked_at": NOW - TICK}, {"expires_at": NOW}], ids=["revoked", "expired"]
)
def test_a_name_is_free_again_once_its_token_stops(app, team, fields):
    issue_token(team.project, "Shop backend", **fields)
    tokens.issue(team.project, "Shop backend", frozenset({"read"}), None, actor=None, now=NOW)
    issue_token(team.other_project, "Shop backend")  # another project's names are its own


def test_a_rotation_replacement_keeps_its_old_tokens_name(app, team):
    old, _ = issue_token(team.project, "Shop backend")
    new, _ = tokens.rotate(old, timedelta(hours=1), None, actor=None, now=utcnow())
    assert new.name == old.name and tokens.state(old, utcnow()) is TokenState.ROTATED
