"""The Account page's Personal access tokens: create (the value shown once, a reload
makes nothing twice), the list with last use and status, revoke with a confirm step,
and nobody else's tokens."""

from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from flagpal_dash import token_format, validation
from flagpal_dash.core import personal_tokens
from flagpal_dash.extensions import db
from flagpal_dash.models import PersonalToken, utcnow

from .support import page, snapshot, text_of


def form_key(client) -> str:
    response = client.get("/account")
    assert response.status_code == 200
    return page(response).find("input", attrs={"name": "submission"})["value"]


def in_days(days: int) -> str:
    return (utcnow() + timedelta(days=days)).date().isoformat()


def all_tokens() -> list[PersonalToken]:
    db.session.expire_all()
    return list(db.session.scalars(select(PersonalToken).order_by(PersonalToken.id)))


def test_the_form_opens_with_30_days_and_offers_at_most_a_year(client, team, sign_in):
    sign_in(team.developer)
    response = client.get("/account")
    assert response.status_code == 200
    section = page(response).find(id="personal-tokens")
    assert text_of(section.find("h2")) == "Personal access tokens"
    date_input = section.find("input", attrs={"name": "expires_on"})
    now = utcnow()
    assert date_input["value"] == in_days(30)
    assert date_input["max"] == (now + timedelta(days=364)).date().isoformat()
    assert date_input["min"] == validation.earliest_expiry_day(now).isoformat()
    assert "You have no personal access tokens." in text_of(section)


def test_creating_shows_the_value_once_and_a_reload_makes_nothing_twice(client, team, sign_in):
    sign_in(team.developer)
    key = form_key(client)
    data = {"name": "Release script", "expires_on": in_days(90), "submission": key}
    shown = client.post("/account/tokens", data=data)
    assert shown.status_code == 201
    assert shown.headers["Cache-Control"] == "no-store"
    value = page(shown).find(id="new-token-value")["value"]
    assert token_format.is_well_formed_personal(value)
    [token] = all_tokens()
    assert token.token_hash == token_format.digest(value)
    assert token.user_id == team.developer.id
    assert validation.last_day(token.expires_at).isoformat() == in_days(90)

    again = client.post("/account/tokens", data=data)
    assert again.status_code == 303
    assert again.headers["Location"] == f"/account/tokens/{token.id}/created"
    landed = client.get(again.headers["Location"])
    assert landed.status_code == 200
    assert value not in landed.text
    assert "cannot be shown again" in text_of(page(landed).find(class_="notice"))
    assert len(all_tokens()) == 1
    # The session cookie keeps the token's id, never its value.
    cookie = client.get_cookie(current_app.config["SESSION_COOKIE_NAME"]).value
    assert value not in cookie

    listed = page(client.get("/account")).find(id=f"personal-token-{token.id}")
    cells = [text_of(cell) for cell in listed.find_all(["th", "td"])]
    assert cells[0] == "Release script"
    assert cells[1] == f"flagpal_pat_…{value[-4:]}"
    assert cells[4] == "Never"
    assert cells[5] == "Active"
    assert value not in client.get("/account").text


def test_bad_input_is_refused_with_the_rules_sentences(client, team, sign_in):
    sign_in(team.developer)
    latest = (utcnow() + timedelta(days=364)).date()
    cases = [
        ({"name": "", "expires_on": in_days(5)}, "name", "Name is required."),
        ({"name": "CI", "expires_on": ""}, "expires_on", "Pick the date the token should expire"),
        ({"name": "CI", "expires_on": "yesterday"}, "expires_on", "Pick the date"),
        ({"name": "CI", "expires_on": in_days(0)}, "expires_on", "(a date after today, UTC)"),
        (
            {"name": "CI", "expires_on": in_days(366)},
            "expires_on",
            f"Choose {latest.day} {latest:%b %Y} or earlier: personal access tokens last "
            "at most 365 days.",
        ),
    ]
    before = snapshot()
    for data, field, message in cases:
        response = client.post("/account/tokens", data=data)
        assert response.status_code == 422, data
        errors = page(response).find(id=f"{field}-errors")
        assert message in text_of(errors), (data, text_of(errors))
    assert snapshot() == before


def test_a_name_in_use_by_an_active_token_is_refused(client, team, sign_in):
    personal_tokens.issue(team.developer, "CI", utcnow() + timedelta(days=3), now=utcnow())
    db.session.commit()
    sign_in(team.developer)
    response = client.post("/account/tokens", data={"name": "ci", "expires_on": in_days(5)})
    assert response.status_code == 422
    assert "You already have an active token named" in text_of(
        page(response).find(id="name-errors")
    )
    assert len(all_tokens()) == 1


def test_revoke_asks_first_then_revokes_and_lists_it_revoked(client, team, sign_in):
    token, value = personal_tokens.issue(
        team.developer, "CI", utcnow() + timedelta(days=3), now=utcnow()
    )
    db.session.commit()
    sign_in(team.developer)
    confirm = client.get(f"/account/tokens/{token.id}/revoke")
    assert confirm.status_code == 200
    assert "Scripts using this token stop working at once." in text_of(page(confirm))
    assert all_tokens()[0].revoked_at is None  # asking changes nothing
    done = client.post(f"/account/tokens/{token.id}/revoke")
    assert done.status_code == 302
    after = client.get(done.headers["Location"])
    assert '"CI" is revoked.' in text_of(page(after))
    row = page(after).find(id=f"personal-token-{token.id}")
    assert "Revoked" in text_of(row)
    assert row.find("a", string="Revoke") is None
    assert all_tokens()[0].revoked_at is not None
    assert personal_tokens.authenticate(value, utcnow()) is None
    again = client.post(f"/account/tokens/{token.id}/revoke")
    assert again.status_code == 302
    assert "was already revoked; nothing changed." in text_of(page(client.get("/account")))


def test_nobody_sees_or_revokes_anothers_token(client, team, sign_in):
    token, _ = personal_tokens.issue(
        team.developer, "CI", utcnow() + timedelta(days=3), now=utcnow()
    )
    db.session.commit()
    sign_in(team.owner)
    assert f"personal-token-{token.id}" not in client.get("/account").text
    before = snapshot()
    for path in [f"/account/tokens/{token.id}/revoke", f"/account/tokens/{token.id}/created"]:
        assert client.get(path).status_code == 404
    assert client.post(f"/account/tokens/{token.id}/revoke").status_code == 404
    assert client.post("/account/tokens/99999999999/revoke").status_code == 404
    assert snapshot() == before
