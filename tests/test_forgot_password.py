""" "Forgot your password?" on the sign-in page: only with mail set up, one answer whether
or not the address has an account, the link mailed (through the outbox, to a real SMTP
server) only to an active account, and limited like sign-in."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from flagpal_dash.core import outbox, password_resets
from flagpal_dash.extensions import db
from flagpal_dash.models import AuditEvent, OutgoingMail, PasswordReset, utcnow

from .mail_server import MailServer
from .support import PASSWORD, add_user, page, snapshot, text_of

NEW_PASSWORD = "remembered it at last"
ANSWER = (
    "If an account exists for that address, we've sent it a link to choose a new password. "
    "The link works for 1 hour."
)


@pytest.fixture
def with_mail(app, mail_server):
    app.config.update(mail_server.settings())
    add_user("ada@example.com", "Ada Admin", admin=True)
    add_user("bea@example.com", "Bea Gone").active = False
    db.session.commit()
    return mail_server


def ask(app, email: str, address: str = "192.0.2.10"):
    """Ask for a link, from a browser with no cookies at ``address``."""
    return app.test_client().post(
        "/forgot-password", data={"email": email}, environ_base={"REMOTE_ADDR": address}
    )


def answer_after(app, response) -> tuple:
    """What the person sees: the status, where it sends them, and the page there."""
    landing = app.test_client().get(response.headers["Location"])
    return response.status_code, response.headers["Location"], landing.status_code


def flashed(client, response) -> list[str]:
    return [text_of(p) for p in page(client.get(response.headers["Location"])).select(".flash")]


def resets() -> int:
    return db.session.scalar(select(func.count()).select_from(PasswordReset))


def delivered(mail_server: MailServer) -> list:
    """The messages the server got once the delivery thread's work has run: the page
    only queues the mail (core/outbox.py)."""
    outbox.send_due(utcnow())
    return mail_server.messages


def test_without_mail_the_sign_in_page_says_to_ask_an_admin(app, client):
    add_user("ada@example.com", "Ada Admin", admin=True)
    db.session.commit()

    html = page(client.get("/sign-in"))

    assert html.find("a", href="/forgot-password") is None
    assert text_of(html.find(class_="forgot-password")) == (
        "Forgot your password? Ask an instance admin for a password reset link."
    )
    forgot = client.get("/forgot-password")
    assert forgot.status_code == 200
    assert page(forgot).find("form") is None
    assert "Ask an instance admin" in text_of(page(forgot).find(class_="ask-an-admin"))
    before = snapshot()
    assert client.post("/forgot-password", data={"email": "ada@example.com"}).status_code == 404
    assert snapshot() == before


def test_with_mail_the_sign_in_page_links_to_it(app, client, with_mail):
    html = page(client.get("/sign-in"))
    link = html.find("a", href="/forgot-password")
    assert text_of(link) == "Forgot your password?"
    form = page(client.get("/forgot-password")).find("form")
    assert [field["name"] for field in form.select("input:not([type=hidden])")] == ["email"]


def test_one_answer_for_an_account_and_for_no_account_and_one_mail(app, with_mail):
    client = app.test_client()
    existing = client.post("/forgot-password", data={"email": "ada@example.com"})
    existing_flash = flashed(client, existing)
    missing = client.post("/forgot-password", data={"email": "nobody@example.com"})
    missing_flash = flashed(client, missing)

    assert answer_after(app, existing) == answer_after(app, missing) == (302, "/sign-in", 200)
    assert existing_flash == missing_flash == [ANSWER]
    assert with_mail.messages == [], "queued, not sent by the request"
    [message] = delivered(with_mail)
    assert with_mail.recipients == [["ada@example.com"]], "mailed to the account only"
    assert message["To"] == "ada@example.com"
    assert message["Subject"] == "Choose a new FlagPal Dash password"
    [link] = [word for word in message.get_content().split() if "/password-reset/" in word]
    assert link.startswith("http://localhost/password-reset/")
    assert resets() == 1
    [created] = db.session.scalars(
        select(AuditEvent).where(AuditEvent.kind == "account.password_reset_link_created")
    )
    assert (created.actor, created.target) == ("anonymous", "Ada Admin <ada@example.com>")

    reset = app.test_client()
    path = link.removeprefix("http://localhost")
    chosen = reset.post(path, data={"password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD})
    assert chosen.status_code == 302
    signed_in = app.test_client().post(
        "/sign-in", data={"email": "ada@example.com", "password": NEW_PASSWORD}
    )
    assert signed_in.status_code == 302
    old = app.test_client().post(
        "/sign-in", data={"email": "ada@example.com", "password": PASSWORD}
    )
    assert old.status_code == 422


def test_a_deactivated_account_gets_the_same_answer_and_no_mail(app, with_mail):
    client = app.test_client()
    response = client.post("/forgot-password", data={"email": "bea@example.com"})

    assert answer_after(app, response) == (302, "/sign-in", 200)
    assert flashed(client, response) == [ANSWER]
    assert delivered(with_mail) == []
    assert db.session.scalar(select(OutgoingMail)) is None
    assert resets() == 0


def test_a_mistyped_address_is_sent_back(app, with_mail):
    response = app.test_client().post("/forgot-password", data={"email": "not an address"})
    assert response.status_code == 422
    assert page(response).select("#email-errors li")
    assert delivered(with_mail) == []


@pytest.fixture
def small_limits(app):
    app.config.update(SIGN_IN_LIMIT="3 per 5 minutes", SIGN_IN_ACCOUNT_LIMIT="3 per 15 minutes")


def test_asking_is_limited_per_client_address(app, with_mail, small_limits):
    for email in ["ada@example.com", "nobody@example.com", "else@example.com"]:
        assert ask(app, email).status_code == 302

    refused = ask(app, "ada@example.com")

    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert text_of(page(refused).find(attrs={"data-error-message": True})).startswith(
        "Too many requests for a password reset link from here or for this account. Wait "
    )
    assert len(delivered(with_mail)) == 1
    assert ask(app, "ada@example.com", address="198.51.100.20").status_code == 302


def test_asking_is_limited_per_address_asked_for(app, with_mail, small_limits):
    for client_address in ["192.0.2.1", "192.0.2.2", "192.0.2.3"]:
        assert ask(app, "ada@example.com", client_address).status_code == 302

    assert ask(app, "ada@example.com", "192.0.2.4").status_code == 429
    assert len(delivered(with_mail)) == 3, "no more mail to one mailbox"
    assert ask(app, "nobody@example.com", "192.0.2.4").status_code == 302


def test_the_sign_in_limit_is_not_spent_by_asking(app, with_mail, small_limits):
    for _ in range(3):
        assert ask(app, "ada@example.com").status_code == 302
    signed_in = app.test_client().post(
        "/sign-in",
        data={"email": "ada@example.com", "password": PASSWORD},
        environ_base={"REMOTE_ADDR": "192.0.2.10"},
    )
    assert signed_in.status_code == 302


def test_signed_in_people_are_sent_on(app, client, with_mail, sign_in):
    client.post("/sign-in", data={"email": "ada@example.com", "password": PASSWORD})
    assert client.get("/forgot-password").status_code == 302


def test_the_request_never_talks_to_smtp_and_the_outbox_holds_no_secret(app, with_mail):
    """With the SMTP server down, asking for an account answers exactly as asking for no
    account (what made the two differ in time was the mail sent during the request),
    and the mail waits in the outbox without its link: the link's secret is made when
    the mail is sent."""
    with_mail.stop()
    client = app.test_client()
    existing = client.post("/forgot-password", data={"email": "ada@example.com"})
    existing_flash = flashed(client, existing)
    missing = client.post("/forgot-password", data={"email": "nobody@example.com"})

    assert answer_after(app, existing) == answer_after(app, missing) == (302, "/sign-in", 200)
    assert existing_flash == flashed(client, missing) == [ANSWER]
    [queued] = db.session.scalars(select(OutgoingMail))
    assert (queued.to, queued.status, queued.attempts) == ("ada@example.com", "waiting", 0)
    assert password_resets.LINK_MARK in queued.body
    assert "/password-reset/" not in queued.body
    assert outbox.send_due(utcnow()) == 0, "SMTP is down: kept for a later attempt"
    db.session.expire_all()
    assert (queued.status, queued.attempts) == ("waiting", 1)
    assert "/password-reset/" not in queued.body and queued.last_error

    with MailServer() as back:
        app.config.update(back.settings())
        assert outbox.send_due(queued.next_attempt_at) == 1
        [message] = back.messages
    assert message["To"] == "ada@example.com"
    [link] = [word for word in message.get_content().split() if "/password-reset/" in word]
    db.session.expire_all()
    assert "/password-reset/" not in db.session.get(OutgoingMail, queued.id).body
    chosen = app.test_client().post(
        link.removeprefix("http://localhost"),
        data={"password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD},
    )
    assert chosen.status_code == 302, "the mailed link works"


def test_a_queued_link_that_lapsed_before_it_was_sent_is_not_sent(app, with_mail):
    assert ask(app, "ada@example.com").status_code == 302
    later = utcnow() + PasswordReset.LIFETIME + timedelta(minutes=1)

    assert outbox.send_due(later) == 0

    assert with_mail.messages == []
    [queued] = db.session.scalars(select(OutgoingMail))
    assert (queued.status, queued.last_error) == ("given up", outbox.LINK_GONE)
