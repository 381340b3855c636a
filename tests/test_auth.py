"""Signing in and out with Flask-Login and bcrypt."""

import pytest
from flask import current_app

from flagpal_dash.extensions import db

from .support import HTMX, PASSWORD, page, text_of


def sign_in_errors(response) -> list[str]:
    return [text_of(p) for p in page(response).select(".form-errors p")]


def test_signing_in_leads_to_your_projects(client, team):
    response = client.post("/sign-in", data={"email": "Olivia@Example.com", "password": PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    home = page(client.get("/"))
    assert [a.get_text() for a in home.select(".project-list a")] == ["Shop"]


def test_passwords_are_stored_as_bcrypt_hashes(team):
    assert team.owner.password_hash.startswith("$2b$")
    assert PASSWORD not in team.owner.password_hash
    assert team.owner.check_password(PASSWORD)
    assert not team.owner.check_password(PASSWORD + "!")


def test_a_long_passphrase_counts_beyond_bcrypt_s_72_bytes(team):
    long_password = "x" * 100
    team.owner.set_password(long_password, rounds=current_app.config["BCRYPT_ROUNDS"])
    assert team.owner.check_password(long_password)
    assert not team.owner.check_password("x" * 99 + "y")


def test_wrong_email_and_wrong_password_get_the_same_message(client, team):
    wrong_password = client.post("/sign-in", data={"email": team.owner.email, "password": "nope"})
    unknown_email = client.post(
        "/sign-in", data={"email": "nobody@example.com", "password": "nope"}
    )
    assert wrong_password.status_code == unknown_email.status_code == 422
    assert (
        sign_in_errors(wrong_password)
        == sign_in_errors(unknown_email)
        == ["That email and password do not match an account."]
    )


@pytest.mark.parametrize("email", ["\x00", "olivia@example.com\x00"])
def test_an_email_with_a_nul_character_is_a_wrong_pair_like_any(client, team, email):
    """Found by fuzzing: PostgreSQL refused to compare it (a 500)."""
    response = client.post("/sign-in", data={"email": email, "password": PASSWORD})
    assert response.status_code == 422
    assert sign_in_errors(response) == ["That email and password do not match an account."]


def test_a_deactivated_account_cannot_sign_in(client, team):
    team.owner.active = False
    db.session.commit()
    response = client.post("/sign-in", data={"email": team.owner.email, "password": PASSWORD})
    assert response.status_code == 422
    assert sign_in_errors(response) == ["That email and password do not match an account."]


def test_empty_sign_in_form_says_what_is_missing(client, team):
    response = client.post("/sign-in", data={"email": "", "password": ""})
    assert response.status_code == 422
    errors = [text_of(li) for li in page(response).select(".field-errors li")]
    assert errors == ["Enter your email address.", "Enter your password."]


def test_pages_ask_to_sign_in_and_come_back_after(client, team):
    response = client.get("/projects/shop/tokens")
    assert response.status_code == 302
    assert response.headers["Location"] == "/sign-in?next=/projects/shop/tokens"
    response = client.post(
        response.headers["Location"], data={"email": team.owner.email, "password": PASSWORD}
    )
    assert response.headers["Location"] == "/projects/shop/tokens"


def test_htmx_requests_without_a_session_are_sent_to_sign_in_not_swapped(client, team):
    response = client.get("/projects/shop/tokens/new", headers=HTMX)
    assert response.status_code == 401
    assert response.headers["HX-Redirect"] == "/sign-in?next=/projects/shop/tokens/new"


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
        "http:/evil.example",
        "\\\\evil.example",
        # Found by fuzzing: URL parsers drop tabs and newlines, making "//evil.example";
        # and a newline cannot go in the Location header (a 500).
        "/\t///evil.example",
        "/\r\n///evil.example",
        "/\n",
    ],
)
def test_next_never_leaves_the_site(client, team, target):
    response = client.post(
        "/sign-in",
        query_string={"next": target},
        data={"email": team.owner.email, "password": PASSWORD},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_sign_out_is_a_post(client, team, sign_in):
    sign_in(team.owner)
    assert client.get("/sign-out").status_code == 405
    assert client.get("/").status_code == 200, "a GET did not sign out"
    response = client.post("/sign-out")
    assert response.status_code == 302
    assert client.get("/").status_code == 302, "signed out"


def test_session_cookie_is_http_only_and_same_site_lax(client, team):
    response = client.post("/sign-in", data={"email": team.owner.email, "password": PASSWORD})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
