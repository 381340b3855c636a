"""The Account page: your name, and your password (which signs out your other sessions)."""

import pytest

from flagpal_dash.core import sessions
from flagpal_dash.extensions import db
from flagpal_dash.models import AuditEvent, User, utcnow

from .support import PASSWORD, page, text_of

NEW_PASSWORD = "a brand new passphrase"


def field_errors(response, field_id: str) -> list[str]:
    return [text_of(li) for li in page(response).select(f"#{field_id}-errors li")]


def flash(response) -> str:
    return text_of(page(response).find(id="flash"))


def signed_in_client(app, email: str, password: str = PASSWORD):
    """A second browser, signed in through the real form."""
    other = app.test_client()
    response = other.post("/sign-in", data={"email": email, "password": password})
    assert response.status_code == 302, response.text
    return other


def sign_in_status(app, email: str, password: str) -> int:
    return (
        app.test_client().post("/sign-in", data={"email": email, "password": password}).status_code
    )


def stored(user: User) -> User:
    """The row as the database has it now (requests commit in their own sessions)."""
    db.session.refresh(user)
    return user


def session_count(user: User) -> int:
    """How many sessions the account has on the server (ended ones are deleted)."""
    return len(sessions.of(user, utcnow()))


def password_events() -> list[AuditEvent]:
    return list(
        db.session.scalars(
            db.select(AuditEvent).where(AuditEvent.kind == "account.password_changed")
        )
    )


def change_password(client, current=PASSWORD, new=NEW_PASSWORD, confirm=None):
    return client.post(
        "/account/password",
        data={
            "current_password": current,
            "new_password": new,
            "confirm_password": new if confirm is None else confirm,
        },
    )


@pytest.mark.parametrize(
    "method, url", [("GET", "/account"), ("POST", "/account/name"), ("POST", "/account/password")]
)
def test_the_account_page_needs_a_signed_in_person(client, team, method, url):
    response = client.open(url, method=method, data={"name": "Mallory"})
    assert response.status_code == 302
    assert response.headers["Location"] == f"/sign-in?next={url}"
    assert stored(team.owner).name == "Olivia Owner"


def test_the_account_page_shows_who_you_are(client, team, sign_in):
    sign_in(team.owner)
    response = client.get("/account")
    assert response.status_code == 200
    assert text_of(page(response).select_one("p.lead")) == "Signed in as olivia@example.com."
    assert page(response).find("input", id="name")["value"] == "Olivia Owner"
    for field in ("current_password", "new_password", "confirm_password"):
        assert page(response).find("input", id=field)["type"] == "password"


@pytest.mark.parametrize(
    "typed, kept",
    [("  Olivia O.  ", "Olivia O."), ("Ö" * 100, "Ö" * 100)],
    ids=["trimmed", "100 characters"],
)
def test_changing_your_name(client, team, sign_in, typed, kept):
    sign_in(team.owner)
    response = client.post("/account/name", data={"name": typed})
    assert response.status_code == 302
    assert response.headers["Location"] == "/account"
    after = client.get("/account")
    assert flash(after) == "Your name is changed."
    assert text_of(page(after).select_one("a.who")) == kept
    assert page(after).find("input", id="name")["value"] == kept
    assert stored(team.owner).name == kept


@pytest.mark.parametrize(
    "typed, message",
    [
        ("", "Name is required."),
        ("   ", "Name is required."),
        ("x" * 101, "Name must be at most 100 characters (it has 101)."),
        ("Olivia\tOwner", "Name cannot contain line breaks, tabs or other control characters."),
    ],
    ids=["empty", "blank", "too long", "control character"],
)
def test_a_bad_name_is_refused_and_nothing_changes(client, team, sign_in, typed, message):
    sign_in(team.owner)
    response = client.post("/account/name", data={"name": typed})
    assert response.status_code == 422
    assert field_errors(response, "name") == [message]
    assert page(response).find("input", id="name")["aria-invalid"] == "true"
    assert text_of(page(response).select_one("a.who")) == "Olivia Owner"
    assert stored(team.owner).name == "Olivia Owner"


