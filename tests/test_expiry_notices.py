"""Expiry notices (core/notices.py, the expiry-warnings job): when an active token comes
within 14, 7 and 1 days of its expiry, its project's owners and developers get one mail
per project, through the outbox and a real SMTP server; each threshold once, whoever
runs the job again; viewers, deactivated accounts and people who turned it off on their
Account page get none. Two servers and a restart: test_expiry_notices_servers.py."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from flagpal_dash import dates
from flagpal_dash.core import jobs, outbox
from flagpal_dash.core import tokens as token_rules
from flagpal_dash.core.projects import add_member
from flagpal_dash.extensions import db
from flagpal_dash.models import ApiToken, AuditEvent, ExpiryNotice, User
from flagpal_dash.permissions import Role

from .support import issue_token, page, text_of

# Later than the tokens' creation (now): the notices are decided by the job's clock.
NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
DAILY = jobs.JobSettings()


@pytest.fixture
def mailing(app, mail_server):
    app.config.update(mail_server.settings())
    return mail_server


def run_job(now: datetime, *, force: bool = True) -> str:
    """The expiry-warnings job as of ``now``, then the outbox; the job's summary.
    Forced by default (several runs a day): the notices' rows, not the job's claim,
    are what keeps a notice from going twice."""
    outcome = jobs.run("expiry-warnings", now, DAILY, runner="test:1", force=force)
    assert outcome.ran and outcome.ok, outcome.summary
    outbox.send_due(now)
    return outcome.summary


def mails(server) -> list[tuple[str, str]]:
    """(to, subject) of each mail that arrived, in order."""
    return [(message["To"], message["Subject"]) for message in server.messages]


def bodies_to(server, address: str) -> list[str]:
    return [
        message.get_content().replace("\r\n", "\n")
        for message in server.messages
        if message["To"] == address
    ]


def noticed() -> set[tuple[str, int]]:
    """(token name, days) of every notice sent."""
    db.session.expire_all()
    query = select(ApiToken.name, ExpiryNotice.days).join(ApiToken)
    return {tuple(row) for row in db.session.execute(query)}


def test_each_threshold_is_mailed_once_as_the_clock_moves(team, mailing):
    issue_token(team.project, "Checkout", expires_at=NOW + 20 * DAY)
    owner, developer = team.owner.email, team.developer.email

    for moment, expected in [
        (NOW, []),
        (NOW + 6 * DAY, ["The FlagPal token “Checkout” in Shop expires in 14 days"]),
        (NOW + 7 * DAY, []),
        (NOW + 12 * DAY, []),
        (NOW + 13 * DAY, ["The FlagPal token “Checkout” in Shop expires in 7 days"]),
        (NOW + 18 * DAY, []),
        (NOW + 19 * DAY, ["The FlagPal token “Checkout” in Shop expires in 24 hours"]),
        (NOW + 19 * DAY + 12 * HOUR, []),
        (NOW + 20 * DAY, []),  # expired
        (NOW + 21 * DAY, []),
    ]:
        before = len(mailing.messages)
        run_job(moment)
        new = mailing.messages[before:]
        assert sorted(message["To"] for message in new) == (
            sorted([owner, developer]) if expected else []
        ), moment
        assert {message["Subject"] for message in new} == set(expected), moment

    assert noticed() == {("Checkout", 14), ("Checkout", 7), ("Checkout", 1)}


def test_a_token_gets_only_the_smallest_threshold_it_has_reached(team, mailing):
    issue_token(team.project, "Short", expires_at=NOW + 5 * DAY)

    assert run_job(NOW) == "noticed 1 expiring token (1 within 7 days); queued 2 mails"
    assert run_job(NOW + DAY) == "no token newly within 14, 7 or 1 days of its expiry"
    assert noticed() == {("Short", 7)}, "not also the 14-day notice"
    assert run_job(NOW + 4 * DAY + 12 * HOUR).startswith(
        "noticed 1 expiring token (1 within 1 day)"
    )
    assert noticed() == {("Short", 7), ("Short", 1)}
    assert [subject for _, subject in mails(mailing)] == [
        "The FlagPal token “Short” in Shop expires in 5 days"
    ] * 2 + ["The FlagPal token “Short” in Shop expires in 12 hours"] * 2


def test_stopped_rotated_and_never_expiring_tokens_are_left_out(team, mailing):
    soon = NOW + 3 * DAY
    issue_token(team.project, "Revoked", expires_at=soon, revoked_at=NOW - DAY)
    issue_token(team.project, "Expired", expires_at=NOW - HOUR)
    issue_token(team.project, "Forever")
    old, _ = issue_token(team.project, "Rotated", expires_at=NOW + 30 * DAY)
    # Rotated with a grace period that ends within the thresholds: it stops on purpose.
    grace = NOW + 2 * DAY - old.created_at
    token_rules.rotate(old, grace, None, actor=None, now=old.created_at)
    db.session.commit()
    assert token_rules.state(old, NOW) == token_rules.TokenState.ROTATED

    assert run_job(NOW) == "no token newly within 14, 7 or 1 days of its expiry"
    assert mailing.messages == []
    assert noticed() == set()


def test_one_mail_per_project_per_person_lists_its_tokens(team, mailing):
    checkout, checkout_value = issue_token(
        team.project, "Checkout", expires_at=NOW + 3 * DAY, abilities=frozenset({"read", "write"})
    )
    issue_token(team.project, "Reports", expires_at=NOW + 10 * DAY, abilities=frozenset({"*"}))
    issue_token(team.project, "Search", expires_at=NOW + 20 * HOUR)
    issue_token(team.other_project, "Other app", expires_at=NOW + 2 * DAY)

    assert run_job(NOW) == (
        "noticed 4 expiring tokens (1 within 14 days, 2 within 7 days, 1 within 1 day); "
        "queued 3 mails"
    )

    assert sorted(mails(mailing)) == [
        ("dev@example.com", "3 FlagPal tokens in Shop expire soon"),
        ("olivia@example.com", "3 FlagPal tokens in Shop expire soon"),
        ("otto@example.com", "The FlagPal token “Other app” in Other expires in 2 days"),
    ], "the viewer gets none"
    [body] = bodies_to(mailing, team.owner.email)
    listed = re.findall(r"^- “(.+?)” \((flagpal_…\w{4})\), (.+)$", body, re.MULTILINE)
    assert [(name, abilities) for name, _, abilities in listed] == [
        ("Search", "Read"),
        ("Checkout", "Read, Write"),
        ("Reports", "Full access"),
    ], "soonest first, abilities as the list shows them"
    assert listed[1][1] == f"flagpal_…{checkout_value[-4:]}"
    assert f"stops working in 3 days: {dates.exact(checkout.expires_at)}" in body
    assert checkout_value not in body
    assert body.startswith("Hello Olivia Owner,")
    assert "because you are an owner of Shop" in body
    [developer_body] = bodies_to(mailing, team.developer.email)
    assert "because you are a developer of Shop" in developer_body


def test_the_mail_links_to_the_tokens_page_where_rotate_is(team, mailing, client, sign_in):
    token, _ = issue_token(team.project, "Checkout", expires_at=NOW + 3 * DAY)
    run_job(NOW)
    [body] = bodies_to(mailing, team.owner.email)

    links = re.findall(r"^(https?://\S+)$", body, re.MULTILINE)
    assert links == ["http://localhost/projects/shop/tokens", "http://localhost/account"]
    sign_in(team.owner)
    response = client.get(links[0].removeprefix("http://localhost"))
    assert response.status_code == 200
    row = page(response).find("tr", id=f"token-{token.id}")
    assert row is not None, "the token is on the page the mail links to"
    rotate = [link for link in row.find_all("a") if link["href"].endswith(f"/{token.id}/rotate")]
    assert [text_of(link) for link in rotate] == ["Rotate Checkout"]


def test_people_who_turned_it_off_or_were_deactivated_are_not_mailed(team, mailing):
    team.developer.expiry_mail = False
    second_owner = User(
        email="oscar@example.com", name="Oscar Owner", password_hash="x", active=False
    )
    db.session.add(second_owner)
    add_member(team.project, second_owner, Role.OWNER, actor=None)
    db.session.commit()
    issue_token(team.project, "Checkout", expires_at=NOW + 3 * DAY)

    run_job(NOW)

    assert [to for to, _ in mails(mailing)] == [team.owner.email]


def test_running_the_job_again_sends_nothing_new(team, mailing):
    issue_token(team.project, "Checkout", expires_at=NOW + 3 * DAY)
    run_job(NOW, force=False)
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.kind == "token.expiring"))
    assert len(list(events)) == 1

    assert run_job(NOW) == "no token newly within 14, 7 or 1 days of its expiry"
    assert run_job(NOW + HOUR).startswith("no token")

    assert len(mailing.messages) == 2, "the owner's and the developer's, once"
    db.session.expire_all()
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.kind == "token.expiring"))
    assert len(list(events)) == 1


def test_without_mail_the_notices_wait_in_the_outbox(team, app, mail_server):
    issue_token(team.project, "Checkout", expires_at=NOW + 3 * DAY)
    run_job(NOW)  # mail not configured: queued, not sent
    assert outbox.waiting() == 2

    app.config.update(mail_server.settings())
    assert outbox.send_due(NOW + HOUR) == 2
    assert len(mail_server.messages) == 2


# The Account page ---------------------------------------------------------------------


def expiry_box(response):
    return page(response).find("input", attrs={"name": "expiry_mail"})


def test_the_account_page_turns_expiry_mail_off_and_on(team, client, sign_in):
    sign_in(team.developer)
    response = client.get("/account")
    assert response.status_code == 200
    box = expiry_box(response)
    assert box["type"] == "checkbox" and box.has_attr("checked")
    label = page(response).find("label", attrs={"for": box["id"]})
    assert text_of(label) == "Email me before my projects' tokens expire"

    response = client.post("/account/expiry-mail", data={})  # the box unticked
    assert response.status_code == 302
    assert response.headers["Location"] == "/account#notices-heading"
    response = client.get("/account")
    assert not expiry_box(response).has_attr("checked")
    assert "no longer be mailed" in text_of(page(response).find(class_="flash-success"))
    db.session.expire_all()
    assert db.session.get(User, team.developer.id).expiry_mail is False
    assert db.session.get(User, team.owner.id).expiry_mail is True, "only their own"

    response = client.post("/account/expiry-mail", data={"expiry_mail": "y"})
    assert response.status_code == 302
    assert expiry_box(client.get("/account")).has_attr("checked")
    db.session.expire_all()
    assert db.session.get(User, team.developer.id).expiry_mail is True
