"""The leak report endpoint takes personal access tokens too: each reported one that
still works is revoked, recorded and its person mailed (through the outbox, to a real
SMTP server), with the report's answer byte for byte the same as ever."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from flagpal_dash import token_format
from flagpal_dash.api.leak_reports import ACCEPTED as ACCEPTED_BODY
from flagpal_dash.core import outbox, personal_tokens
from flagpal_dash.extensions import db
from flagpal_dash.models import AuditEvent, OutgoingMail, PersonalToken, utcnow

from .support import issue_token, snapshot
from .test_leak_reports import FOUND_AT, github_alert, report


@pytest.fixture
def mailing(app, mail_server):
    app.config.update(mail_server.settings())
    return mail_server


def personal(user, name="Release script"):
    token, value = personal_tokens.issue(user, name, utcnow() + timedelta(days=30), now=utcnow())
    db.session.commit()
    return token, value


def fresh(token) -> PersonalToken:
    db.session.expire_all()
    return db.session.get(PersonalToken, token.id)


def test_a_reported_personal_token_is_revoked_and_its_person_mailed(client, team, mailing):
    token, value = personal(team.developer)
    leaked = f"{FOUND_AT}?key={value}"

    response = report(client, [github_alert(value, url=leaked)])

    assert response.status_code == 202
    assert response.data == ACCEPTED_BODY
    revoked = fresh(token)
    assert revoked.revoked_at is not None
    assert revoked.revoked_reason == f"reported as leaked (found at {FOUND_AT}?key=flagpal_…)"
    assert personal_tokens.authenticate(value, utcnow()) is None
    [event] = db.session.scalars(
        select(AuditEvent).where(AuditEvent.kind == "personal_token.revoked")
    )
    assert (event.actor, event.project_id) == ("leak report", None)
    assert value not in str(event.details)

    [queued] = db.session.scalars(select(OutgoingMail))
    assert queued.to == "dev@example.com"
    assert outbox.send_due(utcnow()) == 1
    [message] = mailing.messages
    assert message["Subject"] == (
        "Your FlagPal personal access token “Release script” was found in public and revoked"
    )
    body = message.get_content().replace("\r\n", "\n")
    assert body.startswith("Hello Dana Developer,\n")
    assert f"“Release script” (flagpal_pat_…{value[-4:]}). It was never used." in body
    assert f"\nWhere it was found: {FOUND_AT}?key=flagpal_…\n" in body
    assert "http://localhost/account\n" in body
    assert value not in body and value[12:] not in body


def test_the_answer_is_the_same_whatever_kind_matched_or_not(client, team):
    _, project_value = issue_token(team.project)
    _, personal_value = personal(team.developer)
    unknown_personal = token_format.generate_personal()
    answers = [
        report(client, [body]).data
        for body in [project_value, personal_value, unknown_personal, personal_value, "nothing"]
    ]
    assert answers == [ACCEPTED_BODY] * 5


def test_a_mixed_report_revokes_both_kinds_and_a_stopped_token_changes_nothing(client, team):
    project_token, project_value = issue_token(team.project)
    token, value = personal(team.developer)
    expired, expired_value = personal(team.owner, "Old")
    expired.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    before_expired = [row for row in snapshot()["personal_tokens"] if row[0] == expired.id]

    assert report(client, [project_value, value, expired_value]).status_code == 202

    assert fresh(token).revoked_at is not None
    db.session.expire_all()
    assert db.session.get(type(project_token), project_token.id).revoked_at is not None
    assert [row for row in snapshot()["personal_tokens"] if row[0] == expired.id] == before_expired
    kinds = sorted(
        db.session.scalars(select(AuditEvent.kind).where(AuditEvent.actor == "leak report"))
    )
    assert kinds == ["personal_token.revoked", "token.revoked_as_leaked"]


def test_a_deactivated_persons_token_is_refused_already_and_mails_nobody(client, team):
    token, value = personal(team.developer)
    team.developer.active = False
    db.session.commit()
    assert report(client, [value]).data == ACCEPTED_BODY
    # Still revoked (it would work again were the account reactivated), but no mail to
    # an account that cannot sign in.
    assert fresh(token).revoked_at is not None
    assert db.session.scalar(select(OutgoingMail)) is None


def test_a_personal_token_revoked_by_someone_else_meanwhile_is_left_to_them(app, team):
    """As for project tokens (core/leaks.py): a report whose UPDATE finds the token
    revoked already, by its person or another report, changes, records and mails
    nothing, though the token was active when this session read it."""
    token, _ = personal(team.developer)
    assert personal_tokens.is_active(token, utcnow()), "loaded, still active in this session"
    earlier = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
    with db.engine.begin() as other_process:
        other_process.execute(
            update(PersonalToken).where(PersonalToken.id == token.id).values(revoked_at=earlier)
        )
    assert personal_tokens.revoke_as_leaked(token, FOUND_AT, "content", None, utcnow()) is False
    db.session.commit()
    assert (fresh(token).revoked_at, fresh(token).revoked_reason) == (earlier, None)
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.actor == "leak report")) is None
    assert db.session.scalar(select(OutgoingMail)) is None
