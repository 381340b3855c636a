"""After the one answer that shows a secret (a token's value, an invitation's link):
posting its form again (a reload of that answer, Back and resubmit) lands on a page
saying what was made and that the secret cannot be shown again; it makes nothing twice
and shows no error, and the secret is kept nowhere, not even in the session cookie."""

from flask import current_app

from flagpal_dash.extensions import db
from flagpal_dash.models import ApiToken, Invitation

from .support import HTMX, issue_token, page, text_of

GOOD = {"name": "Shop backend", "abilities": ["read"], "expiration": "30"}


def submission_key(response) -> str:
    field = page(response).find("input", attrs={"name": "submission"})
    assert field["type"] == "hidden"
    return field["value"]


def words_of(element) -> str:
    """An element's text as read, sentences with their full stops."""
    return " ".join(element.get_text().split())


def all_tokens() -> list[ApiToken]:
    db.session.expire_all()
    return list(db.session.scalars(db.select(ApiToken).order_by(ApiToken.id)))


def session_cookie(client) -> str:
    """The session cookie as the browser holds it, and what it says once its signature
    is checked."""
    cookie = client.get_cookie(current_app.config["SESSION_COOKIE_NAME"])
    return cookie.value, current_app.session_interface.get_signing_serializer(current_app).loads(
        cookie.value
    )


def test_each_form_drawn_carries_a_new_submission_key(client, team, sign_in):
    token, _ = issue_token(team.project, "Shop backend")
    sign_in(team.developer)
    for url in ["/projects/shop/tokens/new", f"/projects/shop/tokens/{token.id}/rotate"]:
        first = client.get(url)
        again = client.get(url, headers=HTMX)
        assert first.status_code == again.status_code == 200
        assert len(submission_key(first)) >= 16
        assert submission_key(first) != submission_key(again), url


def test_creating_again_with_the_same_form_lands_on_the_created_page(client, team, sign_in):
    sign_in(team.developer)
    key = submission_key(client.get("/projects/shop/tokens/new"))
    shown = client.post("/projects/shop/tokens", data={**GOOD, "submission": key})
    assert shown.status_code == 201
    assert shown.headers["Cache-Control"] == "no-store"
    value = page(shown).find(id="new-token-value")["value"]
    [token] = all_tokens()

    again = client.post("/projects/shop/tokens", data={**GOOD, "submission": key})
    assert again.status_code == 303
    assert again.headers["Location"] == f"/projects/shop/tokens/{token.id}/created"
    assert all_tokens() == [token], "no second token"

    landed = client.get(again.headers["Location"])
    assert landed.status_code == 200
    content = page(landed).find("section", class_="card")
    assert text_of(content.find(id="dialog-title")) == "Token created"
    words = words_of(content)
    assert "Token “Shop backend” was created just now." in words
    assert "Its value was shown once and cannot be shown again" in words
    assert content.find(class_="field-errors") is None and "already named" not in words
    links = {text_of(a): a["href"] for a in content.find_all("a")}
    assert links["rotate “Shop backend”"] == f"/projects/shop/tokens/{token.id}/rotate"
    assert links["Back to API Tokens"] == "/projects/shop/tokens"
    for response in [again, landed, client.get("/projects/shop/tokens")]:
        assert value not in response.text


def test_the_value_is_never_in_the_session_cookie(client, team, sign_in):
    sign_in(team.developer)
    key = submission_key(client.get("/projects/shop/tokens/new"))
    shown = client.post("/projects/shop/tokens", data={**GOOD, "submission": key})
    assert shown.status_code == 201
    value = page(shown).find(id="new-token-value")["value"]
    [token] = all_tokens()

    cookie, session = session_cookie(client)
    assert session["submitted"] == [[key, "created", token.id]], "the key and an id only"
    assert value not in cookie and value not in repr(session)
    assert value[len("flagpal_") :] not in repr(session)


def test_a_form_posted_from_another_browser_is_judged_afresh(app, client, team, sign_in):
    """A key is remembered by the session that used it: the same fields from another
    browser are a new request, refused by the unique-name rule as before."""
    sign_in(team.developer)
    key = submission_key(client.get("/projects/shop/tokens/new"))
    assert client.post("/projects/shop/tokens", data={**GOOD, "submission": key}).status_code == 201

    other = app.test_client()
    other.post("/sign-in", data={"email": team.owner.email, "password": "correct horse battery"})
    refused = other.post("/projects/shop/tokens", data={**GOOD, "submission": key})
    assert refused.status_code == 422
    assert "An active token is already named" in text_of(page(refused))
    assert len(all_tokens()) == 1


