"""Personal access tokens' rules (core/personal_tokens.py): issuing, listing, revoking,
and deciding whether a presented value is good, with no request involved."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from flagpal_dash import token_format
from flagpal_dash.core import personal_tokens
from flagpal_dash.core.personal_tokens import Refusal, Refused
from flagpal_dash.extensions import db
from flagpal_dash.models import AuditEvent, PersonalToken
from flagpal_dash.validation import Invalid

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def issue(user, name="CI script", days=30, now=NOW):
    token, value = personal_tokens.issue(user, name, now + timedelta(days=days), now=now)
    db.session.commit()
    return token, value


def test_issue_stores_only_the_digest_and_a_hint_and_is_audited(team):
    token, value = issue(team.developer)
    assert token_format.is_well_formed_personal(value)
    row = db.session.scalar(select(PersonalToken))
    assert row.token_hash == token_format.digest(value)
    assert row.hint == value[-4:]
    assert value not in repr(db.session.execute(select(PersonalToken.__table__)).all()), (
        "the value is stored nowhere"
    )
    [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.kind.like("personal%")))
    assert event.kind == "personal_token.created"
    assert event.project_id is None
    assert event.actor == team.developer.label
    assert event.target == f"personal token {token.id} “CI script”"
    assert value not in str(event.details)


@pytest.mark.parametrize(
    ("name", "expires_at", "message"),
    [
        ("", NOW + timedelta(days=1), "Name is required."),
        ("x" * 101, NOW + timedelta(days=1), "Name must be at most 100 characters (it has 101)."),
        (
            "CI",
            None,
            "Choose when the token expires: personal access tokens always expire, within 365 days.",
        ),
        ("CI", NOW, "Choose an expiry in the future."),
        ("CI", NOW - timedelta(days=1), "Choose an expiry in the future."),
        (
            "CI",
            NOW + timedelta(days=365, seconds=1),
            "Personal access tokens can last at most 365 days.",
        ),
    ],
)
def test_issue_refuses_with_a_sentence(team, name, expires_at, message):
    with pytest.raises(Invalid) as refused:
        personal_tokens.issue(team.developer, name, expires_at, now=NOW)
    assert str(refused.value) == message
    db.session.rollback()
    assert db.session.scalar(select(PersonalToken)) is None


def test_a_year_to_the_second_is_allowed(team):
    token, _ = issue(team.developer, days=365)
    assert token.expires_at == NOW + timedelta(days=365)


def test_a_name_is_unique_among_the_persons_active_tokens_only(team):
    first, _ = issue(team.developer, "CI")
    with pytest.raises(personal_tokens.NameTaken) as taken:
        personal_tokens.issue(team.developer, "ci", NOW + timedelta(days=1), now=NOW)
    assert str(taken.value) == (
        'You already have an active token named "ci". Choose another name, or revoke '
        "the old token first."
    )
    db.session.rollback()
    issue(team.owner, "CI")  # another person's names are theirs
    personal_tokens.revoke(team.developer, first.id, actor=team.developer, now=NOW)
    db.session.commit()
    issue(team.developer, "CI")  # free again once revoked
    # and once expired
    later = NOW + timedelta(days=31)
    personal_tokens.issue(team.developer, "CI", later + timedelta(days=1), now=later)


def test_list_of_is_the_persons_tokens_newest_first(team):
    old, _ = issue(team.developer, "Old", now=NOW - timedelta(days=2))
    new, _ = issue(team.developer, "New")
    issue(team.owner, "Someone else's")
    assert personal_tokens.list_of(team.developer) == [new, old]


def test_revoke_is_for_the_persons_own_tokens_and_audited_once(team):
    token, _ = issue(team.developer)
    assert personal_tokens.revoke(team.owner, token.id, actor=team.owner, now=NOW) is None
    assert personal_tokens.revoke(team.developer, 2**40, actor=team.owner, now=NOW) is None
    assert personal_tokens.revoke(team.developer, token.id, actor=team.developer, now=NOW) == (
        token,
        True,
    )
    db.session.commit()
    assert personal_tokens.revoke(team.developer, token.id, actor=team.developer, now=NOW) == (
        token,
        False,
    )
    kinds = db.session.scalars(select(AuditEvent.kind).where(AuditEvent.kind.like("personal%")))
    assert sorted(kinds) == ["personal_token.created", "personal_token.revoked"]


def refusal(value, now=NOW):
    with pytest.raises(Refused) as refused:
        personal_tokens.checked(value, now)
    return refused.value.why


def test_checked_says_why_a_value_is_refused(team):
    token, value = issue(team.developer, days=1)
    assert personal_tokens.checked(value, NOW) == token
    assert refusal(token_format.generate()) is Refusal.MALFORMED
    assert refusal(value[:-1] + ("A" if value[-1] != "A" else "B")) is Refusal.MALFORMED
    assert refusal(token_format.generate_personal()) is Refusal.UNKNOWN
    assert refusal(value, NOW + timedelta(days=1)) is Refusal.EXPIRED
    team.developer.active = False
    db.session.commit()
    assert refusal(value) is Refusal.DEACTIVATED
    team.developer.active = True
    personal_tokens.revoke(team.developer, token.id, actor=team.developer, now=NOW)
    db.session.commit()
    assert refusal(value) is Refusal.REVOKED
    assert personal_tokens.authenticate(value, NOW) is None


def test_authenticate_records_use_at_most_once_a_minute(team):
    token, value = issue(team.developer)
    assert personal_tokens.authenticate(value, NOW) == token
    db.session.commit()
    assert token.last_used_at == NOW
    personal_tokens.authenticate(value, NOW + timedelta(seconds=59))
    db.session.commit()
    assert token.last_used_at == NOW
    personal_tokens.authenticate(value, NOW + timedelta(seconds=60))
    db.session.commit()
    assert token.last_used_at == NOW + timedelta(seconds=60)
