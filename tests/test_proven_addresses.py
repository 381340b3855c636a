"""Proven addresses (issue 13, finding 3): an owner must not be able to make an account
in someone else's name and have it trusted as theirs.

An address is proven by a link delivered only by mail, by an admin or the command line
making the account, or by an admin confirming it later. Grants by email to an unproven
account are refused with a message saying how to prove it, and the invitation page
does not tell anyone whether an address has an account.
"""

import smtplib
from urllib.parse import urlsplit

import pytest
from flask import current_app
from sqlalchemy import select

from flagpal_dash.core.accounts import create_user
from flagpal_dash.core.projects import add_member, membership_of
from flagpal_dash.extensions import db
from flagpal_dash.models import AuditEvent, Project, User
from flagpal_dash.permissions import Role

from .support import PASSWORD, add_user, page, text_of
from .test_invitations import MAIL, FakeSMTP, link_in, secret_of

VICTIM = "cfo@victim.example"
SQUATTER_PASSWORD = "the owner's own password"
REAL_PASSWORD = "the real cfo's passphrase"
HOW_TO_PROVE = (
    "An instance admin can confirm it (Confirm address on Admin → Users, or "
    "`users confirm-email EMAIL` on the command line), or a project's owner can invite "
    "it with mail set up: opening the emailed link proves it."
)
UNPROVEN = (
    f"The address {VICTIM} is not proven yet: its account was made from an invitation "
    f"link that was not sent by mail, so nothing is granted to it by email. {HOW_TO_PROVE}"
)
ACCOUNT_EXISTS = (
    "An account for this address already exists: sign in with its password above, "
    "or ask an instance admin."
)


@pytest.fixture
def smtp(monkeypatch):
    fake = type("RecordingSMTP", (FakeSMTP,), {"sent": [], "connections": [], "fail_on": None})
    monkeypatch.setattr(smtplib, "SMTP", fake)
    return fake