def test_a_forged_key_is_replaced_by_a_good_one(client, team, sign_in):
    sign_in(team.developer)
    refused = client.post("/projects/shop/tokens", data={"name": "", "submission": "<x>"})
    assert refused.status_code == 422
    assert submission_key(refused) != "<x>" and len(submission_key(refused)) >= 16


def test_rotating_again_with_the_same_form_lands_on_the_rotated_page(client, team, sign_in):
    old, _ = issue_token(team.project, "Shop backend")
    sign_in(team.developer)
    rotate = f"/projects/shop/tokens/{old.id}/rotate"
    key = submission_key(client.get(rotate))
    data = {"grace": "24h", "expiration": "30", "submission": key}
    shown = client.post(rotate, data=data)
    assert shown.status_code == 201
    value = page(shown).find(id="new-token-value")["value"]
    [_, new] = all_tokens()

    again = client.post(rotate, data=data)
    assert again.status_code == 303, "not the 409 of a token rotated already"
    assert again.headers["Location"] == f"/projects/shop/tokens/{new.id}/rotated"
    assert len(all_tokens()) == 2

    landed = client.get(again.headers["Location"], headers=HTMX)
    assert landed.status_code == 200
    fragment = page(landed)
    assert text_of(fragment.find(id="dialog-title")) == "Token rotated"
    words = words_of(fragment)
    assert "“Shop backend” was rotated just now." in words
    assert "Its value was shown once and cannot be shown again" in words
    rotate_new = fragment.find("a", string="rotate “Shop backend”")
    assert rotate_new["hx-get"] == f"/projects/shop/tokens/{new.id}/rotate"
    assert value not in landed.text


def test_the_created_page_of_a_stopped_token_offers_a_new_one(client, team, sign_in):
    token, _ = issue_token(team.project, "Shop backend")
    sign_in(team.developer)
    client.post(f"/projects/shop/tokens/{token.id}/revoke")
    landed = client.get(f"/projects/shop/tokens/{token.id}/created")
    assert landed.status_code == 200
    content = page(landed).find("section", class_="card")
    links = {text_of(a): a["href"] for a in content.find_all("a")}
    assert links["create a new token"] == "/projects/shop/tokens/new"
    assert not any(text.startswith("rotate") for text in links)


def test_another_projects_token_is_not_found(client, team, sign_in):
    ours, _ = issue_token(team.project, "Shop backend")
    theirs, _ = issue_token(team.other_project, "Their backend")
    sign_in(team.developer)
    assert client.get(f"/projects/shop/tokens/{ours.id}/created").status_code == 200
    assert client.get(f"/projects/shop/tokens/{theirs.id}/created").status_code == 404
    assert client.get(f"/projects/shop/tokens/{theirs.id}/rotated").status_code == 404


# Invitations ----------------------------------------------------------------------------


def test_inviting_again_with_the_same_form_lands_on_the_created_page(client, team, sign_in):
    sign_in(team.owner)
    key = submission_key(client.get("/projects/shop/invitations/new"))
    data = {"email": "newbie@example.com", "role": "viewer", "submission": key}
    shown = client.post("/projects/shop/invitations", data=data)
    assert shown.status_code == 201
    link = page(shown).find(id="invitation-link")["value"]
    [invitation] = db.session.scalars(db.select(Invitation)).all()

    again = client.post("/projects/shop/invitations", data=data)
    assert again.status_code == 303, "not the 422 of a pending invitation"
    assert again.headers["Location"] == f"/projects/shop/invitations/{invitation.id}/created"
    assert db.session.scalars(db.select(Invitation)).all() == [invitation]

    landed = client.get(again.headers["Location"])
    assert landed.status_code == 200
    content = page(landed).find("section", class_="card")
    assert text_of(content.find(id="dialog-title")) == "Invitation created"
    words = words_of(content)
    assert "The invitation for newbie@example.com was created just now." in words
    assert "Its link was shown once and cannot be shown again." in words
    assert "already has a pending invitation" not in words
    links = {text_of(a): a["href"] for a in content.find_all("a")}
    assert links["Back to Members"] == "/projects/shop/members"
    assert link not in landed.text and link not in again.text
    cookie, session = session_cookie(client)
    assert session["submitted"] == [[key, "invited", invitation.id]]
    assert link.rsplit("/", 1)[-1] not in cookie + repr(session)