def test_a_wrong_current_password_changes_nothing(client, team, sign_in, app):
    sign_in(team.owner)
    hash_before = stored(team.owner).password_hash
    response = change_password(client, current="not my password")
    assert response.status_code == 422
    assert field_errors(response, "current_password") == ["That is not your current password."]
    owner = stored(team.owner)
    assert owner.password_hash == hash_before and session_count(owner) == 1
    assert password_events() == []
    assert sign_in_status(app, team.owner.email, PASSWORD) == 302
    assert sign_in_status(app, team.owner.email, NEW_PASSWORD) == 422


@pytest.mark.parametrize(
    "form, field, message",
    [
        ({"current": ""}, "current_password", "Enter your current password."),
        (
            {"new": "short", "confirm": "short"},
            "new_password",
            "Use at least 10 characters for the password.",
        ),
        (
            {"new": "y" * 1001, "confirm": "y" * 1001},
            "new_password",
            "Use at most 1000 characters for the password.",
        ),
        ({"confirm": NEW_PASSWORD + "!"}, "confirm_password", "The two new passwords differ."),
    ],
    ids=["no current password", "too short", "too long", "confirmation differs"],
)
def test_the_password_form_is_checked(client, team, sign_in, app, form, field, message):
    sign_in(team.owner)
    hash_before = stored(team.owner).password_hash
    response = change_password(client, **form)
    assert response.status_code == 422
    assert field_errors(response, field) == [message]
    errors = [text_of(li) for li in page(response).select(".field-errors li")]
    assert errors == [message], "only the field at fault is flagged"
    owner = stored(team.owner)
    assert owner.password_hash == hash_before and session_count(owner) == 1
    assert password_events() == []
    assert client.get("/account").status_code == 200, "still signed in"


def test_changing_the_password_signs_out_every_other_session_but_this_one(
    client, team, sign_in, app
):
    laptop = signed_in_client(app, team.owner.email)
    colleague = signed_in_client(app, team.developer.email)
    sign_in(team.owner)
    assert laptop.get("/account").status_code == 200

    response = change_password(client)
    assert response.status_code == 302
    assert response.headers["Location"] == "/account"
    here = client.get("/account")
    assert here.status_code == 200, "this session stays signed in"
    assert flash(here) == (
        "Your password is changed. Every other session of your account is signed out."
    )

    there = laptop.get("/account")
    assert there.status_code == 302
    assert there.headers["Location"] == "/sign-in?next=/account"
    assert laptop.get("/").status_code == 302, "and stays signed out"
    assert colleague.get("/account").status_code == 200, "other people's sessions are untouched"
    assert client.get("/").status_code == 200

    assert sign_in_status(app, team.owner.email, PASSWORD) == 422
    assert sign_in_status(app, team.owner.email, NEW_PASSWORD) == 302
    [event] = password_events()
    assert event.actor == event.target == "Olivia Owner <olivia@example.com>"
    assert NEW_PASSWORD not in str(event.details) and PASSWORD not in str(event.details)


def test_the_new_password_is_stored_as_a_bcrypt_hash(client, team, sign_in):
    sign_in(team.owner)
    hash_before = stored(team.owner).password_hash
    assert change_password(client).status_code == 302
    owner = stored(team.owner)
    assert owner.password_hash != hash_before
    assert owner.password_hash.startswith("$2b$04$"), "bcrypt, with the configured rounds"
    assert len(owner.password_hash) == 60
    assert NEW_PASSWORD not in owner.password_hash
    assert owner.check_password(NEW_PASSWORD) and not owner.check_password(PASSWORD)


def test_no_response_ever_contains_a_password(client, team, sign_in):
    sign_in(team.owner)
    responses = [
        change_password(client, current="wrong password 1"),
        change_password(client, confirm="something else entirely"),
        change_password(client, new="tiny", confirm="tiny"),
        change_password(client),
    ]
    responses.append(client.get(responses[-1].headers["Location"]))
    assert [r.status_code for r in responses] == [422, 422, 422, 302, 200]
    for response in responses:
        seen = response.get_data(as_text=True) + str(response.headers)
        for secret in (PASSWORD, NEW_PASSWORD, "wrong password 1", "something else entirely"):
            assert secret not in seen
        for field in page(response).select("input[type=password]"):
            assert not field.get("value"), "password fields are never filled in"
