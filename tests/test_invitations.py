"""Project invitations: an owner invites an email address with a role; the one-time link
is shown once (and mailed when SMTP is set up), works for 7 days, can be revoked, and
joins the invitee, who signs in or creates an account on the page, to the project."""

import hashlib
import json
import smtplib
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import time_machine
from flask import current_app
from sqlalchemy import select

from flagpal_dash.core import invitations as invitation_rules
from flagpal_dash.core.accounts import create_user
from flagpal_dash.core.invitations import InvitationStatus
from flagpal_dash.core.projects import add_member, membership_of
from flagpal_dash.extensions import db
from flagpal_dash.members.joining import why_gone
from flagpal_dash.models import AuditEvent, Invitation, User, utcnow
from flagpal_dash.permissions import Role

from .support import HTMX, PASSWORD, page, text_of

NEW_PASSWORD = "a long new passphrase"
MAIL = {
    "MAIL_SERVER": "smtp.example.com",
    "MAIL_PORT": 2525,
    "MAIL_STARTTLS": True,
    "MAIL_USERNAME": "flagpal",
    "MAIL_PASSWORD": "smtp password",
    "MAIL_FROM": "dash@example.com",
}


# Reading pages and the database ------------------------------------------------------


def link_in(response) -> str:
    """The invitation link as the reveal shows it."""
    return page(response).find(id="invitation-link")["value"]


def secret_of(link: str) -> str:
    return urlsplit(link).path.removeprefix("/invitations/")


def field_errors(response) -> list[str]:
    return [text_of(li) for li in page(response).select(".field-errors li")]


def error_message(response) -> str:
    return text_of(page(response).find(attrs={"data-error-message": True}))


def sentence(element) -> str:
    """Running text as read, without the spaces ``text_of`` puts around inline tags."""
    return " ".join(element.get_text().split())


def accept_form(response):
    """The form on an invitation page (the header has a Sign out form when signed in)."""
    return page(response).select_one("main form")


def fields_of(form) -> list[str]:
    return [field["name"] for field in form.find_all("input") if field["type"] != "hidden"]


def choices(response) -> list[tuple[str, list[str], str]]:
    """The two forms of a signed-out invitation page: heading, fields, button."""
    return [
        (text_of(form.find("h2")), fields_of(form), text_of(form.find("button")))
        for form in page(response).select("main form")
    ]


def form_errors(response) -> list[str]:
    return [text_of(p) for p in page(response).select("main .form-errors p")]


BOTH_CHOICES = [
    ("I have an account: sign in to join", ["password"], "Sign in and join Shop"),
    (
        "I'm new: create my account",
        ["name", "password", "confirm_password"],
        "Create my account and join Shop",
    ),
]


def flash_messages(response) -> list[str]:
    return [text_of(p) for p in page(response).select("#flash .flash")]


def invitations() -> list[Invitation]:
    db.session.expire_all()
    return list(db.session.scalars(select(Invitation).order_by(Invitation.id)))


def invitation_for(email: str) -> Invitation:
    db.session.expire_all()
    return db.session.scalars(select(Invitation).where(Invitation.email == email)).one()


def status_now(invitation: Invitation) -> InvitationStatus:
    return invitation_rules.status(invitation, utcnow())


def events(kind: str) -> list[AuditEvent]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(AuditEvent).where(AuditEvent.kind == kind).order_by(AuditEvent.id)
        )
    )


def everything_stored() -> str:
    """Every row of every table as text, to search for something that must not be kept."""
    rows = []
    for table in db.metadata.sorted_tables:
        rows += [repr(tuple(row)) for row in db.session.execute(select(table))]
    return "\n".join(rows)


def role_in(project, email: str) -> Role | None:
    db.session.expire_all()
    user = User.by_email(email)
    membership = user and membership_of(user, project)
    return membership.role if membership else None


def pending_listed(response) -> list[str]:
    """The pending invitations an owner sees on the Members page, as read."""
    section = page(response).find(id="invitations")
    return [text_of(item.find("span")) for item in section.select("li")]


def signed_in_as(client) -> str | None:
    """Whose name the page header shows, or None when nobody is signed in."""
    who = page(client.get("/")).select_one(".account .who")
    return text_of(who) if who else None


# Fixtures ----------------------------------------------------------------------------


@pytest.fixture
def owner_client(app, team):
    """The owner of Shop, signed in on a client of their own."""
    client = app.test_client()
    response = client.post("/sign-in", data={"email": team.owner.email, "password": PASSWORD})
    assert response.status_code == 302
    return client


@pytest.fixture
def invite(owner_client):
    """Invite someone to Shop as its owner; returns the link's path."""

    def invite(email: str = "newbie@example.com", role: str = "developer") -> str:
        response = owner_client.post(
            "/projects/shop/invitations", data={"email": email, "role": role}
        )
        assert response.status_code == 201, response.text
        return urlsplit(link_in(response)).path

    return invite


