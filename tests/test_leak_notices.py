"""Leak notices (core/leak_notices.py): a leak report that revokes a token queues a mail to
each active owner of its project at once (developers and viewers get none), in the
revoke's transaction; run through the outbox, it arrives at a real SMTP server naming
the token and where it was found, never its value. The report's answer is unchanged."""

import json
import time
import urllib.request

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from flagpal_dash.api.leak_reports import ACCEPTED as ACCEPTED_BODY
from flagpal_dash.core import leak_notices, outbox
from flagpal_dash.core.projects import add_member
from flagpal_dash.extensions import db
from flagpal_dash.models import OutgoingMail, utcnow
from flagpal_dash.permissions import Role

from .serving import instance_environment, serve
from .support import add_user, issue_token
from .test_leak_reports import FOUND_AT, github_alert, report, unknown_token
from .test_leak_reports import URL as LEAK_URL

# Sent by the server's delivery thread, woken by the report's commit; generous for a
# busy machine, and still far below the outbox's first retry (a minute).
ARRIVES_WITHIN = 15


@pytest.fixture
def mailing(app, mail_server):
    app.config.update(mail_server.settings())
    return mail_server


def waiting_mails() -> list[OutgoingMail]:
    db.session.expire_all()
    return list(db.session.scalars(select(OutgoingMail).order_by(OutgoingMail.id)))


def test_a_leak_report_mails_the_projects_owners(client, team, mailing):
    second_owner = add_user("owen@example.com", "Owen Owner")
    gone = add_user("old@example.com", "Old Owner")
    gone.active = False
    add_member(team.project, second_owner, Role.OWNER, actor=None)
    add_member(team.project, gone, Role.OWNER, actor=None)
    db.session.commit()
    token, value = issue_token(team.project, "Shop backend", abilities=frozenset({"read", "write"}))

    response = report(client, [github_alert(value)])

    assert response.status_code == 202
    assert response.data == ACCEPTED_BODY, "the same answer as ever"
    queued = waiting_mails()
    assert sorted(row.to for row in queued) == ["olivia@example.com", "owen@example.com"]
    assert {row.status for row in queued} == {"waiting"}, "queued at once, not sent in the report"
    assert mailing.messages == []

    assert outbox.send_due(utcnow()) == 2

    assert sorted(message["To"] for message in mailing.messages) == [
        "olivia@example.com",
        "owen@example.com",
    ], "owners only: not the developer, the viewer, nor a deactivated owner"
    message = next(m for m in mailing.messages if m["To"] == "olivia@example.com")
    assert message["Subject"] == (
        "The FlagPal token “Shop backend” in Shop was found in public and revoked"
    )
    body = message.get_content().replace("\r\n", "\n")
    assert body.startswith("Hello Olivia Owner,\n")
    assert f"“Shop backend” (token {token.id}, flagpal_…{value[-4:]})" in body
    assert "abilities: Read, Write. It was never used." in body
    assert f"\nWhere it was found: {FOUND_AT}\n" in body
    assert "The report also said: source: content; type: flagpal_api_token." in body
    assert "\n1. Make a new token" in body
    assert "http://localhost/projects/shop/tokens\n" in body
    assert value not in body and value[8:] not in body


def test_a_token_value_in_the_reported_address_never_reaches_the_mail(client, team, mailing):
    _, value = issue_token(team.project, "Shop backend")
    report(client, [github_alert(value, url=f"https://paste.example/raw?key={value}")])
    outbox.send_due(utcnow())

    [message] = mailing.messages
    body = message.get_content()
    assert "Where it was found: https://paste.example/raw?key=flagpal_…" in body
    assert value not in body and value[8:20] not in body
    assert value not in message["Subject"]


def test_nothing_is_mailed_when_nothing_is_revoked(client, team, mailing):
    token, value = issue_token(team.project, "Shop backend", revoked_at=utcnow())

    for body in ([value], [unknown_token()], [github_alert(value)]):
        response = report(client, body)
        assert (response.status_code, response.data) == (202, ACCEPTED_BODY)

    assert waiting_mails() == []


def test_a_token_reported_twice_mails_once(client, team, mailing):
    _, value = issue_token(team.project, "Shop backend")
    report(client, [value, github_alert(value)])
    report(client, [value])
    assert [row.to for row in waiting_mails()] == ["olivia@example.com"]


def test_a_report_that_fails_queues_no_mail(client, team, mailing, monkeypatch):
    """The revoke and its mail are one transaction: a database fault undoes both."""
    _, value = issue_token(team.project, "Shop backend")

    def broken(*args, **kwargs):
        raise OperationalError("INSERT INTO outgoing_mails", {}, Exception("disk I/O error"))

    monkeypatch.setattr(leak_notices.outbox, "queue", broken)
    assert report(client, [value]).status_code == 503
    monkeypatch.undo()

    assert waiting_mails() == []
    assert report(client, [value]).status_code == 202, "still good, so revoked now"
    assert len(waiting_mails()) == 1


def test_through_a_server_the_owners_mail_arrives_within_seconds(
    app, team, database_url, tmp_path, mail_server
):
    """A real gunicorn server with its delivery thread on (as production runs): the
    report is answered at once, and the owner's mail arrives without anyone running
    the outbox by hand."""
    token, value = issue_token(team.project, "Shop backend")
    env = instance_environment(
        database_url,
        tmp_path,
        DELIVERIES="on",
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=str(mail_server.port),
        MAIL_SECURITY="none",
        MAIL_FROM="flags@example.com",
    )
    server = serve(env, tmp_path / "server.log")
    try:
        answer = urllib.request.urlopen(
            urllib.request.Request(
                f"http://127.0.0.1:{server.port}{LEAK_URL}",
                data=json.dumps([github_alert(value)]).encode(),
                headers={"Content-Type": "application/json"},
            ),
            timeout=30,
        )
        assert (answer.status, answer.read()) == (202, ACCEPTED_BODY)
        deadline = time.monotonic() + ARRIVES_WITHIN
        while not mail_server.messages:
            assert time.monotonic() < deadline, "the leak notice did not arrive"
            time.sleep(0.1)
    finally:
        server.stop()
    assert [message["To"] for message in mail_server.messages] == [team.owner.email]
    assert "“Shop backend”" in mail_server.messages[0]["Subject"]
    assert value not in mail_server.messages[0].get_content()