def signed_in(app, user: User):
    client = app.test_client()
    response = client.post("/sign-in", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 302
    return client


def invite(client, slug: str, email: str = VICTIM, role: str = "owner"):
    response = client.post(f"/projects/{slug}/invitations", data={"email": email, "role": role})
    assert response.status_code == 201, response.text
    return response


def mailed_path(smtp) -> str:
    """The link in the last mail sent, as a path."""
    body = smtp.sent[-1].get_content()
    [link] = [word for word in body.split() if "/invitations/" in word]
    return urlsplit(link).path


def new_account(name: str, password: str) -> dict:
    return {"name": name, "password": password, "confirm_password": password}


def squat(app, team) -> str:
    """The attack without mail: Shop's owner invites the victim's address, opens the
    link signed out and makes the account. Returns the link's path."""
    path = urlsplit(link_in(invite(signed_in(app, team.owner), "shop"))).path
    response = app.test_client().post(path, data=new_account("Not The CFO", SQUATTER_PASSWORD))
    assert response.status_code == 302
    return path


def victim() -> User | None:
    db.session.expire_all()
    return User.by_email(VICTIM)


def role_of_victim(project: Project) -> Role | None:
    membership = victim() and membership_of(victim(), project)
    return membership.role if membership else None


def errors_on_page(response) -> list[str]:
    found = page(response).select("main .form-errors p, main .field-errors li")
    return [text_of(item) for item in found]


def last_event(kind: str) -> AuditEvent | None:
    db.session.expire_all()
    return db.session.scalars(
        select(AuditEvent).where(AuditEvent.kind == kind).order_by(AuditEvent.id.desc())
    ).first()


# With mail, the owner never holds the proof ---------------------------------------


def test_with_mail_the_owner_is_told_it_was_sent_and_never_shown_the_link(app, team, smtp):
    app.config.update(MAIL)
    owner = signed_in(app, team.owner)
    response = invite(owner, "shop")
    assert response.headers["Cache-Control"] == "no-store"
    assert page(response).find(id="invitation-link") is None
    assert text_of(page(response).select_one(".notice")).startswith(
        f"The invitation was emailed to {VICTIM}."
    )
    path = mailed_path(smtp)
    for url in ["/projects/shop/members", "/projects/shop/audit"]:
        assert secret_of(path) not in owner.get(url).text
    assert secret_of(path) not in response.text

    # The person who reads the mailbox makes the account: proven.
    made = app.test_client().post(path, data=new_account("Carla CFO", REAL_PASSWORD))
    assert made.status_code == 302
    assert victim().email_proven_at is not None
    assert role_of_victim(team.project) is Role.OWNER


# Without mail: the account is unproven, and grants by email are refused -------------


def test_without_mail_the_owner_is_told_the_address_will_not_be_proven(app, team):
    response = invite(signed_in(app, team.owner), "shop")
    assert link_in(response)
    assert text_of(page(response).select_one(".warning .unproven")) == (
        "Because the link was not sent by mail, it does not prove the address is theirs: "
        "an account made from it can join only Shop until an instance admin confirms the "
        "address."
    )
    # The address is named once, where the owner is told whom to pass the link to.
    assert text_of(page(response).select_one(".warning")).count(VICTIM) == 1


def test_the_squatted_account_is_unproven_and_members_add_refuses_it(app, team, runner):
    squat(app, team)
    assert victim().email_proven_at is None
    assert role_of_victim(team.project) is Role.OWNER, "the squatter's own project"

    result = runner.invoke(args=["members", "add", "other", VICTIM, "--role", "owner"])
    assert result.exit_code != 0
    assert result.output == f"Error: {UNPROVEN}\n"
    assert role_of_victim(team.other_project) is None

    result = runner.invoke(args=["projects", "create", "Finance", "--owner", VICTIM])
    assert result.exit_code != 0
    assert result.output == f"Error: {UNPROVEN}\n"
    assert db.session.scalar(select(Project).where(Project.name == "Finance")) is None

    # An admin who knows it is the person's confirms it; then the grant works.
    result = runner.invoke(args=["users", "confirm-email", VICTIM])
    assert result.exit_code == 0, result.output
    assert result.output == f"The address {VICTIM} is confirmed.\n"
    assert last_event("user.address_proven").details == {"how": "confirmed by an admin"}
    result = runner.invoke(args=["members", "add", "other", VICTIM, "--role", "owner"])
    assert result.exit_code == 0, result.output
    assert role_of_victim(team.other_project) is Role.OWNER


def test_the_admin_cannot_make_a_squatted_account_a_project_owner(app, team):
    squat(app, team)
    ada = add_user("ada@example.com", "Ada Admin", admin=True)
    db.session.commit()
    admin = signed_in(app, ada)
    response = admin.post("/admin/projects/new", data={"name": "Finance", "owner": VICTIM})
    assert response.status_code == 422
    assert [text_of(li) for li in page(response).select(".field-errors li")] == [UNPROVEN]
    assert db.session.scalar(select(Project).where(Project.name == "Finance")) is None


def test_admin_users_shows_unproven_accounts_and_confirms_them(app, team):
    squat(app, team)
    ada = add_user("ada@example.com", "Ada Admin", admin=True)
    db.session.commit()
    admin = signed_in(app, ada)
    listing = admin.get("/admin/users")
    assert listing.status_code == 200
    unproven = [
        text_of(row.find("th").find("span", class_="meta"))
        for row in page(listing).select("table.users tbody tr")
        if row.select_one(".badge.unproven")
    ]
    assert unproven == [VICTIM]
    buttons = page(listing).select(f"#user-{victim().id} form button")
    assert [text_of(b) for b in buttons] == [
        f"Confirm address {VICTIM}",
        f"Make a reset link for {VICTIM}",
        f"Deactivate {VICTIM}",
    ]
    button = buttons[0]

    response = admin.post(button.find_parent("form")["action"])
    assert response.status_code == 302
    assert victim().email_proven_at is not None
    assert page(admin.get("/admin/users")).select(".badge.unproven") == []


def create_victims_account(app, runner, where: str):
    """An admin makes an account for the victim's address on the Users page (``admin``)
    or with ``users create`` (``cli``): the page's response or the command's result."""
    if where == "cli":
        return runner.invoke(
            args=["users", "create", VICTIM, "--name", "CFO", "--password-stdin"],
            input=REAL_PASSWORD + "\n",
        )
    ada = add_user("ada@example.com", "Ada Admin", admin=True)
    db.session.commit()
    return signed_in(app, ada).post(
        "/admin/users", data={"name": "CFO", "email": VICTIM, "password": REAL_PASSWORD}
    )


@pytest.mark.parametrize("where", ["admin", "cli"])
def test_creating_an_account_for_a_squatted_address_points_at_confirm(app, team, runner, where):
    squat(app, team)
    message = (
        f"An account with the email {VICTIM} already exists, made from an invitation link; "
        "its address is not proven. If it is this person's, confirm its address instead; "
        "if not, deactivate it."
    )
    answer = create_victims_account(app, runner, where)
    if where == "cli":
        assert answer.exit_code != 0
        assert answer.output == f"Error: {message}\n"
    else:
        assert answer.status_code == 422
        assert [text_of(li) for li in page(answer).select(".field-errors li")] == [message]
    assert victim().name == "Not The CFO" and victim().check_password(SQUATTER_PASSWORD)


@pytest.mark.parametrize("where", ["admin", "cli"])
def test_accounts_made_by_an_admin_or_the_command_line_are_proven(app, team, runner, where):
    answer = create_victims_account(app, runner, where)
    if where == "cli":
        assert answer.exit_code == 0, answer.output
    else:
        assert answer.status_code == 302
    assert victim().email_proven_at is not None


def test_signing_in_to_a_squatted_account_does_not_join_another_project(app, team):
    squat(app, team)
    path = urlsplit(link_in(invite(signed_in(app, team.outsider), "other"))).path

    # Signed out, with the password, on the invitation page.
    client = app.test_client()
    response = client.post(path, data={"password": SQUATTER_PASSWORD})
    assert response.status_code == 403
    assert errors_on_page(response) == [UNPROVEN]
    assert page(client.get("/")).select_one(".account .who") is None, "not signed in"

    # Signed in already.
    assert (
        client.post("/sign-in", data={"email": VICTIM, "password": SQUATTER_PASSWORD}).status_code
        == 302
    )
    response = client.post(path)
    assert response.status_code == 403
    assert text_of(page(response).find(attrs={"data-error-message": True})) == UNPROVEN
    assert role_of_victim(team.other_project) is None


def test_the_project_that_made_an_unproven_account_may_invite_it_again(app, team):
    squat(app, team)
    owner = signed_in(app, team.owner)
    membership = membership_of(victim(), team.project)
    # The owner took the squatted account off Shop, then invites it back.
    add_member(team.project, add_user("second@example.com", "Second Owner"), Role.OWNER, actor=None)
    db.session.commit()
    assert owner.post(f"/projects/shop/members/{membership.id}/remove").status_code == 302
    path = urlsplit(link_in(invite(owner, "shop", role="viewer"))).path
    response = app.test_client().post(path, data={"password": SQUATTER_PASSWORD})
    assert response.status_code == 302
    assert role_of_victim(team.project) is Role.VIEWER


# The invitation page does not tell whether an account exists ------------------------


def main_section(response) -> str:
    assert response.status_code == 200
    return str(page(response).find("main"))


def test_the_page_looks_the_same_with_or_without_an_account(app, team):
    path = urlsplit(link_in(invite(signed_in(app, team.owner), "shop"))).path
    client = app.test_client()
    without = main_section(client.get(path))
    create_user(
        VICTIM, "Carla CFO", REAL_PASSWORD, actor=None, rounds=current_app.config["BCRYPT_ROUNDS"]
    )
    db.session.commit()
    with_account = main_section(client.get(path))
    assert with_account == without
    headings = [text_of(h2) for h2 in page(client.get(path)).select("main form h2")]
    assert headings == ["I have an account: sign in to join", "I'm new: create my account"]


def test_signing_in_without_an_account_answers_like_a_wrong_password(app, team):
    owner = signed_in(app, team.owner)
    nobody = urlsplit(link_in(invite(owner, "shop", "nobody@example.com"))).path
    somebody = urlsplit(link_in(invite(owner, "shop", team.outsider.email))).path
    client = app.test_client()
    answers = []
    for path, email in [(nobody, "nobody@example.com"), (somebody, team.outsider.email)]:
        response = client.post(path, data={"password": "a wrong guess"})
        assert response.status_code == 422
        answers.append([error.replace(email, "EMAIL") for error in errors_on_page(response)])
    assert answers[0] == answers[1] == ["That password does not match an account for EMAIL."]
    failed = last_event("sign_in.failed")
    assert failed.details == {"reason": "wrong password", "via": "invitation"}


def test_creating_an_account_that_exists_is_refused_after_the_post(app, team):
    path = urlsplit(link_in(invite(signed_in(app, team.owner), "shop", team.outsider.email))).path
    response = app.test_client().post(path, data=new_account("Otto Again", REAL_PASSWORD))
    assert response.status_code == 409
    assert errors_on_page(response) == [ACCOUNT_EXISTS]
    db.session.expire_all()
    assert team.outsider.name == "Otto Outsider" and team.outsider.check_password(PASSWORD)
    assert membership_of(team.outsider, team.project) is None


# A mailed link proves the address: its person claims a squatted account --------------


def test_a_mailed_link_claims_an_unproven_account(app, team, smtp):
    squat(app, team)
    squatter = app.test_client()
    squatter.post("/sign-in", data={"email": VICTIM, "password": SQUATTER_PASSWORD})
    assert squatter.get("/projects/shop").status_code == 200
    before = victim().label

    app.config.update(MAIL)
    invite(signed_in(app, team.outsider), "other", role="developer")
    path = mailed_path(smtp)
    cfo = app.test_client()
    response = cfo.post(path, data=new_account("Carla CFO", REAL_PASSWORD))
    assert response.status_code == 302
    assert response.headers["Location"] == "/projects/other"

    account = victim()
    assert account.name == "Carla CFO"
    assert account.check_password(REAL_PASSWORD)
    assert not account.check_password(SQUATTER_PASSWORD)
    assert account.email_proven_at is not None
    assert role_of_victim(team.other_project) is Role.DEVELOPER
    assert text_of(page(cfo.get("/")).select_one(".account .who")) == "Carla CFO"
    squatted = squatter.get("/projects/shop")
    assert squatted.status_code == 302, "the squatter's session ended"
    assert urlsplit(squatted.headers["Location"]).path == "/sign-in"

    claimed = last_event("user.claimed")
    assert claimed.target == f"Carla CFO <{VICTIM}>"
    assert claimed.actor_id == account.id
    assert claimed.details == {
        "how": "address proven by an emailed invitation; account claimed",
        "previous": before,
    }


def test_a_mailed_link_does_not_claim_a_proven_account(app, team, smtp):
    app.config.update(MAIL)
    invite(signed_in(app, team.owner), "shop", team.outsider.email)
    response = app.test_client().post(
        mailed_path(smtp), data=new_account("Otto Again", REAL_PASSWORD)
    )
    assert response.status_code == 409
    assert errors_on_page(response) == [ACCOUNT_EXISTS]
    db.session.expire_all()
    assert team.outsider.check_password(PASSWORD)


def test_signing_in_with_a_mailed_link_proves_the_address(app, team, smtp):
    squat(app, team)
    app.config.update(MAIL)
    invite(signed_in(app, team.outsider), "other", role="viewer")
    # Whoever holds both the password and the mailbox is the address's person.
    response = app.test_client().post(mailed_path(smtp), data={"password": SQUATTER_PASSWORD})
    assert response.status_code == 302
    assert victim().email_proven_at is not None
    assert role_of_victim(team.other_project) is Role.VIEWER
    proven = last_event("user.address_proven")
    assert proven.details == {"how": "opened an emailed invitation"}
    assert proven.actor_id == victim().id