class FakeSMTP:
    """Stands in for ``smtplib.SMTP`` and keeps what would have been sent."""

    sent: list = []
    connections: list = []
    fail_on: str | None = None

    def __init__(self, host, port, timeout=None):
        if self.fail_on == "connect":
            raise ConnectionRefusedError(111, "Connection refused")
        self.host, self.port, self.steps = host, port, []
        type(self).connections.append(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False

    def starttls(self, context=None):
        self.steps.append("starttls")

    def login(self, user, password):
        self.steps.append(("login", user, password))

    def send_message(self, message):
        if self.fail_on == "send":
            raise smtplib.SMTPRecipientsRefused({message["To"]: (550, b"No such user")})
        if self.fail_on == "unexpectedly":
            raise UnicodeEncodeError("ascii", "ü", 0, 1, "a mail library surprise")
        self.sent.append(message)


@pytest.fixture
def smtp(monkeypatch):
    fake = type("RecordingSMTP", (FakeSMTP,), {"sent": [], "connections": [], "fail_on": None})
    monkeypatch.setattr(smtplib, "SMTP", fake)
    return fake


# Who may invite ----------------------------------------------------------------------


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_an_owner_gets_the_invite_form(client, team, sign_in, htmx):
    sign_in(team.owner)
    response = client.get("/projects/shop/invitations/new", headers=HTMX if htmx else {})
    assert response.status_code == 200
    assert (page(response).find("html") is None) is htmx, "a fragment for htmx, else a page"
    assert text_of(page(response).find(id="dialog-title")) == "Invite someone to Shop"
    form = page(response).find("form", action="/projects/shop/invitations")
    assert form.find("input", attrs={"name": "email"})["type"] == "email"
    options = form.find("select", attrs={"name": "role"}).find_all("option")
    assert [option["value"] for option in options] == ["viewer", "developer", "owner"]
    assert form.find("option", selected=True)["value"] == "developer"
    hint = text_of(form.select_one(".hint"))
    assert hint == "You get a link to pass on. It works once, for 7 days."


def test_the_form_says_the_link_is_emailed_when_mail_is_set_up(app, client, team, sign_in):
    app.config.update(MAIL)
    sign_in(team.owner)
    response = client.get("/projects/shop/invitations/new")
    assert response.status_code == 200
    assert text_of(page(response).select_one("form .hint")) == (
        "The link is emailed to them, not shown to you. It works once, for 7 days."
    )


@pytest.mark.parametrize("role", ["viewer", "developer"])
def test_other_members_cannot_invite_or_revoke(client, team, sign_in, invite, role):
    invite("pending@example.com")
    pending = invitation_for("pending@example.com")
    sign_in(team.member(role))
    members = client.get("/projects/shop/members")
    assert members.status_code == 200
    assert page(members).find(id="invitations") is None
    assert "pending@example.com" not in members.text, "pending invitations are for owners"
    for response in [
        client.get("/projects/shop/invitations/new"),
        client.get("/projects/shop/invitations/new", headers=HTMX),
        client.post("/projects/shop/invitations", data={"email": "x@example.com", "role": "owner"}),
        client.post(f"/projects/shop/invitations/{pending.id}/revoke"),
    ]:
        assert response.status_code == 403
        assert error_message(response) == (
            f"Your role in Shop is {role.capitalize()}. Only owners can manage members, "
            "invitations and project policy. Nothing was changed. If you need to, ask the "
            "owner of Shop for another role: Olivia Owner."
        )
    assert [i.email for i in invitations()] == ["pending@example.com"]
    assert invitation_for("pending@example.com").revoked_at is None
    assert events("invitation.revoked") == []


def test_a_non_member_gets_404_for_everything(client, team, sign_in, invite):
    invite("pending@example.com")
    pending = invitation_for("pending@example.com")
    sign_in(team.outsider)
    for response in [
        client.get("/projects/shop/invitations/new"),
        client.post("/projects/shop/invitations", data={"email": "x@example.com", "role": "owner"}),
        client.post(f"/projects/shop/invitations/{pending.id}/revoke"),
    ]:
        assert response.status_code == 404
        assert "Shop" not in response.text
    assert [i.email for i in invitations()] == ["pending@example.com"]
    assert invitation_for("pending@example.com").revoked_at is None


def test_signed_out_people_are_sent_to_sign_in(client, team):
    response = client.post(
        "/projects/shop/invitations", data={"email": "x@example.com", "role": "owner"}
    )
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/sign-in"
    assert invitations() == []


# Creating an invitation: the link, shown once ----------------------------------------


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_creating_an_invitation_shows_its_link_once(client, team, sign_in, htmx, smtp):
    sign_in(team.owner)
    response = client.post(
        "/projects/shop/invitations",
        data={"email": "newbie@example.com", "role": "viewer"},
        headers=HTMX if htmx else {},
    )
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    assert (page(response).find("html") is None) is htmx
    link = link_in(response)
    assert link.startswith("http://localhost/invitations/")
    assert len(secret_of(link)) >= 43, "32 random bytes"
    warning = text_of(page(response).select_one(".warning"))
    assert "Pass this link on to newbie@example.com. It is shown only now." in warning
    assert "joins them as a viewer" in warning
    assert "emailed" not in warning, "no mail server, no mail"
    assert smtp.connections == []
    if htmx:
        # The pending list behind the dialog is updated out of band.
        listed = page(response).find(id="invitations")
        assert listed["hx-swap-oob"] == "true"
        assert pending_listed(response)[0].startswith("newbie@example.com as viewer")
    else:
        done = page(response).find("a", string="Done, back to Members")
        assert done["href"] == "/projects/shop/members"

    [invitation] = invitations()
    assert (invitation.email, invitation.role) == ("newbie@example.com", Role.VIEWER)
    assert invitation.created_by_id == team.owner.id
    assert invitation.expires_at - invitation.created_at == timedelta(days=7)
    assert invitation.secret_hash == hashlib.sha256(secret_of(link).encode()).hexdigest()
    stored = everything_stored()
    assert invitation.secret_hash in stored and "newbie@example.com" in stored
    assert secret_of(link) not in stored, "only the hash is kept"
    [event] = events("invitation.created")
    assert (event.target, event.details, event.actor_id) == (
        "newbie@example.com as viewer",
        {"role": "viewer"},
        team.owner.id,
    )


def test_the_link_is_never_shown_again(client, team, sign_in):
    team.owner.is_admin = True  # to see the instance's audit log too
    db.session.commit()
    sign_in(team.owner)
    form = {"email": "newbie@example.com", "role": "owner"}
    link = link_in(client.post("/projects/shop/invitations", data=form))
    secret = secret_of(link)
    resent = client.post("/projects/shop/invitations", data=form)  # reloading the reveal
    assert resent.status_code == 422
    assert page(resent).find(id="invitation-link") is None
    assert secret not in resent.text
    members = client.get("/projects/shop/members")
    assert members.status_code == 200
    [listed] = pending_listed(members)
    assert listed.startswith("newbie@example.com as owner, created"), "shown, not mailed"
    assert "by Olivia Owner" in listed
    for url in [
        "/projects/shop/members",
        "/projects/shop/invitations/new",
        "/projects/shop/audit",
        "/projects/shop",
        "/admin/audit",
    ]:
        response = client.get(url)
        assert response.status_code == 200, url
        assert secret not in response.text, url
    assert "newbie@example.com as owner" in text_of(page(client.get("/admin/audit")))


def test_two_invitations_get_different_links(invite):
    first, second = invite("a@example.com"), invite("b@example.com")
    assert first != second
    assert len({i.secret_hash for i in invitations()}) == 2


def test_the_invited_email_is_stored_normalized(client, team, sign_in):
    sign_in(team.owner)
    response = client.post(
        "/projects/shop/invitations", data={"email": "  Ann@Example.COM ", "role": "developer"}
    )
    assert response.status_code == 201
    assert [i.email for i in invitations()] == ["ann@example.com"]


# Mail --------------------------------------------------------------------------------


def test_the_link_is_mailed_when_mail_is_set_up(app, client, team, sign_in, smtp):
    app.config.update(MAIL)
    sign_in(team.owner)
    response = client.post(
        "/projects/shop/invitations",
        data={"email": "newbie@example.com", "role": "developer"},
        headers=HTMX,
    )
    assert response.status_code == 201
    assert text_of(page(response).find(id="dialog-title")) == "Invitation sent"
    assert text_of(page(response).select_one(".notice")).startswith(
        "The invitation was emailed to newbie@example.com."
    )
    assert page(response).find(id="invitation-link") is None, "only the mailbox has it"
    [connection] = smtp.connections
    assert (connection.host, connection.port) == ("smtp.example.com", 2525)
    assert connection.steps == ["starttls", ("login", "flagpal", "smtp password")]
    [message] = smtp.sent
    assert message["To"] == "newbie@example.com"
    assert message["From"] == "dash@example.com"
    assert message["Subject"] == "You are invited to Shop on FlagPal Dash"
    body = message.get_content()
    [link] = [word for word in body.split() if word.startswith("http://localhost/invitations/")]
    assert secret_of(link) not in response.text
    assert "Olivia Owner invited you to join Shop as a developer." in body
    assert "within 7 days" in body
    [invitation] = invitations()
    assert invitation.delivered_by_mail
    assert invitation.secret_hash == hashlib.sha256(secret_of(link).encode()).hexdigest()


@pytest.fixture
def three_day_invitations(monkeypatch):
    """Invitations that last 3 days; requested before ``app``, so the app is made with it."""
    monkeypatch.setattr(Invitation, "LIFETIME", timedelta(days=3))


def test_every_sentence_about_how_long_a_link_works_follows_the_lifetime(
    three_day_invitations, app, client, team, sign_in, smtp
):
    sign_in(team.owner)
    form = client.get("/projects/shop/invitations/new")
    assert form.status_code == 200
    assert text_of(page(form).select_one("form .hint")).endswith("It works once, for 3 days.")

    app.config.update(MAIL)
    created = client.post(
        "/projects/shop/invitations", data={"email": "newbie@example.com", "role": "viewer"}
    )
    assert created.status_code == 201, created.text
    [message] = smtp.sent
    assert "Open this link within 3 days to accept:" in message.get_content()
    [invitation] = invitations()
    assert invitation.expires_at - invitation.created_at == timedelta(days=3)

    [link] = [w for w in message.get_content().split() if w.startswith("http://localhost/")]
    with time_machine.travel(invitation.expires_at, tick=False):
        gone = client.get(urlsplit(link).path)
    assert gone.status_code == 410
    assert error_message(gone).startswith("This invitation has expired (invitations last 3 days).")


@pytest.mark.parametrize("status", ["accepted", "expired", "revoked"])
def test_every_gone_link_is_explained_in_full(three_day_invitations, status):
    """Both places that refuse a used-up link (on opening it, and again once the
    project is locked) word it the same, with the lifetime filled in."""
    explained = why_gone(InvitationStatus(status))
    assert explained.startswith("This invitation ") and "{" not in explained
    if status == "expired":
        assert "(invitations last 3 days)" in explained


def test_no_mail_is_attempted_without_a_mail_server(app, client, team, sign_in, smtp):
    assert not app.config.get("MAIL_SERVER")
    sign_in(team.owner)
    response = client.post(
        "/projects/shop/invitations", data={"email": "newbie@example.com", "role": "developer"}
    )
    assert response.status_code == 201
    assert smtp.connections == [] and smtp.sent == []
    warning = text_of(page(response).select_one(".warning"))
    assert "emailed" not in warning.lower() and "emailing" not in warning.lower()
    assert not invitations()[0].delivered_by_mail


@pytest.mark.parametrize("fail_on", ["connect", "send", "unexpectedly"])
def test_a_mail_failure_keeps_the_invitation_and_says_so(
    app, client, team, sign_in, smtp, fail_on, caplog
):
    app.config.update(MAIL)
    smtp.fail_on = fail_on
    sign_in(team.owner)
    response = client.post(
        "/projects/shop/invitations", data={"email": "newbie@example.com", "role": "developer"}
    )
    assert response.status_code == 201
    assert smtp.sent == []
    warning = text_of(page(response).select_one(".warning"))
    assert "Emailing it failed, so pass it on yourself." in warning
    assert "It was also emailed" not in warning
    assert "Could not send mail to newbie@example.com" in caplog.text
    [invitation] = invitations()
    assert not invitation.delivered_by_mail, "the owner saw the link"
    assert status_now(invitation).value == "pending"
    link = link_in(response)
    assert invitation.secret_hash == hashlib.sha256(secret_of(link).encode()).hexdigest()
    assert secret_of(link) not in caplog.text
    assert app.test_client().get(urlsplit(link).path).status_code == 200, "the link works"


# Bad input: 422, a message, nothing created ------------------------------------------


@pytest.mark.parametrize(
    "email, role, message",
    [
        ("not-an-email", "developer", "Enter an email address like name@example.com."),
        ("newbie@", "developer", "Enter an email address like name@example.com."),
        ("", "developer", "Email is required."),
        (
            "dev@example.com",
            "viewer",
            "dev@example.com is already a member of Shop, as developer. "
            "Change their role on this page instead.",
        ),
        (
            " Olivia@EXAMPLE.com",
            "owner",
            "olivia@example.com is already a member of Shop, as owner. "
            "Change their role on this page instead.",
        ),
        ("newbie@example.com", "admin", "Choose a role from the list."),
        ("newbie@example.com", "Owner", "Choose a role from the list."),
        ("newbie@example.com", "", "Choose a role from the list."),
    ],
)
@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_bad_input_is_refused_with_a_message(
    client, team, sign_in, smtp, app, email, role, message, htmx
):
    app.config.update(MAIL)
    sign_in(team.owner)
    response = client.post(
        "/projects/shop/invitations",
        data={"email": email, "role": role},
        headers=HTMX if htmx else {},
    )
    assert response.status_code == 422
    assert field_errors(response) == [message]
    assert page(response).find(id="invitation-link") is None
    assert page(response).find("form", action="/projects/shop/invitations") is not None
    assert invitations() == []
    assert events("invitation.created") == []
    assert smtp.connections == []


def test_a_form_without_fields_is_refused_not_a_crash(client, team, sign_in):
    """A missing role is not quietly taken as the default: the form always sends one."""
    sign_in(team.owner)
    response = client.post("/projects/shop/invitations", data={})
    assert response.status_code == 422
    assert field_errors(response) == ["Email is required.", "Choose a role from the list."]
    assert invitations() == []


def test_a_second_pending_invitation_for_the_same_address_is_refused(client, team, sign_in):
    sign_in(team.owner)
    first = client.post(
        "/projects/shop/invitations", data={"email": "newbie@example.com", "role": "viewer"}
    )
    assert first.status_code == 201
    again = client.post(
        "/projects/shop/invitations", data={"email": "NEWBIE@example.com", "role": "owner"}
    )
    assert again.status_code == 422
    assert field_errors(again) == [
        "newbie@example.com already has a pending invitation. Revoke it first to send a new one."
    ]
    assert [(i.email, i.role) for i in invitations()] == [("newbie@example.com", Role.VIEWER)]

    # Once revoked, a new one may be sent; the old link stays dead.
    client.post(f"/projects/shop/invitations/{invitation_for('newbie@example.com').id}/revoke")
    third = client.post(
        "/projects/shop/invitations", data={"email": "newbie@example.com", "role": "owner"}
    )
    assert third.status_code == 201
    assert client.get(urlsplit(link_in(first)).path).status_code == 410
    assert client.get(urlsplit(link_in(third)).path).status_code == 403, "signed in as owner"


def test_another_project_s_pending_invitation_does_not_block_this_one(
    app, client, team, sign_in, invite
):
    outsider = app.test_client()
    outsider.post("/sign-in", data={"email": team.outsider.email, "password": PASSWORD})
    response = outsider.post(
        "/projects/other/invitations", data={"email": "newbie@example.com", "role": "viewer"}
    )
    assert response.status_code == 201
    invite("newbie@example.com")
    assert sorted(i.project.slug for i in invitations()) == ["other", "shop"]


# Accepting ---------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["viewer", "developer", "owner"])
def test_a_new_person_creates_an_account_and_joins(client, team, invite, role):
    path = invite("newbie@example.com", role)
    response = client.get(path)
    assert response.status_code == 200
    assert text_of(page(response).find("h1")) == "Join Shop"
    assert sentence(page(response).select_one("main p")) == (
        f"Olivia Owner invited newbie@example.com to join as a {role}."
    )
    assert choices(response) == BOTH_CHOICES

    response = client.post(
        path,
        data={"name": "Nia Newbie", "password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/projects/shop"
    overview = client.get("/projects/shop")
    assert overview.status_code == 200
    assert flash_messages(overview) == [f"Welcome to Shop: you are a {role}."]
    assert signed_in_as(client) == "Nia Newbie"

    newbie = User.by_email("newbie@example.com")
    assert newbie.name == "Nia Newbie" and newbie.check_password(NEW_PASSWORD)
    assert not newbie.is_admin
    assert newbie.email_proven_at is None, "the owner saw the link: it proves nothing"
    assert role_in(team.project, "newbie@example.com") is Role(role)
    invitation = invitation_for("newbie@example.com")
    assert status_now(invitation).value == "accepted"
    assert invitation.accepted_by_id == newbie.id
    [event] = events("invitation.accepted")
    assert (event.target, event.actor, event.project_id) == (
        f"newbie@example.com as {role}",
        "Nia Newbie <newbie@example.com>",
        team.project.id,
    )
    assert events("member.added")[-1].target == "Nia Newbie <newbie@example.com>"
    assert secret_of(path) not in everything_stored()


@pytest.mark.parametrize(
    "data, messages",
    [
        (
            {"name": "", "password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD},
            ["Name is required."],
        ),
        (
            {"name": "Nia", "password": "short", "confirm_password": "short"},
            ["Use at least 10 characters for the password."],
        ),
        (
            {"name": "Nia", "password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD + "!"},
            ["The two passwords differ."],
        ),
    ],
)
def test_a_new_account_needs_a_name_and_a_good_password(client, team, invite, data, messages):
    path = invite()
    response = client.post(path, data=data)
    assert response.status_code == 422
    assert field_errors(response) == messages
    assert User.by_email("newbie@example.com") is None
    assert status_now(invitation_for("newbie@example.com")).value == "pending"
    assert signed_in_as(client) is None
    assert client.get(path).status_code == 200, "the link still works"


def test_an_account_made_a_moment_ago_by_another_invitation_asks_for_its_password(
    client, team, invite, monkeypatch
):
    """Two projects invited one address and both links were submitted at once: this
    request found no account when it began, but the other one made it first (the real
    race is in tests/reliability/test_concurrency.py). No 500 and no second account:
    the page says the account exists, and its password joins with the invitation."""
    path = invite("newbie@example.com", "developer")
    create_user(
        "newbie@example.com",
        "Nia Newbie",
        NEW_PASSWORD,
        by_themselves=True,
        actor=None,
        rounds=current_app.config["BCRYPT_ROUNDS"],
    )
    db.session.commit()
    real_by_email = User.by_email.__func__
    stale_reads = iter([None])  # the request's first look, before the other commit

    def by_email(cls, email):
        return next(stale_reads, real_by_email(cls, email))

    monkeypatch.setattr(User, "by_email", classmethod(by_email))
    data = {
        "name": "Nia Again",
        "password": "another passphrase",
        "confirm_password": "another passphrase",
    }
    response = client.post(path, data=data)
    monkeypatch.undo()

    assert response.status_code == 409
    assert form_errors(response) == [
        "An account for this address already exists: sign in with its password above, "
        "or ask an instance admin."
    ]
    assert choices(response) == BOTH_CHOICES
    assert [
        user.name
        for user in db.session.scalars(select(User).where(User.email == "newbie@example.com"))
    ] == ["Nia Newbie"]
    assert role_in(team.project, "newbie@example.com") is None
    assert status_now(invitation_for("newbie@example.com")).value == "pending"
    assert signed_in_as(client) is None

    response = client.post(path, data={"password": NEW_PASSWORD})
    assert response.status_code == 302
    assert role_in(team.project, "newbie@example.com") is Role.DEVELOPER


def test_an_existing_user_signs_in_on_the_page_to_join(client, team, invite):
    path = invite(team.outsider.email, "viewer")
    response = client.get(path)
    assert response.status_code == 200
    assert choices(response) == BOTH_CHOICES

    wrong = client.post(path, data={"password": "not the password"})
    assert wrong.status_code == 422
    assert field_errors(wrong) == ["That password does not match an account for otto@example.com."]
    assert role_in(team.project, team.outsider.email) is None
    assert status_now(invitation_for(team.outsider.email)).value == "pending"
    assert signed_in_as(client) is None

    response = client.post(path, data={"password": PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"] == "/projects/shop"
    assert role_in(team.project, team.outsider.email) is Role.VIEWER
    assert role_in(team.other_project, team.outsider.email) is Role.OWNER, "the rest stays"
    assert signed_in_as(client) == "Otto Outsider"
    [event] = events("invitation.accepted")
    assert event.actor_id == team.outsider.id


@pytest.mark.parametrize(
    ("password", "message"),
    [
        (PASSWORD, "This account is deactivated. Ask an admin to reactivate it."),
        # Only the right password earns the reason; a guess learns nothing more.
        ("a wrong guess", "That password does not match an account for otto@example.com."),
    ],
    ids=["right-password", "wrong-password"],
)
def test_a_deactivated_account_cannot_join(client, team, invite, password, message):
    path = invite(team.outsider.email, "viewer")
    team.outsider.active = False
    db.session.commit()
    response = client.post(path, data={"password": password})
    assert response.status_code == 422
    assert field_errors(response) == [message]
    assert role_in(team.project, team.outsider.email) is None
    assert status_now(invitation_for(team.outsider.email)).value == "pending"
    assert signed_in_as(client) is None


def test_signed_in_as_the_invited_account_one_button_joins(client, team, sign_in, invite):
    path = invite(team.outsider.email, "developer")
    sign_in(team.outsider)
    response = client.get(path)
    assert response.status_code == 200
    form = accept_form(response)
    assert [field for field in form.find_all("input") if field["type"] != "hidden"] == []
    assert text_of(form.find("button")) == "Join Shop"

    response = client.post(path)
    assert response.status_code == 302
    assert role_in(team.project, team.outsider.email) is Role.DEVELOPER
    assert flash_messages(client.get("/projects/shop")) == ["Welcome to Shop: you are a developer."]


@pytest.mark.parametrize("who", ["viewer", "outsider"])
def test_signed_in_as_another_account_is_refused(client, team, sign_in, invite, who):
    path = invite("newbie@example.com", "owner")
    sign_in(team.member(who))
    for response in [
        client.get(path),
        client.post(
            path,
            data={"name": "Nia", "password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD},
        ),
    ]:
        assert response.status_code == 403
        notice = text_of(page(response).select_one(".notice"))
        assert notice == (
            f"You are signed in as {team.member(who).email}. Sign out, then open this link "
            "again to accept as newbie@example.com."
        )
        assert accept_form(response) is None
    assert User.by_email("newbie@example.com") is None
    assert role_in(team.project, team.member(who).email) is (
        Role.VIEWER if who == "viewer" else None
    )
    assert status_now(invitation_for("newbie@example.com")).value == "pending"
    assert events("invitation.accepted") == []


def test_accepting_when_already_a_member_keeps_the_role(client, team, sign_in, invite):
    path = invite(team.outsider.email, "viewer")
    add_member(team.project, team.outsider, Role.DEVELOPER, actor=None)  # meanwhile, by other means
    db.session.commit()
    sign_in(team.outsider)
    response = client.post(path)
    assert response.status_code == 302
    assert flash_messages(client.get("/projects/shop")) == [
        "You were already a member of Shop; your role is unchanged."
    ]
    assert role_in(team.project, team.outsider.email) is Role.DEVELOPER
    assert status_now(invitation_for(team.outsider.email)).value == "accepted"


# Links that cannot be used -----------------------------------------------------------


def test_a_link_works_once(app, client, team, invite):
    path = invite()
    client.post(
        path, data={"name": "Nia", "password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}
    )
    assert role_in(team.project, "newbie@example.com") is Role.DEVELOPER
    for someone in [client, app.test_client()]:
        for response in [someone.get(path), someone.post(path, data={"password": NEW_PASSWORD})]:
            assert response.status_code == 410
            assert text_of(page(response).find("h1")) == "This link can no longer be used"
            assert error_message(response) == (
                "This invitation has already been used. Sign in to reach the project, or ask "
                "its owner for a new invitation."
            )
    assert len(events("invitation.accepted")) == 1
    assert len(events("member.added")) == 5, "four from the team, one from the link"


def test_a_link_expires_after_7_days(app, client, team, invite):
    path = invite(team.outsider.email)
    expires_at = invitation_for(team.outsider.email).expires_at

    with time_machine.travel(expires_at - timedelta(seconds=1), tick=False):
        assert client.get(path).status_code == 200

    with time_machine.travel(expires_at, tick=False):
        for response in [client.get(path), client.post(path, data={"password": PASSWORD})]:
            assert response.status_code == 410
            assert error_message(response) == (
                "This invitation has expired (invitations last 7 days). "
                "Ask the project's owner for a new one."
            )
        assert role_in(team.project, team.outsider.email) is None
        # Signed in as the invited account, it is no different.
        response = client.post(
            "/sign-in", data={"email": team.outsider.email, "password": PASSWORD}
        )
        assert response.status_code == 302
        assert client.post(path).status_code == 410
        assert role_in(team.project, team.outsider.email) is None
        # The owner no longer sees it pending, and may invite the address again.
        owner = app.test_client()
        owner.post("/sign-in", data={"email": team.owner.email, "password": PASSWORD})
        members = owner.get("/projects/shop/members")
        assert members.status_code == 200
        assert pending_listed(members) == []
        again = owner.post(
            "/projects/shop/invitations", data={"email": team.outsider.email, "role": "viewer"}
        )
        assert again.status_code == 201


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_an_owner_revokes_an_invitation(owner_client, client, team, invite, htmx):
    path = invite()
    members = owner_client.get("/projects/shop/members")
    [button] = page(members).select("#invitations li button")
    assert text_of(button) == "Revoke the invitation for newbie@example.com"
    url = button.find_parent("form")["action"]
    invitation = invitation_for("newbie@example.com")
    assert url == f"/projects/shop/invitations/{invitation.id}/revoke"

    response = owner_client.post(url, headers=HTMX if htmx else {})
    assert response.status_code == 302
    assert response.headers["Location"] == "/projects/shop/members"
    members = owner_client.get("/projects/shop/members")
    assert flash_messages(members) == [
        "The invitation for newbie@example.com is revoked; its link no longer works."
    ]
    assert pending_listed(members) == []
    assert status_now(invitation_for("newbie@example.com")).value == "revoked"
    [event] = events("invitation.revoked")
    assert (event.target, event.actor_id) == ("newbie@example.com as developer", team.owner.id)
    assert secret_of(path) not in everything_stored()

    for response in [
        client.get(path),
        client.post(
            path, data={"name": "Nia", "password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}
        ),
    ]:
        assert response.status_code == 410
        assert error_message(response) == (
            "This invitation was withdrawn by the project's owner. "
            "Ask them for a new one if you should still join."
        )
    assert User.by_email("newbie@example.com") is None


def test_revoking_an_invitation_that_cannot_be_used_changes_nothing(owner_client, client, invite):
    path = invite()
    invitation = invitation_for("newbie@example.com")
    url = f"/projects/shop/invitations/{invitation.id}/revoke"
    owner_client.post(url)
    owner_client.get("/projects/shop/members")  # shows (and so clears) the first message
    revoked_at = invitation_for("newbie@example.com").revoked_at
    response = owner_client.post(url)
    assert response.status_code == 302
    assert flash_messages(owner_client.get("/projects/shop/members")) == [
        "The invitation for newbie@example.com could not be used anyway; nothing changed."
    ]
    assert invitation_for("newbie@example.com").revoked_at == revoked_at
    assert len(events("invitation.revoked")) == 1
    assert client.get(path).status_code == 410


def test_an_accepted_invitation_cannot_be_revoked(owner_client, client, team, invite):
    path = invite()
    client.post(
        path, data={"name": "Nia", "password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}
    )
    invitation = invitation_for("newbie@example.com")
    response = owner_client.post(f"/projects/shop/invitations/{invitation.id}/revoke")
    assert response.status_code == 302
    invitation = invitation_for("newbie@example.com")
    assert invitation.revoked_at is None and status_now(invitation).value == "accepted"
    assert role_in(team.project, "newbie@example.com") is Role.DEVELOPER
    assert events("invitation.revoked") == []


def test_another_project_s_invitation_cannot_be_revoked_by_id(app, owner_client, team):
    outsider = app.test_client()
    outsider.post("/sign-in", data={"email": team.outsider.email, "password": PASSWORD})
    created = outsider.post(
        "/projects/other/invitations", data={"email": "newbie@example.com", "role": "owner"}
    )
    assert created.status_code == 201
    theirs = invitation_for("newbie@example.com")
    for url in [
        f"/projects/shop/invitations/{theirs.id}/revoke",
        f"/projects/other/invitations/{theirs.id}/revoke",
        "/projects/shop/invitations/999999/revoke",
        f"/projects/shop/invitations/{2**31}/revoke",
        f"/projects/shop/invitations/{2**70}/revoke",
    ]:
        response = owner_client.post(url)
        assert response.status_code == 404, url
        assert error_message(response).startswith("There is nothing here")
    assert status_now(invitation_for("newbie@example.com")).value == "pending"
    assert events("invitation.revoked") == []
    assert app.test_client().get(urlsplit(link_in(created)).path).status_code == 200


@pytest.mark.parametrize(
    "secret",
    ["garbage", "A" * 43, "x" * 101, "x" * 5000, "%20", "..%2F..%2Fadmin"],
    ids=["word", "well-formed", "too-long", "very-long", "space", "path"],
)
def test_an_unknown_link_is_not_found(client, team, invite, secret):
    invite()
    for response in [
        client.get(f"/invitations/{secret}"),
        client.post(f"/invitations/{secret}", data={"password": PASSWORD}),
    ]:
        assert response.status_code == 404
        assert text_of(page(response).find("h1")) == "Page not found"
    assert events("invitation.accepted") == []


def test_a_link_with_one_character_changed_is_not_found(client, invite):
    path = invite()
    last = path[-1]
    forged = path[:-1] + ("B" if last != "B" else "C")
    assert client.get(forged).status_code == 404
    assert status_now(invitation_for("newbie@example.com")).value == "pending"


# CSRF, as in production --------------------------------------------------------------


def csrf_from(response) -> str:
    return page(response).find("input", attrs={"name": "csrf_token"})["value"]


def test_with_csrf_on_an_owner_invites_through_htmx_and_the_invitee_joins(csrf_client, team):
    owner = csrf_client
    sign_in_page = owner.get("/sign-in")
    owner.post(
        "/sign-in",
        data={
            "email": team.owner.email,
            "password": PASSWORD,
            "csrf_token": csrf_from(sign_in_page),
        },
    )
    members = owner.get("/projects/shop/members")
    header = json.loads(page(members).body["hx-headers"])
    data = {"email": "newbie@example.com", "role": "viewer"}

    refused = owner.post("/projects/shop/invitations", data=data, headers=HTMX)
    assert refused.status_code == 400
    assert invitations() == []

    response = owner.post("/projects/shop/invitations", data=data, headers=HTMX | header)
    assert response.status_code == 201
    path = urlsplit(link_in(response)).path

    owner.post("/sign-out", headers=header)
    form = owner.get(path)
    account = {"name": "Nia", "password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}
    assert owner.post(path, data=account).status_code == 400, "no CSRF token"
    assert owner.post(path, data=account | {"csrf_token": csrf_from(form)}).status_code == 302
    assert role_in(team.project, "newbie@example.com") is Role.VIEWER


@pytest.mark.parametrize("mailed", [False, True], ids=["link shown", "mailed"])
def test_pending_invitations_say_sent_only_when_mail_went(app, client, team, sign_in, smtp, mailed):
    if mailed:
        app.config.update(MAIL)
    sign_in(team.owner)
    made = client.post(
        "/projects/shop/invitations", data={"email": "newbie@example.com", "role": "developer"}
    )
    assert made.status_code == 201
    [pending] = page(client.get("/projects/shop/members")).select("#invitations li")
    said = text_of(pending.find("span"))
    assert said.startswith("newbie@example.com as developer, " + ("sent" if mailed else "created"))
    assert ("sent" in said) is mailed


def test_the_new_account_form_states_the_password_rule_before_it_is_broken(client, team, invite):
    response = client.get(invite())
    assert response.status_code == 200
    password = page(response).find(id="new-password")
    assert text_of(page(response).find(id=password["aria-describedby"])) == (
        "At least 10 characters."
    )
    # The two ways in are sections of the page, each under its heading.
    assert [text_of(f.find("h2")) for f in page(response).select("main form.form-section")] == [
        BOTH_CHOICES[0][0],
        BOTH_CHOICES[1][0],
    ]


def test_a_7_day_invitation_just_sent_expires_in_7_days_not_6(owner_client, invite):
    invite("newbie@example.com")
    [listed] = pending_listed(owner_client.get("/projects/shop/members"))
    assert listed.endswith("expires in 7 days")
